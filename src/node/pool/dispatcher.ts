/**
 * PoolDispatcher: the queue of a server pool and the choice of replica for each call.
 *
 * The pool holds its own queue and hands a call to a replica only when that replica has a free
 * slot (fewer pool calls running on it than its `maxConcurrent`), to the least busy one. A replica
 * therefore never sits on a backlog of its own: when it crashes, only the calls it was running are
 * affected, and every waiting call goes to whichever replica frees a slot first (work stealing, not
 * early binding). A call lost with its replica comes back here when `reroutable` says it may (the
 * pool allows it for calls that are safe to resend) and goes to another replica, ahead of its turn.
 *
 * Sticky calls (`sticky` on, a `stickyKey` given) go to the replica that served their key before,
 * waiting in that replica's own lane when it is busy; a key whose replica left (crash, stop,
 * scale-down) is routed afresh, and its waiting calls join the main queue at the front.
 *
 * Timeouts: the hard cap of a call runs from when it entered the pool; while it waits here the pool
 * enforces it, and an attempt gets what is left of it. Cancelling a waiting call removes it at once.
 */
import { Deadlines } from '../../core/deadlines.js';
import { CancelledError, type IpcError, QueueFullError, TimeoutError, toIpcError } from '../../core/errors.js';
import { LatencyHistogram, type HistogramSnapshot } from '../../core/metrics.js';
import { PRIORITIES, type Priority, PriorityQueue } from '../../core/queue.js';
import { StickyTable, leastBusy } from './routing.js';

/** A replica as the dispatcher sees it. */
export interface DispatchTarget {
  readonly id: number;
  /** Takes new calls: running, connected and not retiring. */
  readonly available: boolean;
  /** Pool calls it runs at once (its `queue.maxConcurrent`). */
  readonly capacity: number;
}

/** One call through the pool. */
export interface PoolJob<T = unknown> {
  /** For messages (e.g. `tools/call echo`). */
  readonly label: string;
  readonly priority?: Priority;
  readonly stickyKey?: string;
  readonly signal?: AbortSignal;
  /** Hard cap from entering the pool to settling (ms). */
  readonly hardTimeoutMs: number;
  /** Starts one attempt on replica `replica`, with `hardTimeoutMs` left of the call's hard cap. */
  run(replica: number, hardTimeoutMs: number): Promise<T>;
  /** After a failed attempt: may the call move to another replica (it was lost, and is safe to resend)? */
  reroutable(error: IpcError, replica: number): boolean;
}

export interface PoolDispatcherOptions {
  /** The replicas, read at each decision. */
  targets: () => Iterable<DispatchTarget>;
  /** Calls waiting in the pool (all lanes) before one more is refused with QueueFull. */
  maxQueueSize: number;
  /** Honour `stickyKey`. */
  sticky: boolean;
  maxStickyKeys: number;
  /** Attempts after the first one a call may take on other replicas. */
  maxReroutes: number;
  now: () => number;
  /** Called after anything that changes the load (queue, in-flight): scaling and metrics listen. */
  onChange?: () => void;
}

interface Entry {
  job: PoolJob;
  seq: number;
  priority: Priority;
  enqueuedAt: number;
  dispatchedAt: number;
  hardDeadline: number;
  /** Deadlines heap fields (the hard cap while waiting here). */
  deadline: number;
  heapIndex: number;
  /** Where it waits: the main queue or a replica's sticky lane; undefined while running or done. */
  waiting: 'main' | number | undefined;
  running: number | undefined;
  attempts: number;
  done: boolean;
  resolve: (value: unknown) => void;
  reject: (error: IpcError) => void;
  removeAbort: (() => void) | undefined;
}

export interface DispatcherStats {
  queued: number;
  queuedByPriority: Record<Priority, number>;
  inFlight: number;
  rerouted: number;
  /** Calls that timed out or were cancelled while waiting in the pool, or refused with QueueFull. */
  timeouts: number;
  cancels: number;
  refused: number;
  /** First dispatch → settle of answered calls (ms). */
  latency: HistogramSnapshot;
  /** Entering the pool → first dispatch (ms). */
  queueWait: HistogramSnapshot;
}

const RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

export class PoolDispatcher {
  private readonly main = new PriorityQueue<Entry>();
  private readonly lanes = new Map<number, PriorityQueue<Entry>>();
  private readonly running = new Map<number, number>();
  private readonly sticky: StickyTable;
  private readonly deadlines: Deadlines<Entry>;
  private readonly latency = new LatencyHistogram();
  private readonly queueWait = new LatencyHistogram();
  private readonly counts = { rerouted: 0, timeouts: 0, cancels: 0, refused: 0 };
  private seq = 0;
  private lastPicked = -1;
  private pumping = false;
  private repump = false;

  constructor(private readonly opts: PoolDispatcherOptions) {
    if (!Number.isInteger(opts.maxQueueSize) || opts.maxQueueSize < 0) throw new TypeError(`maxQueueSize must be an integer ≥ 0 (got ${String(opts.maxQueueSize)})`);
    this.sticky = new StickyTable(opts.maxStickyKeys);
    this.deadlines = new Deadlines<Entry>((entry, now) => this.expire(entry, now), opts.now);
  }

