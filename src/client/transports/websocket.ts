import { errorOfClose, ServerError } from '../server-error.ts';
import {
  type ClientTransport,
  type Link,
  type LinkEvent,
  type LinkParams,
  type LinkSink,
  linkUrl,
  parseEvent,
  type TransportPlatform,
  type WireEvent,
} from './types.ts';

type Pending = { resolve(reply: Record<string, unknown>): void; reject(error: Error): void };

/** `GET /ws`: JSON text frames; channels are subscribed one command at a time on one socket. */
export function websocketTransport(platform: TransportPlatform): ClientTransport {
  return {
    name: 'websocket',
    capabilities: {
      confirmsEachChannel: true,
      heartbeatVisible: true,
    },
    supported: () => typeof platform.WebSocket === 'function',
    open: (params, sink) => openWebSocket(platform, params, sink),
  };
}

function openWebSocket(platform: TransportPlatform, params: LinkParams, sink: LinkSink): Link {
  const socket = new platform.WebSocket!(
    linkUrl({ ...params, channels: [] }, '/ws', null).replace(/^http/, 'ws'),
  );
  const pending = new Map<number, Pending>();
  const subscribeIds = new Map<number, string>();
  let channels = new Set(params.channels);
  /** Channels the server refused or took away: a new token may grant them. */
  const refused = new Set<string>();
  let cursor = params.cursor;
  let nextId = 1;
  let ready = false;
  let done = false;
  /** The error frame of a refused upgrade, told before the close that carries the close code. */
  let refusal: { code: string; message: string } | null = null;

  const send = (command: Record<string, unknown>): number => {
    const id = nextId++;
    socket.send(JSON.stringify({ id, ...command }));
    return id;
  };
  const subscribe = (channel: string) => {
    subscribeIds.set(
      send(cursor ? { op: 'subscribe', channel, cursor } : { op: 'subscribe', channel }),
      channel,
    );
  };
  // `ws` throws an `error` event that has no listener, e.g. when closed while still connecting:
  // keep a no-op one instead of null.
  const detach = () => {
    socket.onmessage = socket.onclose = null;
    socket.onerror = () => {};
    for (const { reject } of pending.values()) reject(new Error('connection closed'));
    pending.clear();
  };
  const finish = (reason: string, error: ServerError | null) => {
    if (done) return;
    done = true;
    detach();
    sink.closed({ reason, error });
  };
  const onFrame = (frame: WireEvent) => {
    const id = typeof frame.id === 'number' ? frame.id : -1;
    const waiter = pending.get(id);
    pending.delete(id);
    // A subscribe's reply, or the server dropping a channel a refreshed token no longer allows.
    const channel = subscribeIds.get(id) ?? (typeof frame.channel === 'string' ? frame.channel : undefined);
    subscribeIds.delete(id);
    if (frame.op === 'error') {
      const code = String(frame.code);
      const message = String(frame.message ?? code);
      if (waiter) waiter.reject(new ServerError(code, message));
      else if (ready && channel) {
        refused.add(channel);
        sink.event({ op: 'error', code, message, channel });
      }
      // The end of the connection (a refused upgrade, an expired token): the close that
      // follows carries it, with this code and message.
      else refusal = { code, message };
    } else if (waiter) waiter.resolve(frame);
    else if (channel && typeof frame.cursor === 'string') {
      sink.event({ op: 'subscribed', channel, cursor: frame.cursor });
    }
  };

  socket.onmessage = ({ data }) => {
    const event = typeof data === 'string' ? parseEvent(data) : null;
    if (!event) return;
    if (event.op === 'ping') socket.send('{"op":"pong"}');
    if (event.op === 'reply' || event.op === 'error') return onFrame(event);
    if (event.op === 'connected' && !ready) {
      ready = true;
      for (const channel of channels) subscribe(channel);
    }
    sink.event(event as LinkEvent);
  };
  socket.onclose = ({ code, reason }) =>
    finish(`closed ${code}${reason ? ` ${reason}` : ''}`, errorOfClose(code, reason, refusal));
  // A refused upgrade fires `error` then `close`; the close carries the code.
  socket.onerror = () => {};

  const request = (command: Record<string, unknown>, timeoutMs = platform.requestTimeoutMs) => {
    if (!ready) return Promise.reject(new Error('not connected'));
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = send(command);
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          fn(value);
        };
      pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
    });
  };

  return {
    request,
    refresh: async (token) => {
      // Asked again: those refused before this token (not the ones it takes away now).
      const retry = [...refused];
      const { expiresAt } = await request({ op: 'refresh', token });
      for (const channel of retry) {
        refused.delete(channel);
        if (channels.has(channel)) subscribe(channel);
      }
      return (expiresAt as number | undefined) ?? null;
    },
    update(next, nextCursor) {
      cursor = nextCursor;
      const wanted = new Set(next);
      if (ready) {
        for (const channel of wanted) if (!channels.has(channel)) subscribe(channel);
        for (const channel of channels) if (!wanted.has(channel)) send({ op: 'unsubscribe', channel });
      }
      channels = wanted;
      return undefined;
    },
    close() {
      if (done) return;
      done = true;
      detach();
      socket.close(1000);
    },
  };
}
