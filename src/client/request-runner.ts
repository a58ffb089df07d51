/**
 * Requests as the client runs them: each gets a key (for `cancel(key)` and the `requests` store),
 * waits for the connection while one is coming, and is resent after a reconnect when it had not
 * reached the socket (or is `retryable`); one that had gets NotConnected with `outcomeUnknown`.
 * Correlation, timeouts and cancellation are IpcManager's; streamed results are reassembled here.
 */
import { CancelledError, InvalidParamsError, IpcError, IpcErrorCode, ipcErrorFromJSON, toIpcError } from '../core/errors.js';
import { type CallToolResult, type ForwardOptions, STREAMED_META_KEY } from '../core/gateway-protocol.js';
import { Cancellation } from '../core/cancellation.js';
import type { CancelSignal, IpcManager, Progress, RequestOptions as ManagerOptions, StreamChunk } from '../core/ipc-manager.js';
import { type JsonRpcMessage, isRequest } from '../core/jsonrpc.js';
import type { Priority } from '../core/queue.js';
import { type Result, err, ok } from '../core/result.js';
import { endMcpSpan, injectTraceContext, startMcpSpan, tracingActive } from '../core/tracing.js';
import type { Span } from '@opentelemetry/api';
import type { ClientState } from './connection.js';
import type { TaskScheduler } from './after-task.js';
import { type LogEntry, type RequestInfo, RequestLog } from './request-log.js';
import type { Readable } from './store.js';

/** Options of one request (any method). */
export interface RequestOptions {
  /** Request key (generated when absent): names it for `cancel(key)` and in `requests`. */
  key?: string;
  /** @default the client's `timeoutMs` */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Progress notifications of the request (MCP `_meta.progressToken`). */
  onProgress?: (progress: Progress) => void;
  priority?: Priority;
  /** Safe to resend: sent again after a reconnect if the connection dropped while it ran. */
  retryable?: boolean;
  /** Extra `_meta` for the server. */
  _meta?: Record<string, unknown>;
}

export interface CallOptions extends RequestOptions {
  /**
   * Ask for the result as `notifications/stream/chunk`. Without `onChunk`, the chunks are put back
   * into the result's content, every block in its place and of its type.
   */
  stream?: boolean;
  onChunk?: (chunk: { seq: number; data: string }) => void;
  /** Run as a task when the tool allows it (`taskSupport: 'optional'`); required ones always do. */
  task?: boolean;
}

/** Params of a request, tagged (invisibly to JSON) with the request it belongs to. */
const TRACKER = Symbol('mcp-ipc.request');

/**
 * One request across its attempts. It is also the request's cancel handle, passed as its signal (a
 * CancelSignal for IpcManager and the offline wait): a flag and the listener or two of the moment,
 * where an AbortController would be an EventTarget per call.
 */
class Tracker extends Cancellation implements LogEntry {
  /** Given by the RequestLog. */
  id: number | undefined = undefined;
  /** The current attempt reached the socket (its outcome is unknown if the connection drops). */
  sent = false;
  /** How it settled (first come: a cancel, or the last attempt). */
  result: Result<unknown> | undefined = undefined;
  /** The request's span while tracing is on (ended by `finish`); its context goes in `_meta`. */
  span: Span | undefined = undefined;
  /** Removes the listener on the caller's `signal`, when there is one. */
  unlisten: (() => void) | undefined = undefined;

  constructor(
    readonly key: string,
    readonly server: string,
    readonly method: string,
    readonly label: string,
    readonly params: Record<string, unknown>,
    readonly options: CallOptions,
    /** What the `requests` store shows of it (replaced on every change). */
    public info: RequestInfo,
  ) {
    super();
  }
}

/** The local timer runs a little longer than the gateway's so that its (richer) Timeout wins the race. */
const localTimeout = (timeoutMs: number) => timeoutMs + Math.min(1_000, Math.ceil(timeoutMs / 10));
const MAX_ATTEMPTS = 5;
/** The form of the keys `newKey` makes. */
const GENERATED_KEY = /^c[0-9a-z]+-[0-9a-z]+$/;
const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(IpcErrorCode));

/** Restores the typed error a gateway put in `error.data` (an IpcErrorJSON). */
export function errorFromWire(value: unknown): IpcError {
  const error = toIpcError(value);
  if (error.code === 'ServerError' || error.code === 'InvalidParams') {
    const data = error.data as { code?: unknown; message?: unknown } | null | undefined;
    if (typeof data === 'object' && data !== null && typeof data.code === 'string' && ERROR_CODES.has(data.code) && typeof data.message === 'string') {
      return ipcErrorFromJSON(data);
    }
  }
  return error;
}

export interface RunnerDeps {
  manager: IpcManager;
  /** Finished requests kept in the `requests` store. */
  maxFinishedRequests: number;
  /** When `requests` subscribers hear of changes. @default afterTask */
  schedule?: TaskScheduler;
  /** The connection: its state, waiting for it, and whether the user closed it. */
  connection: { readonly current: ClientState; readonly closedByUser: boolean; waitOpen(signal?: CancelSignal): Promise<Result<void>> };
  timeoutMs: number;
  random: () => number;
}

