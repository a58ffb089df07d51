/**
 * IpcManager: the transport-agnostic JSON-RPC 2.0 engine.
 *
 * One manager per connection (per MCP server). It correlates responses with requests, queues
 * requests by priority under a concurrency limit, enforces an idle timeout (reset by progress)
 * plus an always-armed hard cap, cancels with AbortSignal, routes progress and stream chunks,
 * retries retryable failures with backoff, answers the peer's requests, and keeps metrics.
 *
 * The transport can be swapped (`attach`) after it closes: with `holdQueueOnDisconnect`, queued
 * requests survive a server restart and are sent once the new connection is `resume`d.
 */
import { backoffDelay } from './backoff.js';
import type { Cancellation } from './cancellation.js';
import { type DeadlineItem, Deadlines } from './deadlines.js';
import { DEFAULTS } from './defaults.js';
import { ChunkStream, type StreamChunk } from './chunk-stream.js';
import { Emitter } from './emitter.js';
import { Inbound, type NotificationHandler, type RequestHandler } from './inbound.js';
import {
  CancelledError,
  InvalidParamsError,
  IpcError,
  MessageTooLargeError,
  NotConnectedError,
  ProtocolError,
  QueueFullError,
  RpcCode,
  ServerCrashedError,
  ServerError,
  TimeoutError,
} from './errors.js';
import {
  type Diagnostic,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
  isFailure,
  isRequest,
  isResponse,
  notification,
  previewValue,
} from './jsonrpc.js';
import { IPC_MANAGER_OPTIONS, checkOptions } from './options.js';
import { IpcMetrics, type IpcMetricsSnapshot } from './ipc-metrics.js';
import { type InFlightItem, InFlightTable } from './in-flight.js';
import { type Priority, PriorityQueue, type QueueNode } from './queue.js';
import { RequestIds } from './request-ids.js';
import { SENT, type Transport } from './transport.js';

export const METHOD_PROGRESS = 'notifications/progress';
export const METHOD_CANCELLED = 'notifications/cancelled';
/** mcp-ipc extension: a piece of a large result, sent before the response (see DESIGN "Streaming"). */
export const METHOD_STREAM_CHUNK = 'notifications/stream/chunk';

export interface IpcManagerOptions {
  /** Requests in flight at once; `Infinity` for no limit. @default 10 */
  maxConcurrent?: number;
  /** Requests waiting beyond those; a full queue rejects at once with QueueFull (0: never wait). @default 100 */
  maxQueueSize?: number;
  /** Idle timeout per request, reset by progress and stream chunks; `Infinity` for none. @default 30000 */
  timeoutMs?: number;
  /** Hard cap from enqueue to settle, always armed; `Infinity` for none. @default 10 × the request's timeout */
  hardTimeoutMs?: number;
  /** Retries for retryable failures (0: none). @default 3 */
  maxRetries?: number;
  /** First retry delay, exponential with jitter. @default 1000 */
  retryDelayMs?: number;
  /** Longest retry delay. @default 30000 */
  retryMaxDelayMs?: number;
  /** Priority ordering on; off means plain FIFO. @default true */
  priorityQueue?: boolean;
  /** Methods that skip the queue and the concurrency limit. @default ['ping'] */
  bypassMethods?: readonly string[];
  /** Unresolved transport writes at which dispatching pauses until drain. @default 16 */
  maxPendingWrites?: number;
  /**
   * Keep queued requests when the transport closes, to send them on the next `attach` (false: they
   * fail with NotConnected). The owner must then `attach` again or `close()`. @default false
   */
  holdQueueOnDisconnect?: boolean;
  /** Minimum interval between `metrics` change events (0: one per macrotask). @default 1000 */
  metricsIntervalMs?: number;
  /** Clock in ms (injectable for tests). @default performance.now */
  now?: () => number;
  /** Randomness for retry jitter (injectable for tests). @default Math.random */
  random?: () => number;
}

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

export type { StreamChunk } from './chunk-stream.js';
export type { IpcMetricsSnapshot } from './ipc-metrics.js';

/**
 * What a request reads of its `signal`: an AbortSignal fits, and so does any object of this shape —
 * a caller running many requests need not make an AbortController (an EventTarget) for each.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface RequestOptions<Signal extends CancelSignal = AbortSignal> {
  priority?: Priority;
  /** Idle timeout for this request (ms). */
  timeoutMs?: number;
  /** Hard cap for this request (ms). */
  hardTimeoutMs?: number;
  /** Cancels the request when it aborts (IpcManager takes any CancelSignal, not only an AbortSignal). */
  signal?: Signal;
  /**
   * Cancels the request like `signal`, without an AbortSignal per request (see Cancellation: for
   * callers that cancel many requests one by one, such as the gateway). Ignored when `signal` is
   * given: a layer that runs the request under a signal of its own (a shared, coalesced call) wins.
   */
  cancel?: Cancellation;
  /** Asks the peer for progress (`_meta.progressToken`) and receives it here. */
  onProgress?: (progress: Progress) => void;
  /** Asks the peer to stream the result (`_meta.streamToken`) and receives chunks in order here. */
  onChunk?: (chunk: StreamChunk) => void;
  /**
   * Called each time the request leaves the queue to be written, with how long it waited there (ms).
   * Tracing draws its queue-wait span from it; a throwing callback is ignored.
   */
  onSend?: (queuedMs: number) => void;
  /** Safe to resend after a lost connection (idempotent). Write failures are always retried. */
  retryable?: boolean;
  maxRetries?: number;
  /**
   * Called with the request's JSON-RPC id each time it is written (again on a resend), before the
   * peer can answer: for protocols that refer to a request by its id (MCP's `subscriptions/listen`
   * stream is identified by it).
   */
  onSent?: (id: RequestId) => void;
  /** Skip the queue and the concurrency limit (implied for `bypassMethods`). */
  bypassQueue?: boolean;
  /**
   * A long-lived request that is a stream of notifications rather than a call (MCP's
   * `subscriptions/listen`): not counted as in flight in `load` and the metrics, so a server with
   * an open subscription does not look permanently busy. Pair it with infinite timeouts.
   */
  longLived?: boolean;
}

