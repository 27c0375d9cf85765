import WebSocket from 'ws';
import { AsyncQueue } from './queue.ts';

/**
 * What a connection saw, in the order it saw it, as wire-level events: `{op, ...}` objects
 * (SSE named events carry their name as `op`), then one `{op: 'end', ...}` with how it ended
 * (WebSocket close code and reason, the end of an HTTP response, or a poll's error answer).
 */
export type WireEvent = Record<string, unknown> & { op: string };

export interface WireClient {
  readonly events: AsyncQueue<WireEvent>;
  /** The `connected` event (or, for long polling, the first answer). */
  readonly connected: Promise<WireEvent>;
  /** Sends a WebSocket command frame; only on WebSocket. */
  send(command: Record<string, unknown>): void;
  close(): void;
}

export type WireKind = 'websocket' | 'sse' | 'stream' | 'longpoll';
export const WIRE_KINDS: readonly WireKind[] = ['websocket', 'sse', 'stream', 'longpoll'];

export interface WireOptions {
  readonly channels: readonly string[];
  /** The token of the next request (long polling asks it before every poll). */
  token(): string;
}

export function openWire(kind: WireKind, baseUrl: string, options: WireOptions): WireClient {
  if (kind === 'websocket') return openWebSocket(baseUrl, options);
  if (kind === 'longpoll') return openPolls(baseUrl, options);
  return openHttpStream(kind, baseUrl, options);
}

function withConnected(events: AsyncQueue<WireEvent>): {
  push: (event: WireEvent) => void;
  connected: Promise<WireEvent>;
} {
  let resolve: (event: WireEvent) => void = () => {};
  let reject: (error: Error) => void = () => {};
  const connected = new Promise<WireEvent>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  connected.catch(() => {});
  return {
    connected,
    push: (event) => {
      if (event.op === 'connected') resolve(event);
      if (event.op === 'end') reject(new Error(`ended before connected: ${JSON.stringify(event)}`));
      events.push(event);
    },
  };
}

function openWebSocket(baseUrl: string, options: WireOptions): WireClient {
  const events = new AsyncQueue<WireEvent>();
  const { push, connected } = withConnected(events);
  const ws = new WebSocket(`${baseUrl.replace('http', 'ws')}/ws?token=${options.token()}`);
  ws.on('message', (raw) => push(JSON.parse(String(raw)) as WireEvent));
  ws.on('close', (code, reason) => push({ op: 'end', code, reason: String(reason) }));
  ws.on('error', () => {});
  // Subscribes once connected: the frames stay in order behind `connected`.
  connected.then(
    () => {
      options.channels.forEach((channel, i) => {
        ws.send(JSON.stringify({ id: `sub-${i}`, op: 'subscribe', channel }));
      });
    },
    () => {},
  );
  return {
    events,
    connected,
    send: (command) => ws.send(JSON.stringify(command)),
    close: () => ws.terminate(),
  };
}

function openHttpStream(kind: 'sse' | 'stream', baseUrl: string, options: WireOptions): WireClient {
  const events = new AsyncQueue<WireEvent>();
  const { push, connected } = withConnected(events);
  const abort = new AbortController();
  const params = new URLSearchParams();
  for (const channel of options.channels) params.append('channel', channel);
  params.set('token', options.token());
  (async () => {
    const response = await fetch(`${baseUrl}/${kind}?${params}`, { signal: abort.signal });
    if (!response.ok || !response.body) {
      push({ op: 'end', status: response.status, body: await response.text() });
      return;
    }
    const decoder = new TextDecoder();
    let buffered = '';
    const separator = kind === 'sse' ? '\n\n' : '\n';
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let at = buffered.indexOf(separator);
      while (at !== -1) {
        const block = buffered.slice(0, at);
        buffered = buffered.slice(at + separator.length);
        at = buffered.indexOf(separator);
        const event = kind === 'sse' ? sseEvent(block) : (JSON.parse(block) as WireEvent);
        if (event && event.op !== 'ping') push(event);
      }
    }
    push({ op: 'end', status: response.status });
  })().catch((error: Error) => push({ op: 'end', error: error.message }));
  return {
    events,
    connected,
    send: () => {
      throw new Error(`${kind} takes no commands`);
    },
    close: () => abort.abort(),
  };
}

/** One SSE block as an event: named events by their name, the rest as messages. */
function sseEvent(block: string): WireEvent | null {
  let name = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) name = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (data === '') return null;
  return { ...(JSON.parse(data) as Record<string, unknown>), op: name };
}

function openPolls(baseUrl: string, options: WireOptions): WireClient {
  const events = new AsyncQueue<WireEvent>();
  const { push, connected } = withConnected(events);
  const abort = new AbortController();
  (async () => {
    let cursor: string | null = null;
    for (;;) {
      const params = new URLSearchParams();
      for (const channel of options.channels) params.append('channel', channel);
      if (cursor) params.set('cursor', cursor);
      params.set('token', options.token());
      const response = await fetch(`${baseUrl}/poll?${params}`, { signal: abort.signal });
      const body = (await response.json()) as Record<string, unknown>;
      if (response.status !== 200) {
        push({ op: 'end', status: response.status, ...body });
        return;
      }
      const { messages, cursor: next } = body as { messages: Record<string, unknown>[]; cursor: string };
      if (cursor === null) push({ op: 'connected', cursor: next });
      for (const message of messages) push({ ...message, op: 'message' });
      cursor = next;
    }
  })().catch((error: Error) => push({ op: 'end', error: error.message }));
  return {
    events,
    connected,
    send: () => {
      throw new Error('long polling takes no commands');
    },
    close: () => abort.abort(),
  };
}

/** The events up to and including the end, or up to the first that `until` accepts. */
export async function collect(
  client: WireClient,
  until: (event: WireEvent) => boolean = (event) => event.op === 'end',
  timeoutMs = 20_000,
): Promise<WireEvent[]> {
  const seen: WireEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const event = await client.events.next(Math.max(1, deadline - Date.now()), 'the awaited event');
    seen.push(event);
    if (until(event) || event.op === 'end') return seen;
  }
}
