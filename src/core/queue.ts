/**
 * Priority queue for pending requests: one FIFO per priority, doubly linked so that removing a
 * cancelled request is O(1) (a Map finds its node). Dequeue takes the oldest of the highest priority.
 */

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

interface Node<T> {
  item: T;
  priority: Priority;
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
}

interface Lane<T> {
  head: Node<T> | undefined;
  tail: Node<T> | undefined;
  size: number;
}

export class PriorityQueue<T> implements Iterable<T> {
  private readonly lanes: Record<Priority, Lane<T>> = {
    high: { head: undefined, tail: undefined, size: 0 },
    normal: { head: undefined, tail: undefined, size: 0 },
    low: { head: undefined, tail: undefined, size: 0 },
  };
  private readonly nodes = new Map<T, Node<T>>();

  get size(): number {
    return this.nodes.size;
  }

  /** Appends at the back of its priority (FIFO within a priority). An item may be queued once. */
  push(item: T, priority: Priority = 'normal'): void {
    const lane = this.lane(item, priority);
    const node: Node<T> = { item, priority, prev: lane.tail, next: undefined };
    if (lane.tail) lane.tail.next = node;
    else lane.head = node;
    lane.tail = node;
    this.link(node, lane);
  }

  /** Puts an item at the front of its priority (a retried request keeps its turn). */
  pushFront(item: T, priority: Priority = 'normal'): void {
    const lane = this.lane(item, priority);
    const node: Node<T> = { item, priority, prev: undefined, next: lane.head };
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
    return this.nodes.has(item);
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
    for (const p of PRIORITIES) this.lanes[p] = { head: undefined, tail: undefined, size: 0 };
    this.nodes.clear();
    return out;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const p of PRIORITIES) {
      for (let n = this.lanes[p].head; n; n = n.next) yield n.item;
    }
  }

  private lane(item: T, priority: Priority): Lane<T> {
    if (this.nodes.has(item)) throw new Error('PriorityQueue: item is already queued');
    // Own keys only: an inherited name ('constructor', '__proto__') is not a lane.
    const lane = Object.hasOwn(this.lanes, priority) ? this.lanes[priority] : undefined;
    if (!lane) throw new TypeError(`PriorityQueue: unknown priority ${String(priority)}`);
    return lane;
  }

  private link(node: Node<T>, lane: Lane<T>): void {
    lane.size++;
    this.nodes.set(node.item, node);
  }

  private unlink(node: Node<T>): void {
    const lane = this.lanes[node.priority];
    if (node.prev) node.prev.next = node.next;
    else lane.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else lane.tail = node.prev;
    lane.size--;
    this.nodes.delete(node.item);
  }
}