export interface StreamingRequest<T> {
  /** The final response. */
  result: Promise<T>;
  /** The chunks in order; ends when the result arrives, throws if the request fails. */
  chunks: AsyncIterable<StreamChunk>;
}

export type ConnectionState = 'idle' | 'connected' | 'disconnected' | 'closed';

export type { RequestContext, RequestOrigin, RequestHandler, NotificationHandler } from './inbound.js';

export interface IpcManagerEvents extends Record<string, unknown> {
  diagnostic: Diagnostic;
  metrics: IpcMetricsSnapshot;
  state: ConnectionState;
  /** Transport-level errors (the connection may still be usable). */
  error: IpcError;
  /** Every incoming notification. */
  notification: JsonRpcNotification;
  /**
   * Nothing is in flight any more (`load.inFlight` dropped to 0; long-lived requests do not count):
   * what a planned restart waits for. Emitted on a later microtask, and only while someone listens.
   */
  idle: undefined;
}

/** Pending.state: the phase in the low two bits, flags above them (one small integer field). */
const QUEUED = 0;
const IN_FLIGHT = 1;
/** Taken off the wire: backing off before a resend, or about to be settled. */
const RETRY_WAIT = 2;
const DONE = 3;
const PHASE = 3;
/** Skips the queue and the concurrency limit. */
const BYPASS = 4;
/** The transport took the message (a lost connection leaves its outcome unknown). */
const WRITTEN = 8;
/** Its params were let go of once it was written: it can no longer be resent (see `written`). */
const DROPPED = 16;
type Phase = typeof QUEUED | typeof IN_FLIGHT | typeof RETRY_WAIT | typeof DONE;

/**
 * `Pending.atUs` stays within ±2^30 − 1, the small-integer range of every V8 build (stored in the
 * record itself); beyond it (a request queued or resent some 18 minutes after it was made) `at` is
 * kept in `more.farAt` and `atUs` holds FAR.
 */
const MAX_AT_US = 2 ** 30 - 1;
const FAR = -(2 ** 30);

/** What only some requests need — retries, progress, streams, an abort signal — made on first use. */
interface PendingMore {
  attempt: number;
  /** Time spent queued by earlier attempts (ms). */
  queuedMs: number;
  /** Last progress or chunk (0: none); the idle timeout runs from the later of this and the send. */
  activeAt: number;
  /** Next stream chunk expected. */
  nextSeq: number;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  removeAbortListener: (() => void) | undefined;
  /** `at` when it is too far from `createdAt` for `atUs` (see FAR). */
  farAt: number;
}

/**
 * One record per request, whatever its phase: the queue, the in-flight table and the deadline heap
 * all hold this same object (no per-phase copies, no side maps). It is most of what a pending
 * request costs in memory, so it keeps only what every request needs, in fields that hold small
 * integers or pointers (a field holding a fraction costs a 16-byte box): timeouts and priority are
 * read from the caller's options when needed, phase and flags share one integer, times are whole
 * ms or µs offsets, and what only some requests need lives in `more`. A class, so every request
 * has the same shape (monomorphic property access on the hot path).
 */
class Pending implements DeadlineItem, InFlightItem {
  /** Phase and flags (see PHASE, BYPASS, WRITTEN, DROPPED). */
  state: number;
  id: number | undefined = undefined;
  heapIndex = -1;
  /** `at` in µs after `createdAt` (FAR: in `more.farAt`). */
  private atUs: number;
  more: PendingMore | undefined = undefined;
  /** Its place in the queue while queued (kept here, not in a Map: see PriorityQueue's NodeSlot). */
  queueNode: QueueNode<Pending> | undefined = undefined;

  constructor(
    readonly method: string,
    /** Kept for resends only: let go of once written when it cannot be resent (see `written`). */
    public params: Record<string, unknown> | unknown[] | undefined,
    readonly options: RequestOptions<CancelSignal>,
    /**
     * When the caller made the request, in whole ms (rounded up): a small integer is stored in the
     * record itself, a fraction would take a 16-byte box. The hard cap is a safety net; a
     * sub-millisecond shift of it does not matter.
     */
    readonly createdAt: number,
    now: number,
    bypass: boolean,
    /**
     * Settles the caller's promise; a failure is passed as a rejected promise, which the caller's
     * promise adopts. Keeping only `resolve` lets the `reject` function (and its memory) go at once.
     */
    readonly resolve: (value: unknown) => void,
  ) {
    this.state = bypass ? BYPASS : QUEUED;
    this.atUs = Math.round((now - createdAt) * 1000) | 0; // within [-1000, 0]; `| 0` turns a -0 into 0
  }

