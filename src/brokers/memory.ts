import { randomBytes } from 'node:crypto';
import { type Publication, PushwireError } from '../protocol/index.ts';
import { LocalCluster } from './local-cluster.ts';
import type {
  Broker,
  BrokerCluster,
  BrokerHandler,
  HistoryQuery,
  HistoryResult,
  Logger,
  PresenceInfo,
  PresenceStore,
  PublishOptions,
} from './types.ts';

export interface MemoryBrokerOptions {
  /** Told of what the broker handles itself: a handler that threw. */
  readonly logger?: Logger;
  /**
   * Bytes of history kept over all channels (see storedBytes); past it the oldest messages,
   * whatever their channel, are evicted. Unlimited by default.
   */
  readonly maxHistoryBytes?: number;
  /**
   * Channels whose position and history are kept; past it the least recently used channel
   * nobody follows is forgotten (a later resume on it sees a new epoch). Unlimited by default.
   */
  readonly maxChannels?: number;
}

/** What the broker holds, for operators. */
export interface MemoryBrokerStats {
  /** Bytes of history held now, as the budget counts them. */
  readonly historyBytes: number;
  readonly historyMessages: number;
  readonly channels: number;
  /** Messages evicted from history to stay within the memory budget. */
  readonly evictedMessages: number;
  /** Channels forgotten to stay within the channel cap. */
  readonly forgottenChannels: number;
}

/** A message in history with what it costs; `live` until it leaves its channel's history. */
interface Stored {
  readonly publication: Publication;
  readonly bytes: number;
  live: boolean;
}

interface ChannelStream {
  readonly epoch: string;
  offset: number;
  /** Oldest first; trimmed by size on publish, by age on every read, by the memory budget. */
  history: Stored[];
  historyTtlMs: number | null;
  lastActivity: number;
}

/** What a stored message is counted as besides its data and channel name: its bookkeeping. */
const MESSAGE_OVERHEAD_BYTES = 100;

