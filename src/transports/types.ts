import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Hub, Identity } from '../core/index.ts';
import type { Cursor, PushwireError, TransportName } from '../protocol/index.ts';
import type { HeartbeatWheel } from './heartbeat.ts';
import type { OutboundBudget } from './outbound-budget.ts';

/** A connection request, validated and authenticated at the edge by the server. */
export interface SubscribeParams {
  /** The channels named in the request (`?channel=`); empty on a WebSocket. */
  readonly channels: readonly string[];
  readonly cursor: Cursor | null;
  /**
   * Long poll only: whether a poll with nothing past its cursor waits for the next message
   * (the default) or is answered at once (`?wait=0`, how a client resumes in one request).
   */
  readonly wait: boolean;
  /**
   * Long poll only: whether each message an answer lists carries its cursor (the default), or
   * only the answer does, after them (`?cursors=0`, how the SDK polls: fewer bytes per message).
   */
  readonly messageCursors: boolean;
  readonly identity: Identity;
  /** Response headers the server adds for this request (CORS). */
  readonly headers: Readonly<Record<string, string>>;
  /** The client's address as the server knows it (behind a trusted proxy: the proxy's word); null when unknown. */
  readonly address: string | null;
}

/** Why an upgrade's handshake is refused, and the headers RFC 6455 wants on that answer. */
export interface UpgradeProblem {
  readonly error: PushwireError;
  readonly headers?: Readonly<Record<string, string>>;
}

/** How the request reached the server: a response to write, or a socket to upgrade. */
export type Wire =
  | { readonly kind: 'response'; readonly req: IncomingMessage; readonly res: ServerResponse }
  | {
      readonly kind: 'upgrade';
      readonly req: IncomingMessage;
      readonly socket: Duplex;
      readonly head: Buffer;
    };

/**
 * One wire transport of the server: it turns a connection request into a session and the
 * session's events into bytes, and client commands (where it has an upstream) into session
 * commands. It decides nothing: rights, history and fan-out are the session's and the hub's.
 */
export interface Transport {
  readonly name: TransportName;
  /** Where it is served, under the server's prefix. */
  readonly path: string;
  /** How a client opens it: a GET whose response carries the events, or a WebSocket upgrade. */
  readonly opens: 'request' | 'upgrade';
  /** A request header that names the client's cursor and wins over `?cursor=` (SSE: Last-Event-ID). */
  readonly cursorHeader: string | null;
  /**
   * For an upgrade: what is wrong with its handshake (answered as the JSON error, before
   * anything else is done for it), or null.
   */
  readonly upgradeProblem?: (req: IncomingMessage) => UpgradeProblem | null;
  /** Serves a validated, authenticated request. MUST NOT throw or reject: failures go on the wire. */
  open(wire: Wire, params: SubscribeParams): void;
  /** Answers a request refused at the edge, in the error's documented shape. MUST NOT throw. */
  refuse(wire: Wire, error: PushwireError, headers: Readonly<Record<string, string>>): void;
  /** Connections it holds open now (sessions, held polls). */
  connectionCount(): number;
  /** Releases what it keeps on its own (timers, held channels) when the server closes. */
  close(): void;
}

/** What every transport gets from the server that mounts it. */
export interface TransportContext {
  readonly hub: Hub;
  /** null when heartbeats are off. */
  readonly heartbeat: HeartbeatWheel | null;
  /** A connection whose unsent bytes pass this is a slow consumer and is closed. */
  readonly maxBufferedBytes: number;
  /** The largest WebSocket frame a client may send. */
  readonly maxFrameBytes: number;
  readonly pollTimeoutMs: number;
  /**
   * A channel long polls come back to stays followed this long after its last poll, so the
   * next poll finds its position and recent messages in memory.
   */
  readonly pollLingerMs: number;
  /** WebSocket frames a connection may send per second (bursts of twice that); null: no limit. */
  readonly maxCommandsPerSecond: number | null;
  /** The bytes queued over all push connections (--max-outbound-memory); null: no total limit. */
  readonly outbound: OutboundBudget | null;
  /** What the transports refused or cut, for /metrics: plain numbers, read at scrape time. */
  readonly counters: TransportCounters;
  readonly report: (stage: string, error: unknown) => void;
  /**
   * A bug hit while handling a client's bytes (a frame): logged once, without those bytes.
   * Defaults to `report`.
   */
  readonly fault?: (stage: string, error: unknown) => void;
  /**
   * The identity a refreshed token gives (the WebSocket `refresh` op): rejects with the
   * PushwireError that refuses it. Absent: the server takes no tokens.
   */
  readonly identifyToken?: (token: string) => Promise<Identity>;
}

export interface TransportCounters {
  /** WebSocket frames answered `rate_limited` (over --max-commands-per-second). */
  commandsRateLimited: number;
  /** Tokens that replaced an open connection's (WebSocket `refresh`, `POST /refresh`) ... */
  tokenRefreshes: number;
  /** ... and those refused (invalid, expired, another `sub`): the connection kept its old one. */
  tokenRefreshesRefused: number;
}

export function newTransportCounters(): TransportCounters {
  return { commandsRateLimited: 0, tokenRefreshes: 0, tokenRefreshesRefused: 0 };
}
