import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { type Message, Pushwire, type PushwireEvents, type PushwireOptions } from '../../src/client/index.ts';
import { AsyncQueue } from './queue.ts';

/** What a test observes of an SDK client, in order: every event and every delivered message. */
export type SdkEvent = {
  [K in keyof PushwireEvents]: { type: K; payload: PushwireEvents[K] };
}[keyof PushwireEvents];

export interface ObservedClient {
  readonly client: Pushwire;
  /** Every event but `message`: the messages are in `messages`. */
  readonly events: AsyncQueue<SdkEvent>;
  /** Messages as the subscribe handlers got them. */
  readonly messages: AsyncQueue<Message>;
  /** The next event of `type`, dropping others. */
  next<K extends keyof PushwireEvents>(type: K, timeoutMs?: number): Promise<PushwireEvents[K]>;
}

/** A Pushwire client on Node's platform: the `ws` package, the `eventsource` package and fetch. */
export function nodeClient(
  url: string,
  channels: readonly string[],
  options: PushwireOptions = {},
): ObservedClient {
  return observe(new Pushwire(url, { WebSocket, EventSource, ...options }), channels);
}

/** Records what `client` reports, after subscribing it to `channels`. */
export function observe(client: Pushwire, channels: readonly string[]): ObservedClient {
  const events = new AsyncQueue<SdkEvent>();
  const messages = new AsyncQueue<Message>();
  for (const type of ['connected', 'subscribed', 'disconnected', 'reconnecting', 'gap', 'error'] as const) {
    client.on(type, (payload) => events.push({ type, payload } as SdkEvent));
  }
  for (const channel of channels) client.subscribe(channel, messages.push);
  return {
    client,
    events,
    messages,
    async next(type, timeoutMs = 10_000) {
      const event = await events.nextMatching((e) => e.type === type, timeoutMs, `a ${type} event`);
      return event.payload as PushwireEvents[typeof type];
    },
  };
}
