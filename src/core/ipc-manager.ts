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
import { Deadlines } from './deadlines.js';
import { DEFAULTS } from './defaults.js';
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
import { type HistogramSnapshot, LatencyHistogram, RollingRate } from './metrics.js';
import { type Priority, PriorityQueue } from './queue.js';
import { SENT, type Transport } from './transport.js';

export const METHOD_PROGRESS = 'notifications/progress';
export const METHOD_CANCELLED = 'notifications/cancelled';
/** mcp-ipc extension: a piece of a large result, sent before the response (see DESIGN "Streaming"). */
export const METHOD_STREAM_CHUNK = 'notifications/stream/chunk';

export interface IpcManagerOptions {
  /** Requests in flight at once (default 10). */
  maxConcurrent?: number;
  /** Requests waiting beyond those; a full queue rejects at once with QueueFull (default 100). */
  maxQueueSize?: number;
  /** Idle timeout per request, reset by progress and stream chunks (default 30 000 ms). */
  timeoutMs?: number;
  /** Hard cap from enqueue to settle, always armed (default 10 × the request's timeout). */
  hardTimeoutMs?: number;
  /** Retries for retryable failures (default 3), first delay (1 000 ms, exponential + jitter). */
  maxRetries?: number;
  retryDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Priority ordering on (default); off means plain FIFO. */
  priorityQueue?: boolean;
  /** Methods that skip the queue and the concurrency limit (default ['ping']). */
  bypassMethods?: readonly string[];
  /** Unresolved transport writes at which dispatching pauses until drain (default 16). */
  maxPendingWrites?: number;
  /**
   * Keep queued requests when the transport closes, to send them on the next `attach` (default
   * false: they fail with NotConnected). The owner must then `attach` again or `close()`.
   */
  holdQueueOnDisconnect?: boolean;
  /** Minimum interval between `metrics` change events (default 1 000 ms). */
  metricsIntervalMs?: number;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
  /** Randomness for retry jitter (injectable for tests). */
  random?: () => number;
}

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

export interface StreamChunk {
  seq: number;
  data: string;
  encoding?: 'utf8' | 'base64';
}

export interface RequestOptions {
  priority?: Priority;
  /** Idle timeout for this request (ms). */
  timeoutMs?: number;
  /** Hard cap for this request (ms). */
  hardTimeoutMs?: number;
  signal?: AbortSignal;
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

export type { RequestContext, RequestHandler, NotificationHandler } from './inbound.js';

export interface IpcMetricsSnapshot {
  requests: number;
  responses: number;
  errors: number;
  timeouts: number;
  cancels: number;
  retries: number;
  lateResponses: number;
  diagnostics: number;
  notificationsIn: number;
  inFlight: number;
  queueDepth: number;
  queueDepthByPriority: Record<Priority, number>;
  /** Send → settle time of answered requests (ms). */
  latency: HistogramSnapshot;
  /** Enqueue → send time (ms). */
  queueWait: HistogramSnapshot;
  /** Responses per second over the rolling window. */
  throughput: number;
  /** Failed / settled, over the rolling window (0..1). */
  errorRate: number;
}

export interface IpcManagerEvents extends Record<string, unknown> {
  diagnostic: Diagnostic;
  metrics: IpcMetricsSnapshot;
  state: ConnectionState;
  /** Transport-level errors (the connection may still be usable). */
  error: IpcError;
  /** Every incoming notification. */
  notification: JsonRpcNotification;
}

type Phase = 'queued' | 'in-flight' | 'retry-wait' | 'done';

interface Pending {
  method: string;
  params: Record<string, unknown> | unknown[] | undefined;
  options: RequestOptions;
  priority: Priority;
  phase: Phase;
  id: RequestId | undefined;
  attempt: number;
  maxRetries: number;
  timeoutMs: number;
  bypass: boolean;
  createdAt: number;
  enqueuedAt: number;
  sentAt: number;
  queuedMs: number;
  lastActivity: number;
  written: boolean;
  nextSeq: number;
  /** The hard cap (ms) and when it fires; the idle deadline is derived from lastActivity. */
  hardMs: number;
  hardDeadline: number;
  /** Next time to look at this request (min of the hard and idle deadlines); see Deadlines. */
  deadline: number;
  heapIndex: number;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  resolve: (value: unknown) => void;
  reject: (error: IpcError) => void;
  removeAbortListener: (() => void) | undefined;
}

const RECENT_IDS = 4096;
const unref = (t: ReturnType<typeof setTimeout>) => {
  (t as { unref?: () => void }).unref?.();
  return t;
};

export class IpcManager extends Emitter<IpcManagerEvents> {
  private readonly opts: Required<Omit<IpcManagerOptions, 'hardTimeoutMs'>> & { hardTimeoutMs?: number };
  private transport: Transport | undefined;
  private _state: ConnectionState = 'idle';
  private paused = false;
  private nextId = 1;
  private active = 0;
  private pendingWrites = 0;
  /** In-flight requests marked `longLived` (left out of the load and the metrics). */
  private longLived = 0;
  private readonly queue = new PriorityQueue<Pending>();
  private readonly inFlight = new Map<RequestId, Pending>();
  /** Every unsettled request, whatever its phase (queued, in flight, waiting to retry). */
  private readonly unsettled = new Set<Pending>();
  /** Ids recently settled or abandoned, to tell late and duplicate responses from bogus ones. */
  private readonly recent = new Map<RequestId, 'late' | 'duplicate'>();
  private readonly recentRing: Array<RequestId | undefined> = new Array<RequestId | undefined>(RECENT_IDS);
  private recentPos = 0;
  /** Handlers for the peer's requests and notifications (see Inbound). */
  readonly inbound = new Inbound((error) => this.onListenerError(error, 'notification'));
  private readonly trackedProgress = new Map<string | number, (progress: Progress) => void>();

