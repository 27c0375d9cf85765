import type { ChannelTurn } from './types.ts';

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

interface Channel {
  /** Node id -> its subscriber count (never 0). */
  readonly nodes: Map<string, number>;
  total: number;
  /** The last number of the channel's sequence given out. */
  seq: number;
}

/** A 0 crossing found by `set` outside a turn, or by `drop`. */
export interface Crossing {
  readonly channel: string;
  readonly occupied: boolean;
  readonly seq: number;
}

/**
 * Each channel's subscriber count per node and in total, with the channel's sequence, in
 * memory: the counting of the in-process cluster views (LocalCluster, the IPC host). What
 * occupancy.lua does on Redis: a count and the numbers it takes change together. A channel is
 * forgotten once vacated; its next run of numbers starts from the sequence clock.
 */
export class ChannelCounts {
  private readonly channels = new Map<string, Channel>();
  private readonly clock = new SequenceClock();

  /**
   * Sets `node`'s count of `channel`; numbers it when it is a `turn`, and the 0 crossing it
   * caused (occupied just before the turn, vacated just after).
   */
  set(node: string, channel: string, count: number, turn: boolean): ChannelTurn {
    const known = this.channels.get(channel);
    const before = known?.total ?? 0;
    const after = before - (known?.nodes.get(node) ?? 0) + count;
    const occupied = after > 0;
    if (!known && !occupied) {
      // Nothing to count: a turn still takes a number, of a run of its own.
      return { seq: turn ? this.clock.next() : 0, edgeSeq: null, occupied };
    }
    const entry = known ?? { nodes: new Map(), total: 0, seq: this.clock.next() - 1 };
    const crossed = before > 0 !== occupied;
    const take = () => {
      entry.seq += 1;
      return entry.seq;
    };
    let seq = 0;
    let edgeSeq: number | null = null;
    if (crossed && occupied) edgeSeq = take();
    if (turn) seq = take();
    if (crossed && !occupied) edgeSeq = take();
    this.clock.saw(entry.seq);
    if (count > 0) entry.nodes.set(node, count);
    else entry.nodes.delete(node);
    entry.total = after;
    if (occupied) this.channels.set(channel, entry);
    else this.channels.delete(channel);
    return { seq, edgeSeq, occupied };
  }

  /** Removes every count of `node`; returns the channels that it alone held, now vacated. */
  drop(node: string): Crossing[] {
    const vacated: Crossing[] = [];
    for (const [channel, entry] of [...this.channels]) {
      if (!entry.nodes.has(node)) continue;
      const { edgeSeq } = this.set(node, channel, 0, false);
      if (edgeSeq !== null) vacated.push({ channel, occupied: false, seq: edgeSeq });
    }
    return vacated;
  }

  /** Subscribers of `channel` on every node together. */
  total(channel: string): number {
    return this.channels.get(channel)?.total ?? 0;
  }

  /** The channels with subscribers, in no particular order. */
  names(): IterableIterator<string> {
    return this.channels.keys();
  }

  /** `node`'s count of each channel it has subscribers on. */
  of(node: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [channel, entry] of this.channels) {
      const count = entry.nodes.get(node);
      if (count !== undefined) counts.set(channel, count);
    }
    return counts;
  }

  clear(): void {
    this.channels.clear();
  }
}
