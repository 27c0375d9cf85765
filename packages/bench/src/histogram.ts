/**
 * A log-linear latency histogram in microseconds: exact below 1,024 µs, then 128 sub-buckets
 * per power of two (under 1 % error), so millions of samples cost a few kilobytes and the
 * histograms of several load-generator processes merge by adding counts.
 */
const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const LINEAR_LIMIT = 1024;
const MAX_EXPONENT = 40;
const SIZE = LINEAR_LIMIT + (MAX_EXPONENT - 10) * SUB_BUCKETS;

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export class LatencyHistogram {
  readonly counts: Uint32Array;
  private total = 0;
  private maxUs = 0;

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Uint32Array(SIZE);
    if (counts) this.addCounts(counts);
  }

  get count(): number {
    return this.total;
  }

  record(us: number): void {
    const value = us < 0 ? 0 : Math.round(us);
    this.counts[bucketOf(value)]! += 1;
    this.total += 1;
    if (value > this.maxUs) this.maxUs = value;
  }

  /** Adds another histogram's counts (as sent between processes: a plain array). */
  addCounts(counts: ArrayLike<number>): void {
    for (let i = 0; i < counts.length && i < SIZE; i++) {
      const n = counts[i]!;
      if (n === 0) continue;
      this.counts[i]! += n;
      this.total += n;
      const top = bucketTop(i);
      if (top > this.maxUs) this.maxUs = top;
    }
  }

  /** The sparse form sent over IPC: [bucket, count, bucket, count, ...]. */
  toSparse(): number[] {
    const out: number[] = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i] !== 0) out.push(i, this.counts[i]!);
    return out;
  }

  addSparse(sparse: readonly number[]): void {
    for (let i = 0; i + 1 < sparse.length; i += 2) {
      const bucket = sparse[i]!;
      const n = sparse[i + 1]!;
      this.counts[bucket]! += n;
      this.total += n;
      const top = bucketTop(bucket);
      if (top > this.maxUs) this.maxUs = top;
    }
  }

  /** The value at quantile q (0..1), in microseconds: the upper edge of its bucket. */
  quantileUs(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketTop(i), this.maxUs);
    }
    return this.maxUs;
  }

  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.total,
      p50Ms: ms(this.quantileUs(0.5)),
      p90Ms: ms(this.quantileUs(0.9)),
      p99Ms: ms(this.quantileUs(0.99)),
      maxMs: ms(this.maxUs),
    };
  }
}

function bucketOf(us: number): number {
  if (us < LINEAR_LIMIT) return us;
  const exponent = Math.min(Math.floor(Math.log2(us)), MAX_EXPONENT - 1);
  const sub = Math.min(SUB_BUCKETS - 1, Math.floor((us / 2 ** exponent - 1) * SUB_BUCKETS));
  return LINEAR_LIMIT + (exponent - 10) * SUB_BUCKETS + sub;
}

function bucketTop(bucket: number): number {
  if (bucket < LINEAR_LIMIT) return bucket;
  const exponent = 10 + Math.floor((bucket - LINEAR_LIMIT) / SUB_BUCKETS);
  const sub = (bucket - LINEAR_LIMIT) % SUB_BUCKETS;
  return Math.floor(2 ** exponent * (1 + (sub + 1) / SUB_BUCKETS));
}