  /** Calls waiting in the pool, all lanes. */
  get queued(): number {
    let n = this.main.size;
    for (const lane of this.lanes.values()) n += lane.size;
    return n;
  }

  get inFlight(): number {
    let n = 0;
    for (const c of this.running.values()) n += c;
    return n;
  }

  /** Pool calls running on replica `id`, and calls waiting for it (its sticky lane). */
  load(id: number): { inFlight: number; queued: number } {
    return { inFlight: this.running.get(id) ?? 0, queued: this.lanes.get(id)?.size ?? 0 };
  }

  /** The replica a sticky key is routed to, if it is remembered. */
  stickyReplica(key: string): number | undefined {
    return this.sticky.get(key);
  }

  stats(): DispatcherStats {
    const queuedByPriority = this.main.sizes();
    for (const lane of this.lanes.values()) for (const p of PRIORITIES) queuedByPriority[p] += lane.sizes()[p];
    return {
      queued: this.queued,
      queuedByPriority,
      inFlight: this.inFlight,
      ...this.counts,
      latency: this.latency.snapshot(),
      queueWait: this.queueWait.snapshot(),
    };
  }

  /** Queues a call; it runs on a replica as soon as one has a free slot. Rejects only with IpcError. */
  submit<T>(job: PoolJob<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const signal = job.signal;
      if (signal?.aborted) return reject(new CancelledError(`${job.label} cancelled before it was sent`, { reason: abortReason(signal), phase: 'queued' }));
      const now = this.opts.now();
      const entry: Entry = {
        job: job as PoolJob,
        seq: this.seq++,
        priority: job.priority ?? 'normal',
        enqueuedAt: now,
        dispatchedAt: 0,
        hardDeadline: now + job.hardTimeoutMs,
        deadline: 0,
        heapIndex: -1,
        waiting: undefined,
        running: undefined,
        attempts: 0,
        done: false,
        resolve: resolve as (value: unknown) => void,
        reject,
        removeAbort: undefined,
      };
      if (signal) {
        const onAbort = () => this.aborted(entry);
        signal.addEventListener('abort', onAbort, { once: true });
        entry.removeAbort = () => signal.removeEventListener('abort', onAbort);
      }
      this.enqueue(entry, false);
      this.pump();
      // Refused only if it has to wait and the queue is full (a free slot takes it even at maxQueueSize 0).
      if (entry.waiting !== undefined && this.queued > this.opts.maxQueueSize) {
        this.counts.refused++;
        this.settle(entry, new QueueFullError(this.opts.maxQueueSize));
        return;
      }
      this.changed();
    });
  }

  /**
   * Replicas came or went (or changed availability): calls waiting for one that is gone join the
   * main queue at the front, and waiting calls go to any free slot.
   */
  targetsChanged(): void {
    const available = new Set<number>();
    for (const t of this.opts.targets()) if (t.available) available.add(t.id);
    for (const [id, lane] of this.lanes) {
      if (available.has(id)) continue;
      this.lanes.delete(id);
      const moved = lane.drain();
      for (let i = moved.length - 1; i >= 0; i--) {
        const entry = moved[i]!;
        entry.waiting = 'main';
        this.main.pushFront(entry, entry.priority);
      }
    }
    this.pump();
    this.changed();
  }

  /** Replica `id` left the pool for good: forget the keys it held. */
  forget(id: number): void {
    this.sticky.dropReplica(id);
    this.running.delete(id);
    this.targetsChanged();
  }

  /** Fails every waiting call (running ones settle through their replica). */
  failQueued(error: IpcError): void {
    const entries = [...this.main];
    for (const lane of this.lanes.values()) entries.push(...lane);
    for (const entry of entries) this.settle(entry, error);
    this.changed();
  }

  // ---------------------------------------------------------------- internals

  private enqueue(entry: Entry, front: boolean): void {
    let lane: number | undefined;
    if (this.opts.sticky && entry.job.stickyKey !== undefined) {
      const id = this.sticky.get(entry.job.stickyKey);
      if (id !== undefined && this.isAvailable(id)) lane = id;
    }
    let queue = this.main;
    if (lane !== undefined) {
      queue = this.lanes.get(lane) ?? new PriorityQueue<Entry>();
      this.lanes.set(lane, queue);
    }
    entry.waiting = lane ?? 'main';
    if (front) queue.pushFront(entry, entry.priority);
    else queue.push(entry, entry.priority);
    this.deadlines.set(entry, entry.hardDeadline);
  }

  private isAvailable(id: number): boolean {
    for (const t of this.opts.targets()) if (t.id === id) return t.available;
    return false;
  }

  /** Hands waiting calls to free slots until there is no free slot or nothing waits. */
  private pump(): void {
    // Settling inside a dispatch (a synchronous failure) re-enters: finish the loop once instead.
    if (this.pumping) {
      this.repump = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.repump = false;
        this.pumpOnce();
      } while (this.repump);
    } finally {
      this.pumping = false;
    }
  }

  private pumpOnce(): void {
    for (;;) {
      const free: Array<{ id: number; load: number; target: DispatchTarget }> = [];
      for (const t of this.opts.targets()) {
        if (!t.available) continue;
        const inFlight = this.running.get(t.id) ?? 0;
        if (inFlight >= t.capacity) continue;
        const lane = this.lanes.get(t.id);
        if (this.main.size === 0 && !lane?.size) continue;
        free.push({ id: t.id, load: inFlight + (lane?.size ?? 0), target: t });
      }
      const pick = leastBusy(free, this.lastPicked);
      if (!pick) return;
      const entry = this.next(pick.id);
      if (!entry) return;
      // A main-queue call whose key another available replica holds waits in that replica's lane.
      if (entry.waiting === 'main' && this.opts.sticky && entry.job.stickyKey !== undefined) {
        const holder = this.sticky.get(entry.job.stickyKey);
        if (holder !== undefined && holder !== pick.id && this.isAvailable(holder)) {
          this.main.remove(entry);
          this.deadlines.delete(entry);
          this.enqueue(entry, true);
          continue;
        }
      }
      this.lastPicked = pick.id;
      this.dispatch(entry, pick.id);
    }
  }

  /** The next call for replica `id`: the head of its lane or of the main queue, by priority then age. */
  private next(id: number): Entry | undefined {
    const own = this.lanes.get(id)?.peek();
    const shared = this.main.peek();
    if (!own) return shared;
    if (!shared) return own;
    const a = RANK[own.priority];
    const b = RANK[shared.priority];
    return a < b || (a === b && own.seq < shared.seq) ? own : shared;
  }

  private dispatch(entry: Entry, id: number): void {
    this.unqueue(entry);
    const now = this.opts.now();
    if (entry.attempts === 0) {
      entry.dispatchedAt = now;
      this.queueWait.record(now - entry.enqueuedAt);
    }
    entry.attempts++;
    entry.running = id;
    this.running.set(id, (this.running.get(id) ?? 0) + 1);
    const key = entry.job.stickyKey;
    if (this.opts.sticky && key !== undefined) this.sticky.set(key, id);
    let attempt: Promise<unknown>;
    try {
      attempt = entry.job.run(id, Math.max(1, entry.hardDeadline - now));
    } catch (error) {
      attempt = Promise.reject(error);
    }
    attempt.then(
      (value) => this.finished(entry, id, undefined, value),
      (error: unknown) => this.finished(entry, id, toIpcError(error), undefined),
    );
  }

  private finished(entry: Entry, id: number, error: IpcError | undefined, value: unknown): void {
    const left = (this.running.get(id) ?? 1) - 1;
    if (left > 0) this.running.set(id, left);
    else this.running.delete(id);
    entry.running = undefined;
    if (error) {
      const now = this.opts.now();
      const again =
        !entry.done &&
        !entry.job.signal?.aborted &&
        entry.attempts <= this.opts.maxReroutes &&
        now < entry.hardDeadline &&
        safely(() => entry.job.reroutable(error, id));
      if (again) {
        this.counts.rerouted++;
        this.enqueue(entry, true);
        this.pump();
        this.changed();
        return;
      }
      this.settle(entry, error);
    } else {
      this.latency.record(this.opts.now() - entry.dispatchedAt);
      this.settle(entry, undefined, value);
    }
    this.pump();
    this.changed();
  }

  private unqueue(entry: Entry): void {
    if (entry.waiting === 'main') this.main.remove(entry);
    else if (entry.waiting !== undefined) {
      const lane = this.lanes.get(entry.waiting);
      lane?.remove(entry);
      if (lane && lane.size === 0) this.lanes.delete(entry.waiting);
    }
    entry.waiting = undefined;
    this.deadlines.delete(entry);
  }

  private settle(entry: Entry, error: IpcError | undefined, value?: unknown): void {
    if (entry.done) return;
    entry.done = true;
    this.unqueue(entry);
    entry.removeAbort?.();
    if (error) entry.reject(error);
    else entry.resolve(value);
  }

  private aborted(entry: Entry): void {
    // A running call is cancelled by its replica (the signal went with it); only a waiting one is ours.
    if (entry.done || entry.waiting === undefined) return;
    this.counts.cancels++;
    const signal = entry.job.signal!;
    this.settle(entry, new CancelledError(`${entry.job.label} cancelled: ${abortReason(signal)}`, { reason: abortReason(signal), phase: 'queued' }));
    this.changed();
  }

  private expire(entry: Entry, now: number): void {
    if (entry.done || entry.waiting === undefined) return;
    this.counts.timeouts++;
    const queuedMs = Math.round(now - entry.enqueuedAt);
    this.settle(
      entry,
      new TimeoutError(`${entry.job.label} timed out (hard cap after ${Math.round(entry.job.hardTimeoutMs)} ms, waiting for a free replica)`, {
        method: entry.job.label,
        kind: 'hard',
        phase: 'queued',
        timeoutMs: entry.job.hardTimeoutMs,
        queuedMs,
        inFlightMs: 0,
      }),
    );
    this.changed();
  }

  private changed(): void {
    this.opts.onChange?.();
  }
}

function safely(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string') return r;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  return 'aborted';
}
