import { assertChannel, type GapEvent, type Message } from '../protocol/index.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import { Connection, type ConnectionOutput, type ConnectionSettings } from './connection.ts';
import { Emitter, isolate } from './emitter.ts';
import { FallbackPlan } from './fallback.ts';
import { ResumeState } from './resume.ts';
import { SharedTabs, tabSharingPlatform } from './shared-tabs.ts';
import { TokenSource } from './token.ts';
import { chooseTransports } from './transports/choose.ts';
import type { GetFunction, TransportPlatform } from './transports/types.ts';
import {
  type ConnectionState,
  DEFAULT_TRANSPORTS,
  type MessageHandler,
  type PublishResult,
  type PushwireEvents,
  type PushwireOptions,
  type TransportName,
} from './types.ts';

/** What runs the connection: this tab's own, or the one shared by the tabs of the origin. */
interface Engine {
  readonly state: ConnectionState;
  readonly transport: TransportName | null;
  setChannels(channels: readonly string[]): void;
  setToken(token: string | undefined): void;
  publish(channel: string, data: unknown): Promise<PublishResult>;
  close(): void;
}

/**
 * A Pushwire client: `subscribe` to channels and get each message once and in order, over
 * whichever transport reaches the server, across reconnects.
 *
 * ```ts
 * const client = new Pushwire('https://push.example.com');
 * const unsubscribe = client.subscribe('chat:lobby', (message) => console.log(message.data));
 * client.on('gap', (gap) => reloadChannel(gap.channel));
 * ```
 */
export class Pushwire {
  readonly #handlers = new Map<string, Set<MessageHandler>>();
  readonly #events = new Emitter<PushwireEvents>();
  readonly #engine: Engine;

  /** `get`: how long polls are made when not by fetch; the Node entry gives one on node:http. */
  constructor(url: string, options: PushwireOptions = {}, get?: GetFunction) {
    // Unbound, the browser's fetch throws "Illegal invocation".
    const fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    const platform: TransportPlatform = {
      WebSocket: options.WebSocket ?? globalThis.WebSocket,
      EventSource: options.EventSource ?? globalThis.EventSource,
      fetch,
      get: get ?? fetch,
      longPollTimeoutMs: options.longPollTimeoutMs ?? 45_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    };
    const plan = new FallbackPlan(chooseTransports(options.transports ?? DEFAULT_TRANSPORTS, platform));
    const settings: ConnectionSettings = {
      baseUrl: url.replace(/\/+$/, ''),
      token: new TokenSource(options.token, options.getToken),
      backoff: {
        baseDelayMs: options.baseDelayMs ?? DEFAULT_BACKOFF.baseDelayMs,
        maxDelayMs: options.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs,
      },
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      heartbeatGraceMs: options.heartbeatGraceMs ?? 10_000,
      upgradeAfterMs: options.upgradeAfterMs ?? 60_000,
      requestTimeoutMs: platform.requestTimeoutMs,
      fetch: platform.fetch,
    };
    const resume = new ResumeState(options.cursor);
    const delivery = {
      message: (message: Message) => this.#deliver(message),
      gap: (gap: GapEvent) => {
        if (this.#handlers.has(gap.channel)) this.#events.emit('gap', gap);
      },
    };
    const status: ConnectionOutput['status'] = (name, payload) => {
      const { channel } = payload as { channel?: string };
      if (name !== 'subscribed' || this.#handlers.has(channel!)) {
        this.#events.emit(name, payload as PushwireEvents[typeof name]);
      }
    };
    const sharing = options.shared ? tabSharingPlatform() : null;
    this.#engine = sharing
      ? new SharedTabs(`pushwire:${settings.baseUrl}`, sharing, { plan, resume, settings, delivery, status })
      : new Connection(plan, resume, settings, {
          event: (event) => resume.ingest(event, this.#handlers, delivery),
          status,
        });
  }

  /**
   * 'idle' (no channels), 'connecting', 'connected', 'reconnecting', 'refused' (the server
   * refused the connection and the client waits for `setToken`; see the `error` event) or
   * 'closed'.
   */
  get state(): ConnectionState {
    return this.#engine.state;
  }

  /** The transport in use while connected. */
  get transport(): TransportName | null {
    return this.#engine.transport;
  }

  /**
   * Calls `handler` with every message published on `channel` from now on (and, across
   * reconnects, every one in between). Returns the function that unsubscribes it.
   */
  subscribe(channel: string, handler: MessageHandler): () => void {
    assertChannel(channel);
    if (this.state === 'closed') throw new Error('the client is closed');
    const handlers = this.#handlers.get(channel) ?? new Set();
    handlers.add(handler);
    if (!this.#handlers.has(channel)) {
      this.#handlers.set(channel, handlers);
      this.#engine.setChannels([...this.#handlers.keys()]);
    }
    return () => {
      if (!handlers.delete(handler) || handlers.size > 0 || this.#handlers.get(channel) !== handlers) return;
      this.#handlers.delete(channel);
      this.#engine.setChannels([...this.#handlers.keys()]);
    };
  }

  /**
   * Publishes where the channel's namespace (or the token) allows clients to: over the
   * WebSocket, or over `POST /publish` on the other transports. Rejects with an Error whose
   * `code` is the server's (`forbidden`, `rate_limited`, ...).
   */
  publish(channel: string, data: unknown): Promise<PublishResult> {
    assertChannel(channel);
    return this.#engine.publish(channel, data);
  }

  /**
   * Uses `token` as the connection token from now on. A client the server refused (state
   * `refused`, after an `error` such as `unauthorized`, `token_expired` or `forbidden`) connects
   * again with it; a connected one moves to a connection that uses it, losing nothing.
   */
  setToken(token: string): void {
    this.#engine.setToken(token);
  }

  on<K extends keyof PushwireEvents>(event: K, listener: (payload: PushwireEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Ends the connection and every subscription; safe to call more than once. */
  close(): void {
    this.#engine.close();
    this.#handlers.clear();
  }

  #deliver(message: Message): void {
    const handlers = this.#handlers.get(message.channel);
    if (!handlers) return;
    this.#events.emit('message', message);
    for (const handler of handlers) isolate(handler, message);
  }
}
