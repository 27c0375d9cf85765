import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricType,
  type MetricValueWithName,
  Registry,
} from 'prom-client';
import type { MemoryBrokerStats } from '../brokers/index.ts';
import { type Hub, LATENCY_BUCKETS_SECONDS, type LatencyHistogram } from '../core/index.ts';
import type { HeartbeatWheel, OutboundBudget, Transport, TransportCounters } from '../transports/index.ts';

/** What the metrics read at scrape time. */
export interface MetricSources {
  readonly hub: Hub;
  readonly transports: readonly Transport[];
  readonly transportCounters: TransportCounters;
  /** The embedded broker, whose history memory is counted; null on another broker. */
  readonly memoryBroker: { stats(): MemoryBrokerStats } | null;
  readonly outbound: OutboundBudget;
  /** null when heartbeats are off. */
  readonly heartbeat: HeartbeatWheel | null;
  /** Whether the broker can serve (a broker that can't tell counts as up). */
  brokerUp(): boolean;
  /** The live nodes of the cluster as this node sees them (1 on the memory broker). */
  clusterNodes(): Promise<number>;
}

/**
 * Prometheus metrics of one Pushwire instance, in a registry of its own (several instances
 * may share a process). Hot-path counts live as plain numbers in the hub and the transports
 * and are read at scrape time: nothing here runs per message. docs/operations.md lists them.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly publishDuration: Histogram;
  readonly httpErrors: Counter<'code'>;
  readonly connectionsRefused: Counter<'reason'>;
  private sockets: () => number = () => 0;

  /** Where `pushwire_tcp_connections` reads the open TCP connections. */
  countSockets(read: () => number): void {
    this.sockets = read;
  }

  constructor(sources: MetricSources) {
    const { hub, transports, transportCounters, memoryBroker, outbound, heartbeat, brokerUp, clusterNodes } =
      sources;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'pushwire_connections_open',
      help: 'Open client connections by transport (long polls: polls held open)',
      labelNames: ['transport'],
      registers,
      collect() {
        for (const transport of transports)
          this.set({ transport: transport.name }, transport.connectionCount());
      },
    });
    new Gauge({
      name: 'pushwire_channels_active',
      help: 'Channels with at least one subscriber on this node',
      registers,
      collect() {
        this.set(hub.channelCount);
      },
    });
    counterOf(registers, 'pushwire_messages_published_total', 'Messages published through this node', () => [
      [{}, hub.stats.published],
    ]);
    counterOf(
      registers,
      'pushwire_messages_delivered_total',
      'Messages handed to subscribers on this node (one per subscriber per message)',
      () => [[{}, hub.stats.delivered]],
    );
    counterOf(
      registers,
      'pushwire_hub_gaps_recovered_total',
      'Holes in a channel stream filled from history',
      () => [[{}, hub.stats.gapsRecovered]],
    );
    counterOf(
      registers,
      'pushwire_heartbeats_sent_total',
      'Heartbeats (pings) sent to connections that were quiet for a heartbeat interval',
      () => [[{}, heartbeat?.pingsSent ?? 0]],
    );
    counterOf(
      registers,
      'pushwire_connections_ended_total',
      'Connections the server ended, by error code: heartbeat_timeout (dead peers), slow_consumer, disconnected (by an operator), shutting_down (drain)',
      () => Object.entries(hub.stats.ended).map(([code, count]) => [{ code }, count ?? 0]),
      ['code'],
    );
    counterOf(
      registers,
      'pushwire_client_publishes_rate_limited_total',
      'Client publishes refused (rate_limited) by the rate per connection (limit="connection") or per client address (limit="address")',
      () => {
        const { publishesRateLimited: all, publishesRateLimitedByAddress: byAddress } = hub.stats;
        return [
          [{ limit: 'connection' }, all - byAddress],
          [{ limit: 'address' }, byAddress],
        ];
      },
      ['limit'],
    );
    counterOf(
      registers,
      'pushwire_commands_rate_limited_total',
      'WebSocket frames answered rate_limited for passing --max-commands-per-second (junk frames included)',
      () => [[{}, transportCounters.commandsRateLimited]],
    );
    counterOf(
      registers,
      'pushwire_token_refreshes_total',
      'Tokens an open connection presented to replace its own (WebSocket refresh op, POST /refresh): result="ok" took it, result="refused" kept the old one (invalid, expired, another sub)',
      () => [
        [{ result: 'ok' }, transportCounters.tokenRefreshes],
        [{ result: 'refused' }, transportCounters.tokenRefreshesRefused],
      ],
      ['result'],
    );
    if (memoryBroker) historyMetrics(registers, memoryBroker);
    new Gauge({
      name: 'pushwire_outbound_bytes',
      help: 'Bytes queued for sending over all push connections as of their last writes (--max-outbound-memory)',
      registers,
      collect() {
        this.set(outbound.queuedBytes);
      },
    });
    counterOf(
      registers,
      'pushwire_outbound_budget_cuts_total',
      'Connections cut (slow_consumer) because all connections together queued more than --max-outbound-memory',
      () => [[{}, outbound.cuts]],
    );
    new LatencyMetric(hub.stats.latency, registers);
    new Gauge({
      name: 'pushwire_broker_up',
      help: 'Whether the broker can serve: 1 up, 0 down (Redis unreachable)',
      registers,
      // With serve --workers, /metrics adds up the workers: down on one is down.
      aggregator: 'min',
      collect() {
        this.set(brokerUp() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pushwire_cluster_nodes',
      help: 'Nodes of the cluster whose lease is live, as this node sees them (1 on the memory broker)',
      registers,
      // Every worker sees the same cluster: its nodes are counted once, not once per worker.
      aggregator: 'max',
      async collect() {
        try {
          this.set(await clusterNodes());
        } catch {
          this.set(0);
        }
      },
    });
    this.publishDuration = new Histogram({
      name: 'pushwire_publish_duration_seconds',
      help: 'Time to accept a publish at the broker',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'pushwire_connections_refused_total',
      help: 'Connections refused with too_many_connections, by the cap they hit: max_connections, max_connections_per_ip',
      labelNames: ['reason'],
      registers,
    });
    const metrics = this;
    new Gauge({
      name: 'pushwire_tcp_connections',
      help: 'Open TCP connections of the server, as --max-connections counts them (idle keep-alive included)',
      registers,
      collect() {
        this.set(metrics.sockets());
      },
    });
    this.httpErrors = new Counter({
      name: 'pushwire_http_errors_total',
      help: 'Error responses by error code',
      labelNames: ['code'],
      registers,
    });
  }
}

