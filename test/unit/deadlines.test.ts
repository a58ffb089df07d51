import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type DeadlineItem, Deadlines } from '../../src/core/deadlines.js';

interface Item extends DeadlineItem {
  name: string;
}
const item = (name: string): Item => ({ name, heapIndex: -1 });

describe('Deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup() {
    const fired: string[] = [];
    const d = new Deadlines<Item>((it) => fired.push(it.name), () => Date.now());
    return { d, fired };
  }

  it('fires items in deadline order, each once, on a single timer', () => {
    const { d, fired } = setup();
    const t = Date.now();
    d.set(item('c'), t + 30);
    d.set(item('a'), t + 10);
    d.set(item('b'), t + 20);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(15);
    expect(fired).toEqual(['a']);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(d.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('deleted items never fire and the timer goes when the heap is empty', () => {
    const { d, fired } = setup();
    const a = item('a');
    const b = item('b');
    d.set(a, Date.now() + 10);
    d.set(b, Date.now() + 20);
    d.delete(a);
    d.delete(a); // no-op
    expect(a.heapIndex).toBe(-1);
    vi.advanceTimersByTime(50);
    expect(fired).toEqual(['b']);
    d.set(a, Date.now() + 10);
    d.delete(a);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('moves an item later or earlier', () => {
    const { d, fired } = setup();
    const a = item('a');
    d.set(a, Date.now() + 10);
    d.set(item('b'), Date.now() + 20);
    d.set(a, Date.now() + 40); // later: b first
    vi.advanceTimersByTime(25);
    expect(fired).toEqual(['b']);
    d.set(a, Date.now() + 1); // earlier again: re-arms
    vi.advanceTimersByTime(2);
    expect(fired).toEqual(['b', 'a']);
  });

  it('lets a callback reschedule its item', () => {
    let count = 0;
    const d: Deadlines<Item> = new Deadlines<Item>(
      (it) => {
        if (++count < 3) d.set(it, Date.now() + 10);
      },
      () => Date.now(),
    );
    d.set(item('x'), Date.now() + 10);
    vi.advanceTimersByTime(100);
    expect(count).toBe(3);
  });

  it('handles deadlines beyond the 2^31-1 ms a timer can wait', () => {
    const { d, fired } = setup();
    d.set(item('far'), Date.now() + 2 ** 31 + 5_000);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([]); // no 1 ms re-arm storm: nothing fired early
    vi.advanceTimersByTime(2 ** 31 + 5_000);
    expect(fired).toEqual(['far']);
  });

  it('clear() unschedules everything', () => {
    const { d, fired } = setup();
    const a = item('a');
    d.set(a, Date.now() + 10);
    d.clear();
    expect(a.heapIndex).toBe(-1);
    vi.advanceTimersByTime(50);
    expect(fired).toEqual([]);
  });

  it('keeps heap order under random inserts, moves and deletes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('set', 'delete'), fc.nat(19), fc.nat(1000)), { maxLength: 200 }),
        (ops) => {
          vi.clearAllTimers();
          const fired: Array<{ name: string; at: number }> = [];
          const start = Date.now();
          const d = new Deadlines<Item>((it, _now, due) => fired.push({ name: it.name, at: due }), () => Date.now());
          const items = Array.from({ length: 20 }, (_, i) => item(String(i)));
          const expected = new Map<string, number>();
          for (const [op, i, at] of ops) {
            if (op === 'set') {
              d.set(items[i]!, start + at + 1);
              expected.set(String(i), start + at + 1);
            } else {
              d.delete(items[i]!);
              expected.delete(String(i));
            }
          }
          vi.advanceTimersByTime(2000);
          expect(fired.map((f) => f.name).sort()).toEqual([...expected.keys()].sort());
          const times = fired.map((f) => f.at);
          expect(times).toEqual([...times].sort((a, b) => a - b));
          expect(d.size).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
