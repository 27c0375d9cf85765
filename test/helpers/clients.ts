import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { AsyncQueue } from './queue.ts';

/** What a raw test client observed, in order. */
export type ClientEvent =
  | { type: 'connected'; cursor: string; heartbeatIntervalMs: number | null }
  | { type: 'message'; channel: string; offset: number; epoch: string; data: unknown; cursor: string }
  | { type: 'gap'; channel: string; reason: string; epoch: string; nextOffset: number; cursor: string }
  | { type: 'reconnect'; reason: string; delayMs: number }
  | { type: 'ping' }
  | { type: 'closed'; detail: string };

export type TransportKind = 'websocket' | 'sse' | 'longpoll' | 'stream';
export const TRANSPORTS: readonly TransportKind[] = ['websocket', 'sse', 'longpoll', 'stream'];

export interface RawClient {
  readonly kind: TransportKind;
  readonly events: AsyncQueue<ClientEvent>;
  /** The cursor of the last event that carried one. */
  cursor(): string | null;
  /** Resolves once the subscription is in place (messages published after it arrive). */
  readonly ready: Promise<void>;
  close(): void;
}

export interface RawClientOptions {
  readonly channels: readonly string[];
  readonly cursor?: string | null;
  readonly token?: string;
}

/**
 * Opens a subscription with the plain client of each transport (the `ws` package, the
 * `eventsource` package, fetch), speaking the wire protocol directly, so that tests see
 * exactly what the server sends.
 */
export function openRawClient(kind: TransportKind, baseUrl: string, options: RawClientOptions): RawClient {
  switch (kind) {
    case 'websocket':
      return openWebSocket(baseUrl, options);
    case 'sse':
      return openSse(baseUrl, options);
    case 'longpoll':
      return openLongPoll(baseUrl, options);
    case 'stream':
      return openStream(baseUrl, options);
  }
}

function query(options: RawClientOptions): string {
  const params = new URLSearchParams();
  for (const channel of options.channels) params.append('channel', channel);
  if (options.cursor) params.set('cursor', options.cursor);
  if (options.token) params.set('token', options.token);
  return params.toString();
}

/** Turns one parsed JSON event (stream line, WS frame, SSE data) into a ClientEvent. */
function toEvent(op: string, body: Record<string, unknown>): ClientEvent | null {
  switch (op) {
    case 'message':
      return { type: 'message', ...(body as Omit<Extract<ClientEvent, { type: 'message' }>, 'type'>) };
    case 'connected':
      return { type: 'connected', ...(body as Omit<Extract<ClientEvent, { type: 'connected' }>, 'type'>) };
    case 'gap':
      return { type: 'gap', ...(body as Omit<Extract<ClientEvent, { type: 'gap' }>, 'type'>) };
    case 'reconnect':
      return { type: 'reconnect', ...(body as Omit<Extract<ClientEvent, { type: 'reconnect' }>, 'type'>) };
    case 'ping':
      return { type: 'ping' };
    default:
      return null;
  }
}

function tracker(kind: TransportKind) {
  const events = new AsyncQueue<ClientEvent>();
  let last: string | null = null;
  const push = (event: ClientEvent) => {
    if ('cursor' in event && typeof event.cursor === 'string') last = event.cursor;
    events.push(event);
  };
  const setCursor = (cursor: string) => {
    last = cursor;
  };
  return { kind, events, push, setCursor, cursor: () => last };
}

function openWebSocket(baseUrl: string, options: RawClientOptions): RawClient {
  const t = tracker('websocket');
  const ws = new WebSocket(
    `${baseUrl.replace(/^http/, 'ws')}/ws${options.token ? `?token=${options.token}` : ''}`,
  );
  let pending = options.channels.length;
  let markReady: () => void = () => {};
  let markFailed: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  ws.on('open', () => {
    options.channels.forEach((channel, i) => {
      ws.send(JSON.stringify({ id: i + 1, op: 'subscribe', channel, cursor: options.cursor ?? undefined }));
    });
  });
  ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as Record<string, unknown> & { op: string };
    if (frame.op === 'ping') ws.send('{"op":"pong"}');
    if (frame.op === 'reply' && typeof frame.cursor === 'string') {
      t.setCursor(frame.cursor);
      if (--pending === 0) markReady();
      return;
    }
    if (frame.op === 'error') {
      markFailed(new Error(`subscribe failed: ${JSON.stringify(frame)}`));
      return;
    }
    const { op, ...body } = frame;
    const event = toEvent(op, body);
    if (event) t.push(event);
  });
  ws.on('close', (code, reason) => {
    markFailed(new Error(`closed ${code}`));
    t.push({ type: 'closed', detail: `${code} ${reason.toString()}` });
  });
  ws.on('error', () => {});
  return { ...t, ready, close: () => ws.terminate() };
}

