import type { Cursor, GapEvent, StreamPosition } from '../protocol/index.ts';
import type { OutboundBatch, OutboundMessage } from './outbound.ts';

/** Per-channel behaviour, resolved from the channel's namespace by the server's config. */
export interface ChannelOptions {
  readonly historySize: number;
  readonly historyTtlMs: number | null;
  readonly clientPublish: boolean;
  readonly presence: boolean;
}

/** Who is connected, as established by the server's auth at the edge. */
export interface Identity {
  readonly userId: string | null;
  /** May this identity subscribe to `channel`? */
  canSubscribe(channel: string): boolean;
  /** May this identity publish on `channel`, beyond what the namespace allows? */
  canPublish(channel: string): boolean;
}

export const ANONYMOUS: Identity = Object.freeze({
  userId: null,
  canSubscribe: () => true,
  canPublish: () => false,
});

/** Why a session is being ended by the server. */
export interface CloseRequest {
  readonly code: 'shutting_down' | 'heartbeat_timeout' | 'slow_consumer' | 'internal';
  readonly reason: string;
  /** A hint for the client: wait about this long before reconnecting. */
  readonly reconnectDelayMs: number;
}

/**
 * What a transport gives the hub to reach one connection. Calls come in delivery order.
 * Implementations MUST NOT throw and MUST NOT block: queue, or close the connection.
 */
export interface SessionSink {
  /** A message, and the connection's cursor right after it. */
  message(message: OutboundMessage, cursor: string): void;
  /**
   * Consecutive messages of the connection's only channel, each with its one-channel cursor
   * (`message.soloCursor()`): the same for every such connection, so bytes can be shared.
   */
  batch(batch: OutboundBatch): void;
  gap(event: GapEvent): void;
  /** The server ends this connection: tell the client why (and to reconnect), then close. */
  close(request: CloseRequest): void;
}

/**
 * A long poll waiting on one channel without a session (the hub's fast path), at a position
 * that was the channel's latest when it came. Like a sink: MUST NOT throw or block.
 */
export interface PollWaiter {
  readonly epoch: string;
  readonly offset: number;
  /**
   * The messages right after the poll's position, oldest first. `batch` is given when they
   * are a whole fan-out batch, the same for every poll waiting there: its bytes can be shared.
   */
  answer(messages: readonly OutboundMessage[], batch: OutboundBatch | null): void;
  /** The hub ends the wait: with a close request (drain), or null (answer nothing new). */
  end(request: CloseRequest | null): void;
}

export interface SubscribeStart {
  readonly channel: string;
  /** Where delivery starts: everything after this position follows. */
  readonly position: StreamPosition;
  /** The connection's cursor at that point. */
  readonly cursor: string;
}

export interface OpenSessionOptions {
  readonly transport: string;
  readonly identity: Identity;
  readonly sink: SessionSink;
  /**
   * A session of one request whose client comes right back with another (a long poll): its
   * channels stay followed for a while after it ends, so the next request finds them in memory.
   */
  readonly shortLived?: boolean;
}

export type { Cursor };
