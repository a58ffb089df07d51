import { describe, expect, it } from 'vitest';
import { BoundedLog } from '../../src/core/bounded-log.js';
import { RateWindow } from '../../src/core/rate-window.js';

describe('RateWindow', () => {
  it('allows `limit` events per window, counts the rest, and reports them when the next window starts', () => {
    let now = 1_000;
    const w = new RateWindow(2, 1000, () => now);
    expect([w.take(), w.take(), w.take(), w.take()]).toEqual([
      { allowed: true, ended: 0 },
      { allowed: true, ended: 0 },
      { allowed: false, ended: 0 },
      { allowed: false, ended: 0 },
    ]);
    expect(w.suppressed).toBe(2);
    now += 400;
    expect(w.remainingMs()).toBe(600);
    now += 600;
    expect(w.take()).toEqual({ allowed: true, ended: 2 });
    expect(w.suppressed).toBe(0);
    w.take();
    w.take();
    expect(w.drain()).toBe(1);
    expect(w.drain()).toBe(0);
  });

  it('throws a TypeError naming a bad limit or window', () => {
    expect(() => new RateWindow(-1)).toThrow(/limit must be >= 0, got -1/);
    expect(() => new RateWindow(1, 0)).toThrow(/windowMs must be > 0, got 0/);
  });
});

describe('BoundedLog', () => {
  it('drops the oldest entries over the count or the size budget, keeping the newest even when it alone is over', () => {
    const log = new BoundedLog<string>({ maxItems: 3, maxSize: 10 });
    expect(log.push('a', 4)).toEqual([]);
    expect(log.push('b', 4)).toEqual([]);
    expect(log.push('c', 4)).toEqual(['a']);
    expect(log.items).toEqual(['b', 'c']);
    expect(log.size).toBe(8);
    expect(log.push('huge', 50)).toEqual(['b', 'c']);
    expect(log.items).toEqual(['huge']);
    const counted = new BoundedLog<number>({ maxItems: 2 });
    for (const n of [1, 2, 3]) counted.push(n);
    expect(counted.items).toEqual([2, 3]);
    expect(counted.firstIndexWhere((n) => n > 2)).toBe(1);
    expect(counted.firstIndexWhere((n) => n > 9)).toBe(2);
  });

  it('throws a TypeError naming bad bounds', () => {
    expect(() => new BoundedLog({ maxItems: 0 })).toThrow(/maxItems must be >= 1, got 0/);
    expect(() => new BoundedLog({ maxItems: 1, maxSize: 0 })).toThrow(/maxSize must be > 0, got 0/);
  });
});
