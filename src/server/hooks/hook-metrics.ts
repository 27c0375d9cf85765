import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';

/** Which hook a metric is about: the lifecycle event sender or an authorization hook. */
export type HookName = 'events' | 'connect' | 'subscribe' | 'publish';

/**
 * How a hook request ended: `ok` (2xx), `refused` (the application said 401/403), `failed`
 * (another status, or an answer that can't be read), `timeout`, `unreachable`, or never sent:
 * `circuit_open`, `busy` (at the concurrency cap).
 */
export type HookOutcome = 'ok' | 'refused' | 'failed' | 'timeout' | 'unreachable' | 'circuit_open' | 'busy';

/** The queue of lifecycle events, read at scrape time. */
export interface EventQueueStats {
  /** Events accepted and not yet delivered, on this node (or in the shared Redis stream). */
  queued(): number | Promise<number>;
  readonly dropped: number;
  readonly sent: number;
}

/**
 * Prometheus metrics of every hook. They exist before the server's registry does (the hub is
 * built with the hooks, the registry after it): `registerIn` adds them to it.
 */
export class HookMetrics {
  readonly requests: Counter<'hook' | 'outcome'>;
  readonly duration: Histogram<'hook'>;
  readonly retries: Counter<'hook'>;
  readonly circuitOpen: Gauge<'hook'>;
  readonly inFlight: Gauge<'hook'>;
  private readonly all: Metric[];

  constructor(events: EventQueueStats | null) {
    const registers: Registry[] = [];
    this.requests = new Counter({
      name: 'pushwire_hooks_requests_total',
      help: 'Hook requests by hook and outcome (ok, refused, failed, timeout, unreachable, circuit_open, busy)',
      labelNames: ['hook', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'pushwire_hooks_request_duration_seconds',
      help: 'Time from sending a hook request to its answer',
      labelNames: ['hook'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.retries = new Counter({
      name: 'pushwire_hooks_retries_total',
      help: 'Batches of lifecycle events sent again after a failed attempt',
      labelNames: ['hook'],
      registers,
    });
    this.circuitOpen = new Gauge({
      name: 'pushwire_hooks_circuit_open',
      help: '1 while an authorization hook is skipped after failing (its clients get unavailable)',
      labelNames: ['hook'],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'pushwire_hooks_requests_in_flight',
      help: 'Hook requests waiting for an answer',
      labelNames: ['hook'],
      registers,
    });
    this.all = [this.requests, this.duration, this.retries, this.circuitOpen, this.inFlight];
    if (events) this.all.push(...HookMetrics.eventMetrics(registers, events));
  }

  registerIn(registry: Registry): void {
    for (const metric of this.all) registry.registerMetric(metric);
  }

  private static eventMetrics(registers: Registry[], events: EventQueueStats): Metric[] {
    const queued = new Gauge({
      name: 'pushwire_hooks_events_queued',
      help: 'Lifecycle events waiting to be delivered (on Redis: in the shared stream and on this node)',
      registers,
      async collect() {
        this.set(await events.queued());
      },
    });
    const sent = new Counter({
      name: 'pushwire_hooks_events_sent_total',
      help: 'Lifecycle events delivered by this node (answered with a 2xx)',
      registers,
      collect() {
        this.reset();
        this.inc(events.sent);
      },
    });
    const dropped = new Counter({
      name: 'pushwire_hooks_events_dropped_total',
      help: 'Lifecycle events dropped because the queue was full (--hook-queue-size)',
      registers,
      collect() {
        this.reset();
        this.inc(events.dropped);
      },
    });
    return [queued, sent, dropped];
  }
}
