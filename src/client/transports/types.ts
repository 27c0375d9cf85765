import type { ConnectedEvent, GapEvent, Message, ReconnectEvent } from '../../protocol/index.ts';
import type { ServerError } from '../server-error.ts';
import type { EventSourceConstructor, FetchFunction, TransportName, WebSocketConstructor } from '../types.ts';

/** What a link reports, already parsed: the control events of docs/protocol.md and messages. */
export type LinkEvent =
  /** `expiresAt`: when the connection's token expires (ms since the epoch), from servers that say. */
  | (ConnectedEvent & { expiresAt?: number | null })
  | (Message & { op: 'message' })
  | GapEvent
  | ReconnectEvent
  | { op: 'ping' }
  /** A position without a message: a long-poll response or a WebSocket subscribe reply. */
  | { op: 'cursor'; cursor: string }
  /** The WebSocket subscribe reply: the channel is on, from this position. */
  | { op: 'subscribed'; channel: string; cursor: string }
  /** A command the server refused, e.g. a subscribe to a channel the token doesn't allow. */
  | { op: 'error'; code: string; message: string; channel?: string | undefined };

/** One JSON object of the wire, before it is known to be any particular event. */
export type WireEvent = { op: string } & Record<string, unknown>;

export interface LinkClose {
  reason: string;
  /**
   * Why the server refused or ended the link, when it said so (an HTTP error body, a WebSocket
   * error frame or 4000-4999 close); null for a network failure or an answer from something
   * else (a proxy). Whether to retry is decided from it in one place (`isFinal`).
   */
  error: ServerError | null;
}

/** Where a link reports to. A link MUST call `closed` exactly once, and nothing after it. */
export interface LinkSink {
  event(event: LinkEvent): void;
  closed(info: LinkClose): void;
}

export interface LinkParams {
  /** The server's base URL, `http(s)://host:port[/prefix]`, without a trailing slash. */
  baseUrl: string;
  channels: readonly string[];
  /** Where to resume from; null starts live. */
  cursor: string | null;
  token: string | undefined;
  /**
   * The connection this one replaces, as its `connected` event named it: the server ends it at
   * once (a network that dropped without a FIN leaves it open there). Null on a first connect.
   */
  replaces: Replaces | null;
}

/** A connection the client had: its `clientId` and the `replaceKey` the server gave it. */
export interface Replaces {
  readonly clientId: string;
  readonly key: string;
}

/** One connection attempt of one transport. */
export interface Link {
  /**
   * Changes the channel set in place; `cursor` is where the added channels resume from. A
   * channel the server refuses is reported as an `error` event naming it. Absent where a link
   * has one fixed channel set (long polling: a new set takes a new link); it MAY reject when
   * the change can't be made on this link (an older server), and the caller then replaces it.
   */
  update?(channels: readonly string[], cursor: string | null): Promise<void> | undefined;
  /**
   * Sends a command and resolves with its reply, or rejects with the server's `ServerError`.
   * Present where commands go up the link (WebSocket: publish there instead of `POST
   * /publish`); it rejects until the link is connected.
   */
  request?(command: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>>;
  /**
   * Gives the open link a new token without ending it, and resolves with the new expiry (null
   * when the server doesn't say). Rejects with the server's ServerError when it refuses the
   * token (the link goes on with the old one), or with any error when the link can't do it
   * (an older server): then a new link must carry the token.
   */
  refresh(token: string): Promise<number | null>;
  /** Ends the link; MUST NOT call `closed` afterwards. Safe in any state. */
  close(): void;
}

/** An HTTP answer read whole: what a long poll needs of fetch's Response, which is one. */
export interface HttpAnswer {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  json(): Promise<unknown>;
}

/** A GET whose answer is read whole, rejecting as fetch does (the signal's reason on abort). */
export type GetFunction = (url: string, init?: { signal?: AbortSignal }) => Promise<HttpAnswer>;

export interface TransportPlatform {
  WebSocket: WebSocketConstructor | undefined;
  EventSource: EventSourceConstructor | undefined;
  fetch: FetchFunction | undefined;
  /** How long polls are made: a cheaper GET than fetch where the platform has one (Node), else fetch. */
  get: GetFunction | undefined;
  longPollTimeoutMs: number;
  /** How long a request on an open link (a refresh, an in-place subscribe) may take. */
  requestTimeoutMs: number;
}

/**
 * What a transport can do, declared, so that the connection branches on abilities and never on
 * transport names.
 */
export interface TransportCapabilities {
  /** Each channel is confirmed by a reply of its own (`subscribed`); else all of them by `connected`. */
  readonly confirmsEachChannel: boolean;
  /**
   * Every heartbeat reaches the client as a `ping`. False for SSE: EventSource never shows
   * the comment heartbeat, and an older server sends no named ping after it, so silence is
   * watched only once a ping has been seen.
   */
  readonly heartbeatVisible: boolean;
}

/** A way to reach the server. `supported()` says whether this platform has what it needs. */
export interface ClientTransport {
  readonly name: TransportName;
  readonly capabilities: TransportCapabilities;
  supported(): boolean;
  open(params: LinkParams, sink: LinkSink): Link;
}

/** The capabilities of a transport that only listens. */
export const DOWNSTREAM_ONLY: TransportCapabilities = {
  confirmsEachChannel: false,
  heartbeatVisible: true,
};

/**
 * What a link aborts its own requests with when it closes or lets a poll go. One shared
 * error: `abort()` without a reason builds a new DOMException, stack trace and all, on every
 * close and every retry of a link.
 */
export const LINK_CLOSED: Error = Object.assign(new Error('the link was closed'), { name: 'AbortError' });

/** `base + path?channel=..&cursor=..&token=..`, the query every transport takes, and `more`. */
export function linkUrl(
  params: LinkParams,
  path: string,
  cursor = params.cursor,
  more?: Readonly<Record<string, string>>,
): string {
  const query = new URLSearchParams();
  for (const channel of params.channels) query.append('channel', channel);
  if (cursor) query.set('cursor', cursor);
  if (more) for (const [name, value] of Object.entries(more)) query.set(name, value);
  if (params.token) query.set('token', params.token);
  if (params.replaces) {
    query.set('replaces', params.replaces.clientId);
    query.set('replaceKey', params.replaces.key);
  }
  const text = query.toString();
  return `${params.baseUrl}${path}${text ? `?${text}` : ''}`;
}

/**
 * Parses one JSON object of the wire (`op` given for SSE, whose event name carries it); null
 * for anything that isn't an object with a string `op`, or a message without its position.
 */
export function parseEvent(text: string, op?: string): WireEvent | null {
  try {
    return toEvent(JSON.parse(text), op);
  } catch {
    return null;
  }
}

export function toEvent(value: unknown, op?: string): WireEvent | null {
  if (typeof value !== 'object' || value === null) return null;
  const event = value as Record<string, unknown>;
  if (op) event.op = op;
  if (typeof event.op !== 'string') return null;
  if (event.op === 'message' && !isPosition(event)) return null;
  return event as WireEvent;
}

/** A wire object that names a message's position. */
export type Positioned = Record<string, unknown> & { channel: string; epoch: string; offset: number };

/** Whether a wire value names a message's position: its channel, epoch and offset. */
export function isPosition(value: unknown): value is Positioned {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  return (
    typeof event.channel === 'string' && typeof event.epoch === 'string' && Number.isInteger(event.offset)
  );
}