export class RequestRunner {
  /** The `requests` store. */
  readonly requests: Readable<RequestInfo[]> & { get(): RequestInfo[] };
  /** Every running request (the log keeps them without a Map that churns: see RequestLog.running). */
  private readonly log: RequestLog<Tracker>;
  /** Running requests whose key the caller chose (generated keys are unique by construction). */
  private readonly chosenKeys = new Map<string, Tracker>();
  private keyCounter = 0;

  constructor(private readonly deps: RunnerDeps) {
    this.log = new RequestLog<Tracker>(deps.maxFinishedRequests, deps.schedule);
    this.requests = this.log.store;
  }

  /** The running request with this key (only a key of the generated form takes a scan). */
  private running(key: string): Tracker | undefined {
    return this.chosenKeys.get(key) ?? (GENERATED_KEY.test(key) ? this.log.find(key) : undefined);
  }

  /**
   * Cancels a request by key: IpcManager sends `notifications/cancelled` for it and the request
   * settles at once with Cancelled. False when no such request is running.
   */
  cancel(key: string, reason: string): boolean {
    const t = this.running(key);
    if (!t || t.result) return false;
    this.cancelTracker(t, reason);
    return true;
  }

  /** Marks the request a message belongs to as sent (its outcome is unknown if the link drops now). */
  sending(message: JsonRpcMessage): void {
    const tracker = trackerOf(message);
    if (tracker) tracker.sent = true;
  }

  /** The message could not be written after all: its request was not sent. */
  unsent(message: JsonRpcMessage): void {
    const tracker = trackerOf(message);
    if (tracker) tracker.sent = false;
  }