  // metrics
  private readonly counters = {
    requests: 0,
    responses: 0,
    errors: 0,
    timeouts: 0,
    cancels: 0,
    retries: 0,
    lateResponses: 0,
    diagnostics: 0,
    notificationsIn: 0,
  };
  private readonly deadlines: Deadlines<Pending>;
  private readonly latency = new LatencyHistogram();
  private readonly queueWait = new LatencyHistogram();
  private readonly settledRate: RollingRate;
  private readonly failedRate: RollingRate;
  private metricsTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(transport?: Transport, options: IpcManagerOptions = {}) {
    super();
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
    this.settledRate = new RollingRate({ now: this.opts.now });
    this.failedRate = new RollingRate({ now: this.opts.now });
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
  request<T = unknown>(method: string, params?: Pending['params'], options: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => this.enqueue(method, params, options, resolve as (v: unknown) => void, reject));
  }

  /** A request whose result may arrive in ordered chunks, consumable as an async iterator. */
  requestStream<T = unknown>(method: string, params?: Pending['params'], options: RequestOptions = {}): StreamingRequest<T> {
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
    const settled = this.settledRate.rate();
    return {
      ...this.counters,
      inFlight: this.inFlight.size - this.longLived,
      queueDepth: this.queue.size,
      queueDepthByPriority: this.queue.sizes(),
      latency: this.latency.snapshot(),
      queueWait: this.queueWait.snapshot(),
      throughput: settled,
      errorRate: settled > 0 ? Math.min(1, this.failedRate.rate() / settled) : 0,
    };
  }

  /**
   * Fails every in-flight request with `error` (as when the connection is lost) and, unless
   * `keepQueued`, every queued one with NotConnected. Used by owners that know the peer is gone.
   */
  failAll(error: IpcError, keepQueued = false): void {
    for (const p of [...this.inFlight.values()]) this.lostInFlight(p, error);
    if (!keepQueued) this.failQueued(error);
  }

