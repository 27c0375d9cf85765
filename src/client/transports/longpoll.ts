import {
  type ClientTransport,
  type Link,
  type LinkEvent,
  type LinkParams,
  type LinkSink,
  linkUrl,
  type TransportPlatform,
  toEvent,
  type WireEvent,
} from './types.ts';

/** A held poll that hasn't failed this long was accepted: the server is there. */
const HELD_IS_OPEN_MS = 1000;

interface PollResponse {
  messages?: unknown[];
  cursor?: unknown;
  gaps?: unknown[];
  reconnect?: unknown;
}

/** `GET /poll`: one request at a time, each from the cursor the previous one answered. */
export function longPollTransport(platform: TransportPlatform): ClientTransport {
  return {
    name: 'longpoll',
    supported: () => typeof platform.fetch === 'function',
    open: (params, sink) => openLongPoll(platform, params, sink),
  };
}

function openLongPoll(platform: TransportPlatform, params: LinkParams, sink: LinkSink): Link {
  const abort = new AbortController();
  let cursor = params.cursor;
  let opened = false;
  let done = false;
  // Long poll has no `connected` event of its own: say it on the first answer, or once a
  // request has been held (a resumed poll may wait for the poll timeout before answering).
  const open = (at: string | null) => {
    if (opened || done) return;
    opened = true;
    sink.event({ op: 'connected', clientId: '', cursor: at ?? '1', heartbeatIntervalMs: null });
  };
  const finish = (reason: string, terminal = false) => {
    if (done) return;
    done = true;
    abort.abort();
    sink.closed({ reason, terminal });
  };
  const pollOnce = async (): Promise<boolean> => {
    const accepted = setTimeout(() => open(cursor), HELD_IS_OPEN_MS);
    const timeout = setTimeout(() => finish('poll timed out'), platform.longPollTimeoutMs);
    const held = cursor !== null;
    try {
      const response = await platform.fetch!(linkUrl(params, '/poll', cursor), { signal: abort.signal });
      if (!response.ok) {
        finish(`HTTP ${response.status}`, response.status === 401);
        return false;
      }
      deliver((await response.json()) as PollResponse, held);
      return !done;
    } finally {
      clearTimeout(accepted);
      clearTimeout(timeout);
    }
  };
  const deliver = (body: PollResponse, held: boolean) => {
    if (done) return;
    open(typeof body.cursor === 'string' ? body.cursor : cursor);
    // A held poll that the poll timeout ended empty is long poll's heartbeat.
    if (held && !body.messages?.length && !body.gaps?.length && !body.reconnect) emit({ op: 'ping' });
    for (const gap of body.gaps ?? []) emit(toEvent(gap, 'gap'));
    for (const message of body.messages ?? []) emit(toEvent(message, 'message'));
    if (typeof body.cursor === 'string' && !done) {
      cursor = body.cursor;
      sink.event({ op: 'cursor', cursor });
    }
    if (body.reconnect) {
      emit(toEvent(body.reconnect, 'reconnect'));
      finish('server asked to reconnect');
    }
  };
  const emit = (event: WireEvent | null) => {
    if (event && !done) sink.event(event as LinkEvent);
  };
  const loop = async () => {
    while (await pollOnce());
  };
  loop().catch((error: unknown) => finish(error instanceof Error ? error.message : 'poll failed'));
  return {
    update: () => false,
    close() {
      done = true;
      abort.abort();
    },
  };
}
