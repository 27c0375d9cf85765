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
import { type Hub, LATENCY_BUCKETS_SECONDS, type LatencyHistogram } from '../core/index.ts';
import type { HeartbeatWheel, Transport } from '../transports/index.ts';

/** What the metrics read at scrape time. */
export interface MetricSources {
  readonly hub: Hub;
  readonly transports: readonly Transport[];
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

  constructor({ hub, transports, heartbeat, brokerUp, clusterNodes }: MetricSources) {
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
      'Client publishes refused by the client publish rate (rate_limited)',
      () => [[{}, hub.stats.publishesRateLimited]],
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
    this.httpErrors = new Counter({
      name: 'pushwire_http_errors_total',
      help: 'Error responses by error code',
      labelNames: ['code'],
      registers,
    });
  }
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
