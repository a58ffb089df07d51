/**
 * Priority queue for pending requests: one FIFO per priority, doubly linked so that removing a
 * cancelled request is O(1) (a Map finds its node). Dequeue takes the oldest of the highest priority.
 */

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** A queued item's place in its lane (opaque outside this module). */
export interface QueueNode<T> {
  item: T;
  priority: Priority;
  prev: QueueNode<T> | undefined;
  next: QueueNode<T> | undefined;
}

interface Lane<T> {
  head: QueueNode<T> | undefined;
  tail: QueueNode<T> | undefined;
  size: number;
}

/**
 * Where an item's node is kept: on the item itself (`get`/`set` of one of its fields), for items
 * queued by the thousand per second. Without it the queue keeps a `Map` from item to node; a Map
 * with an insert and a delete per item rehashes into a fresh table every few hundred items, and V8
 * links each obsolete table to the next: once one is promoted to the old generation, every
 * scavenge keeps the following ones (and the items they held) alive and promotes them in turn
 * (see InFlightTable).
 */
export interface NodeSlot<T> {
  get(item: T): QueueNode<T> | undefined;
  set(item: T, node: QueueNode<T> | undefined): void;
}

export class PriorityQueue<T> implements Iterable<T> {
  private readonly lanes: Record<Priority, Lane<T>> = {
    high: { head: undefined, tail: undefined, size: 0 },
    normal: { head: undefined, tail: undefined, size: 0 },
    low: { head: undefined, tail: undefined, size: 0 },
  };
  private readonly nodes: NodeSlot<T>;
  private count = 0;

  /** @param slot where each item's node is kept; default: a Map owned by the queue. */
  constructor(slot?: NodeSlot<T>) {
    if (slot) this.nodes = slot;
    else {
      const map = new Map<T, QueueNode<T>>();
      this.nodes = { get: (item) => map.get(item), set: (item, node) => (node ? map.set(item, node) : map.delete(item)) };
    }
  }

  get size(): number {
    return this.count;
  }

  /** Appends at the back of its priority (FIFO within a priority). An item may be queued once. */
  push(item: T, priority: Priority = 'normal'): void {
    const lane = this.lane(item, priority);
    const node: QueueNode<T> = { item, priority, prev: lane.tail, next: undefined };
    if (lane.tail) lane.tail.next = node;
    else lane.head = node;
    lane.tail = node;
    this.link(node, lane);
  }

  /** Puts an item at the front of its priority (a retried request keeps its turn). */
  pushFront(item: T, priority: Priority = 'normal'): void {
    const lane = this.lane(item, priority);
    const node: QueueNode<T> = { item, priority, prev: undefined, next: lane.head };
    if (lane.head) lane.head.prev = node;
    else lane.tail = node;
    lane.head = node;
    this.link(node, lane);
  }

  /** The next item (highest priority, oldest first) without removing it. */
  peek(): T | undefined {
    for (const p of PRIORITIES) {
      const head = this.lanes[p].head;
      if (head) return head.item;
    }
    return undefined;
  }

  shift(): T | undefined {
    for (const p of PRIORITIES) {
      const head = this.lanes[p].head;
      if (head) {
        this.unlink(head);
        return head.item;
      }
    }
    return undefined;
  }

  has(item: T): boolean {
    return this.nodes.get(item) !== undefined;
  }

  /** Removes an item wherever it is; false when it was not queued. */
  remove(item: T): boolean {
    const node = this.nodes.get(item);
    if (!node) return false;
    this.unlink(node);
    return true;
  }

  sizes(): Record<Priority, number> {
    return { high: this.lanes.high.size, normal: this.lanes.normal.size, low: this.lanes.low.size };
  }

  /** Empties the queue and returns the items in dequeue order. */
  drain(): T[] {
    const out = [...this];
    for (const item of out) this.nodes.set(item, undefined);
    for (const p of PRIORITIES) this.lanes[p] = { head: undefined, tail: undefined, size: 0 };
    this.count = 0;
    return out;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const p of PRIORITIES) {
      for (let n = this.lanes[p].head; n; n = n.next) yield n.item;
    }
  }

  private lane(item: T, priority: Priority): Lane<T> {
    if (this.nodes.get(item) !== undefined) throw new Error('PriorityQueue: item is already queued');
    // Own keys only: an inherited name ('constructor', '__proto__') is not a lane.
    const lane = Object.hasOwn(this.lanes, priority) ? this.lanes[priority] : undefined;
    if (!lane) throw new TypeError(`PriorityQueue: unknown priority ${String(priority)}`);
    return lane;
  }

  private link(node: QueueNode<T>, lane: Lane<T>): void {
    lane.size++;
    this.count++;
    this.nodes.set(node.item, node);
  }

  private unlink(node: QueueNode<T>): void {
    const lane = this.lanes[node.priority];
    if (node.prev) node.prev.next = node.next;
    else lane.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else lane.tail = node.prev;
    // Cut the removed node loose. A node that has outlived a scavenge sits in the old generation
    // until the next full collection; were it still pointing at its successor, that successor (and
    // through it every later node and the request each one holds) would be kept alive by every
    // scavenge and promoted in turn ("GC nepotism"): a steady queue would then promote every request.
    node.prev = undefined;
    node.next = undefined;
    lane.size--;
    this.count--;
    this.nodes.set(node.item, undefined);
  }
}
