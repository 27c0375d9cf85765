import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { NodeInfo } from '../../brokers/index.ts';
import { type Hub, LATENCY_BUCKETS_SECONDS } from '../../core/index.ts';
import type { HeartbeatWheel, Transport } from '../../transports/index.ts';

/** One node as /api/info and the dashboard's feed show it. Counters are totals since start. */
export interface NodeSnapshot {
  readonly node: string;
  readonly host: string;
  readonly version: string;
  readonly startedAt: number;
  readonly uptimeSeconds: number;
  /** When it was taken (ms since the Unix epoch). */
  readonly time: number;
  /** Open connections by transport, and `total`. */
  readonly connections: Record<string, number>;
  /** Channel subscriptions of its connections together. */
  readonly subscriptions: number;
  /** Channels it follows. */
  readonly channels: number;
  /** Messages published through it, per second over the last few seconds. */
  readonly messagesInPerSecond: number;
  /** Messages handed to its subscribers, per second over the last few seconds. */
  readonly messagesOutPerSecond: number;
  readonly broker: { readonly kind: string; readonly healthy: boolean };
  readonly counters: {
    readonly published: number;
    readonly delivered: number;
    readonly heartbeatsSent: number;
    readonly rateLimited: number;
    /** Connections the server ended, by code. */
    readonly ended: Readonly<Record<string, number>>;
    /** HTTP error answers, by code. */
    readonly httpErrors: Readonly<Record<string, number>>;
  };
  /** Publish-to-deliver latency: bucket bounds (s), counts per bucket (the last past every bound). */
  readonly latency: {
    readonly bounds: readonly number[];
    readonly counts: readonly number[];
    readonly count: number;
  };
  /** Event-loop delay since the last snapshot that reset it (ms). */
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly memoryRssBytes: number;
}

export interface NodeStatsSources {
  readonly info: NodeInfo;
  readonly hub: Hub;
  readonly transports: readonly Transport[];
  readonly heartbeat: HeartbeatWheel | null;
  readonly broker: { readonly kind: string; healthy(): boolean };
  httpErrors(): Promise<Record<string, number>>;
}

/** How often the event-loop delay monitor's timer is due. */
const LAG_RESOLUTION_MS = 10;

/**
 * The monitor records the time between its timer's runs, due every LAG_RESOLUTION_MS; the
 * delay is what is past that (about 0 on an idle loop, not 10 ms).
 */
function delayMs(intervalNs: number): number {
  return round(Math.max(0, intervalNs / 1e6 - LAG_RESOLUTION_MS));
}

/** Rates are taken over this many one-second samples. */
const RATE_WINDOW = 5;

/** Samples this node's numbers once a second, for rates; takes snapshots on demand. */
export class NodeStats {
  private readonly samples: Array<{ at: number; published: number; delivered: number }> = [];
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly sources: NodeStatsSources) {}

  start(): void {
    this.lag.enable();
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.lag.disable();
  }

  /** This node now; `resetLag` starts the event-loop delay over (the feed does, each interval). */
  async snapshot(resetLag = false): Promise<NodeSnapshot> {
    const { info, hub, transports, heartbeat, broker } = this.sources;
    const now = Date.now();
    const connections: Record<string, number> = {};
    let total = 0;
    for (const transport of transports) {
      const count = transport.connectionCount();
      connections[transport.name] = count;
      total += count;
    }
    connections.total = total;
    let subscriptions = 0;
    for (const session of hub.sessionsMatching({})) subscriptions += session.channelCount;
    const { published, delivered, publishesRateLimited, ended, latency } = hub.stats;
    const lag = {
      p50: delayMs(this.lag.percentile(50)),
      p99: delayMs(this.lag.percentile(99)),
      max: delayMs(this.lag.max),
    };
    if (resetLag) this.lag.reset();
    return {
      node: info.id,
      host: info.host,
      version: info.version,
      startedAt: info.startedAt,
      uptimeSeconds: Math.round((now - info.startedAt) / 1000),
      time: now,
      connections,
      subscriptions,
      channels: hub.channelCount,
      ...this.rates(now, published, delivered),
      broker: { kind: broker.kind, healthy: broker.healthy() },
      counters: {
        published,
        delivered,
        heartbeatsSent: heartbeat?.pingsSent ?? 0,
        rateLimited: publishesRateLimited,
        ended: { ...ended } as Record<string, number>,
        httpErrors: await this.sources.httpErrors(),
      },
      latency: { bounds: LATENCY_BUCKETS_SECONDS, counts: [...latency.counts], count: latency.count },
      eventLoopDelayMs: lag,
      memoryRssBytes: process.memoryUsage.rss(),
    };
  }

  private sample(): void {
    const { published, delivered } = this.sources.hub.stats;
    this.samples.push({ at: Date.now(), published, delivered });
    if (this.samples.length > RATE_WINDOW + 1) this.samples.shift();
  }

  private rates(now: number, published: number, delivered: number) {
    const first = this.samples[0];
    const seconds = first ? (now - first.at) / 1000 : 0;
    if (!first || seconds < 0.5) return { messagesInPerSecond: 0, messagesOutPerSecond: 0 };
    return {
      messagesInPerSecond: round((published - first.published) / seconds),
      messagesOutPerSecond: round((delivered - first.delivered) / seconds),
    };
  }
}

function round(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 100) / 100 : 0;
}
