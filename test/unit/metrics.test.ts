import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyHistogram, RollingRate } from '../../src/core/metrics.js';

/** The exact q-quantile with the same rank definition as the histogram (nearest rank, ceil). */
function exactPercentile(sorted: number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

const withinRel = (actual: number, expected: number, rel: number) => Math.abs(actual - expected) <= rel * Math.abs(expected) + 1e-9;

describe('LatencyHistogram', () => {
  it('an empty histogram snapshots to zeros', () => {
    const h = new LatencyHistogram();
    expect(h.count).toBe(0);
    expect(h.percentile(0.5)).toBe(0);
    expect(h.snapshot()).toEqual({ count: 0, min: 0, max: 0, mean: 0, p50: 0, p95: 0, p99: 0 });
  });

  it('a single value is every percentile', () => {
    const h = new LatencyHistogram();
    h.record(12.345);
    expect(h.snapshot()).toEqual({ count: 1, min: 12.345, max: 12.345, mean: 12.345, p50: 12.345, p95: 12.345, p99: 12.345 });
  });

  it('ignores NaN and negative values', () => {
    const h = new LatencyHistogram();
    h.record(Number.NaN);
    h.record(-1);
    h.record(-0.0001);
    h.record(Number.NEGATIVE_INFINITY);
    expect(h.count).toBe(0);
    h.record(5);
    h.record(Number.NaN);
    expect(h.snapshot()).toMatchObject({ count: 1, min: 5, max: 5, mean: 5 });
  });

  it('records zero and sub-microsecond values', () => {
    const h = new LatencyHistogram();
    h.record(0);
    h.record(0.0001);
    h.record(0);
    const s = h.snapshot();
    expect(s.count).toBe(3);
    expect(s.min).toBe(0);
    expect(s.max).toBe(0.0001);
    expect(s.p50).toBeGreaterThanOrEqual(0);
    expect(s.p99).toBeLessThanOrEqual(0.0001);
  });

  it('min, max and mean are exact', () => {
    const h = new LatencyHistogram();
    const values = [3, 1.5, 250, 0.25, 99.9, 7];
    for (const v of values) h.record(v);
    const s = h.snapshot();
    expect(s.count).toBe(values.length);
    expect(s.min).toBe(0.25);
    expect(s.max).toBe(250);
    expect(s.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 10);
  });

  it('percentiles are within 3% of the exact value for random data', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.001, max: 3_600_000, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 500 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, q) => {
          const h = new LatencyHistogram();
          for (const v of values) h.record(v);
          const sorted = [...values].sort((a, b) => a - b);
          for (const p of [q, 0.5, 0.95, 0.99, 1]) {
            const got = h.percentile(p);
            const exact = exactPercentile(sorted, p);
            expect(withinRel(got, exact, 0.03), `p${p}: got ${got}, exact ${exact}`).toBe(true);
            expect(got).toBeGreaterThanOrEqual(sorted[0]!);
            expect(got).toBeLessThanOrEqual(sorted[sorted.length - 1]!);
          }
          const s = h.snapshot();
          expect(s.min).toBe(sorted[0]);
          expect(s.max).toBe(sorted[sorted.length - 1]);
          expect(s.p50).toBeLessThanOrEqual(s.p95);
          expect(s.p95).toBeLessThanOrEqual(s.p99);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('percentiles are accurate for a large log-normal-ish sample (seeded)', () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const h = new LatencyHistogram();
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const v = Math.exp(rand() * 10 - 2); // ~0.13 ms .. ~3 s
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]) {
      expect(withinRel(h.percentile(q), exactPercentile(values, q), 0.03)).toBe(true);
    }
    expect(h.count).toBe(20_000);
  });

  it('reset clears everything', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) h.record(i);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.snapshot()).toEqual({ count: 0, min: 0, max: 0, mean: 0, p50: 0, p95: 0, p99: 0 });
    h.record(2);
    expect(h.snapshot()).toEqual({ count: 1, min: 2, max: 2, mean: 2, p50: 2, p95: 2, p99: 2 });
  });

  it('handles values beyond a day without throwing', () => {
    const h = new LatencyHistogram();
    h.record(1);
    h.record(10 * 86_400_000);
    const s = h.snapshot();
    expect(s.max).toBe(10 * 86_400_000);
    expect(s.p99).toBeGreaterThan(0);
    expect(s.p99).toBeLessThanOrEqual(s.max);
  });
});

describe('RollingRate', () => {
  const clock = (start = 1_000_000) => {
    let t = start;
    return {
      now: () => t,
      advance: (ms: number) => {
        t += ms;
      },
    };
  };

  it('counts the total of all marks', () => {
    const c = clock();
    const r = new RollingRate({ now: c.now });
    expect(r.total).toBe(0);
    r.mark();
    r.mark(5);
    c.advance(60_000);
    r.mark(2);
    expect(r.total).toBe(8);
  });

  it('is 0 with no events', () => {
    const c = clock();
    const r = new RollingRate({ now: c.now });
    expect(r.rate()).toBe(0);
    c.advance(20_000);
    expect(r.rate()).toBe(0);
  });

  it('averages over the window once older than the window', () => {
    const c = clock();
    const r = new RollingRate({ windowMs: 10_000, bucketMs: 500, now: c.now });
    // 10 events per second for 20 s.
    for (let i = 0; i < 200; i++) {
      r.mark();
      c.advance(100);
    }
    // The ring covers the current bucket plus 19 older ones: between 9.5 and 10 s of events.
    expect(r.rate()).toBeGreaterThanOrEqual(9.5);
    expect(r.rate()).toBeLessThanOrEqual(10);
  });

  it('averages over its lifetime while younger than the window', () => {
    const c = clock();
    const r = new RollingRate({ windowMs: 10_000, bucketMs: 500, now: c.now });
    r.mark(4);
    c.advance(2_000);
    expect(r.rate()).toBeCloseTo(2, 10); // 4 events in 2 s
  });

  it('uses at least one bucket of time as the span (no division by ~0)', () => {
    const c = clock();
    const r = new RollingRate({ windowMs: 10_000, bucketMs: 500, now: c.now });
    r.mark(3);
    expect(r.rate()).toBeCloseTo(6, 10); // 3 events over 0.5 s
    c.advance(1);
    expect(r.rate()).toBeCloseTo(6, 10);
  });

  it('expires old buckets', () => {
    const c = clock();
    const r = new RollingRate({ windowMs: 10_000, bucketMs: 1_000, now: c.now });
    c.advance(20_000);
    r.mark(100);
    expect(r.rate()).toBeCloseTo(10, 10);
    c.advance(5_000);
    expect(r.rate()).toBeCloseTo(10, 10);
    c.advance(5_000); // the marked bucket is now outside the window
    expect(r.rate()).toBe(0);
    expect(r.total).toBe(100);
  });

  it('does not count a stale bucket reused by the ring', () => {
    const c = clock(0);
    const r = new RollingRate({ windowMs: 4_000, bucketMs: 1_000, now: c.now });
    c.advance(10_000);
    r.mark(50);
    c.advance(4_000); // same ring slot, a different time slot
    r.mark(1);
    expect(r.rate()).toBeCloseTo(1 / 4, 10);
  });

  it('with a real clock by default, rate is finite and total counts', () => {
    const r = new RollingRate();
    r.mark(3);
    expect(Number.isFinite(r.rate())).toBe(true);
    expect(r.rate()).toBeGreaterThan(0);
    expect(r.total).toBe(3);
  });
});
