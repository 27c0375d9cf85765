import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Hub } from '../core/index.ts';
import type { Transport } from '../transports/index.ts';

/**
 * Prometheus metrics of one Pushwire instance, in a registry of its own (several instances
 * may share a process). Hot-path counts live as plain numbers in the hub and are read at
 * scrape time: nothing here runs per message.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly publishDuration: Histogram;
  readonly httpErrors: Counter<'code'>;

  constructor(hub: Hub, transports: readonly Transport[]) {
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
    new Counter({
      name: 'pushwire_messages_published_total',
      help: 'Messages published through this node',
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats.published);
      },
    });
    new Counter({
      name: 'pushwire_messages_delivered_total',
      help: 'Messages handed to subscribers on this node (one per subscriber per message)',
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats.delivered);
      },
    });
    new Counter({
      name: 'pushwire_hub_gaps_recovered_total',
      help: 'Holes in a channel stream filled from history',
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats.gapsRecovered);
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
