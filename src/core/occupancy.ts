/**
 * A subscribe or unsubscribe as the occupancy store counted it: the channel's sequence number
 * for it and, when the channel's subscriber count crossed zero, the one of the crossing.
 */
export interface ChannelTurn {
  /** The channel's sequence number of this subscribe or unsubscribe. */
  readonly seq: number;
  /**
   * Set when the count went 0 -> 1 (join: `channel_occupied`, numbered just before `seq`) or
   * 1 -> 0 (leave: `channel_vacated`, numbered just after `seq`); null otherwise.
   */
  readonly edgeSeq: number | null;
}

/** A client that was connected to a node, as the occupancy store remembers it. */
export interface LostClient {
  readonly clientId: string;
  readonly user: string | null;
}

/** A node that stopped renewing its lease: its clients are gone, and maybe the last subscribers of some channels. */
export interface NodeLoss {
  readonly node: string;
  readonly clients: readonly LostClient[];
  /** Channels whose only subscribers were on the lost node, each with its `channel_vacated` sequence number. */
  readonly vacated: readonly { readonly channel: string; readonly seq: number }[];
}

/** What an occupancy store tells the hub of on its own, found after the fact. */
export interface OccupancyEvents {
  /** A node died: its clients are gone (see NodeLoss). */
  lost(loss: NodeLoss): void;
  /**
   * A channel's count over the whole cluster crossed zero (went 0 -> n when `occupied`, n -> 0
   * when not), found by a store that learns of counts after the fact (periodic reports), not
   * in `join` / `leave`. `seq` numbers it among the channel's events.
   */
  crossed(channel: string, occupied: boolean, seq: number): void;
}

/**
 * Who is subscribed where, counted over every node of the deployment, for lifecycle events:
 * `channel_occupied` / `channel_vacated` and the per-channel sequence numbers that order them.
 *
 * Implementations MUST count per channel over the whole cluster (a channel is occupied while
 * any node has a subscriber) and MUST assign a channel's sequence numbers atomically with the
 * count change, rising by one per turn, so that a receiver can order a channel's events from
 * several nodes. A channel's numbers MUST keep rising after it was vacated and forgotten (and
 * across restarts): start a new run above any number given before (see LocalOccupancy).
 * Calls come in the order things happened on this node, and MUST be applied in that order
 * (one Redis connection does). Every call MUST settle, rejecting after a timeout rather than
 * hanging: the events after it wait for it. On failure the hub sends the event unnumbered.
 */
export interface Occupancy {
  /** False when counts cover this node only: the hub then sends no occupied/vacated events. */
  readonly clusterWide: boolean;
  /** A client connected to this node; remembered so that its disconnect can be told if the node dies. */
  clientOpened(client: LostClient): Promise<void>;
  clientClosed(clientId: string): Promise<void>;
  /** One more subscriber of `channel` on this node. */
  join(channel: string, clientId: string): Promise<ChannelTurn>;
  /** One subscriber less. */
  leave(channel: string, clientId: string): Promise<ChannelTurn>;
  /**
   * Starts telling `events` of what the store finds on its own: each node found dead (its
   * lease expired), and zero crossings it did not report from `join` / `leave`. Each once
   * and on one surviving node (twice is harmless: their events have fixed ids); never this
   * node's own loss. A store reports each crossing one way only: from `join` / `leave` (an
   * `edgeSeq`), or through `crossed`.
   */
  watch(events: OccupancyEvents): void;
}

/**
 * The first number of a new run of a channel's sequence: the clock in microseconds, above any
 * number given before in this process. A forgotten channel (or one after a restart) thus
 * starts higher than it ever went, unless it once saw more than a million events a second.
 */
export class SequenceClock {
  private last = 0;

  next(now: number = Date.now()): number {
    this.last = Math.max(this.last + 1, now * 1000);
    return this.last;
  }

  /** Numbers up to `seq` were given out. */
  saw(seq: number): void {
    if (seq > this.last) this.last = seq;
  }
}

interface Count {
  subscribers: number;
  seq: number;
}

/**
 * The occupancy of a single node, which is the whole cluster on the memory broker. A channel
 * is forgotten once vacated; its next run of numbers starts from the sequence clock.
 */
export class LocalOccupancy implements Occupancy {
  readonly clusterWide: boolean;
  private readonly counts = new Map<string, Count>();
  private readonly clock = new SequenceClock();

  /** `clusterWide`: whether this node is all there is (true on the memory broker). */
  constructor(clusterWide: boolean) {
    this.clusterWide = clusterWide;
  }

  async clientOpened(): Promise<void> {}

  async clientClosed(): Promise<void> {}

  async join(channel: string, _clientId?: string): Promise<ChannelTurn> {
    let count = this.counts.get(channel);
    let edgeSeq: number | null = null;
    if (!count) {
      edgeSeq = this.clock.next();
      count = { subscribers: 0, seq: edgeSeq };
      this.counts.set(channel, count);
    }
    count.subscribers += 1;
    count.seq += 1;
    this.clock.saw(count.seq);
    return { seq: count.seq, edgeSeq };
  }

  async leave(channel: string, _clientId?: string): Promise<ChannelTurn> {
    const count = this.counts.get(channel);
    // A leave without its join (the join's count was lost): number it, cross nothing.
    if (!count) return { seq: this.clock.next(), edgeSeq: null };
    count.subscribers -= 1;
    count.seq += 1;
    const seq = count.seq;
    let edgeSeq: number | null = null;
    if (count.subscribers === 0) {
      this.counts.delete(channel);
      count.seq += 1;
      edgeSeq = count.seq;
    }
    this.clock.saw(count.seq);
    return { seq, edgeSeq };
  }

  /** One node is the whole cluster: no other node to lose, and every crossing is known at once. */
  watch(_events: OccupancyEvents): void {}
}
