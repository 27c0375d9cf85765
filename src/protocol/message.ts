/** A channel's place in its stream: offsets rise by exactly 1 within one epoch. */
export interface StreamPosition {
  readonly epoch: string;
  readonly offset: number;
}

/**
 * A message as a broker stores it. `data` is the JSON text of the payload, serialized once at
 * publish time, so no layer below the edge ever parses or re-serializes it.
 */
export interface Publication {
  readonly channel: string;
  readonly offset: number;
  readonly epoch: string;
  readonly data: string;
  /** Milliseconds since the Unix epoch at which the broker accepted it. */
  readonly time: number;
}

/** A message as every transport delivers it (contract v1), with `data` parsed. */
export interface Message<T = unknown> {
  channel: string;
  offset: number;
  epoch: string;
  data: T;
  /** The connection's position after this message, on all of its channels. */
  cursor?: string;
}

/** Why continuity broke on a channel. */
export type GapReason = 'window' | 'epoch';

/** The control event that says some messages of a channel can't be delivered. */
export interface GapEvent {
  op: 'gap';
  channel: string;
  reason: GapReason;
  /** The channel's current epoch. */
  epoch: string;
  /** The last offset the client had (of its old epoch, for reason `epoch`), if it had one. */
  lastOffset: number | null;
  /** The first offset delivered next on this channel (of `epoch`). */
  nextOffset: number;
  cursor: string;
}

/** The control event that tells a client to reconnect (server shutdown or drain). */
export interface ReconnectEvent {
  op: 'reconnect';
  reason: string;
  /** A hint: wait about this long before reconnecting, to spread the herd. */
  delayMs: number;
}

/** Sent first on every streaming connection: the cursor to resume from if nothing else arrives. */
export interface ConnectedEvent {
  op: 'connected';
  clientId: string;
  cursor: string;
  /** How often the server sends a heartbeat when idle; null when heartbeats are off. */
  heartbeatIntervalMs: number | null;
  /**
   * The id of the node that holds the connection (with `serve --workers`, the worker): what
   * `/api/info` lists. Optional for clients of older servers.
   */
  node?: string;
  /**
   * When the connection's token expires (its `exp`, ms since the epoch); null without one.
   * Every server of this version sends it; optional for clients of older servers.
   */
  expiresAt?: number | null;
  /**
   * The secret that lets this client's next connection end this one at once
   * (`?replaces=<clientId>&replaceKey=<key>`): a peer that vanished without a FIN leaves its
   * old connection open on the server. Absent on long poll, which keeps no connection.
   */
  replaceKey?: string;
}
