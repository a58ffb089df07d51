/**
 * Small, allocation-free metric primitives for the hot path: a log-bucketed latency histogram
 * (constant memory, ~2% relative error on percentiles) and a rolling event rate.
 */

export interface HistogramSnapshot {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Buckets grow by 2% each: 0.001 ms .. ~1 day in ~1 300 buckets. */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
const MIN_MS = 0.001;
const BUCKETS = Math.ceil(Math.log(86_400_000 / MIN_MS) / LOG_GROWTH) + 1;

export class LatencyHistogram {
  private readonly buckets = new Float64Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private lo = Infinity;
  private hi = -Infinity;

  /** Records one duration in milliseconds (negative or NaN values are ignored). */
  record(ms: number): void {
    if (!(ms >= 0)) return;
    this.n++;
    this.sum += ms;
    if (ms < this.lo) this.lo = ms;
    if (ms > this.hi) this.hi = ms;
    this.buckets[bucketOf(ms)]!++;
  }

  get count(): number {
    return this.n;
  }

  /** The q-quantile (0..1), clamped to the observed min and max; 0 when empty. */
  percentile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return Math.min(this.hi, Math.max(this.lo, upperBound(i)));
    }
    return this.hi;
  }

  snapshot(): HistogramSnapshot {
    if (this.n === 0) return { count: 0, min: 0, max: 0, mean: 0, p50: 0, p95: 0, p99: 0 };
    return {
      count: this.n,
      min: this.lo,
      max: this.hi,
      mean: this.sum / this.n,
      p50: this.percentile(0.5),
      p95: this.percentile(0.95),
      p99: this.percentile(0.99),
    };
  }

  reset(): void {
    this.buckets.fill(0);
    this.n = 0;
    this.sum = 0;
    this.lo = Infinity;
    this.hi = -Infinity;
  }
}

function bucketOf(ms: number): number {
  if (ms <= MIN_MS) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH));
}
const upperBound = (i: number) => MIN_MS * GROWTH ** i;

export interface RollingRateOptions {
  /** The window the rate is averaged over (default 10 000 ms). */
  windowMs?: number;
  /** Resolution of the window (default 500 ms). */
  bucketMs?: number;
  now?: () => number;
}

/** Events per second over a sliding window, kept in a ring of time buckets. */
export class RollingRate {
  private readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly now: () => number;
  private readonly counts: Float64Array;
  private readonly stamps: Float64Array;
  private allTime = 0;
  private readonly createdAt: number;

  constructor(options: RollingRateOptions = {}) {
    this.windowMs = options.windowMs ?? 10_000;
    this.bucketMs = options.bucketMs ?? 500;
    this.now = options.now ?? (() => Date.now());
    const n = Math.max(1, Math.ceil(this.windowMs / this.bucketMs));
    this.counts = new Float64Array(n);
    this.stamps = new Float64Array(n).fill(-1);
    this.createdAt = this.now();
  }

  /** Counts `count` events at `at` (the clock's now unless the caller just read it). */
  mark(count = 1, at = this.now()): void {
    const slot = Math.floor(at / this.bucketMs);
    const i = slot % this.counts.length;
    if (this.stamps[i] !== slot) {
      this.stamps[i] = slot;
      this.counts[i] = 0;
    }
    this.counts[i]! += count;
    this.allTime += count;
  }

  /** Events per second over the window (or over the lifetime, while younger than the window). */
  rate(): number {
    const now = this.now();
    const slot = Math.floor(now / this.bucketMs);
    const oldest = slot - this.counts.length + 1;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      if (this.stamps[i]! >= oldest) sum += this.counts[i]!;
    }
    const span = Math.min(this.windowMs, Math.max(this.bucketMs, now - this.createdAt));
    return (sum * 1000) / span;
  }

  get total(): number {
    return this.allTime;
  }
}
