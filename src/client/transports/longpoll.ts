import { decodeCursor, EMPTY_CURSOR, encodeCursor, type StreamPosition } from '../../protocol/index.ts';
import { errorOfResponse, type ServerError } from '../server-error.ts';
import {
  type ClientTransport,
  DOWNSTREAM_ONLY,
  isPosition,
  LINK_CLOSED,
  type Link,
  type LinkEvent,
  type LinkParams,
  type LinkSink,
  linkUrl,
  type TransportPlatform,
  toEvent,
  type WireEvent,
} from './types.ts';

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
    capabilities: DOWNSTREAM_ONLY,
    supported: () => typeof platform.get === 'function',
    open: (params, sink) => openLongPoll(platform, params, sink),
  };
}

/**
 * Every poll with a cursor asks for its messages without theirs (`cursors=0`): this client
 * works them out from the answer's (see giveCursors), and with small messages under load
 * they are a large share of an answer's bytes. A server that sends them anyway is understood.
 */
const HELD: Readonly<Record<string, string>> = Object.freeze({ cursors: '0' });
/** The first poll of a resume: answered at once, with what the client missed or with nothing. */
const AT_ONCE: Readonly<Record<string, string>> = Object.freeze({ wait: '0', cursors: '0' });

/**
 * Long poll has no `connected` event of its own: the link is connected once the server has
 * answered a poll, never because one is merely pending (a listener that accepts and never
 * answers would pass for a server). A poll with a cursor may be held until the poll timeout,
 * so the first poll of every link is one the server answers at once: without a cursor on a
 * new link; on a resume, from the client's cursor with `wait=0`, so that what it missed comes
 * in that same answer. Polling then goes on from the cursor each answer gives.
 */
function openLongPoll(platform: TransportPlatform, params: LinkParams, sink: LinkSink): Link {
  let abort = new AbortController();
  let cursor: string | null = null;
  let token = params.token;
  let done = false;
  const finish = (reason: string, error: ServerError | null = null) => {
    if (done) return;
    done = true;
    abort.abort(LINK_CLOSED);
    sink.closed({ reason, error });
  };
  const pollOnce = async (): Promise<boolean> => {
    const timeout = setTimeout(() => finish('poll timed out'), platform.longPollTimeoutMs);
    const held = cursor !== null;
    const { signal } = abort;
    try {
      // Only the first poll replaces the client's old connection (one it fell back from).
      const url = held
        ? linkUrl({ ...params, token, replaces: null }, '/poll', cursor, HELD)
        : linkUrl({ ...params, token }, '/poll', params.cursor, params.cursor ? AT_ONCE : undefined);
      const response = await platform.get!(url, { signal });
      if (!response.ok) {
        finish(`HTTP ${response.status}`, await errorOfResponse(response));
        return false;
      }
      const body = (await response.json()) as PollResponse;
      if (done) return false;
      if (!held) connect(body);
      // The first answer of a new link has nothing to deliver; a resume's has what was missed.
      if (held || params.cursor) deliver(body, held);
      return !done;
    } catch (error) {
      // A poll aborted for a new token: the next one goes from the same cursor, with it.
      if (signal.aborted && !done) return true;
      throw error;
    } finally {
      clearTimeout(timeout);
    }
  };
  const connect = (body: PollResponse) => {
    // A resume's answer names every channel: where the client was, or where it starts now.
    const at = typeof body.cursor === 'string' ? body.cursor : EMPTY_CURSOR;
    cursor = at;
    sink.event({ op: 'connected', clientId: '', cursor: at, heartbeatIntervalMs: null });
  };
  const deliver = (body: PollResponse, held: boolean) => {
    // A held poll that the poll timeout ended empty is long poll's heartbeat.
    if (held && !body.messages?.length && !body.gaps?.length && !body.reconnect) emit({ op: 'ping' });
    for (const gap of body.gaps ?? []) emit(toEvent(gap, 'gap'));
    const messages = body.messages ?? [];
    if (messages.length > 0 && typeof body.cursor === 'string') giveCursors(messages, body.cursor);
    for (const message of messages) emit(toEvent(message, 'message'));
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
    /**
     * A held poll carries the token it was sent with, and the server ends it when that token
     * expires: it is let go, and the next poll (same cursor, so nothing is lost or repeated)
     * carries the new token. The server checks a token on every poll, so it says no expiry.
     */
    async refresh(next) {
      token = next;
      const held = abort;
      abort = new AbortController();
      held.abort(LINK_CLOSED);
      return null;
    },
    close() {
      done = true;
      abort.abort(LINK_CLOSED);
    },
  };
}

/**
 * A poll's answer lists its messages without cursors: its own cursor, after them, is where the
 * client stands after the last. Each message is given the connection's cursor after it, as
 * the other transports send it, so that an application may keep any message's cursor and
 * resume from it. A channel with messages in the answer stood just before its first one; the
 * others stand where the answer's cursor says. A message that has a cursor keeps it.
 */
function giveCursors(messages: readonly unknown[], answerCursor: string): void {
  let positions: Map<string, StreamPosition>;
  try {
    positions = decodeCursor(answerCursor);
  } catch {
    return; // not a cursor this client can read: the messages go on without theirs
  }
  const listed = messages.filter(isPosition);
  const started = new Set<string>();
  for (const { channel, epoch, offset } of listed) {
    if (started.has(channel)) continue;
    started.add(channel);
    if (positions.has(channel)) positions.set(channel, { epoch, offset: offset - 1 });
  }
  for (const message of listed) {
    positions.set(message.channel, { epoch: message.epoch, offset: message.offset });
    if (typeof message.cursor !== 'string') message.cursor = encodeCursor(positions);
  }
}