  get phase(): Phase {
    return (this.state & PHASE) as Phase;
  }

  set phase(phase: Phase) {
    this.state = (this.state & ~PHASE) | phase;
  }

  /** While queued: when it joined the queue. Once sent: when it was sent (ms, µs precision). */
  get at(): number {
    const us = this.atUs;
    return us !== FAR ? this.createdAt + us / 1000 : this.more!.farAt;
  }

  set at(now: number) {
    const us = Math.round((now - this.createdAt) * 1000);
    if (us <= MAX_AT_US && us >= -MAX_AT_US) {
      this.atUs = us | 0; // a -0 (not a small integer) would turn the field into a boxed double for every record
      return;
    }
    this.moreOf(this.phase === QUEUED ? 0 : Math.max(0, now - this.createdAt)).farAt = now;
    this.atUs = FAR;
  }

  /** `more`, made now if it was not yet, then with `queuedMs` (ms queued before this attempt). */
  moreOf(queuedMs: number): PendingMore {
    return (this.more ??= { attempt: 0, queuedMs, activeAt: 0, nextSeq: 0, retryTimer: undefined, removeAbortListener: undefined, farAt: 0 });
  }
}

/** The options of a request made without any (shared, so a call without options allocates none). */
const NO_OPTIONS: RequestOptions<CancelSignal> = Object.freeze({});

const unref = (t: ReturnType<typeof setTimeout>) => {
  (t as { unref?: () => void }).unref?.();
  return t;
};

export class IpcManager extends Emitter<IpcManagerEvents> {
  private readonly opts: Required<Omit<IpcManagerOptions, 'hardTimeoutMs'>> & { hardTimeoutMs?: number };
  private transport: Transport | undefined;
  private _state: ConnectionState = 'idle';
  private paused = false;
  private active = 0;
  private pendingWrites = 0;
  /** In-flight requests marked `longLived` (left out of the load and the metrics). */
  private longLived = 0;
  /** An `idle` event is due on the next microtask. */
  private idleQueued = false;
  private readonly queue = new PriorityQueue<Pending>({ get: (p) => p.queueNode, set: (p, node) => (p.queueNode = node) });
  /** Not a Map: see InFlightTable for the garbage-collection trap a churning Map sets. */
  private readonly inFlight = new InFlightTable<Pending>();
  /** Requests backing off before a resend (rare; the queue and inFlight hold all the others). */
  private readonly retrying = new Set<Pending>();
  /** Request ids, and what a response to an id nobody waits for is (late, duplicate, unknown). */
  private readonly ids = new RequestIds();
  /** Handlers for the peer's requests and notifications (see Inbound). */
  readonly inbound = new Inbound((error) => this.onListenerError(error, 'notification'));
  private readonly trackedProgress = new Map<string | number, (progress: Progress) => void>();

  private readonly metrics: IpcMetrics;
  private readonly counters: IpcMetrics['counters'];
  private readonly deadlines: Deadlines<Pending>;
  private metricsTimer: ReturnType<typeof setTimeout> | undefined;

  /** @throws TypeError when an option is out of range (the message names it and its value). */
  constructor(transport?: Transport, options: IpcManagerOptions = {}) {
    super();
    checkOptions(options, IPC_MANAGER_OPTIONS);
    const d = DEFAULTS.queue;
    this.opts = {
      maxConcurrent: options.maxConcurrent ?? d.maxConcurrent,
      maxQueueSize: options.maxQueueSize ?? d.maxQueueSize,
      timeoutMs: options.timeoutMs ?? d.timeoutMs,
      hardTimeoutMs: options.hardTimeoutMs,
      maxRetries: options.maxRetries ?? d.maxRetries,
      retryDelayMs: options.retryDelayMs ?? d.retryDelayMs,
      retryMaxDelayMs: options.retryMaxDelayMs ?? d.retryMaxDelayMs,
      priorityQueue: options.priorityQueue ?? d.priorityQueue,
      bypassMethods: options.bypassMethods ?? d.bypassMethods,
      maxPendingWrites: options.maxPendingWrites ?? d.maxPendingWrites,
      holdQueueOnDisconnect: options.holdQueueOnDisconnect ?? false,
      metricsIntervalMs: options.metricsIntervalMs ?? d.metricsIntervalMs,
      now: options.now ?? (() => performance.now()),
      random: options.random ?? Math.random,
    };
    this.metrics = new IpcMetrics(this.opts.now);
    this.counters = this.metrics.counters;
    this.deadlines = new Deadlines<Pending>((p, now) => this.expire(p, now), this.opts.now);
    this.setRequestHandler('ping', () => ({}));
    if (transport) this.transport = transport;
  }

  get state(): ConnectionState {
    return this._state;
  }

  get options(): Readonly<IpcManagerOptions> {
    return this.opts;
  }

  /** Starts the transport given to the constructor. */
  async start(): Promise<void> {
    if (!this.transport) throw new NotConnectedError('No transport to start');
    await this.attach(this.transport);
  }

