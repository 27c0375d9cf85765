import type { Publication, StreamPosition } from '../protocol/index.ts';

/** Per-channel stream options, resolved by the caller from the channel's namespace. */
export interface PublishOptions {
  /** How many publications history keeps; 0 keeps none (offsets still rise). */
  readonly historySize: number;
  /** How long a publication stays in history; null keeps it until pushed out by size. */
  readonly historyTtlMs: number | null;
}

export interface HistoryQuery {
  /**
   * Publications after this position, oldest first. When `since.epoch` is not the channel's
   * current epoch, every publication still held is returned (the caller reports the gap).
   * Without `since`: the newest `limit` publications, oldest first.
   */
  readonly since?: StreamPosition;
  /** At most this many publications; 0 returns only the positions. Default: all held. */
  readonly limit?: number;
}

export interface HistoryResult {
  readonly publications: readonly Publication[];
  /** The channel's current epoch and last offset (offset 0 if nothing was ever published). */
  readonly top: StreamPosition;
  /** The oldest offset still held; `top.offset + 1` when history is empty. */
  readonly earliest: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Where a broker reports what it handles itself (a lost link, a failing handler). */
export type Logger = (level: LogLevel, msg: string, err?: unknown) => void;

/** Events a broker reports to its node. */
export interface BrokerHandler {
  /**
   * A publication on a channel this node subscribes to. The broker MUST call it once per
   * publication, in offset order per channel, including this node's own publishes. If it
   * throws, the broker MUST report that and go on: neither the publish nor later deliveries
   * fail because of it.
   */
  publication(publication: Publication): void;
  /**
   * The broker's link came back after an outage during which publications may have been
   * missed. The node re-reads history of its channels to fill the hole.
   */
  recovered(): void;
}

/** Who is on a channel; kept by the broker so that every node sees every node's clients. */
export interface PresenceInfo {
  readonly clientId: string;
  readonly userId: string | null;
  readonly connectedAt: number;
}

export interface PresenceStore {
  /** Adds or refreshes an entry; brokers shared by several nodes MUST expire it after `ttlMs`. */
  join(channel: string, info: PresenceInfo, ttlMs: number): Promise<void>;
  leave(channel: string, clientId: string): Promise<void>;
  list(channel: string): Promise<PresenceInfo[]>;
}

/**
 * The one seam between a node and whatever carries messages between nodes. A broker sees
 * channels, positions and JSON text, never sockets, sessions or transports.
 *
 * Whatever a broker can't do (its server is unreachable or too slow, or it was closed) it
 * MUST report by rejecting with a PushwireError `broker_unavailable` whose message never
 * holds a credential of its connection settings: callers pass it on as it is. After
 * `close()` every member but `close` and `unsubscribe` rejects that way.
 */
export interface Broker {
  /** Starts delivering events to `handler`; called once, before any other member. */
  start(handler: BrokerHandler): Promise<void>;
  /**
   * Assigns the channel's next offset and appends to its history atomically, then delivers
   * the publication to every subscribed node. MUST reject (never drop silently) if it can't.
   * `data` is the payload's JSON text.
   */
  publish(channel: string, data: string, options: PublishOptions): Promise<Publication>;
  /** This node wants publications of `channel`; resolves once they will be delivered. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  history(channel: string, query: HistoryQuery): Promise<HistoryResult>;
  readonly presence: PresenceStore;
  /** Stops delivering events and releases connections; safe to call twice. */
  close(): Promise<void>;
}

/** Optional: a broker that can tell whether it is able to serve (`/readyz`). */
export interface BrokerHealth {
  healthy(): boolean;
}

export function hasHealth(broker: Broker): broker is Broker & BrokerHealth {
  return typeof (broker as Partial<BrokerHealth>).healthy === 'function';
}
