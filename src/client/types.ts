import type { GapEvent, Message, TransportName } from '../protocol/index.ts';
import type { ServerError } from './server-error.ts';

export type { TransportName };

/** The default fallback order; `stream` is available but not tried unless listed. */
export const DEFAULT_TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'longpoll'];

// The platform seams below are structural so that the browser's own classes and Node's
// `ws` / `eventsource` packages both fit without casts. `Listener` is bivariant in its
// argument (the "bivarianceHack" of React's typings): `ws` types `onmessage` with its own
// MessageEvent class, which carries `data` like the DOM one but is not the same type.
type Listener<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export interface WebSocketLike {
  readonly readyState: number;
  onopen: Listener<unknown> | null;
  onmessage: Listener<{ data: unknown }> | null;
  onclose: Listener<{ code: number; reason: string }> | null;
  onerror: Listener<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface EventSourceLike {
  onopen: Listener<unknown> | null;
  onmessage: Listener<{ data: string }> | null;
  onerror: Listener<unknown> | null;
  addEventListener(type: string, listener: Listener<{ data: string }>): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

/** `fetch` as both browsers and Node 20 have it; a streaming response body is read by `stream`. */
export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

export interface BackoffOptions {
  /**
   * The scale of reconnect delays: the first reconnect goes at once (spread over at most half
   * of this, 250 ms at most); each later one waits between half and all of the larger of this
   * and a quarter of the time since the connection was lost (at most `maxDelayMs`). Default
   * 0.5 s.
   */
  baseDelayMs?: number;
  /** No reconnect waits longer than this (unless the server asks for longer). Default 5 s. */
  maxDelayMs?: number;
}

export interface PushwireOptions extends BackoffOptions {
  /**
   * Transports to use, in fallback order: `websocket`, `sse`, `longpoll`, `stream`, or the
   * aliases `ws` and `poll` (any case). Default `['websocket', 'sse', 'longpoll']`. An unknown
   * name throws, listing the valid ones.
   */
  transports?: readonly string[];
  /** A connection token (JWT), sent as `?token=`; `setToken` replaces it later. */
  token?: string;
  /**
   * Where tokens come from: called for the first one (unless `token` is given), again before
   * the connection's token expires (half of its remaining life early, at most 30 s, plus
   * jitter), and after the server ended or refused a connection with `token_expired` or
   * `unauthorized`. The new token is handed to the open connection in place, on every
   * transport: no reconnect, no gap, no duplicate. While it rejects (an `error` event with code
   * `token_unavailable`, retried with backoff) or the server refuses its tokens (an `error`
   * with the server's code), the client does not reconnect.
   */
  getToken?: () => Promise<string>;
  /** Platform classes; the globals of the same name by default. */
  WebSocket?: WebSocketConstructor;
  EventSource?: EventSourceConstructor;
  fetch?: FetchFunction;
  /** Share one server connection between the tabs of this origin (browsers). Default false. */
  shared?: boolean;
  /** A connection that hasn't said `connected` within this long counts as failed. Default 10 s. */
  connectTimeoutMs?: number;
  /** Silence allowed past the server's heartbeat interval before reconnecting. Default 10 s. */
  heartbeatGraceMs?: number;
  /** After falling back, how long to wait before trying the preferred transport again. Default 60 s. */
  upgradeAfterMs?: number;
  /** A long poll unanswered this long counts as dead; above the server's poll hold. Default 45 s. */
  longPollTimeoutMs?: number;
  /** How long `publish` waits for its reply. Default 10 s. */
  requestTimeoutMs?: number;
  /**
   * Resume from this cursor (the `cursor` of a message received earlier, e.g. by another
   * process): the first connection gets every message after it still in history, or a `gap`.
   * Throws at construction when it is malformed.
   */
  cursor?: string;
}

export type MessageHandler = (message: Message) => void;

/** Events of a `Pushwire` client, by name. */
export interface PushwireEvents {
  connected: { transport: TransportName; clientId: string | null };
  /** The server confirmed a channel: messages published from now on reach its handlers. */
  subscribed: { channel: string };
  disconnected: { transport: TransportName; reason: string };
  reconnecting: { delayMs: number; attempt: number; transport: TransportName };
  /**
   * The server showed it is alive without a message: a ping on WebSocket, SSE and stream, or
   * a long poll that the poll timeout ended empty.
   */
  heartbeat: { transport: TransportName };
  gap: GapEvent;
  /**
   * The server refused something and said why (`code`, `message`): the connection (then
   * `state` tells whether the client goes on reconnecting or waits as `refused`), or one
   * channel of a WebSocket connection (`channel` names it).
   */
  error: ServerError;
  message: Message;
}

/**
 * `refused`: the server refused the connection for a reason retrying can't fix (no or a bad
 * token, a forbidden channel; see the `error` event). The client waits for `setToken` or a
 * change of its channels, then connects again.
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'refused' | 'closed';

/** What `publish` resolves to: where the message landed. */
export interface PublishResult {
  channel: string;
  offset: number;
  epoch: string;
}
