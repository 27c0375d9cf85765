import type { ChannelTurn, ConnectedClient } from '../brokers/types.ts';

export type { ChannelTurn };

/** A client that was connected to a node, as the cluster remembers it. */
export type LostClient = ConnectedClient;

/** A node that stopped renewing its lease: its clients are gone. */
export interface NodeLoss {
  readonly node: string;
  readonly clients: readonly LostClient[];
}

/** What the occupancy store tells the hub of on its own, found after the fact. */
export interface OccupancyEvents {
  /**
   * A node died: its clients are gone. The channels it alone held follow as `crossed`
   * (vacated), after it.
   */
  lost(loss: NodeLoss): void;
  /**
   * A channel's count over the whole cluster crossed zero (went 0 -> n when `occupied`, n -> 0
   * when not), found outside `join` / `leave`: by a periodic report of the node's counts, or
   * by removing a lost node's. `seq` numbers it among the channel's events.
   */
  crossed(channel: string, occupied: boolean, seq: number): void;
}

/**
 * Who is subscribed where, counted over every node of the deployment, for lifecycle events:
 * `channel_occupied` / `channel_vacated` and the per-channel sequence numbers that order them.
 * The server implements it over the cluster view (`ClusterView.turn`), the one count of
 * subscribers per channel and node.
 *
 * Implementations MUST count per channel over the whole cluster (a channel is occupied while
 * any node has a subscriber) and MUST assign a channel's sequence numbers atomically with the
 * count change (see ClusterView.turn). Calls come in the order things happened on this node,
 * and MUST be applied in that order. Every call MUST settle, rejecting after a timeout rather
 * than hanging: the events after it wait for it. On failure the hub sends the event
 * unnumbered.
 */
export interface Occupancy {
  /** False when counts cover this node only: the hub then sends no occupied/vacated events. */
  readonly clusterWide: boolean;
  /** A client connected to this node; remembered so that its disconnect can be told if the node dies. */
  clientOpened(client: LostClient): Promise<void>;
  clientClosed(clientId: string): Promise<void>;
  /** One more subscriber of `channel` on this node (the hub counts it before the call). */
  join(channel: string, clientId: string): Promise<ChannelTurn>;
  /** One subscriber less (the hub counts it before the call). */
  leave(channel: string, clientId: string): Promise<ChannelTurn>;
  /**
   * Starts telling `events` of what the store finds on its own: each node found dead (its
   * lease expired), and zero crossings it did not report from `join` / `leave`. Each once
   * and on one surviving node; never this node's own loss. Each crossing is reported one way
   * only: from `join` / `leave` (an `edgeSeq`), or through `crossed`.
   */
  watch(events: OccupancyEvents): void;
}
