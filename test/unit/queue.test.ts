import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRIORITIES, type Priority, PriorityQueue, type QueueNode } from '../../src/core/queue.js';

describe('PriorityQueue', () => {
  it('starts empty', () => {
    const q = new PriorityQueue<string>();
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
    expect(q.shift()).toBeUndefined();
    expect(q.sizes()).toEqual({ high: 0, normal: 0, low: 0 });
    expect([...q]).toEqual([]);
    expect(q.drain()).toEqual([]);
  });

  it('dequeues by priority, high first', () => {
    const q = new PriorityQueue<string>();
    q.push('l1', 'low');
    q.push('n1');
    q.push('h1', 'high');
    q.push('n2', 'normal');
    q.push('h2', 'high');
    expect(q.peek()).toBe('h1');
    expect([q.shift(), q.shift(), q.shift(), q.shift(), q.shift(), q.shift()]).toEqual(['h1', 'h2', 'n1', 'n2', 'l1', undefined]);
    expect(q.size).toBe(0);
  });

  it('is FIFO within a priority', () => {
    const q = new PriorityQueue<number>();
    for (let i = 0; i < 10; i++) q.push(i, 'low');
    expect(q.drain()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('defaults to normal priority', () => {
    const q = new PriorityQueue<string>();
    q.push('a');
    q.pushFront('b');
    expect(q.sizes()).toEqual({ high: 0, normal: 2, low: 0 });
  });

  it('pushFront puts an item at the front of its own priority only', () => {
    const q = new PriorityQueue<string>();
    q.push('h1', 'high');
    q.push('n1');
    q.push('n2');
    q.pushFront('n0');
    q.pushFront('l0', 'low');
    q.push('l1', 'low');
    q.pushFront('lm1', 'low');
    expect([...q]).toEqual(['h1', 'n0', 'n1', 'n2', 'lm1', 'l0', 'l1']);
  });

  it('pushFront into an empty lane sets both ends', () => {
    const q = new PriorityQueue<string>();
    q.pushFront('a', 'high');
    q.push('b', 'high');
    expect(q.shift()).toBe('a');
    expect(q.shift()).toBe('b');
    q.pushFront('c', 'high');
    expect([...q]).toEqual(['c']);
    expect(q.remove('c')).toBe(true);
    q.push('d', 'high');
    expect([...q]).toEqual(['d']);
  });

  it('removes from the middle, head and tail', () => {
    const q = new PriorityQueue<string>();
    for (const x of ['a', 'b', 'c', 'd', 'e']) q.push(x);
    expect(q.remove('c')).toBe(true);
    expect([...q]).toEqual(['a', 'b', 'd', 'e']);
    expect(q.remove('a')).toBe(true);
    expect([...q]).toEqual(['b', 'd', 'e']);
    expect(q.remove('e')).toBe(true);
    expect([...q]).toEqual(['b', 'd']);
    expect(q.size).toBe(2);
    expect(q.sizes().normal).toBe(2);
    // The lane's ends are still consistent after removals.
    q.push('f');
    q.pushFront('z');
    expect([...q]).toEqual(['z', 'b', 'd', 'f']);
    expect(q.remove('b')).toBe(true);
    expect(q.remove('d')).toBe(true);
    expect(q.remove('z')).toBe(true);
    expect(q.remove('f')).toBe(true);
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
    q.push('g');
    expect([...q]).toEqual(['g']);
  });

  it('remove returns false for items not queued (or already removed)', () => {
    const q = new PriorityQueue<string>();
    expect(q.remove('x')).toBe(false);
    q.push('x');
    expect(q.remove('x')).toBe(true);
    expect(q.remove('x')).toBe(false);
    q.push('y');
    q.shift();
    expect(q.remove('y')).toBe(false);
  });

  it('has reflects membership', () => {
    const q = new PriorityQueue<object>();
    const a = {};
    const b = {};
    q.push(a, 'high');
    expect(q.has(a)).toBe(true);
    expect(q.has(b)).toBe(false);
    q.shift();
    expect(q.has(a)).toBe(false);
  });

  it('an item may be re-queued after leaving the queue', () => {
    const q = new PriorityQueue<string>();
    q.push('a', 'high');
    expect(q.shift()).toBe('a');
    q.pushFront('a', 'low');
    expect(q.sizes()).toEqual({ high: 0, normal: 0, low: 1 });
    q.remove('a');
    q.push('a');
    expect([...q]).toEqual(['a']);
  });

  it('removing many items from a large queue is fast (O(1) each)', () => {
    const q = new PriorityQueue<number>();
    const n = 100_000;
    for (let i = 0; i < n; i++) q.push(i, PRIORITIES[i % 3]!);
    let removed = 0;
    for (let i = 0; i < n; i += 2) if (q.remove(i)) removed++;
    expect(removed).toBe(n / 2);
    expect(q.size).toBe(n / 2);
    const rest = q.drain();
    expect(rest).toHaveLength(n / 2);
    expect(rest.every((x) => x % 2 === 1)).toBe(true);
  });

  it('sizes counts per priority', () => {
    const q = new PriorityQueue<string>();
    q.push('a', 'high');
    q.push('b', 'low');
    q.push('c', 'low');
    q.pushFront('d', 'normal');
    expect(q.sizes()).toEqual({ high: 1, normal: 1, low: 2 });
    expect(q.size).toBe(4);
    q.remove('c');
    expect(q.sizes()).toEqual({ high: 1, normal: 1, low: 1 });
  });

  it('drain empties the queue and returns dequeue order', () => {
    const q = new PriorityQueue<string>();
    q.push('l', 'low');
    q.push('n');
    q.push('h', 'high');
    expect(q.drain()).toEqual(['h', 'n', 'l']);
    expect(q.size).toBe(0);
    expect(q.sizes()).toEqual({ high: 0, normal: 0, low: 0 });
    expect(q.has('h')).toBe(false);
    expect(q.remove('n')).toBe(false);
    q.push('h', 'high');
    expect([...q]).toEqual(['h']);
  });

  it('iterates in dequeue order without consuming', () => {
    const q = new PriorityQueue<string>();
    q.push('n');
    q.push('l', 'low');
    q.push('h', 'high');
    expect([...q]).toEqual(['h', 'n', 'l']);
    expect(Array.from(q)).toEqual(['h', 'n', 'l']);
    expect(q.size).toBe(3);
  });

  it('throws when the same item is queued twice, leaving the queue unchanged', () => {
    const q = new PriorityQueue<string>();
    q.push('a');
    expect(() => q.push('a')).toThrow(/already queued/);
    expect(() => q.push('a', 'high')).toThrow(/already queued/);
    expect(() => q.pushFront('a', 'low')).toThrow(/already queued/);
    expect(q.size).toBe(1);
    expect(q.sizes()).toEqual({ high: 0, normal: 1, low: 0 });
    expect([...q]).toEqual(['a']);
  });

  it('throws on an unknown priority, leaving the queue unchanged', () => {
    const q = new PriorityQueue<string>();
    for (const p of ['urgent', '', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(() => q.push('x', p as Priority)).toThrow(TypeError);
      expect(() => q.pushFront('x', p as Priority)).toThrow(TypeError);
    }
    expect(q.size).toBe(0);
    expect(q.has('x')).toBe(false);
    expect(({} as Record<string, unknown>).head).toBeUndefined();
    expect(({} as Record<string, unknown>).size).toBeUndefined();
    q.push('x');
    expect([...q]).toEqual(['x']);
  });

  it('matches a simple array model under random operations', () => {
    type Op =
      | { op: 'push'; item: number; priority: Priority }
      | { op: 'pushFront'; item: number; priority: Priority }
      | { op: 'shift' }
      | { op: 'peek' }
      | { op: 'remove'; item: number }
      | { op: 'has'; item: number }
      | { op: 'drain' };
    const item = fc.integer({ min: 0, max: 15 });
    const priority = fc.constantFrom(...PRIORITIES);
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ op: fc.constant('push' as const), item, priority }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('pushFront' as const), item, priority }) },
      { weight: 2, arbitrary: fc.constant({ op: 'shift' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'peek' as const }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), item }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('has' as const), item }) },
      { weight: 1, arbitrary: fc.constant({ op: 'drain' as const }) },
    );

    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const q = new PriorityQueue<number>();
        const model: Record<Priority, number[]> = { high: [], normal: [], low: [] };
        const flat = () => PRIORITIES.flatMap((p) => model[p]);
        const inModel = (x: number) => flat().includes(x);
        for (const o of ops) {
          switch (o.op) {
            case 'push':
            case 'pushFront': {
              const fn = () => (o.op === 'push' ? q.push(o.item, o.priority) : q.pushFront(o.item, o.priority));
              if (inModel(o.item)) {
                expect(fn).toThrow();
              } else {
                fn();
                if (o.op === 'push') model[o.priority].push(o.item);
                else model[o.priority].unshift(o.item);
              }
              break;
            }
            case 'shift': {
              const expected = flat()[0];
              expect(q.shift()).toBe(expected);
              if (expected !== undefined) for (const p of PRIORITIES) if (model[p][0] === expected) model[p].shift();
              break;
            }
            case 'peek':
              expect(q.peek()).toBe(flat()[0]);
              break;
            case 'remove': {
              const present = inModel(o.item);
              expect(q.remove(o.item)).toBe(present);
              for (const p of PRIORITIES) model[p] = model[p].filter((x) => x !== o.item);
              break;
            }
            case 'has':
              expect(q.has(o.item)).toBe(inModel(o.item));
              break;
            case 'drain':
              expect(q.drain()).toEqual(flat());
              for (const p of PRIORITIES) model[p] = [];
              break;
          }
          expect([...q]).toEqual(flat());
          expect(q.size).toBe(flat().length);
          expect(q.sizes()).toEqual({ high: model.high.length, normal: model.normal.length, low: model.low.length });
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('PriorityQueue node slot', () => {
  it('keeps each node on its item and cuts a removed node loose (no chain from a dead node to live ones)', () => {
    // A removed node that still pointed at its successor would, once promoted by the GC, keep every
    // later node alive through each scavenge (GC nepotism); a Map from item to node churns likewise.
    type Item = { name: string; node?: QueueNode<Item> };
    const q = new PriorityQueue<Item>({ get: (i) => i.node, set: (i, n) => (i.node = n) });
    const a: Item = { name: 'a' };
    const b: Item = { name: 'b' };
    const c: Item = { name: 'c' };
    q.push(a);
    q.push(b);
    q.push(c);
    const nodeA = a.node!;
    const nodeB = b.node!;
    expect(nodeA.next).toBe(nodeB);
    expect(q.shift()).toBe(a);
    expect(a.node).toBeUndefined();
    expect(nodeA.next).toBeUndefined();
    expect(q.remove(b)).toBe(true);
    expect(nodeB.prev).toBeUndefined();
    expect(nodeB.next).toBeUndefined();
    expect(q.has(b)).toBe(false);
    expect(q.size).toBe(1);
    expect(q.drain()).toEqual([c]);
    expect(c.node).toBeUndefined();
    expect(q.size).toBe(0);
  });
});
