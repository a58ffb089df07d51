/**
 * Requests as the client runs them: each gets a key (for `cancel(key)` and the `requests` store),
 * waits for the connection while one is coming, and is resent after a reconnect when it had not
 * reached the socket (or is `retryable`); one that had gets NotConnected with `outcomeUnknown`.
 * Correlation, timeouts and cancellation are IpcManager's; streamed results are reassembled here.
 */
import { CancelledError, InvalidParamsError, IpcError, IpcErrorCode, ipcErrorFromJSON, toIpcError } from '../core/errors.js';
import { type CallToolResult, type ForwardOptions, STREAMED_META_KEY } from '../core/gateway-protocol.js';
import type { IpcManager, Progress, StreamChunk } from '../core/ipc-manager.js';
import { type JsonRpcMessage, isRequest } from '../core/jsonrpc.js';
import type { Priority } from '../core/queue.js';
import { type Result, err, ok } from '../core/result.js';
import { endMcpSpan, injectTraceContext, startMcpSpan, tracingActive } from '../core/tracing.js';
import type { Span } from '@opentelemetry/api';
import type { ClientState } from './connection.js';
import type { RequestLog } from './request-log.js';

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

interface Tracker {
  key: string;
  server: string;
  method: string;
  label: string;
  controller: AbortController;
  /** The current attempt reached the socket (its outcome is unknown if the connection drops). */
  sent: boolean;
  done: boolean;
  finish: (result: Result<unknown>) => void;
  /** The request's span while tracing is on (ended by `finish`); its context goes in `_meta`. */
  span?: Span;
}

/** The local timer runs a little longer than the gateway's so that its (richer) Timeout wins the race. */
const localTimeout = (timeoutMs: number) => timeoutMs + Math.min(1_000, Math.ceil(timeoutMs / 10));
const MAX_ATTEMPTS = 5;
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
  log: RequestLog;
  /** The connection: its state, waiting for it, and whether the user closed it. */
  connection: { readonly current: ClientState; readonly closedByUser: boolean; waitOpen(signal?: AbortSignal): Promise<Result<void>> };
  timeoutMs: number;
  random: () => number;
}

export class RequestRunner {
  private readonly trackers = new Map<string, Tracker>();
  private keyCounter = 0;

  constructor(private readonly deps: RunnerDeps) {}

  /**
   * Cancels a request by key: IpcManager sends `notifications/cancelled` for it and the request
   * settles at once with Cancelled. False when no such request is running.
   */
  cancel(key: string, reason: string): boolean {
    const t = this.trackers.get(key);
    if (!t || t.done) return false;
    this.cancelTracker(t, reason);
    return true;
  }

  /** Marks the request a message belongs to as sent (its outcome is unknown if the link drops now). */
  sending(message: JsonRpcMessage): (() => void) | undefined {
    if (!isRequest(message) || !message.params || Array.isArray(message.params)) return undefined;
    const tracker = (message.params as { [TRACKER]?: Tracker })[TRACKER];
    if (!tracker) return undefined;
    tracker.sent = true;
    return () => {
      tracker.sent = false;
    };
  }

  track<T>(server: string, method: string, label: string, params: Record<string, unknown>, options: CallOptions): Promise<Result<T>> {
    const key = options.key ?? this.newKey();
    if (this.trackers.has(key)) return Promise.resolve(err(new InvalidParamsError(`A request with key "${key}" is already running`)));
    if (options.signal?.aborted) return Promise.resolve(err(new CancelledError('Request cancelled before it was sent', { phase: 'queued' })));
    return new Promise((resolve) => {
      const signal = options.signal;
      const onAbort = () => this.cancelTracker(tracker, 'aborted by the caller');
      const tracker: Tracker = {
        key,
        server,
        method,
        label,
        controller: new AbortController(),
        sent: false,
        done: false,
        finish: (result) => {
          if (tracker.done) return;
          tracker.done = true;
          if (tracker.span) endMcpSpan(tracker.span, result.ok ? { result: result.data } : { error: result.error });
          this.trackers.delete(key);
          signal?.removeEventListener('abort', onAbort);
          this.deps.log.finish(key, result);
          resolve(result as Result<T>);
        },
      };
      // One span per request (across reconnect attempts), a child of the caller's active span.
      if (tracingActive()) tracker.span = startMcpSpan({ method, params, server });
      this.trackers.set(key, tracker);
      this.deps.log.add({ key, server, method, tool: label, startedAt: Date.now(), status: this.deps.connection.current === 'open' ? 'running' : 'waiting' });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.run(tracker, params, options).catch((e: unknown) => tracker.finish(err(toIpcError(e))));
    });
  }