function openSse(baseUrl: string, options: RawClientOptions): RawClient {
  const t = tracker('sse');
  const source = new EventSource(`${baseUrl}/sse?${query(options)}`);
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const named = (op: string) => (event: MessageEvent) => {
    const parsed = toEvent(op, JSON.parse(event.data as string) as Record<string, unknown>);
    if (parsed) t.push(parsed);
    if (op === 'connected') markReady();
  };
  source.addEventListener('message', named('message'));
  source.addEventListener('connected', named('connected'));
  source.addEventListener('gap', named('gap'));
  source.addEventListener('reconnect', named('reconnect'));
  source.addEventListener('error', () => {
    // Tests drive reconnects themselves: the EventSource's own retry would hide a cut.
    source.close();
    t.push({ type: 'closed', detail: 'error' });
  });
  return { ...t, ready, close: () => source.close() };
}

function openStream(baseUrl: string, options: RawClientOptions): RawClient {
  const t = tracker('stream');
  const abort = new AbortController();
  let markReady: () => void = () => {};
  let markFailed: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  (async () => {
    const response = await fetch(`${baseUrl}/stream?${query(options)}`, { signal: abort.signal });
    if (!response.ok || !response.body)
      throw new Error(`stream answered ${response.status}: ${await response.text()}`);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        const { op, ...body } = JSON.parse(line) as Record<string, unknown> & { op: string };
        const event = toEvent(op, body);
        if (event) t.push(event);
        if (op === 'connected') markReady();
      }
    }
    t.push({ type: 'closed', detail: 'end' });
  })().catch((error: Error) => {
    markFailed(error);
    t.push({ type: 'closed', detail: error.message });
  });
  return { ...t, ready, close: () => abort.abort() };
}

function openLongPoll(baseUrl: string, options: RawClientOptions): RawClient {
  const t = tracker('longpoll');
  const abort = new AbortController();
  let cursor = options.cursor ?? null;
  let markReady: () => void = () => {};
  let markFailed: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  (async () => {
    for (;;) {
      const params = new URLSearchParams();
      for (const channel of options.channels) params.append('channel', channel);
      if (cursor) params.set('cursor', cursor);
      if (options.token) params.set('token', options.token);
      // Once there is a cursor nothing can be missed: whatever is published after it comes
      // with the next poll, from history if need be.
      if (cursor) markReady();
      const response = await fetch(`${baseUrl}/poll?${params}`, { signal: abort.signal });
      if (response.status !== 200)
        throw new Error(`poll answered ${response.status}: ${await response.text()}`);
      const body = (await response.json()) as {
        messages: Record<string, unknown>[];
        cursor: string;
        gaps?: Record<string, unknown>[];
        reconnect?: { reason: string; delayMs: number };
      };
      for (const gap of body.gaps ?? []) t.push(toEvent('gap', gap)!);
      for (const message of body.messages) t.push(toEvent('message', message)!);
      if (!cursor) t.push({ type: 'connected', cursor: body.cursor, heartbeatIntervalMs: null });
      cursor = body.cursor;
      if (body.reconnect) {
        t.push({ type: 'reconnect', ...body.reconnect });
        throw new Error('server asked to reconnect');
      }
    }
  })().catch((error: Error) => {
    markFailed(error);
    // fetch says only "fetch failed"; its cause says what the network did.
    t.push({
      type: 'closed',
      detail: error.cause ? `${error.message}: ${String(error.cause)}` : error.message,
    });
  });
  return { ...t, cursor: () => cursor, ready, close: () => abort.abort() };
}

/** The next `count` messages, failing on anything but messages and pings. */
export async function takeMessages(
  client: RawClient,
  count: number,
  timeoutMs = 10_000,
): Promise<Extract<ClientEvent, { type: 'message' }>[]> {
  const out: Extract<ClientEvent, { type: 'message' }>[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    const event = await client.events.next(
      Math.max(1, deadline - Date.now()),
      `message ${out.length + 1} of ${count}`,
    );
    if (event.type === 'message') out.push(event);
    else if (event.type !== 'ping' && event.type !== 'connected') {
      throw new Error(`expected a message, got ${JSON.stringify(event)}`);
    }
  }
  return out;
}
