import { describe, expect, it } from 'vitest';
import { InFlightTable } from '../../src/core/in-flight.js';

const item = (id: number) => ({ id });

describe('InFlightTable', () => {
  it('files, finds and removes requests by id', () => {
    const t = new InFlightTable<{ id: number }>();
    const a = item(1);
    const b = item(2);
    t.set(1, a);
    t.set(2, b);
    expect(t.size).toBe(2);
    expect(t.get(1)).toBe(a);
    expect(t.get(2)).toBe(b);
    expect(t.get(3)).toBeUndefined();
    expect(t.get('1')).toBeUndefined(); // we issue numbers only
    expect(t.delete(1)).toBe(true);
    expect(t.delete(1)).toBe(false);
    expect(t.has(1)).toBe(false);
    expect(t.size).toBe(1);
    expect(t.values()).toEqual([b]);
  });

  it('keeps a long-waiting request when its slot comes round again (set aside, still found)', () => {
    const t = new InFlightTable<{ id: number }>();
    const old = item(1);
    t.set(1, old);
    // Thousands of short calls after it, each answered at once: the ring stays small and sparse.
    for (let id = 2; id < 5_000; id++) {
      t.set(id, item(id));
      expect(t.delete(id)).toBe(true);
    }
    expect(t.size).toBe(1);
    expect(t.get(1)).toBe(old);
    expect(t.values()).toEqual([old]);
    expect(t.delete(1)).toBe(true);
    expect(t.size).toBe(0);
  });

  it('grows when many requests are in flight at once, finding every one', () => {
    const t = new InFlightTable<{ id: number }>();
    const items = Array.from({ length: 10_000 }, (_, i) => item(i + 1));
    for (const it of items) t.set(it.id, it);
    expect(t.size).toBe(10_000);
    for (const it of items) expect(t.get(it.id)).toBe(it);
    for (const it of items.filter((x) => x.id % 2 === 0)) t.delete(it.id);
    expect(t.size).toBe(5_000);
    expect(t.values().map((x) => x.id)).toEqual(items.filter((x) => x.id % 2 === 1).map((x) => x.id));
  });

  it('handles ids beyond 2^32 (bit masks use the low 32 bits)', () => {
    const t = new InFlightTable<{ id: number }>();
    const big = item(2 ** 40 + 5);
    t.set(big.id, big);
    expect(t.get(big.id)).toBe(big);
    expect(t.get(5)).toBeUndefined();
  });
});
