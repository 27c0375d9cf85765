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
}

interface ChannelStream {
  readonly epoch: string;
  offset: number;
  /** Oldest first; trimmed by size on publish and by age on every read. */
  history: Publication[];
  historyTtlMs: number | null;
  lastActivity: number;
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
  private readonly streams = new Map<string, ChannelStream>();
  private readonly subscribed = new Set<string>();
  private readonly log: Logger;
  private handler: BrokerHandler | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: MemoryBrokerOptions = {}) {
    this.log = options.logger ?? (() => {});
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
      stream.history.push(publication);
      trimHistory(stream.history, options.historySize, options.historyMinAgeMs ?? 0, now);
    } else if (stream.history.length > 0) {
      stream.history = [];
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
    expire(stream, now);
    const held = stream.history;
    const top = { epoch: stream.epoch, offset: stream.offset };
    const earliest = held[0]?.offset ?? stream.offset + 1;
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    let publications: Publication[];
    if (limit === 0) {
      publications = [];
    } else if (query.since) {
      const after = query.since.epoch === stream.epoch ? query.since.offset : 0;
      const first = Math.max(0, after + 1 - earliest);
      publications = held.slice(first, first + Math.min(limit, held.length));
    } else {
      publications = held.slice(Math.max(0, held.length - limit));
    }
    return { publications, top, earliest };
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
    if (!stream) {
      stream = { epoch: newEpoch(), offset: 0, history: [], historyTtlMs: null, lastActivity: now };
      this.streams.set(channel, stream);
    }
    stream.lastActivity = now;
    return stream;
  }

  private sweep(now: number): void {
    for (const [channel, stream] of this.streams) {
      expire(stream, now);
      const idleFor = now - stream.lastActivity;
      const keepFor = stream.historyTtlMs ?? SWEEP_INTERVAL_MS * 5;
      if (stream.history.length === 0 && !this.subscribed.has(channel) && idleFor > keepFor) {
        this.streams.delete(channel);
      }
    }
  }
}

/**
 * The history window, by count: the oldest publications go while there are more than `size`,
 * but none younger than `minAgeMs` (a client that comes back seconds behind must find what it
 * missed, however fast the channel runs). The age cap (`expire`) applies on top. Redis keeps
 * the same rule in lua/publish.lua.
 */
export function trimHistory(history: Publication[], size: number, minAgeMs: number, now: number): void {
  const excess = history.length - size;
  if (excess <= 0) return;
  let drop = excess;
  if (minAgeMs > 0) {
    const youngest = now - minAgeMs;
    drop = 0;
    while (drop < excess && history[drop]!.time < youngest) drop++;
  }
  if (drop > 0) history.splice(0, drop);
}

function expire(stream: ChannelStream, now: number): void {
  if (stream.historyTtlMs === null || stream.history.length === 0) return;
  const oldest = now - stream.historyTtlMs;
  let drop = 0;
  while (drop < stream.history.length && stream.history[drop]!.time < oldest) drop++;
  if (drop > 0) stream.history.splice(0, drop);
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