  /**
   * Connects to a (new) transport and starts it. With `paused`, queued requests wait for `resume()`
   * (bypass requests such as an MCP `initialize` handshake still go through). With `started`, the
   * transport is already running (e.g. a spawned process) and is not started again.
   */
  async attach(transport: Transport, options: { paused?: boolean; started?: boolean } = {}): Promise<void> {
    if (this._state === 'closed') throw new NotConnectedError('IpcManager is closed');
    if (this._state === 'connected' && this.transport && this.transport !== transport) {
      throw new ProtocolError('A transport is already attached; wait for it to close first');
    }
    this.transport = transport;
    this.paused = options.paused ?? false;
    transport.onmessage = (message) => this.receive(transport, message);
    transport.onerror = (error) => this.emit('error', error instanceof IpcError ? error : new ProtocolError(error.message));
    transport.ondiagnostic = (diagnostic) => this.diagnose(diagnostic);
    transport.onclose = () => this.transportClosed(transport);
    transport.onlost = (id, error, delivered) => this.requestLost(transport, id, error, delivered);
    if (!options.started) await transport.start();
    if (this.transport !== transport) return; // closed while starting
    this.setState('connected');
    this.pump();
  }

  /** Sends queued requests again after `attach(…, { paused: true })`. */
  resume(): void {
    this.paused = false;
    this.pump();
  }

  pause(): void {
    this.paused = true;
  }

  /** Sends a request and resolves with its result. Rejects only with IpcError subclasses. */
  request<T = unknown>(method: string, params?: Pending['params'], options: RequestOptions<CancelSignal> = NO_OPTIONS): Promise<T> {
    return new Promise<T>((resolve) => this.enqueue(method, params, options, resolve as (v: unknown) => void));
  }

  /** A request whose result may arrive in ordered chunks, consumable as an async iterator. */
  requestStream<T = unknown>(method: string, params?: Pending['params'], options: RequestOptions<CancelSignal> = {}): StreamingRequest<T> {
    const stream = new ChunkStream();
    const result = this.request<T>(method, params, {
      ...options,
      onChunk: (chunk) => {
        options.onChunk?.(chunk);
        stream.push(chunk);
      },
    });
    result.then(
      () => stream.end(),
      (error: IpcError) => stream.fail(error),
    );
    return { result, chunks: stream };
  }

  /** Sends a notification (never queued). */
  async notify(method: string, params?: JsonRpcNotification['params']): Promise<void> {
    const transport = this.transport;
    if (!transport || this._state !== 'connected') throw new NotConnectedError(`Cannot send ${method}: not connected`);
    await transport.send(notification(method, params));
  }

  /** Answers the peer's requests for `method` (replaces any previous handler). Unknown methods get -32601. */
  setRequestHandler(method: string, handler: RequestHandler): void {
    this.inbound.setRequestHandler(method, handler);
  }

  removeRequestHandler(method: string): void {
    this.inbound.removeRequestHandler(method);
  }

  /** Subscribes to the peer's notifications (`'*'` for all); returns the unsubscribe function. */
  onNotification(method: string, handler: NotificationHandler): () => void {
    return this.inbound.onNotification(method, handler);
  }

  /**
   * Routes `notifications/progress` carrying `token` to `listener` until the returned disposer is
   * called: for progress that outlives its request (a task's progress token stays valid for the
   * task's lifetime). The token must not collide with request ids (use a string).
   */
  trackProgress(token: string | number, listener: (progress: Progress) => void): () => void {
    this.trackedProgress.set(token, listener);
    return () => {
      if (this.trackedProgress.get(token) === listener) this.trackedProgress.delete(token);
    };
  }

  /** In-flight and queued request counts (cheap). */
  get load(): { inFlight: number; queued: number } {
    return { inFlight: this.inFlight.size - this.longLived, queued: this.queue.size };
  }

  snapshot(): IpcMetricsSnapshot {
    return this.metrics.snapshot({ inFlight: this.inFlight.size - this.longLived, queueDepth: this.queue.size, queueDepthByPriority: this.queue.sizes() });
  }

  /**
   * Fails every in-flight request with `error` (as when the connection is lost) and, unless
   * `keepQueued`, every queued one with NotConnected. Used by owners that know the peer is gone.
   */
  failAll(error: IpcError, keepQueued = false): void {
    for (const p of this.inFlight.values()) this.lostInFlight(p, error);
    if (!keepQueued) this.failQueued(error);
  }