  track<T>(server: string, method: string, label: string, params: Record<string, unknown>, options: CallOptions): Promise<Result<T>> {
    const chosen = options.key;
    if (chosen !== undefined && this.running(chosen)) return Promise.resolve(err(new InvalidParamsError(`A request with key "${chosen}" is already running`)));
    const key = chosen ?? this.newKey();
    const signal = options.signal;
    if (signal?.aborted) return Promise.resolve(err(new CancelledError('Request cancelled before it was sent', { phase: 'queued' })));
    const status = this.deps.connection.current === 'open' ? 'running' : 'waiting';
    const info: RequestInfo = { key, server, method, tool: label, startedAt: Date.now(), status };
    const t = new Tracker(key, server, method, label, params, options, info);
    // One span per request (across reconnect attempts), a child of the caller's active span.
    if (tracingActive()) t.span = startMcpSpan({ method, params, server });
    this.log.add(t);
    if (chosen !== undefined) this.chosenKeys.set(key, t);
    if (signal) {
      const onAbort = () => this.cancelTracker(t, 'aborted by the caller');
      signal.addEventListener('abort', onAbort, { once: true });
      t.unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    return this.run(t) as Promise<Result<T>>;
  }

  /** Settles the request once (a cancel may come first); returns how it settled. */
  private finish(t: Tracker, result: Result<unknown>): Result<unknown> {
    if (t.result) return t.result;
    t.result = result;
    if (t.span) endMcpSpan(t.span, result.ok ? { result: result.data } : { error: result.error });
    if (this.chosenKeys.get(t.key) === t) this.chosenKeys.delete(t.key);
    t.unlisten?.();
    this.log.finish(t, result);
    return result;
  }

  /**
   * Every attempt of a request, until it settles; resolves with how it settled, never rejects. A
   * cancel settles it at once (`finish`) and aborts its signal: the attempt under way then ends
   * promptly (IpcManager and the offline wait both listen), and this returns that same result.
   */
  private async run(t: Tracker): Promise<Result<unknown>> {
    const { options, method } = t;
    const timeoutMs = options.timeoutMs ?? this.deps.timeoutMs;
    const wantsStream = method === 'tools/call' && (options.stream === true || options.onChunk !== undefined);
    const { log } = this;
    const { connection } = this.deps;
    for (let attempt = 1; ; attempt++) {
      try {
        if (connection.current !== 'open') {
          log.setStatus(t, 'waiting');
          const ready = await connection.waitOpen(t);
          if (t.result) return t.result;
          if (!ready.ok) return this.finish(t, ready);
        }
        log.setStatus(t, 'running');
        const chunks: string[] | undefined = wantsStream && !options.onChunk ? [] : undefined;
        const result = await this.deps.manager.request<unknown>(method, this.wireParams(t, timeoutMs), this.managerOptions(t, timeoutMs, wantsStream, chunks));
        return this.finish(t, ok(chunks ? reassemble(result as CallToolResult, chunks) : result));
      } catch (e) {
        if (t.result) return t.result;
        const error = errorFromWire(e);
        if (error.code !== 'NotConnected') return this.finish(t, err(error));
        const mayResend = !t.sent || options.retryable === true;
        const state = connection.current;
        const reconnecting = !connection.closedByUser && (state === 'reconnecting' || state === 'connecting' || state === 'open');
        if (mayResend && reconnecting && attempt < MAX_ATTEMPTS) continue;
        return this.finish(t, err(t.sent ? outcomeUnknown(error, t.label) : error));
      }
    }
  }

  /** The request's params as the gateway takes them: the MCP params plus the server and ForwardOptions. */
  private wireParams(t: Tracker, timeoutMs: number): Record<string, unknown> {
    const options = t.options;
    // Not `{ ...t.params, server, timeoutMs }`: on Node 20's V8, properties added to a spread copy in
    // optimised code make a new hidden class on every call (slow, and garbage).
    const params: Record<string, unknown> & ForwardOptions & { [TRACKER]?: Tracker } = Object.assign({}, t.params);
    params.server = t.server;
    params.timeoutMs = timeoutMs;
    if (options.priority) params.priority = options.priority;
    if (options.retryable) params.retryable = true;
    // The gateway continues the trace from `_meta.traceparent` (MCP's place for W3C trace context).
    const meta = t.span ? injectTraceContext(options._meta, t.span) : options._meta;
    if (meta) params._meta = { ...meta };
    params[TRACKER] = t;
    t.sent = false;
    return params;
  }

  private managerOptions(t: Tracker, timeoutMs: number, wantsStream: boolean, chunks: string[] | undefined): ManagerRequestOptions {
    const options = t.options;
    const forward: ManagerRequestOptions = { timeoutMs: localTimeout(timeoutMs), signal: t };
    if (options.priority) forward.priority = options.priority;
    const { onProgress, onChunk } = options;
    if (onProgress) {
      forward.onProgress = (progress: Progress) => {
        if (t.result) return;
        this.log.patch(t, { progress });
        onProgress(progress);
      };
    }
    if (wantsStream) {
      let chunkCount = 0;
      forward.onChunk = (chunk: StreamChunk) => {
        if (t.result) return;
        chunkCount++;
        this.log.patch(t, { chunks: chunkCount });
        if (onChunk) onChunk({ seq: chunk.seq, data: chunk.data });
        else chunks!.push(chunk.data);
      };
    }
    return forward;
  }

  private newKey(): string {
    for (;;) {
      this.keyCounter++;
      const key = `c${this.keyCounter.toString(36)}-${Math.floor(this.deps.random() * 0x7fffffff).toString(36)}`;
      // A caller may have chosen a key of this form: never two running requests under one key.
      if (this.chosenKeys.size === 0 || !this.chosenKeys.has(key)) return key;
    }
  }

  private cancelTracker(t: Tracker, reason: string): void {
    if (t.result) return;
    this.finish(t, err(new CancelledError(`${t.label} cancelled: ${reason}`, { reason, phase: t.sent ? 'in-flight' : 'queued' })));
    // IpcManager then sends `notifications/cancelled` for it, which the gateway acts on.
    t.cancel(reason);
  }
}

type ManagerRequestOptions = ManagerOptions<CancelSignal>;

function trackerOf(message: JsonRpcMessage): Tracker | undefined {
  if (!isRequest(message)) return undefined;
  const params = message.params as { [TRACKER]?: Tracker } | undefined;
  return params && !Array.isArray(params) ? params[TRACKER] : undefined;
}

/**
 * Puts streamed chunks back into a result. Blocks the gateway marked (STREAMED_META_KEY: which
 * chunks carry their text) get their text in their own place, so `[text, image, text]` stays so.
 * Without marks (the server streamed itself), the streamed text comes first, then whatever content
 * the final result still carries.
 */
export function reassemble(result: CallToolResult, chunks: string[]): CallToolResult {
  const content = Array.isArray(result.content) ? result.content : [];
  let marked = false;
  const rebuilt = content.map((block) => {
    const meta = block?._meta as Record<string, unknown> | undefined;
    const mark = meta?.[STREAMED_META_KEY] as { first?: unknown; count?: unknown } | undefined;
    if (!mark || typeof mark.first !== 'number' || typeof mark.count !== 'number') return block;
    marked = true;
    const { [STREAMED_META_KEY]: _mark, ...restMeta } = meta!;
    const { _meta: _drop, ...rest } = block;
    return { ...rest, text: chunks.slice(mark.first, mark.first + mark.count).join(''), ...(Object.keys(restMeta).length > 0 ? { _meta: restMeta } : {}) };
  });
  if (marked) return { ...result, content: rebuilt };
  if (chunks.length === 0) return result;
  return { ...result, content: [{ type: 'text', text: chunks.join('') }, ...content] };
}

function outcomeUnknown(error: IpcError, what: string): IpcError {
  const data = typeof error.data === 'object' && error.data !== null ? error.data : {};
  return new IpcError('NotConnected', `${error.message}; outcome of ${what} unknown`, { data: { ...data, outcomeUnknown: true }, cause: error });
}