  private async run(t: Tracker, mcpParams: Record<string, unknown>, options: CallOptions): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.deps.timeoutMs;
    const wantsStream = t.method === 'tools/call' && (options.stream === true || options.onChunk !== undefined);
    for (let attempt = 1; ; attempt++) {
      if (this.deps.connection.current !== 'open') this.deps.log.patch(t.key, { status: 'waiting' });
      const ready = await this.deps.connection.waitOpen(t.controller.signal);
      if (t.done) return;
      if (!ready.ok) return t.finish(ready);
      this.deps.log.patch(t.key, { status: 'running' });

      const forward: ForwardOptions = { timeoutMs };
      if (options.priority) forward.priority = options.priority;
      if (options.retryable) forward.retryable = true;
      const params: Record<string, unknown> & { [TRACKER]?: Tracker } = { ...mcpParams, server: t.server, ...forward };
      // The gateway continues the trace from `_meta.traceparent` (MCP's place for W3C trace context).
      const meta = t.span ? injectTraceContext(options._meta, t.span) : options._meta;
      if (meta) params._meta = { ...meta };
      params[TRACKER] = t;
      t.sent = false;
      const chunks: string[] = [];
      let chunkCount = 0;
      try {
        const result = await this.deps.manager.request<unknown>(t.method, params, {
          timeoutMs: localTimeout(timeoutMs),
          signal: t.controller.signal,
          ...(options.priority ? { priority: options.priority } : {}),
          ...(options.onProgress
            ? {
                onProgress: (progress: Progress) => {
                  if (t.done) return;
                  this.deps.log.patch(t.key, { progress });
                  options.onProgress?.(progress);
                },
              }
            : {}),
          ...(wantsStream
            ? {
                onChunk: (chunk: StreamChunk) => {
                  if (t.done) return;
                  chunkCount++;
                  this.deps.log.patch(t.key, { chunks: chunkCount });
                  if (options.onChunk) options.onChunk({ seq: chunk.seq, data: chunk.data });
                  else chunks.push(chunk.data);
                },
              }
            : {}),
        });
        return t.finish(ok(wantsStream && !options.onChunk ? reassemble(result as CallToolResult, chunks) : result));
      } catch (e) {
        if (t.done) return;
        const error = errorFromWire(e);
        if (error.code !== 'NotConnected') return t.finish(err(error));
        const mayResend = !t.sent || options.retryable === true;
        const state = this.deps.connection.current;
        const reconnecting = !this.deps.connection.closedByUser && (state === 'reconnecting' || state === 'connecting' || state === 'open');
        if (mayResend && reconnecting && attempt < MAX_ATTEMPTS) continue;
        return t.finish(err(t.sent ? outcomeUnknown(error, t.label) : error));
      }
    }
  }

  private newKey(): string {
    this.keyCounter++;
    return `c${this.keyCounter.toString(36)}-${Math.floor(this.deps.random() * 0x7fffffff).toString(36)}`;
  }

  private cancelTracker(t: Tracker, reason: string): void {
    if (t.done) return;
    t.finish(err(new CancelledError(`${t.label} cancelled: ${reason}`, { reason, phase: t.sent ? 'in-flight' : 'queued' })));
    // IpcManager then sends `notifications/cancelled` for it, which the gateway acts on.
    t.controller.abort(reason);
  }
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