/** The memory broker's history against --max-history-memory and --max-history-channels. */
export function historyMetrics(registers: Registry[], broker: { stats(): MemoryBrokerStats }): void {
  new Gauge({
    name: 'pushwire_history_bytes',
    help: 'Bytes of history the memory broker holds, as --max-history-memory counts them',
    registers,
    collect() {
      this.set(broker.stats().historyBytes);
    },
  });
  new Gauge({
    name: 'pushwire_history_channels',
    help: 'Channels whose position and history the memory broker keeps (--max-history-channels)',
    registers,
    collect() {
      this.set(broker.stats().channels);
    },
  });
  counterOf(
    registers,
    'pushwire_history_evicted_total',
    'What the memory broker dropped to stay within its caps: messages (reason="memory", --max-history-memory) and channels nobody followed (reason="channels", --max-history-channels)',
    () => {
      const { evictedMessages, forgottenChannels } = broker.stats();
      return [
        [{ reason: 'memory' }, evictedMessages],
        [{ reason: 'channels' }, forgottenChannels],
      ];
    },
    ['reason'],
  );
}

type Sample = [labels: Record<string, string>, value: number];

/** A counter whose values are plain numbers kept elsewhere, read at scrape time. */
function counterOf(
  registers: Registry[],
  name: string,
  help: string,
  read: () => Sample[],
  labelNames: string[] = [],
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

const LATENCY_METRIC = 'pushwire_delivery_latency_seconds';
/** prom-client's typings declare an enum, but its registry writes `# TYPE` from this string. */
const PROMETHEUS_HISTOGRAM = 'histogram' as unknown as MetricType;
const LATENCY_HELP =
  'Time from a publish accepted at the broker to its fan-out to subscribers on this node, per message';

/**
 * `pushwire_delivery_latency_seconds`: the hub's LatencyHistogram (plain numbers, counted at
 * fan-out) in Prometheus's histogram form. prom-client's own Histogram counts one observe()
 * at a time, which would put its cost on every message; this one only formats at scrape time.
 */
class LatencyMetric extends Histogram {
  constructor(
    private readonly source: LatencyHistogram,
    registers: Registry[],
  ) {
    super({
      name: LATENCY_METRIC,
      help: LATENCY_HELP,
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.getForPromString();
  }

  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const name = LATENCY_METRIC;
    const values: MetricValueWithName<string>[] = [];
    let cumulative = 0;
    LATENCY_BUCKETS_SECONDS.forEach((bound, i) => {
      cumulative += this.source.counts[i]!;
      values.push({ labels: { le: bound }, value: cumulative, metricName: `${name}_bucket` });
    });
    values.push(
      { labels: { le: '+Inf' }, value: this.source.count, metricName: `${name}_bucket` },
      { labels: {}, value: this.source.sumSeconds, metricName: `${name}_sum` },
      { labels: {}, value: this.source.count, metricName: `${name}_count` },
    );
    return {
      name,
      help: LATENCY_HELP,
      type: PROMETHEUS_HISTOGRAM,
      values,
      aggregator: 'sum',
      collect: () => {},
    };
  }
}
