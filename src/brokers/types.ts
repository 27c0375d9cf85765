import type { Publication, StreamPosition } from '../protocol/index.ts';

/** Per-channel stream options, resolved by the caller from the channel's namespace. */
export interface PublishOptions {
  /** How many publications history keeps; 0 keeps none (offsets still rise). */
  readonly historySize: number;
  /** How long a publication stays in history; null keeps it until pushed out by size. */
  readonly historyTtlMs: number | null;
  /**
   * Publications younger than this stay in history whatever `historySize` says (a client that
   * comes back seconds later finds what it missed); `historyTtlMs` still caps their age, and
   * `historySize: 0` still keeps none. Absent: 0, the count alone decides.
   */
  readonly historyMinAgeMs?: number;
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

/** A node as it announces itself to the cluster. */
export interface NodeInfo {
  /** Unique among the nodes of a deployment, for the node's lifetime. */
  readonly id: string;
  /** The Pushwire version it runs. */
  readonly version: string;
  /** Milliseconds since the Unix epoch at which it started. */
  readonly startedAt: number;
  /** The host it runs on, as `os.hostname()` says. */
  readonly host: string;
}

/** A node of the cluster and when its lease runs out unless it renews it. */
export interface NodeLease extends NodeInfo {
  readonly leaseExpiresAt: number;
}

/** A client connected to a node, as the cluster remembers it for the case that the node dies. */
export interface ConnectedClient {
  readonly clientId: string;
  readonly user: string | null;
}

/** A node whose lease ran out without it leaving, and what it held then. */
export interface LostNode {
  readonly node: NodeInfo;
  /** Its local subscriber count per channel, as it last reported them. */
  readonly channels: ReadonlyMap<string, number>;
  /** The clients it had added to `ClusterView.clients` and not removed, in no particular order. */
  readonly clients: readonly ConnectedClient[];
}

/** A channel's cluster-wide subscriber count went from 0 to more (occupied) or back to 0 (vacated). */
export interface OccupancyChange {
  readonly channel: string;
  readonly occupied: boolean;
  /** The change's number in the channel's sequence (see ClusterView.turn). */
  readonly seq: number;
}

/** One subscribe or unsubscribe as the cluster counted and numbered it (`ClusterView.turn`). */
export interface ChannelTurn {
  /** The channel's sequence number of this subscribe or unsubscribe. */
  readonly seq: number;
  /**
   * Set when the channel's cluster-wide count crossed 0 with this turn: the crossing's number,
   * just before `seq` when the channel became occupied, just after it when it was vacated.
   */
  readonly edgeSeq: number | null;
  /** Whether the channel has subscribers on some node after this turn. */
  readonly occupied: boolean;
}

/** The clients connected to this node, kept where another node finds them if this one dies. */
export interface ClientRoster {
  add(client: ConnectedClient): Promise<void>;
  remove(clientId: string): Promise<void>;
}

export interface ChannelQuery {
  /** Only channels whose name starts with it. */
  readonly prefix?: string;
  /** Only channels whose name sorts after it (the `next` of the previous page). */
  readonly after?: string;
  readonly limit: number;
}

export interface ChannelCount {
  readonly channel: string;
  /** Subscribers on every live node together. */
  readonly subscribers: number;
}

export interface ChannelPage {
  /** Sorted by name (binary order). */
  readonly channels: readonly ChannelCount[];
  /** Give it as `after` for the next page; null on the last one. */
  readonly next: string | null;
}

/** A request on the control bus: a type the receiving nodes know and a JSON-able body. */
export interface ClusterRequest {
  readonly type: string;
  readonly body: unknown;
}

export type NodeReply =
  | { readonly node: string; readonly ok: true; readonly body: unknown }
  | { readonly node: string; readonly ok: false; readonly error: string };

/** What the cluster reports to its node. */
export interface ClusterHandler {
  /**
   * A request from a node (this one included). Resolves with the reply's JSON-able body, or
   * rejects: the requester gets `{ok: false}` with the error's message.
   */
  request(request: ClusterRequest): Promise<unknown>;
  /**
   * A node's lease expired without it leaving (it crashed or was cut off). Reported on
   * exactly one live node, once per lease that ran out, so that its side effects (a webhook,
   * a log line) happen once.
   */
  nodeLost(lost: LostNode): void;
  /**
   * A channel's cluster-wide count changed between 0 and more through a report of this node
   * (or a lost node's reports removed by this node). Reported once per change, on one node.
   * A change made by a `turn` is not reported here: the turn returns it.
   */
  occupancy(change: OccupancyChange): void;
}

/**
 * Shared facts about users whose tokens are revoked, kept for every node: each node keeps a
 * copy in memory and refreshes it from here (connection auth can't wait for a round trip).
 */
export interface RevocationStore {
  /** Refuses tokens of `userId` issued at or before `atMs`; kept for `ttlMs`. A later time wins. */
  add(userId: string, atMs: number, ttlMs: number): Promise<void>;
  /** Every revocation still kept: user id to time (ms). */
  list(): Promise<Map<string, number>>;
}

/**
 * The cluster's control plane: which nodes are alive, how many subscribers each has on each
 * channel, and a bus for requests from node to node (disconnect everywhere, gather stats).
 * The memory implementation is a cluster of one node; the Redis one is shared by every node
 * of the deployment.
 *
 * An implementation MUST report failures as a PushwireError `broker_unavailable`, like a
 * Broker. It MUST NOT count a node whose lease expired in `nodes`, `channels` or `broadcast`.
 */
export interface ClusterView {
  /**
   * Enters the cluster as `self` and starts renewing the node's lease (it MUST renew well
   * before it runs out); `handler` gets requests and events from now on. Called once.
   */
  join(self: NodeInfo, handler: ClusterHandler): Promise<void>;
  /** The live nodes (lease not expired), this one included, sorted by id. */
  nodes(): Promise<NodeLease[]>;
  /**
   * Sets this node's local subscriber count of each channel given (0: none left). Counts
   * are absolute, so a report that is lost is mended by the next one of the same channel.
   */
  report(counts: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Sets this node's count of `channel` like `report`, as one subscribe or unsubscribe, and
   * numbers it in the channel's sequence (with the 0 crossing it caused, if any).
   *
   * Each channel has one sequence over the whole cluster: a turn and a crossing (of a turn, a
   * report or a lost node) each take the next number, atomically with the count change, so
   * numbers given on different nodes order the channel's events. A channel's numbers MUST keep
   * rising after it was vacated and forgotten: a new run starts from the clock in
   * microseconds. A node's `report` and `turn` calls MUST be applied in the order they are
   * made (one connection per channel does).
   */
  turn(channel: string, count: number): Promise<ChannelTurn>;
  /** Channels with at least one subscriber on a live node, by name, a page at a time. */
  channels(query: ChannelQuery): Promise<ChannelPage>;
  /**
   * Sends `request` to every live node (this one included) and resolves with one reply per
   * node, sorted by node id; a node that doesn't answer within `timeoutMs` gets `{ok: false}`.
   * MUST NOT reject because one node failed.
   */
  broadcast(request: ClusterRequest, timeoutMs: number): Promise<NodeReply[]>;
  readonly revocations: RevocationStore;
  /** This node's clients, told in `LostNode.clients` if it dies. */
  readonly clients: ClientRoster;
  /** Leaves: removes this node, its counts and clients (no `nodeLost` for it) and stops. Safe twice. */
  leave(): Promise<void>;
}

/** Optional: a broker that brings the cluster view of its deployment. */
export interface BrokerCluster {
  readonly cluster: ClusterView;
}

export function hasCluster(broker: Broker): broker is Broker & BrokerCluster {
  const cluster = (broker as Partial<BrokerCluster>).cluster;
  return typeof cluster === 'object' && cluster !== null;
}
