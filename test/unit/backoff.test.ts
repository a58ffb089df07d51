import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, sleep } from '../../src/core/backoff.js';

describe('backoffDelay', () => {
  it('grows exponentially without jitter', () => {
    const delays = [0, 1, 2, 3, 4].map((a) => backoffDelay(a, { initialMs: 100, jitter: 0 }));
    expect(delays).toEqual([100, 200, 400, 800, 1600]);
  });

  it('honours a custom factor', () => {
    expect([0, 1, 2].map((a) => backoffDelay(a, { initialMs: 10, factor: 3, jitter: 0 }))).toEqual([10, 30, 90]);
  });

  it('is capped at maxMs (default 60 s)', () => {
    expect(backoffDelay(10, { initialMs: 100, maxMs: 5000, jitter: 0 })).toBe(5000);
    expect(backoffDelay(50, { initialMs: 100, jitter: 0 })).toBe(60_000);
    expect(backoffDelay(10_000, { initialMs: 100, maxMs: 1000, jitter: 0 })).toBe(1000);
  });

  it('treats a negative attempt as the first', () => {
    expect(backoffDelay(-3, { initialMs: 100, jitter: 0 })).toBe(100);
  });

  it('default jitter puts the delay between half and the whole step', () => {
    expect(backoffDelay(2, { initialMs: 100 }, () => 0)).toBe(200);
    expect(backoffDelay(2, { initialMs: 100 }, () => 0.5)).toBe(300);
    expect(backoffDelay(2, { initialMs: 100 }, () => 0.999_999)).toBe(400);
  });

  it('full jitter spans zero to the step', () => {
    expect(backoffDelay(1, { initialMs: 100, jitter: 1 }, () => 0)).toBe(0);
    expect(backoffDelay(1, { initialMs: 100, jitter: 1 }, () => 0.25)).toBe(50);
  });

  it('stays within [base·(1−jitter), base] for any random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialMs, maxMs, jitter, r) => {
          const base = Math.min(maxMs, initialMs * 2 ** attempt);
          const d = backoffDelay(attempt, { initialMs, maxMs, jitter }, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)));
          expect(d).toBeLessThanOrEqual(Math.ceil(base));
          expect(Number.isInteger(d)).toBe(true);
        },
      ),
    );
  });

  it('is monotonic in the attempt when there is no jitter', () => {
    let prev = 0;
    for (let a = 0; a < 30; a++) {
      const d = backoffDelay(a, { initialMs: 50, maxMs: 30_000, jitter: 0 });
      expect(d).toBeGreaterThanOrEqual(prev);
      prev = d;
    }
    expect(prev).toBe(30_000);
  });

  it('uses Math.random by default, within bounds', () => {
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, { initialMs: 100 });
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves after the delay', async () => {
    vi.useFakeTimers();
    let done = false;
    const p = sleep(1000).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
  });

  it('rejects at once with the reason of an already aborted signal', async () => {
    const reason = new Error('already');
    await expect(sleep(10_000, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('rejects early with the signal reason when aborted, and clears its timer', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    expect(vi.getTimerCount()).toBe(1);
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('removes its abort listener once resolved', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const remove = vi.spyOn(ac.signal, 'removeEventListener');
    const p = sleep(10, ac.signal);
    await vi.advanceTimersByTimeAsync(10);
    await expect(p).resolves.toBeUndefined();
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
    ac.abort(); // no unhandled rejection afterwards
  });

  it('works with real timers and no signal', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
  });
});
