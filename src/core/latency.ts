import type { OutboundBatch } from './outbound.ts';

/** Upper bounds (seconds) of the publish-to-deliver latency buckets, as /metrics exports them. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/**
 * The time from a publication's acceptance at the broker to its fan-out on this node, as a
 * histogram of plain numbers that /metrics reads at scrape time. Observed once per message
 * per fan-out, never per subscriber: the fan-out hands a batch to every subscriber within
 * the same synchronous run, so they all share its latency. On Redis the acceptance time is
 * Redis's clock, so skew between Redis and the node shows up here.
 */
export class LatencyHistogram {
  /** counts[i]: observations in bucket i (not cumulative); the last is past every bound. */
  readonly counts: number[] = new Array(LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
  count = 0;
  private sumMs = 0;

  get sumSeconds(): number {
    return this.sumMs / 1000;
  }

  /** Every message of `batch`, fanned out now: one clock read, integer milliseconds. */
  observeBatch(batch: OutboundBatch, now: number = Date.now()): void {
    for (const message of batch.messages) this.observeMs(now - message.time);
  }

  observe(seconds: number): void {
    this.observeMs(seconds * 1000);
  }

  private observeMs(ms: number): void {
    const value = Math.max(ms, 0);
    let bucket = 0;
    while (bucket < BOUNDS_MS.length && value > BOUNDS_MS[bucket]!) bucket++;
    this.counts[bucket]! += 1;
    this.sumMs += value;
    this.count += 1;
  }
}

const BOUNDS_MS: readonly number[] = LATENCY_BUCKETS_SECONDS.map((seconds) => seconds * 1000);