/** The budget's measure of a message: its data and channel name in UTF-8, plus its bookkeeping. */
export function storedBytes(channel: string, data: string): number {
  return Buffer.byteLength(data) + Buffer.byteLength(channel) + MESSAGE_OVERHEAD_BYTES;
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

const SWEEP_INTERVAL_MS = 60_000;

/**
 * The embedded single-node broker. History lives in this process, so a restart starts every
 * channel in a new epoch: clients that resume across it are told of the gap.
 */
export class MemoryBroker implements Broker, BrokerCluster {
  readonly presence: PresenceStore;
  /** One node: its own cluster. */
  readonly cluster = new LocalCluster();
  /** In least recently used order: a stream is moved to the end on each use. */
  private readonly streams = new Map<string, ChannelStream>();
  private readonly subscribed = new Set<string>();
  private readonly maxHistoryBytes: number;
  private readonly maxChannels: number;
  /**
   * Every stored message in publish order over all channels, from `oldestAt`: the budget
   * evicts from its front. Entries that left history otherwise (size, age) are skipped there.
   */
  private stored: Stored[] = [];
  private oldestAt = 0;
  private historyBytes = 0;
  private historyMessages = 0;
  private evictedMessages = 0;
  private forgottenChannels = 0;
  private readonly log: Logger;
  private handler: BrokerHandler | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: MemoryBrokerOptions = {}) {
    this.log = options.logger ?? (() => {});
    this.maxHistoryBytes = options.maxHistoryBytes ?? Number.POSITIVE_INFINITY;
    this.maxChannels = options.maxChannels ?? Number.POSITIVE_INFINITY;
    this.presence = new MemoryPresence(() => this.assertOpen());
  }

  async start(handler: BrokerHandler): Promise<void> {
    this.handler = handler;
    // Streams of channels nobody uses are dropped once their history has expired, so that
    // one-off channels don't hold memory forever.
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  async publish(channel: string, data: string, options: PublishOptions): Promise<Publication> {
    this.assertOpen();
    const now = Date.now();
    const stream = this.stream(channel, now);
    stream.offset += 1;
    stream.historyTtlMs = options.historyTtlMs;
    const publication: Publication = { channel, offset: stream.offset, epoch: stream.epoch, data, time: now };
    if (options.historySize > 0) {
      const entry: Stored = { publication, bytes: storedBytes(channel, data), live: true };
      stream.history.push(entry);
      this.stored.push(entry);
      this.historyBytes += entry.bytes;
      this.historyMessages += 1;
      this.trim(stream, beyondWindow(stream.history, options.historySize, options.historyMinAgeMs ?? 0, now));
    } else {
      this.trim(stream, stream.history.length);
    }
    if (this.subscribed.has(channel)) this.deliver(publication);
    return publication;
  }

  async subscribe(channel: string): Promise<void> {
    this.assertOpen();
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    this.assertOpen();
    const now = Date.now();
    const stream = this.stream(channel, now);
    this.expire(stream, now);
    const held = stream.history;
    const top = { epoch: stream.epoch, offset: stream.offset };
    const earliest = held[0]?.publication.offset ?? stream.offset + 1;
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    let slice: Stored[];
    if (limit === 0) {
      slice = [];
    } else if (query.since) {
      const after = query.since.epoch === stream.epoch ? query.since.offset : 0;
      const first = Math.max(0, after + 1 - earliest);
      slice = held.slice(first, first + Math.min(limit, held.length));
    } else {
      slice = held.slice(Math.max(0, held.length - limit));
    }
    return { publications: slice.map((entry) => entry.publication), top, earliest };
  }

  stats(): MemoryBrokerStats {
    return {
      historyBytes: this.historyBytes,
      historyMessages: this.historyMessages,
      channels: this.streams.size,
      evictedMessages: this.evictedMessages,
      forgottenChannels: this.forgottenChannels,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handler = null;
    await this.cluster.leave();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  private assertOpen(): void {
    if (this.closed) throw new PushwireError('broker_unavailable', 'the broker is closed');
  }

  /**
   * The publication is stored whatever the handler does: a throwing handler is the node's
   * failure, reported here, and must not make the publisher believe its publish failed.
   */
  private deliver(publication: Publication): void {
    try {
      this.handler?.publication(publication);
    } catch (error) {
      this.log('error', `publication handler failed on ${publication.channel}`, error);
    }
  }

  private stream(channel: string, now: number): ChannelStream {
    let stream = this.streams.get(channel);
    if (stream) {
      // Most recently used last: the channel cap forgets from the front.
      this.streams.delete(channel);
    } else {
      stream = { epoch: newEpoch(), offset: 0, history: [], historyTtlMs: null, lastActivity: now };
      this.forgetPastCap();
    }
    this.streams.set(channel, stream);
    stream.lastActivity = now;
    return stream;
  }

  /**
   * Every way a message leaves history goes through here, in this order: the channel's size
   * (`drop`, from `beyondWindow`), then the memory budget over all channels, which wins over any per-channel
   * promise: the oldest messages go first, whatever their channel. A client resuming into
   * what left is told of the gap by the history read (its `earliest`).
   */
  private trim(stream: ChannelStream, drop: number): void {
    if (drop > 0) this.evict(stream, drop);
    while (this.historyBytes > this.maxHistoryBytes && this.oldestAt < this.stored.length) {
      const entry = this.stored[this.oldestAt]!;
      this.stored[this.oldestAt++] = undefined as never;
      if (!entry.live) continue;
      const owner = this.streams.get(entry.publication.channel);
      // The globally oldest live message is the oldest of its channel: history only loses its front.
      if (owner?.history[0] === entry) {
        this.evict(owner, 1);
        this.evictedMessages += 1;
      }
    }
    this.compactStored();
  }

  private expire(stream: ChannelStream, now: number): void {
    if (stream.historyTtlMs === null || stream.history.length === 0) return;
    const oldest = now - stream.historyTtlMs;
    let drop = 0;
    while (drop < stream.history.length && stream.history[drop]!.publication.time < oldest) drop++;
    if (drop > 0) this.evict(stream, drop);
  }

  /** Removes the `count` oldest messages of `stream`'s history. */
  private evict(stream: ChannelStream, count: number): void {
    const gone = stream.history.splice(0, count);
    for (const entry of gone) {
      entry.live = false;
      this.historyBytes -= entry.bytes;
    }
    this.historyMessages -= gone.length;
  }

  /** Drops the front of `stored` that the budget has passed, and entries gone otherwise. */
  private compactStored(): void {
    const length = this.stored.length - this.oldestAt;
    if (this.oldestAt > 1024 && this.oldestAt > length) {
      this.stored = this.stored.slice(this.oldestAt);
      this.oldestAt = 0;
    }
    if (length > 2 * this.historyMessages + 1024) {
      this.stored = this.stored.slice(this.oldestAt).filter((entry) => entry.live);
      this.oldestAt = 0;
    }
  }

  /** Past the channel cap, forgets the least recently used channels nobody follows. */
  private forgetPastCap(): void {
    let looked = 0;
    const limit = this.streams.size;
    for (const [channel, stream] of this.streams) {
      if (this.streams.size < this.maxChannels || looked++ >= limit) return;
      if (this.subscribed.has(channel)) {
        // Followed: kept, and moved back so that the next look starts past it.
        this.streams.delete(channel);
        this.streams.set(channel, stream);
        continue;
      }
      this.forget(channel, stream);
      this.forgottenChannels += 1;
    }
  }

  private forget(channel: string, stream: ChannelStream): void {
    this.evict(stream, stream.history.length);
    this.streams.delete(channel);
  }

  private sweep(now: number): void {
    for (const [channel, stream] of this.streams) {
      this.expire(stream, now);
      const idleFor = now - stream.lastActivity;
      const keepFor = stream.historyTtlMs ?? SWEEP_INTERVAL_MS * 5;
      if (stream.history.length === 0 && !this.subscribed.has(channel) && idleFor > keepFor) {
        this.forget(channel, stream);
      }
    }
    this.compactStored();
  }
}

/**
 * The history window, by count: how many of the oldest messages go so that `size` remain, but
 * none younger than `minAgeMs` (a client that comes back seconds behind must find what it
 * missed, however fast the channel runs). The age cap (`expire`) and the memory budget apply
 * on top. Redis keeps the same rule in lua/publish.lua.
 */
export function beyondWindow(
  history: readonly Stored[],
  size: number,
  minAgeMs: number,
  now: number,
): number {
  const excess = history.length - size;
  if (excess <= 0 || minAgeMs <= 0) return Math.max(0, excess);
  const youngest = now - minAgeMs;
  let drop = 0;
  while (drop < excess && history[drop]!.publication.time < youngest) drop++;
  return drop;
}

class MemoryPresence implements PresenceStore {
  private readonly channels = new Map<string, Map<string, PresenceInfo>>();

  /** `assertOpen` throws once the broker is closed. */
  constructor(private readonly assertOpen: () => void) {}

  async join(channel: string, info: PresenceInfo): Promise<void> {
    this.assertOpen();
    let entries = this.channels.get(channel);
    if (!entries) {
      entries = new Map();
      this.channels.set(channel, entries);
    }
    entries.set(info.clientId, info);
  }

  async leave(channel: string, clientId: string): Promise<void> {
    this.assertOpen();
    const entries = this.channels.get(channel);
    if (!entries) return;
    entries.delete(clientId);
    if (entries.size === 0) this.channels.delete(channel);
  }

  async list(channel: string): Promise<PresenceInfo[]> {
    this.assertOpen();
    return [...(this.channels.get(channel)?.values() ?? [])];
  }
}
