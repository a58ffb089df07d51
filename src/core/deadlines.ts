/**
 * Deadlines: many timeouts on one timer. An indexed binary min-heap of items by deadline, and a
 * single `setTimeout` armed for the earliest one.
 *
 * Why: two `setTimeout`s per request (idle + hard) cost ~300 bytes and a timer-list insert and
 * removal each; at tens of thousands of calls a second and thousands pending, that was a visible
 * share of CPU and of the memory per pending request. Here a request costs one small-integer field
 * and one heap slot: the deadlines themselves sit in a Float64Array beside the heap (a double kept
 * on the item would be a 16-byte box per request), insert/remove are O(log n) and nothing is
 * allocated but the arrays' occasional growth.
 *
 * Items carry their own heap position (`heapIndex`, -1 when absent), so removal is eager: a settled
 * request is never retained until its deadline would have passed.
 */

export interface DeadlineItem {
  /** Position in the heap; -1 when not scheduled. Owned by Deadlines. */
  heapIndex: number;
}

type TimerHandle = ReturnType<typeof setTimeout>;

/** Timers fire on whole milliseconds; an item due within this much of `now` counts as due. */
const SLACK_MS = 1;
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadlines<T extends DeadlineItem> {
  private readonly heap: T[] = [];
  /** keys[i] is the deadline of heap[i]. */
  private keys = new Float64Array(64);
  private timer: TimerHandle | undefined;
  private armedFor = Infinity;

  /**
   * @param onExpire called once per due item, after it left the heap (it may schedule it again),
   *   with the time now and the deadline that was due.
   * @param now the clock deadlines are expressed in (ms).
   */
  constructor(
    private readonly onExpire: (item: T, now: number, deadline: number) => void,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** When `item` is due; Infinity when it is not scheduled. */
  deadlineOf(item: T): number {
    return item.heapIndex < 0 ? Infinity : this.keys[item.heapIndex]!;
  }

  /** Schedules `item` at `deadline`, or moves it there if already scheduled. */
  set(item: T, deadline: number): void {
    const i = item.heapIndex;
    if (i < 0) {
      const at = this.heap.length;
      if (at === this.keys.length) this.grow();
      this.heap.push(item);
      this.up(at, item, deadline);
    } else if (deadline < this.keys[i]!) this.up(i, item, deadline);
    else this.down(i, item, deadline);
    if (deadline < this.armedFor - SLACK_MS) this.arm();
  }

  /** Unschedules `item` (no-op when it is not scheduled). The timer is left alone: it re-arms lazily. */
  delete(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    item.heapIndex = -1;
    const last = this.heap.pop()!;
    const n = this.heap.length;
    if (i < n) {
      // The last item fills the hole, then moves whichever way its deadline says.
      const key = this.keys[n]!;
      if (i > 0 && key < this.keys[(i - 1) >> 1]!) this.up(i, last, key);
      else this.down(i, last, key);
    }
    if (this.heap.length === 0) this.disarm();
  }

  /** Unschedules everything. */
  clear(): void {
    for (const item of this.heap) item.heapIndex = -1;
    this.heap.length = 0;
    this.disarm();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.now();
    // Pop everything due first, then notify: callbacks may reschedule or settle other items.
    const due: T[] = [];
    const dueAt: number[] = [];
    while (this.heap.length > 0 && this.keys[0]! <= now + SLACK_MS) {
      const item = this.heap[0]!;
      dueAt.push(this.keys[0]!);
      this.delete(item);
      due.push(item);
    }
    for (let i = 0; i < due.length; i++) {
      const item = due[i]!;
      if (item.heapIndex < 0) this.onExpire(item, now, dueAt[i]!);
    }
    if (this.heap.length > 0 && this.timer === undefined) this.arm();
  };

  private arm(): void {
    const top = this.heap[0];
    if (!top) return this.disarm();
    if (this.timer !== undefined) clearTimeout(this.timer);
    const deadline = this.keys[0]!;
    this.armedFor = deadline;
    // setTimeout turns delays over 2^31-1 ms into 1 ms: cap it (fire() re-arms for what is not due yet).
    const timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(deadline - this.now()))));
    (timer as { unref?: () => void }).unref?.(); // pending requests alone must not keep a process alive
    this.timer = timer;
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private grow(): void {
    const keys = new Float64Array(this.keys.length * 2);
    keys.set(this.keys);
    this.keys = keys;
  }

  /** Places `item` with `key` at `i` or above, moving larger parents down. */
  private up(i: number, item: T, key: number): void {
    const heap = this.heap;
    const keys = this.keys;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      const p = heap[parent]!;
      heap[i] = p;
      keys[i] = keys[parent]!;
      p.heapIndex = i;
      i = parent;
    }
    heap[i] = item;
    keys[i] = key;
    item.heapIndex = i;
  }

  /** Places `item` with `key` at `i` or below, moving smaller children up. */
  private down(i: number, item: T, key: number): void {
    const heap = this.heap;
    const keys = this.keys;
    const n = heap.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1]! < keys[child]!) child++;
      if (keys[child]! >= key) break;
      const c = heap[child]!;
      heap[i] = c;
      keys[i] = keys[child]!;
      c.heapIndex = i;
      i = child;
    }
    heap[i] = item;
    keys[i] = key;
    item.heapIndex = i;
  }
}
