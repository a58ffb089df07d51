/**
 * Deadlines: many timeouts on one timer. An indexed binary min-heap of items by deadline, and a
 * single `setTimeout` armed for the earliest one.
 *
 * Why: two `setTimeout`s per request (idle + hard) cost ~300 bytes and a timer-list insert and
 * removal each; at tens of thousands of calls a second and thousands pending, that was a visible
 * share of CPU and of the memory per pending request. Here a request costs two number fields and
 * one heap slot, insert/remove are O(log n) and nothing is allocated.
 *
 * Items carry their own heap position (`heapIndex`, -1 when absent), so removal is eager: a settled
 * request is never retained until its deadline would have passed.
 */

export interface DeadlineItem {
  /** Absolute time (same clock as `now`) at which `onExpire` is due. */
  deadline: number;
  /** Position in the heap; -1 when not scheduled. Owned by Deadlines. */
  heapIndex: number;
}

type TimerHandle = ReturnType<typeof setTimeout>;

/** Timers fire on whole milliseconds; an item due within this much of `now` counts as due. */
const SLACK_MS = 1;
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadlines<T extends DeadlineItem> {
  private readonly heap: T[] = [];
  private timer: TimerHandle | undefined;
  private armedFor = Infinity;

  /**
   * @param onExpire called once per due item, after it left the heap (it may schedule it again).
   * @param now the clock deadlines are expressed in (ms).
   */
  constructor(
    private readonly onExpire: (item: T, now: number) => void,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `item` at `deadline`, or moves it there if already scheduled. */
  set(item: T, deadline: number): void {
    const old = item.deadline;
    item.deadline = deadline;
    if (item.heapIndex < 0) {
      item.heapIndex = this.heap.length;
      this.heap.push(item);
      this.up(item.heapIndex);
    } else if (deadline < old) this.up(item.heapIndex);
    else this.down(item.heapIndex);
    if (deadline < this.armedFor - SLACK_MS) this.arm();
  }

  /** Unschedules `item` (no-op when it is not scheduled). The timer is left alone: it re-arms lazily. */
  delete(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    item.heapIndex = -1;
    const last = this.heap.pop()!;
    if (i < this.heap.length) {
      this.heap[i] = last;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
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
    while (this.heap.length > 0 && this.heap[0]!.deadline <= now + SLACK_MS) {
      const item = this.heap[0]!;
      this.delete(item);
      due.push(item);
    }
    for (const item of due) if (item.heapIndex < 0) this.onExpire(item, now);
    if (this.heap.length > 0 && this.timer === undefined) this.arm();
  };

  private arm(): void {
    const top = this.heap[0];
    if (!top) return this.disarm();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = top.deadline;
    // setTimeout turns delays over 2^31-1 ms into 1 ms: cap it (fire() re-arms for what is not due yet).
    const timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(top.deadline - this.now()))));
    (timer as { unref?: () => void }).unref?.(); // pending requests alone must not keep a process alive
    this.timer = timer;
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.deadline <= item.deadline) break;
      heap[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    heap[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.deadline < heap[child]!.deadline) child++;
      const c = heap[child]!;
      if (c.deadline >= item.deadline) break;
      heap[i] = c;
      c.heapIndex = i;
      i = child;
    }
    heap[i] = item;
    item.heapIndex = i;
  }
}