  /** Closes for good: everything pending fails with NotConnected, new requests too. */
  async close(reason = 'IpcManager closed'): Promise<void> {
    if (this._state === 'closed') return;
    const transport = this.transport;
    this.transport = undefined;
    this.setState('closed');
    const error = new NotConnectedError(reason);
    for (const p of this.unsettled()) this.settle(p, error);
    this.abortIncoming(reason);
    if (this.metricsTimer) clearTimeout(this.metricsTimer);
    if (transport) {
      transport.onclose = undefined;
      transport.onmessage = undefined;
      await transport.close().catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- sending

  private enqueue(method: string, params: Pending['params'], options: RequestOptions<CancelSignal>, resolve: (v: unknown) => void): void {
    const reject = (error: IpcError) => resolve(Promise.reject(error));
    if (this._state === 'closed') return reject(new NotConnectedError('IpcManager is closed'));
    if (!this.transport && !this.opts.holdQueueOnDisconnect) return reject(new NotConnectedError(`Cannot send ${method}: not connected`));
    if (options.signal?.aborted) return reject(new CancelledError('Request cancelled before it was sent', { reason: abortReason(options.signal), phase: 'queued' }));
    const cancel = options.signal === undefined ? options.cancel : undefined;
    if (cancel?.cancelled) return reject(new CancelledError('Request cancelled before it was sent', { reason: cancel.reason!, phase: 'queued' }));

    const bypass = options.bypassQueue === true || this.opts.bypassMethods.includes(method);
    // Nothing waiting and room on the wire: the request goes out at once, never touching the queue.
    let direct = bypass;
    if (bypass) {
      if (this._state !== 'connected') return reject(new NotConnectedError(`Cannot send ${method}: not connected`));
    } else if (this.queue.size === 0 && this.canDispatch()) {
      direct = true;
    } else if (this.queue.size >= this.opts.maxQueueSize) {
      return reject(new QueueFullError(this.opts.maxQueueSize));
    }

    const now = this.opts.now();
    const p = new Pending(method, params, options, Math.ceil(now), now, bypass, resolve);
    this.counters.requests++;
    // Set once: the earlier of the hard cap and the idle timeout of a request sent now. A request
    // that waits in the queue or makes progress is looked at again when this passes (see expire).
    this.deadlines.set(p, Math.min(this.hardDeadline(p), now + this.timeoutOf(p)));
    if (options.signal) {
      const signal = options.signal;
      const onAbort = () => this.cancel(p, abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.more(p).removeAbortListener = () => signal.removeEventListener('abort', onAbort);
    } else if (cancel) {
      this.more(p).removeAbortListener = cancel.onCancel((reason) => this.cancel(p, reason));
    }

    if (direct) this.send(p, now);
    else {
      this.queue.push(p, this.priorityOf(p));
      this.pump();
    }
    this.metricsChanged();
  }

  private timeoutOf(p: Pending): number {
    return p.options.timeoutMs ?? this.opts.timeoutMs;
  }

  private hardTimeoutOf(p: Pending): number {
    return p.options.hardTimeoutMs ?? this.opts.hardTimeoutMs ?? this.timeoutOf(p) * DEFAULTS.queue.hardTimeoutFactor;
  }

  private hardDeadline(p: Pending): number {
    return p.createdAt + this.hardTimeoutOf(p);
  }

  private priorityOf(p: Pending): Priority {
    return this.opts.priorityQueue ? (p.options.priority ?? 'normal') : 'normal';
  }

  private more(p: Pending): PendingMore {
    // Made after the first send, it starts with that attempt's queueing time (see queuedMsOf).
    return p.more ?? p.moreOf(p.phase === QUEUED ? 0 : Math.max(0, p.at - p.createdAt));
  }

  /** Time a sent request spent queued, over all its attempts. */
  private queuedMsOf(p: Pending): number {
    return p.more ? p.more.queuedMs : Math.max(0, p.at - p.createdAt);
  }

  private canDispatch(): boolean {
    return (
      this._state === 'connected' &&
      !this.paused &&
      this.active < this.opts.maxConcurrent &&
      this.pendingWrites < this.opts.maxPendingWrites
    );
  }

  private pump(): void {
    if (this.queue.size === 0) return;
    while (this.queue.size > 0 && this.canDispatch()) {
      this.send(this.queue.shift()!, this.opts.now());
    }
  }

  private send(p: Pending, now: number): void {
    const transport = this.transport!;
    const id = this.ids.issue();
    p.id = id;
    p.phase = IN_FLIGHT;
    // Before `p.at` moves on: until now it is when the request was queued (or last sent).
    if (p.options.onSend) notifySend(p.options.onSend, now - p.at);
    this.metrics.sent(now - p.at);
    const more = p.more;
    if (more !== undefined) {
      more.queuedMs += now - p.at;
      more.activeAt = 0;
      more.nextSeq = 0;
    }
    p.at = now;
    p.state &= ~WRITTEN;
    this.inFlight.set(id, p);
    if ((p.state & BYPASS) === 0) this.active++;
    const options = p.options;
    if (options.longLived) this.longLived++;
    if (options.onSent !== undefined) this.sentHook(options.onSent, id);
    // The idle timeout runs from now: only a request that waited (queued, or backing off before a
    // resend) can have its deadline beyond it. A direct send keeps the one set at enqueue.
    const idleAt = now + this.timeoutOf(p);
    if (this.deadlines.deadlineOf(p) > idleAt) this.deadlines.set(p, idleAt);

    let params = p.params;
    if (options.onProgress || options.onChunk) {
      const base = (params && !Array.isArray(params) ? params : {}) as Record<string, unknown>;
      const meta = { ...(base._meta as Record<string, unknown> | undefined) };
      if (options.onProgress) meta.progressToken = id;
      if (options.onChunk) meta.streamToken = id;
      params = { ...base, _meta: meta };
    }
    const message: JsonRpcRequest = params === undefined ? { jsonrpc: '2.0', id, method: p.method } : { jsonrpc: '2.0', id, method: p.method, params };

    let sent: Promise<void>;
    try {
      sent = transport.send(message);
    } catch (error) {
      sent = Promise.reject(error);
    }
    if (sent === SENT) {
      this.written(p, transport); // handed over, channel not full: nothing to wait for (see SENT)
      return;
    }
    this.pendingWrites++;
    sent.then(
      () => {
        this.pendingWrites--;
        if (p.id === id) this.written(p, transport);
        this.pump();
      },
      (error: unknown) => {
        this.pendingWrites--;
        // Not written: always safe to retry.
        if (p.id === id && p.phase === IN_FLIGHT) {
          this.detachInFlight(p);
          const cause = error instanceof IpcError ? error : new NotConnectedError(`Write failed: ${(error as Error)?.message ?? error}`);
          this.retryOrFail(p, cause, true);
        }
        this.pump();
      },
    );
  }

  /**
   * The transport took the request's message. A written request is resent only when the caller
   * marked it retryable, or when a transport that says it can (`reportsUndelivered`) reports it
   * undelivered after all; any other lets go of its params now — for a pending call they are
   * most of what it holds beyond its own record (the caller's arguments).
   */
  private written(p: Pending, transport: Transport): void {
    p.state |= WRITTEN;
    if (p.phase === IN_FLIGHT && p.options.retryable !== true && transport.reportsUndelivered !== true) {
      p.params = undefined;
      p.state |= DROPPED;
    }
  }

  /** A request's deadline passed: time it out (hard cap, or idle without progress) or look again later. */
  private expire(p: Pending, now: number): void {
    if (p.phase === DONE) return;
    const hardDeadline = this.hardDeadline(p);
    if (now + 1 >= hardDeadline) return this.timeout(p, 'hard', this.hardTimeoutOf(p));
    if (p.phase !== IN_FLIGHT) return this.deadlines.set(p, hardDeadline);
    const timeoutMs = this.timeoutOf(p);
    const idleAt = Math.max(p.at, p.more?.activeAt ?? 0) + timeoutMs; // progress and chunks move activeAt
    if (now + 1 >= idleAt) return this.timeout(p, 'idle', timeoutMs);
    this.deadlines.set(p, Math.min(hardDeadline, idleAt));
  }

  // ---------------------------------------------------------------- settling

  private timeout(p: Pending, kind: 'idle' | 'hard', timeoutMs: number): void {
    if (p.phase === DONE) return;
    const now = this.opts.now();
    const phase = p.phase === IN_FLIGHT ? 'in-flight' : 'queued';
    const inFlightMs = phase === 'in-flight' ? now - p.at : 0;
    const queuedMs = phase === 'in-flight' ? this.queuedMsOf(p) : now - p.createdAt;
    this.counters.timeouts++;
    if (phase === 'in-flight') this.sendCancel(p, `Timed out after ${Math.round(timeoutMs)} ms`);
    this.settle(
      p,
      new TimeoutError(`Request ${p.method} timed out (${kind === 'idle' ? 'no response or progress' : 'hard cap'} after ${Math.round(timeoutMs)} ms, ${phase})`, {
        method: p.method,
        kind,
        phase,
        timeoutMs,
        queuedMs: Math.round(queuedMs),
        inFlightMs: Math.round(inFlightMs),
      }),
      'late',
    );
  }

  private cancel(p: Pending, reason: string): void {
    if (p.phase === DONE) return;
    const phase = p.phase === IN_FLIGHT ? 'in-flight' : 'queued';
    this.counters.cancels++;
    if (phase === 'in-flight') this.sendCancel(p, reason);
    this.settle(p, new CancelledError(`Request ${p.method} cancelled: ${reason}`, { reason, phase }), 'late');
  }

  private sendCancel(p: Pending, reason: string): void {
    const transport = this.transport;
    if (!transport || this._state !== 'connected' || p.id === undefined) return;
    transport.send(notification(METHOD_CANCELLED, { requestId: p.id, reason })).catch(() => undefined);
  }

  /** Removes a request from whichever structure holds it, clears its timers and settles it. */
  private settle(p: Pending, outcome: IpcError, remember?: 'late'): void;
  private settle(p: Pending, outcome: undefined, remember: undefined, result: unknown, now: number): void;
  private settle(p: Pending, error: IpcError | undefined, remember?: 'late', result?: unknown, now?: number): void {
    if (p.phase === DONE) return;
    if (p.phase === QUEUED) this.queue.remove(p);
    else if (p.phase === IN_FLIGHT) this.detachInFlight(p);
    else this.retrying.delete(p);
    // Only abandoned ids need remembering (a late answer may still come); answered ones are told
    // apart by the id watermark.
    if (remember === 'late' && p.id !== undefined) this.ids.abandon(p.id);
    p.phase = DONE;
    this.deadlines.delete(p);
    const more = p.more;
    if (more !== undefined) {
      if (more.retryTimer !== undefined) clearTimeout(more.retryTimer);
      more.removeAbortListener?.();
    }
    if (error !== undefined) {
      this.metrics.failed(error.code === 'Cancelled');
      p.resolve(Promise.reject(error));
    } else {
      this.metrics.succeeded(now);
      p.resolve(result);
    }
    this.pump();
    this.metricsChanged();
  }

  private detachInFlight(p: Pending): void {
    if (p.id !== undefined) this.inFlight.delete(p.id);
    if ((p.state & BYPASS) === 0) this.active--;
    // Its deadline stays: expire() skips the idle timeout of a request that is not in flight.
    p.phase = RETRY_WAIT;
    if (p.options.longLived) this.longLived--;
    // Checked only when the last counted one leaves, and the listeners only then: no cost per request.
    else if (this.inFlight.size === this.longLived && !this.idleQueued && this.listenerCount('idle') > 0) this.queueIdle();
  }

  /** Runs an `onSent` callback; one that throws must not leave the request half sent. */
  private sentHook(onSent: (id: RequestId) => void, id: RequestId): void {
    try {
      onSent(id);
    } catch (error) {
      this.onListenerError(error, 'notification');
    }
  }

  /** Emits `idle` once the settling under way is done (listeners never run inside it), if still idle then. */
  private queueIdle(): void {
    this.idleQueued = true;
    queueMicrotask(() => {
      this.idleQueued = false;
      if (this.inFlight.size === this.longLived) this.emit('idle', undefined);
    });
  }

  /** Every unsettled request, whatever its phase (a copy: settling them changes the structures). */
  private unsettled(): Pending[] {
    return [...this.inFlight.values(), ...this.queue, ...this.retrying];
  }

  /** A retryable failure: back off and queue again at the front, or fail with `error`. */
  private retryOrFail(p: Pending, error: IpcError, retryable: boolean): void {
    const attempt = p.more?.attempt ?? 0;
    if (retryable && attempt < (p.options.maxRetries ?? this.opts.maxRetries) && this._state !== 'closed' && (this.transport || this.opts.holdQueueOnDisconnect)) {
      if (p.id !== undefined) this.ids.abandon(p.id);
      const delay = backoffDelay(attempt, { initialMs: this.opts.retryDelayMs, maxMs: this.opts.retryMaxDelayMs }, this.opts.random);
      const more = this.more(p);
      more.attempt++;
      p.phase = RETRY_WAIT;
      this.retrying.add(p);
      this.counters.retries++;
      more.retryTimer = unref(
        setTimeout(() => {
          more.retryTimer = undefined;
          if (p.phase !== RETRY_WAIT) return;
          this.retrying.delete(p);
          p.phase = QUEUED;
          p.at = this.opts.now();
          this.queue.pushFront(p, this.priorityOf(p));
          this.pump();
        }, delay),
      );
      return;
    }
    this.settle(p, error);
  }

  private lostInFlight(p: Pending, error: IpcError): void {
    const written = (p.state & WRITTEN) !== 0;
    this.detachInFlight(p);
    // A written request may have run: only resend it if the caller says that is safe. Never once
    // chunks were delivered: the caller has them, and a resend would deliver them again from seq 0.
    // Never without its params (a transport that reported a written request undelivered without
    // saying it might: see `written`).
    const retryable = (!written || p.options.retryable === true) && (p.more?.nextSeq ?? 0) === 0 && (p.state & DROPPED) === 0;
    const failure =
      error instanceof ServerCrashedError && written
        ? new ServerCrashedError(`${error.message}; outcome of ${p.method} unknown`, { ...error.data, outcomeUnknown: true })
        : error;
    this.retryOrFail(p, failure, retryable);
  }

  /** The transport lost one request but stays open (see Transport.onlost). */
  private requestLost(transport: Transport, id: RequestId, error: IpcError, delivered: boolean): void {
    if (transport !== this.transport) return;
    const p = this.inFlight.get(id);
    if (!p) return;
    if (!delivered) p.state &= ~WRITTEN;
    this.lostInFlight(p, error);
  }

  /** Fails every request that is not in flight (queued or waiting to retry): none of them was sent. */
  private failQueued(error: IpcError): void {
    const queuedError = error.code === 'NotConnected' ? error : new NotConnectedError(`Not sent: ${error.message}`);
    for (const p of [...this.queue, ...this.retrying]) this.settle(p, queuedError);
  }

  // ---------------------------------------------------------------- receiving

  private receive(transport: Transport, message: JsonRpcMessage): void {
    if (transport !== this.transport) return;
    if (isResponse(message)) this.receiveResponse(message);
    else if (isRequest(message)) void this.receiveRequest(transport, message);
    else this.receiveNotification(message);
  }

  private receiveResponse(message: JsonRpcResponse): void {
    const id = message.id;
    const p = id === null ? undefined : this.inFlight.get(id);
    if (!p) {
      const why = this.ids.classify(id);
      if (why === 'late') this.counters.lateResponses++;
      this.diagnose({ kind: 'unknown-id', id, reason: why, preview: previewValue(message) });
      return;
    }
    const now = this.opts.now();
    this.metrics.answered(now - p.at);
    if (isFailure(message)) {
      const { code, message: text, data } = message.error;
      this.settle(p, code === RpcCode.InvalidParams ? new InvalidParamsError(text, data) : new ServerError(text, code, data));
    } else {
      this.settle(p, undefined, undefined, message.result, now);
    }
  }

  private async receiveRequest(transport: Transport, message: JsonRpcRequest): Promise<void> {
    const reply = await this.inbound.answer(message);
    if (!reply || transport !== this.transport) return;
    transport.send(reply).catch((error: Error) => this.emit('error', new NotConnectedError(`Could not answer ${message.method}: ${error.message}`)));
  }

  private receiveNotification(message: JsonRpcNotification): void {
    this.counters.notificationsIn++;
    const params = (message.params ?? {}) as Record<string, unknown>;
    switch (message.method) {
      case METHOD_PROGRESS:
        this.routeProgress(params);
        break;
      case METHOD_STREAM_CHUNK:
        this.routeChunk(params);
        break;
      case METHOD_CANCELLED: {
        const id = params.requestId as RequestId;
        this.inbound.cancel(id, typeof params.reason === 'string' ? params.reason : 'cancelled by peer');
        break;
      }
    }
    this.emit('notification', message);
    this.inbound.dispatch(message);
  }

  private byToken(method: string, token: unknown): Pending | undefined {
    const p = typeof token === 'number' || typeof token === 'string' ? this.inFlight.get(token) : undefined;
    // A token is a string or a number (MCP); anything else is reported as a bounded preview, since the
    // diagnostic travels on into event logs and the gateway, which serialise it.
    if (!p) this.diagnose({ kind: 'unknown-token', method, token: typeof token === 'number' || typeof token === 'string' ? token : previewValue(token) });
    return p;
  }

  private routeProgress(params: Record<string, unknown>): void {
    const token = params.progressToken;
    const tracked = typeof token === 'string' || typeof token === 'number' ? this.trackedProgress.get(token) : undefined;
    // Progress racing a cancel or a timeout is expected (the peer had not seen it yet): not a diagnostic.
    if (!tracked && (typeof token === 'number' || typeof token === 'string') && !this.inFlight.has(token) && this.ids.issued(token)) return;
    const p = tracked ? undefined : this.byToken(METHOD_PROGRESS, token);
    const listener = tracked ?? p?.options.onProgress;
    if (!listener) return;
    if (p) this.more(p).activeAt = this.opts.now();
    const progress: Progress = { progress: Number(params.progress) };
    if (typeof params.total === 'number') progress.total = params.total;
    if (typeof params.message === 'string') progress.message = params.message;
    try {
      listener(progress);
    } catch (error) {
      this.onListenerError(error, 'notification');
    }
  }

  private routeChunk(params: Record<string, unknown>): void {
    const p = this.byToken(METHOD_STREAM_CHUNK, params.streamToken);
    if (!p?.options.onChunk) return;
    const more = this.more(p);
    more.activeAt = this.opts.now();
    if (params.seq !== more.nextSeq || typeof params.data !== 'string') {
      this.sendCancel(p, 'stream out of order');
      this.settle(p, new ProtocolError(`Stream chunk out of order for ${p.method}: expected seq ${more.nextSeq}, got ${previewValue(params.seq)}`), 'late');
      return;
    }
    more.nextSeq++;
    const chunk: StreamChunk = { seq: params.seq, data: params.data };
    if (params.encoding === 'base64') chunk.encoding = 'base64';
    try {
      p.options.onChunk(chunk);
    } catch (error) {
      this.onListenerError(error, 'notification');
    }
  }

  private diagnose(diagnostic: Diagnostic): void {
    this.counters.diagnostics++;
    // A message we could not use that belongs to a pending request fails that request only.
    if ((diagnostic.kind === 'oversized' || diagnostic.kind === 'invalid-message') && diagnostic.id !== undefined) {
      const p = this.inFlight.get(diagnostic.id);
      if (p) {
        this.settle(
          p,
          diagnostic.kind === 'oversized'
            ? new MessageTooLargeError(diagnostic.bytes, diagnostic.limit)
            : new ProtocolError(`Invalid response to ${p.method}: ${diagnostic.reason}`, { preview: diagnostic.preview }),
        );
      }
    }
    this.emit('diagnostic', diagnostic);
  }

  // ---------------------------------------------------------------- connection state

  private transportClosed(transport: Transport): void {
    if (transport !== this.transport) return;
    const error = transport.closeError ?? new NotConnectedError('Connection closed');
    this.transport = undefined;
    this.setState('disconnected');
    this.abortIncoming('connection closed');
    for (const p of this.inFlight.values()) this.lostInFlight(p, error);
    if (!this.opts.holdQueueOnDisconnect) this.failQueued(error);
  }

  private abortIncoming(reason: string): void {
    this.inbound.abortAll(reason);
  }

  private setState(state: ConnectionState): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state);
  }

  private metricsChanged(): void {
    if (this.metricsTimer || this.listenerCount('metrics') === 0 || this._state === 'closed') return;
    this.metricsTimer = unref(
      setTimeout(() => {
        this.metricsTimer = undefined;
        this.emit('metrics', this.snapshot());
      }, this.opts.metricsIntervalMs),
    );
  }
}

function abortReason(signal: CancelSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string') return r;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  return 'aborted';
}

/** A caller's `onSend` must not break the send path. */
function notifySend(onSend: (queuedMs: number) => void, queuedMs: number): void {
  try {
    onSend(queuedMs);
  } catch {
    // the caller's problem; the request goes out regardless
  }
}