  /** Closes for good: everything pending fails with NotConnected, new requests too. */
  async close(reason = 'IpcManager closed'): Promise<void> {
    if (this._state === 'closed') return;
    const transport = this.transport;
    this.transport = undefined;
    this.setState('closed');
    const error = new NotConnectedError(reason);
    for (const p of [...this.unsettled]) this.settle(p, error);
    this.abortIncoming(reason);
    if (this.metricsTimer) clearTimeout(this.metricsTimer);
    if (transport) {
      transport.onclose = undefined;
      transport.onmessage = undefined;
      await transport.close().catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- sending

  private enqueue(
    method: string,
    params: Pending['params'],
    options: RequestOptions,
    resolve: (v: unknown) => void,
    reject: (e: IpcError) => void,
  ): void {
    if (this._state === 'closed') return reject(new NotConnectedError('IpcManager is closed'));
    if (!this.transport && !this.opts.holdQueueOnDisconnect) return reject(new NotConnectedError(`Cannot send ${method}: not connected`));
    if (options.signal?.aborted) return reject(new CancelledError('Request cancelled before it was sent', { reason: abortReason(options.signal), phase: 'queued' }));

    const now = this.opts.now();
    const timeoutMs = options.timeoutMs ?? this.opts.timeoutMs;
    const p: Pending = {
      method,
      params,
      options,
      priority: this.opts.priorityQueue ? (options.priority ?? 'normal') : 'normal',
      phase: 'queued',
      id: undefined,
      attempt: 0,
      maxRetries: options.maxRetries ?? this.opts.maxRetries,
      timeoutMs,
      bypass: options.bypassQueue === true || this.opts.bypassMethods.includes(method),
      createdAt: now,
      enqueuedAt: now,
      sentAt: 0,
      queuedMs: 0,
      lastActivity: now,
      written: false,
      nextSeq: 0,
      hardMs: 0,
      hardDeadline: 0,
      deadline: 0,
      heapIndex: -1,
      retryTimer: undefined,
      resolve,
      reject,
      removeAbortListener: undefined,
    };

    if (p.bypass) {
      if (this._state !== 'connected') return reject(new NotConnectedError(`Cannot send ${method}: not connected`));
    } else if (!this.canDispatch() || this.queue.size > 0) {
      if (this.queue.size >= this.opts.maxQueueSize) return reject(new QueueFullError(this.opts.maxQueueSize));
    }

    this.counters.requests++;
    this.unsettled.add(p);
    const hardMs = options.hardTimeoutMs ?? this.opts.hardTimeoutMs ?? timeoutMs * DEFAULTS.queue.hardTimeoutFactor;
    p.hardMs = hardMs;
    p.hardDeadline = now + hardMs;
    this.deadlines.set(p, p.hardDeadline);
    if (options.signal) {
      const signal = options.signal;
      const onAbort = () => this.cancel(p, abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      p.removeAbortListener = () => signal.removeEventListener('abort', onAbort);
    }

    if (p.bypass) this.send(p);
    else {
      this.queue.push(p, p.priority);
      this.pump();
    }
    this.metricsChanged();
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
    while (this.queue.size > 0 && this.canDispatch()) {
      this.send(this.queue.shift()!);
    }
  }

  private send(p: Pending): void {
    const transport = this.transport!;
    const now = this.opts.now();
    const id = this.nextId++;
    p.id = id;
    p.phase = 'in-flight';
    p.sentAt = now;
    p.lastActivity = now;
    p.written = false;
    p.nextSeq = 0;
    const waited = now - p.enqueuedAt;
    p.queuedMs += waited;
    this.queueWait.record(waited);
    if (p.options.onSend) notifySend(p.options.onSend, waited);
    this.inFlight.set(id, p);
    if (!p.bypass) this.active++;
    if (p.options.longLived) this.longLived++;
    this.deadlines.set(p, Math.min(p.hardDeadline, now + p.timeoutMs));

    let params = p.params;
    if (p.options.onProgress || p.options.onChunk) {
      const base = (params && !Array.isArray(params) ? params : {}) as Record<string, unknown>;
      const meta = { ...(base._meta as Record<string, unknown> | undefined) };
      if (p.options.onProgress) meta.progressToken = id;
      if (p.options.onChunk) meta.streamToken = id;
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
      p.written = true; // handed over, channel not full: nothing to wait for (see SENT)
      return;
    }
    this.pendingWrites++;
    sent.then(
      () => {
        this.pendingWrites--;
        if (p.id === id) p.written = true;
        this.pump();
      },
      (error: unknown) => {
        this.pendingWrites--;
        // Not written: always safe to retry.
        if (p.id === id && p.phase === 'in-flight') {
          this.detachInFlight(p);
          const cause = error instanceof IpcError ? error : new NotConnectedError(`Write failed: ${(error as Error)?.message ?? error}`);
          this.retryOrFail(p, cause, true);
        }
        this.pump();
      },
    );
  }

  /** A request's deadline passed: time it out (hard cap, or idle without progress) or look again later. */
  private expire(p: Pending, now: number): void {
    if (p.phase === 'done') return;
    if (now + 1 >= p.hardDeadline) return this.timeout(p, 'hard', p.hardMs);
    if (p.phase !== 'in-flight') return this.deadlines.set(p, p.hardDeadline);
    const idleAt = p.lastActivity + p.timeoutMs; // progress and chunks move lastActivity
    if (now + 1 >= idleAt) return this.timeout(p, 'idle', p.timeoutMs);
    this.deadlines.set(p, Math.min(p.hardDeadline, idleAt));
  }

  // ---------------------------------------------------------------- settling

  private timeout(p: Pending, kind: 'idle' | 'hard', timeoutMs: number): void {
    if (p.phase === 'done') return;
    const now = this.opts.now();
    const phase = p.phase === 'in-flight' ? 'in-flight' : 'queued';
    const inFlightMs = phase === 'in-flight' ? now - p.sentAt : 0;
    const queuedMs = phase === 'in-flight' ? p.queuedMs : now - p.createdAt;
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
    if (p.phase === 'done') return;
    const phase = p.phase === 'in-flight' ? 'in-flight' : 'queued';
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
  private settle(p: Pending, outcome: IpcError | { result: unknown }, remember: 'late' | 'duplicate' = 'duplicate'): void {
    if (p.phase === 'done') return;
    if (p.phase === 'queued') this.queue.remove(p);
    if (p.phase === 'in-flight') this.detachInFlight(p);
    if (p.id !== undefined) this.remember(p.id, remember);
    p.phase = 'done';
    this.unsettled.delete(p);
    this.deadlines.delete(p);
    clearTimeout(p.retryTimer);
    p.removeAbortListener?.();
    if (outcome instanceof IpcError) {
      // A cancel is the caller's choice, counted in `cancels`: neither an error nor a settled call
      // (it would make the error rate say the server is failing when the user only changed their mind).
      if (outcome.code !== 'Cancelled') {
        this.counters.errors++;
        this.failedRate.mark();
        this.settledRate.mark();
      }
      p.reject(outcome);
    } else {
      this.settledRate.mark();
      p.resolve(outcome.result);
    }
    this.pump();
    this.metricsChanged();
  }

  private detachInFlight(p: Pending): void {
    if (p.id !== undefined) this.inFlight.delete(p.id);
    if (!p.bypass) this.active--;
    if (p.options.longLived) this.longLived--;
    if (p.heapIndex >= 0) this.deadlines.set(p, p.hardDeadline); // no idle timeout while not in flight
    p.phase = 'retry-wait';
  }

  /** Recently settled ids (a ring, so forgetting the oldest is O(1)): tells late responses from unknown ones. */
  private remember(id: RequestId, why: 'late' | 'duplicate'): void {
    const evicted = this.recentRing[this.recentPos];
    if (evicted !== undefined) this.recent.delete(evicted);
    this.recentRing[this.recentPos] = id;
    this.recentPos = (this.recentPos + 1) % RECENT_IDS;
    this.recent.set(id, why);
  }

  /** A retryable failure: back off and queue again at the front, or fail with `error`. */
  private retryOrFail(p: Pending, error: IpcError, retryable: boolean): void {
    if (retryable && p.attempt < p.maxRetries && this._state !== 'closed' && (this.transport || this.opts.holdQueueOnDisconnect)) {
      if (p.id !== undefined) this.remember(p.id, 'late');
      const delay = backoffDelay(p.attempt, { initialMs: this.opts.retryDelayMs, maxMs: this.opts.retryMaxDelayMs }, this.opts.random);
      p.attempt++;
      p.phase = 'retry-wait';
      this.counters.retries++;
      p.retryTimer = unref(
        setTimeout(() => {
          p.retryTimer = undefined;
          if (p.phase !== 'retry-wait') return;
          p.phase = 'queued';
          p.enqueuedAt = this.opts.now();
          this.queue.pushFront(p, p.priority);
          this.pump();
        }, delay),
      );
      return;
    }
    this.settle(p, error);
  }

  private lostInFlight(p: Pending, error: IpcError): void {
    const written = p.written;
    this.detachInFlight(p);
    // A written request may have run: only resend it if the caller says that is safe. Never once
    // chunks were delivered: the caller has them, and a resend would deliver them again from seq 0.
    const retryable = (!written || p.options.retryable === true) && p.nextSeq === 0;
    const failure =
      error instanceof ServerCrashedError && written
        ? new ServerCrashedError(`${error.message}; outcome of ${p.method} unknown`, { ...error.data, outcomeUnknown: true })
        : error;
    this.retryOrFail(p, failure, retryable);
  }

  /** Fails every request that is not in flight (queued or waiting to retry): none of them was sent. */
  private failQueued(error: IpcError): void {
    const queuedError = error.code === 'NotConnected' ? error : new NotConnectedError(`Not sent: ${error.message}`);
    for (const p of [...this.unsettled]) if (p.phase !== 'in-flight') this.settle(p, queuedError);
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
      const why = id === null ? undefined : this.recent.get(id);
      if (why === 'late') this.counters.lateResponses++;
      this.diagnose({ kind: 'unknown-id', id, reason: why ?? 'unknown', preview: previewValue(message) });
      return;
    }
    this.counters.responses++;
    this.latency.record(this.opts.now() - p.sentAt);
    if (isFailure(message)) {
      const { code, message: text, data } = message.error;
      this.settle(p, code === RpcCode.InvalidParams ? new InvalidParamsError(text, data) : new ServerError(text, code, data));
    } else {
      this.settle(p, { result: message.result });
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
    if (!tracked && (typeof token === 'number' || typeof token === 'string') && !this.inFlight.has(token) && this.recent.has(token)) return;
    const p = tracked ? undefined : this.byToken(METHOD_PROGRESS, token);
    const listener = tracked ?? p?.options.onProgress;
    if (!listener) return;
    if (p) p.lastActivity = this.opts.now();
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
    p.lastActivity = this.opts.now();
    if (params.seq !== p.nextSeq || typeof params.data !== 'string') {
      this.sendCancel(p, 'stream out of order');
      this.settle(p, new ProtocolError(`Stream chunk out of order for ${p.method}: expected seq ${p.nextSeq}, got ${previewValue(params.seq)}`), 'late');
      return;
    }
    p.nextSeq++;
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
    for (const p of [...this.inFlight.values()]) this.lostInFlight(p, error);
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

function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string') return r;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  return 'aborted';
}

/** Buffers chunks for one async-iterator consumer. */
class ChunkStream implements AsyncIterable<StreamChunk> {
  private readonly buffered: StreamChunk[] = [];
  private waiter: { resolve: (r: IteratorResult<StreamChunk>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private error: IpcError | undefined;

  push(chunk: StreamChunk): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: chunk, done: false });
    } else this.buffered.push(chunk);
  }

  end(): void {
    this.done = true;
    this.flushWaiter();
  }

  fail(error: IpcError): void {
    this.error = error;
    this.done = true;
    this.flushWaiter();
  }

  private flushWaiter(): void {
    if (!this.waiter || this.buffered.length > 0) return;
    const w = this.waiter;
    this.waiter = undefined;
    if (this.error) w.reject(this.error);
    else w.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamChunk> {
    return {
      next: () => {
        const chunk = this.buffered.shift();
        if (chunk) return Promise.resolve({ value: chunk, done: false });
        if (this.done) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: () => {
        this.buffered.length = 0;
        this.done = true;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** A caller's `onSend` must not break the send path. */
function notifySend(onSend: (queuedMs: number) => void, queuedMs: number): void {
  try {
    onSend(queuedMs);
  } catch {
    // the caller's problem; the request goes out regardless
  }
}
