/**
 * McpIpcClient: the browser side of the gateway protocol (src/core/gateway-protocol.ts).
 *
 * Wire conventions this client relies on (the gateway's side of the contract):
 * - Right after the socket opens the gateway sends the notification `hello` (HelloParams).
 * - Broadcast notifications: the method is a GatewayEventName (`server/state`, `server/event`,
 *   `metrics`, `tools/changed`) and the params are `BroadcastParams<K>` = `{ seq, time, data }`, where
 *   `data` is `GatewayEvents[method]`, `seq` increases gateway-wide and `time` is when the gateway
 *   logged it. `events/since` returns the same events as SequencedEvent (`{ seq, time, method, params: data }`).
 * - Per-call notifications: `progress` (Progress & { progressToken }) and `stream/chunk`
 *   ({ streamToken, seq, data }). The client sets both tokens of a `tools/call` to the call's key.
 * - Error responses carry an IpcErrorJSON in `error.data`; it is turned back into a typed IpcError.
 * - A call is cancelled with the request `cancel` { requestId: <JSON-RPC id of its tools/call> }.
 * - Close codes 4401 / 4403 mean the token was refused: the client stops reconnecting.
 *
 * Correlation, timeouts, the in-flight limit and cancellation are IpcManager's. A small adapter
 * (GatewayLink) maps between the gateway's conventions above and IpcManager's MCP-style ones
 * (`notifications/progress`, `notifications/stream/chunk`, `notifications/cancelled`), so progress
 * and chunks reset the request's idle timeout and chunk order is checked, exactly as for stdio.
 *
 * Every public method returns a Result: network, protocol and server failures are values, never throws.
 */
import { backoffDelay, sleep } from '../core/backoff.js';
import { DEFAULTS } from '../core/defaults.js';
import {
  CancelledError,
  InvalidParamsError,
  IpcError,
  IpcErrorCode,
  NotConnectedError,
  QueueFullError,
  ipcErrorFromJSON,
  toIpcError,
} from '../core/errors.js';
import {
  type BroadcastParams,
  type CallParams,
  type CallToolResult,
  GATEWAY_EVENTS,
  GatewayCloseCode,
  type GatewayEventName,
  type GatewayMethod,
  type GatewayParams,
  type GatewayResult,
  type HelloParams,
  type SequencedEvent,
  type ServerSnapshot,
  type ServerState,
  type ToolInfo,
} from '../core/gateway-protocol.js';
import { IpcManager, type IpcMetricsSnapshot, type Progress, type StreamChunk } from '../core/ipc-manager.js';
import {
  type Diagnostic,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type RequestId,
  isNotification,
  isRequest,
  isResponse,
} from '../core/jsonrpc.js';
import type { Priority } from '../core/queue.js';
import { type Result, err, ok } from '../core/result.js';
import type { Transport } from '../core/transport.js';
import { type Readable, type Writable, readonly, writable } from './store.js';
import { type WebSocketConstructor, WebSocketTransport, closeCodeOf } from './websocket-transport.js';

export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Subprotocol offered next to the token one; the gateway selects it. */
export const CLIENT_PROTOCOL = 'mcp-ipc';
/** `Sec-WebSocket-Protocol` prefix carrying the access token (keeps it out of URLs and logs). */
export const TOKEN_PROTOCOL_PREFIX = 'mcp-ipc.token.';

export interface McpIpcClientOptions {
  /** Gateway WebSocket URL, e.g. `ws://127.0.0.1:7400/ws?token=…`. */
  url: string;
  /** Access token, sent as the subprotocol `mcp-ipc.token.<token>` (alternative to `?token=` in the URL). */
  token?: string;
  /** Extra subprotocols to offer. */
  protocols?: string[];
  /** Default server for call/search/processDocument (else the first server the gateway lists). */
  server?: string;
  /** Reconnect after an unexpected close (default true). */
  reconnect?: boolean;
  reconnectDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Calls made while (re)connecting wait this long for the connection; 0 = fail at once. */
  offlineWaitMs?: number;
  /** Calls that may wait for the connection at once; one more fails with QueueFull. */
  maxOfflineQueue?: number;
  /** Per-call timeout default (ms), also sent to the gateway. */
  timeoutMs?: number;
  /** A connection attempt fails when the WebSocket handshake takes longer (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** How long to wait for `hello` after the socket opens before listing servers instead (default 5 000). */
  helloTimeoutMs?: number;
  /** Broadcast events kept in the `events` store (default 500). */
  maxEvents?: number;
  /** On the first connection, load this many past events into `events` (default 200; 0 = start empty). */
  initialEvents?: number;
  /** Finished calls kept in the `requests` store (default 100). */
  maxFinishedRequests?: number;
  /** Calls in flight at once on the connection (default: the gateway's per-connection limit). */
  maxConcurrent?: number;
  /**
   * WebSocket constructor. Browsers and Node 22+ have a global one; Node 20 does not, so there pass
   * `ws`'s (`import { WebSocket } from 'ws'`), else every connect fails with NotConnected.
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketConstructor;
  /** Randomness for reconnect jitter and generated keys. */
  random?: () => number;
}

export interface CallOptions {
  /** Request key (generated when absent): names the call for `cancel(key)` and in `requests`. */
  key?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /**
   * Ask for the result as `stream/chunk` notifications. Without `onChunk`, the chunks are joined
   * back into the result's text content when the gateway split it.
   */
  stream?: boolean;
  onChunk?: (chunk: { seq: number; data: string }) => void;
  priority?: Priority;
  /** Safe to resend: the call is sent again after a reconnect if the connection dropped while it ran. */
  retryable?: boolean;
}

export interface RpcOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  priority?: Priority;
}

export type RequestStatus = 'waiting' | 'running' | 'done' | 'error' | 'cancelled';

export interface RequestInfo {
  key: string;
  server: string;
  tool: string;
  /** Epoch ms. */
  startedAt: number;
  progress?: Progress;
  status: RequestStatus;
  /** Epoch ms, once finished. */
  finishedAt?: number;
  /** Error code, when status is `error` / `cancelled`. */
  error?: IpcErrorCode;
  /** Stream chunks received so far. */
  chunks?: number;
}

export type NotificationListener = (params: unknown, method: string) => void;

/** Params of a tools/call, tagged (invisibly to JSON) with the call it belongs to. */
const CALL = Symbol('mcp-ipc.call');
type TaggedCallParams = CallParams & { [CALL]?: Tracker };

interface Tracker {
  key: string;
  server: string;
  tool: string;
  controller: AbortController;
  /** JSON-RPC id of the current attempt's tools/call, once sent. */
  rpcId: RequestId | undefined;
  /** The current attempt reached the socket (its outcome is unknown if the connection drops). */
  sent: boolean;
  done: boolean;
  finish: (result: Result<CallToolResult>) => void;
}

interface OfflineWaiter {
  done: (result: Result<void>) => void;
}

/** The local timer runs a little longer than the gateway's so that its (richer) Timeout wins the race. */
const localTimeout = (timeoutMs: number) => timeoutMs + Math.min(1_000, Math.ceil(timeoutMs / 10));
const MAX_ATTEMPTS = 5;
const CATCH_UP_PAGE = 500;
const AUTH_CODES: ReadonlySet<number> = new Set([GatewayCloseCode.Unauthorized, GatewayCloseCode.Forbidden]);
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

function isBroadcast(method: string): method is GatewayEventName {
  return (GATEWAY_EVENTS as string[]).includes(method);
}

export class McpIpcClient {
  /** Connection state. */
  readonly connection: Readable<ClientState> & { get(): ClientState };
  /** Server snapshots: from `hello`, patched by `server/state`, replaced by `metrics`. */
  readonly servers: Readable<ServerSnapshot[]> & { get(): ServerSnapshot[] };
  /** IPC metrics per server (from the server snapshots). */
  readonly metrics: Readable<Record<string, IpcMetricsSnapshot>> & { get(): Record<string, IpcMetricsSnapshot> };
  /** The last broadcast events (bounded), in arrival order, no seq twice. */
  readonly events: Readable<SequencedEvent[]> & { get(): SequencedEvent[] };
  /**
   * Events known to be lost: the gateway had already dropped them from its log when this client
   * caught up after a reconnect (or catching up failed). 0 while the `events` history is complete.
   */
  readonly missedEvents: Readable<number> & { get(): number };
  /** Calls made through `call` (running ones and the last finished ones). */
  readonly requests: Readable<RequestInfo[]> & { get(): RequestInfo[] };
  /** Why the connection closed or failed last (e.g. auth refused), null while fine. */
  readonly error: Readable<IpcError | null> & { get(): IpcError | null };

  private readonly opts: Required<Omit<McpIpcClientOptions, 'server' | 'token' | 'protocols' | 'WebSocket'>> &
    Pick<McpIpcClientOptions, 'server' | 'token' | 'protocols' | 'WebSocket'>;
  private readonly manager: IpcManager;
  private readonly _connection: Writable<ClientState> = writable<ClientState>('idle');
  private readonly _servers = writable<ServerSnapshot[]>([]);
  private readonly _metrics = writable<Record<string, IpcMetricsSnapshot>>({});
  private readonly _events = writable<SequencedEvent[]>([]);
  private readonly _missed = writable(0);
  private readonly _requests = writable<RequestInfo[]>([]);
  private readonly _error = writable<IpcError | null>(null);

  /** The established link (after hello); `opening` while a connection attempt runs. */
  private link: GatewayLink | undefined;
  private opening: GatewayLink | undefined;
  private userClosed = false;
  private reconnectAbort: AbortController | undefined;
  private readonly waiters = new Set<OfflineWaiter>();
  private readonly trackers = new Map<string, Tracker>();
  private readonly listeners = new Map<string, Set<NotificationListener>>();
  private lastSeq: number | undefined;
  private instance: string | undefined;
  private catchingUp = false;
  private readonly liveDuringCatchUp: SequencedEvent[] = [];
  private keyCounter = 0;

  constructor(options: McpIpcClientOptions) {
    const d = DEFAULTS.client;
    this.opts = {
      url: options.url,
      token: options.token,
      protocols: options.protocols,
      server: options.server,
      reconnect: options.reconnect ?? d.reconnect,
      reconnectDelayMs: options.reconnectDelayMs ?? d.reconnectDelayMs,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? d.reconnectMaxDelayMs,
      offlineWaitMs: options.offlineWaitMs ?? d.offlineWaitMs,
      maxOfflineQueue: options.maxOfflineQueue ?? d.maxOfflineQueue,
      timeoutMs: options.timeoutMs ?? d.timeoutMs,
      helloTimeoutMs: options.helloTimeoutMs ?? 5_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxEvents: options.maxEvents ?? 500,
      initialEvents: options.initialEvents ?? 200,
      maxFinishedRequests: options.maxFinishedRequests ?? 100,
      maxConcurrent: options.maxConcurrent ?? DEFAULTS.gateway.maxInFlightPerConnection,
      WebSocket: options.WebSocket,
      random: options.random ?? Math.random,
    };
    this.manager = new IpcManager(undefined, {
      maxConcurrent: this.opts.maxConcurrent,
      maxQueueSize: Math.max(DEFAULTS.queue.maxQueueSize, this.opts.maxOfflineQueue),
      timeoutMs: this.opts.timeoutMs,
      maxRetries: 0, // resending is decided here, per call (see `retryable`)
      random: this.opts.random,
      bypassMethods: ['ping', 'cancel'],
    });
    this.connection = readonly(this._connection);
    this.servers = readonly(this._servers);
    this.metrics = readonly(this._metrics);
    this.events = readonly(this._events);
    this.missedEvents = readonly(this._missed);
    this.requests = readonly(this._requests);
    this.error = readonly(this._error);
  }

  /** Current connection state. */
  get state(): ClientState {
    return this._connection.get();
  }

  // ------------------------------------------------------------------ connection

  /**
   * Connects (resolves once the gateway said `hello`). Afterwards the client reconnects by itself
   * with backoff, unless the gateway refused the token (4401/4403) or `disconnect()` was called.
   * A failed first connect returns the error and leaves the client `closed` (call again to retry).
   */
  async connect(): Promise<Result<void>> {
    const state = this.state;
    if (state === 'open') return ok(undefined);
    if (state === 'connecting') return this.untilSettled();
    // Reconnecting goes on in the background for as long as it takes; this call waits at most offlineWaitMs.
    if (state === 'reconnecting') return this.untilSettled(this.opts.offlineWaitMs);
    this.userClosed = false;
    this._error.set(null);
    this.setState('connecting');
    const result = await this.open();
    if (!result.ok) {
      if (this.state === 'connecting') this.closeWith(result.error);
      return result;
    }
    return ok(undefined);
  }

  /** Closes the connection for good (no reconnect); pending and waiting calls fail with NotConnected. */
  disconnect(): void {
    this.userClosed = true;
    this.reconnectAbort?.abort();
    this.reconnectAbort = undefined;
    const links = [this.link, this.opening];
    this.link = undefined;
    this.opening = undefined;
    const error = new NotConnectedError('Disconnected by the client');
    this.setState('closed');
    this.releaseWaiters(err(error));
    this.manager.failAll(error);
    for (const link of links) void link?.close();
  }

  private untilSettled(timeoutMs?: number): Promise<Result<void>> {
    return new Promise((resolve) => {
      let unsubscribe: (() => void) | undefined;
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stop = (r: Result<void>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        queueMicrotask(() => unsubscribe?.());
        resolve(r);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const why = this._error.get();
          stop(err(new NotConnectedError(`Still reconnecting after ${timeoutMs} ms${why ? `: ${why.message}` : ''}`)));
        }, timeoutMs);
      }
      unsubscribe = this._connection.subscribe((s) => {
        if (s === 'open') stop(ok(undefined));
        else if (s === 'closed' || s === 'idle') stop(err(this._error.get() ?? new NotConnectedError('Connection closed')));
      });
      if (settled) unsubscribe();
    });
  }

  /** One connection attempt: socket open + hello. */
  private async open(): Promise<Result<void>> {
    // Always offer `mcp-ipc`: it tells the gateway to report a refused token as close code 4401.
    const protocols = [...(this.opts.protocols ?? []), CLIENT_PROTOCOL];
    if (this.opts.token) protocols.push(TOKEN_PROTOCOL_PREFIX + this.opts.token);
    const ws = new WebSocketTransport(this.opts.url, {
      WebSocket: this.opts.WebSocket,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      ...(protocols.length > 0 ? { protocols } : {}),
    });
    const link = new GatewayLink(ws, {
      notification: (l, message) => this.incoming(l, message),
      closed: (l) => this.linkClosed(l),
      tracker: (key) => this.trackers.get(key),
    });
    this.opening = link;
    try {
      await this.manager.attach(link);
    } catch (e) {
      if (this.opening === link) this.opening = undefined;
      return err(toIpcError(e));
    }
    let hello: HelloParams | undefined;
    try {
      hello = await link.hello(this.opts.helloTimeoutMs);
    } catch (e) {
      if (this.opening === link) this.opening = undefined;
      return err(toIpcError(e));
    }
    if (this.opening !== link || this.userClosed) {
      void link.close();
      return err(new NotConnectedError('Disconnected by the client'));
    }
    this.opening = undefined;
    this.link = link;
    if (!hello) {
      // No hello: list the servers ourselves.
      const listed = await this.manager.request<ServerSnapshot[]>('servers/list', undefined, { timeoutMs: this.opts.timeoutMs }).catch(() => undefined);
      if (this.link !== link) return err(link.closeError ?? new NotConnectedError('Connection closed'));
      if (listed) this.setServers(listed);
    } else {
      this.setServers(hello.servers);
    }
    const needCatchUp = this.seqAfterHello(hello);
    this._error.set(null);
    this.setState('open');
    this.releaseWaiters(ok(undefined));
    if (needCatchUp) void this.catchUp(link);
    return ok(undefined);
  }

  /** Updates `lastSeq` from hello; true when events were missed and must be fetched. */
  private seqAfterHello(hello: HelloParams | undefined): boolean {
    if (!hello || typeof hello.latestSeq !== 'number') return this.lastSeq !== undefined;
    if (this.lastSeq === undefined) {
      this.instance = hello.instance;
      // First connection: start with the recent history (what happened before the page opened).
      this.lastSeq = Math.max(0, hello.latestSeq - Math.min(this.opts.initialEvents, this.opts.maxEvents));
      return hello.latestSeq > this.lastSeq;
    }
    // The gateway restarted (its seq started over): a new instance id, or a seq that went back.
    const restarted = (hello.instance !== undefined && this.instance !== undefined && hello.instance !== this.instance) || hello.latestSeq < this.lastSeq;
    this.instance = hello.instance;
    if (restarted) this.lastSeq = 0;
    return hello.latestSeq > this.lastSeq;
  }

  private linkClosed(link: GatewayLink): void {
    if (link !== this.link) return; // an attempt that failed before hello: `open()` reports it
    this.link = undefined;
    if (this.userClosed) return;
    const error = link.closeError ?? new NotConnectedError('Connection closed');
    const code = closeCodeOf(error);
    if (code !== undefined && AUTH_CODES.has(code)) return this.closeWith(error);
    this._error.set(error);
    if (!this.opts.reconnect) return this.closeWith(error);
    this.setState('reconnecting');
    void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    const abort = new AbortController();
    this.reconnectAbort = abort;
    for (let attempt = 0; ; attempt++) {
      const delay = backoffDelay(attempt, { initialMs: this.opts.reconnectDelayMs, maxMs: this.opts.reconnectMaxDelayMs }, this.opts.random);
      try {
        await sleep(delay, abort.signal);
      } catch {
        return;
      }
      if (abort.signal.aborted || this.userClosed) return;
      const result = await this.open();
      if (abort.signal.aborted || this.userClosed) return;
      if (result.ok) {
        this.reconnectAbort = undefined;
        return;
      }
      this._error.set(result.error);
      const code = closeCodeOf(result.error);
      if (code !== undefined && AUTH_CODES.has(code)) {
        this.reconnectAbort = undefined;
        return this.closeWith(result.error);
      }
    }
  }

  private closeWith(error: IpcError): void {
    this._error.set(error);
    this.setState('closed');
    this.releaseWaiters(err(new NotConnectedError(`Not connected: ${error.message}`)));
  }

  private setState(state: ClientState): void {
    this._connection.set(state);
  }

  /** Waits for the connection when it is coming (bounded by offlineWaitMs and maxOfflineQueue). */
  private waitOpen(signal?: AbortSignal): Promise<Result<void>> {
    const state = this.state;
    if (state === 'open') return Promise.resolve(ok(undefined));
    if (signal?.aborted) return Promise.resolve(err(new CancelledError('Request cancelled before it was sent', { phase: 'queued' })));
    const coming = state === 'connecting' || state === 'reconnecting';
    if (!coming || this.opts.offlineWaitMs <= 0) {
      const why = this._error.get();
      return Promise.resolve(err(new NotConnectedError(`Not connected (${state})${why ? `: ${why.message}` : ''}`)));
    }
    if (this.waiters.size >= this.opts.maxOfflineQueue) return Promise.resolve(err(new QueueFullError(this.opts.maxOfflineQueue)));
    return new Promise((resolve) => {
      const onAbort = () => waiter.done(err(new CancelledError('Request cancelled while waiting for the connection', { phase: 'queued' })));
      const timer = setTimeout(
        () => waiter.done(err(new NotConnectedError(`Not connected: no connection within ${this.opts.offlineWaitMs} ms`))),
        this.opts.offlineWaitMs,
      );
      const waiter: OfflineWaiter = {
        done: (result) => {
          if (!this.waiters.delete(waiter)) return;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaseWaiters(result: Result<void>): void {
    for (const waiter of [...this.waiters]) waiter.done(result);
  }

  // ------------------------------------------------------------------ requests

  /** Any gateway method, typed. Waits for the connection like calls do. */
  async rpc<M extends GatewayMethod>(method: M, params: GatewayParams<M>, options: RpcOptions = {}): Promise<Result<GatewayResult<M>>> {
    const ready = await this.waitOpen(options.signal);
    if (!ready.ok) return ready;
    try {
      const data = await this.manager.request<GatewayResult<M>>(method, params as Record<string, unknown> | undefined, {
        timeoutMs: options.timeoutMs ?? this.opts.timeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.priority ? { priority: options.priority } : {}),
      });
      return ok(data);
    } catch (e) {
      return err(errorFromWire(e));
    }
  }

  /**
   * Calls a tool: `call(server, tool, args?, options?)`, or `call(tool, args?, options?)` on the
   * default server (the `server` option, else the first one the gateway lists). Never rejects:
   * failures are `{ ok: false, error }`.
   */
  call(server: string, tool: string, args?: Record<string, unknown>, options?: CallOptions): Promise<Result<CallToolResult>>;
  call(tool: string, args?: Record<string, unknown>, options?: CallOptions): Promise<Result<CallToolResult>>;
  call(
    first: string,
    second?: string | Record<string, unknown>,
    third?: Record<string, unknown> | CallOptions,
    fourth?: CallOptions,
  ): Promise<Result<CallToolResult>> {
    if (typeof second === 'string') return this.callTool(first, second, (third as Record<string, unknown> | undefined) ?? {}, fourth ?? {});
    return this.callOn(undefined, first, second ?? {}, (third as CallOptions | undefined) ?? {});
  }

  private callTool(server: string, tool: string, args: Record<string, unknown>, options: CallOptions): Promise<Result<CallToolResult>> {
    const key = options.key ?? this.newKey();
    if (this.trackers.has(key)) return Promise.resolve(err(new InvalidParamsError(`A call with key "${key}" is already running`)));
    if (options.signal?.aborted) return Promise.resolve(err(new CancelledError('Request cancelled before it was sent', { phase: 'queued' })));
    return new Promise((resolve) => {
      const signal = options.signal;
      const onAbort = () => this.cancelTracker(tracker, 'aborted by the caller');
      const tracker: Tracker = {
        key,
        server,
        tool,
        controller: new AbortController(),
        rpcId: undefined,
        sent: false,
        done: false,
        finish: (result) => {
          if (tracker.done) return;
          tracker.done = true;
          this.trackers.delete(key);
          signal?.removeEventListener('abort', onAbort);
          this.requestFinished(key, result);
          resolve(result);
        },
      };
      this.trackers.set(key, tracker);
      this.addRequest({ key, server, tool, startedAt: Date.now(), status: this.state === 'open' ? 'running' : 'waiting' });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.runCall(tracker, args, options).catch((e: unknown) => tracker.finish(err(toIpcError(e))));
    });
  }

  private async runCall(t: Tracker, args: Record<string, unknown>, options: CallOptions): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.opts.timeoutMs;
    const wantsStream = options.stream === true || options.onChunk !== undefined;
    const wantsProgress = options.onProgress !== undefined;
    for (let attempt = 1; ; attempt++) {
      if (this.state !== 'open') this.patchRequest(t.key, { status: 'waiting' });
      const ready = await this.waitOpen(t.controller.signal);
      if (t.done) return;
      if (!ready.ok) return t.finish(ready);
      this.patchRequest(t.key, { status: 'running' });

      const params: TaggedCallParams = { server: t.server, tool: t.tool, arguments: args, timeoutMs };
      if (wantsProgress) params.progressToken = t.key;
      if (wantsStream) params.streamToken = t.key;
      if (options.priority) params.priority = options.priority;
      if (options.retryable) params.retryable = true;
      params[CALL] = t;
      t.sent = false;
      t.rpcId = undefined;
      const chunks: string[] = [];
      let chunkCount = 0;
      try {
        const result = await this.manager.request<CallToolResult>('tools/call', params as unknown as Record<string, unknown>, {
          timeoutMs: localTimeout(timeoutMs),
          signal: t.controller.signal,
          ...(options.priority ? { priority: options.priority } : {}),
          ...(wantsProgress
            ? {
                onProgress: (progress: Progress) => {
                  if (t.done) return;
                  this.patchRequest(t.key, { progress });
                  options.onProgress?.(progress);
                },
              }
            : {}),
          ...(wantsStream
            ? {
                onChunk: (chunk: StreamChunk) => {
                  if (t.done) return;
                  chunkCount++;
                  this.patchRequest(t.key, { chunks: chunkCount });
                  if (options.onChunk) options.onChunk({ seq: chunk.seq, data: chunk.data });
                  else chunks.push(chunk.data);
                },
              }
            : {}),
        });
        return t.finish(ok(options.onChunk || !wantsStream ? result : reassemble(result, chunks)));
      } catch (e) {
        if (t.done) return;
        const error = errorFromWire(e);
        if (error.code !== 'NotConnected') return t.finish(err(error));
        const mayResend = !t.sent || options.retryable === true;
        const reconnecting = !this.userClosed && (this.state === 'reconnecting' || this.state === 'connecting' || this.state === 'open');
        if (mayResend && reconnecting && attempt < MAX_ATTEMPTS) continue;
        return t.finish(err(t.sent ? outcomeUnknown(error, t.tool) : error));
      }
    }
  }

  /** `search` tool of a server (default server when omitted). */
  search(query: string, options: CallOptions & { limit?: number; server?: string } = {}): Promise<Result<CallToolResult>> {
    const { limit, server, ...callOptions } = options;
    return this.callOn(server, 'search', limit === undefined ? { query } : { query, limit }, callOptions);
  }

  /** `process_document` tool of a server, with progress. */
  processDocument(path: string, onProgress?: (progress: Progress) => void, options: CallOptions & { server?: string } = {}): Promise<Result<CallToolResult>> {
    const { server, ...callOptions } = options;
    return this.callOn(server, 'process_document', { file_path: path }, onProgress ? { ...callOptions, onProgress } : callOptions);
  }

  /**
   * Cancels a call by key: the gateway gets `cancel` for its request and the call settles at once
   * with Cancelled. False when no such call is running.
   */
  cancel(key: string, reason = 'cancelled by the client'): boolean {
    const t = this.trackers.get(key);
    if (!t || t.done) return false;
    this.cancelTracker(t, reason);
    return true;
  }

  private cancelTracker(t: Tracker, reason: string): void {
    if (t.done) return;
    t.finish(err(new CancelledError(`Call ${t.tool} cancelled: ${reason}`, { reason, phase: t.sent ? 'in-flight' : 'queued' })));
    // IpcManager then sends `notifications/cancelled`, which GatewayLink turns into the gateway's `cancel`.
    t.controller.abort(reason);
  }

  listTools(server: string, options: { refresh?: boolean } = {}): Promise<Result<ToolInfo[]>> {
    return this.rpc('tools/list', options.refresh ? { server, refresh: true } : { server });
  }

  startServer(name: string): Promise<Result<ServerSnapshot>> {
    return this.rpc('server/start', { server: name });
  }

  stopServer(name: string): Promise<Result<ServerSnapshot>> {
    return this.rpc('server/stop', { server: name });
  }

  restartServer(name: string): Promise<Result<ServerSnapshot>> {
    return this.rpc('server/restart', { server: name });
  }

  /** Any host → client notification (`'*'` for all); the handler gets its params. Returns unsubscribe. */
  onNotification(method: string, handler: NotificationListener): () => void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /** A tool call on `server`, else on the default server (which may only be known once connected). */
  private async callOn(server: string | undefined, tool: string, args: Record<string, unknown>, options: CallOptions): Promise<Result<CallToolResult>> {
    const target = await this.resolveServer(server, options.signal);
    if (!target.ok) return target;
    return this.callTool(target.data, tool, args, options);
  }

  /**
   * The named server, else the `server` option, else the first server the gateway lists. Without a
   * connection there is no list yet: wait for it like calls do, and say NotConnected when it does not come
   * (an empty list is only the gateway's answer once connected).
   */
  private async resolveServer(server: string | undefined, signal?: AbortSignal): Promise<Result<string>> {
    const known = server ?? this.opts.server ?? this._servers.get()[0]?.name;
    if (known) return ok(known);
    if (this.state !== 'open') {
      const ready = await this.waitOpen(signal);
      if (!ready.ok) return ready;
      const listed = this._servers.get()[0]?.name;
      if (listed) return ok(listed);
    }
    return err(new InvalidParamsError('No server given and the gateway lists none'));
  }

  private newKey(): string {
    this.keyCounter++;
    return `c${this.keyCounter.toString(36)}-${Math.floor(this.opts.random() * 0x7fffffff).toString(36)}`;
  }

  // ------------------------------------------------------------------ requests store

  private addRequest(info: RequestInfo): void {
    this._requests.update((list) => [...list, info]);
  }

  private patchRequest(key: string, patch: Partial<RequestInfo>): void {
    this._requests.update((list) => list.map((r) => (r.key === key && (r.status === 'waiting' || r.status === 'running') ? { ...r, ...patch } : r)));
  }

  private requestFinished(key: string, result: Result<CallToolResult>): void {
    const status: RequestStatus = result.ok ? 'done' : result.error.code === 'Cancelled' ? 'cancelled' : 'error';
    const patch: Partial<RequestInfo> = { status, finishedAt: Date.now() };
    if (!result.ok) patch.error = result.error.code;
    this._requests.update((list) => {
      const next = list.map((r) => (r.key === key && (r.status === 'waiting' || r.status === 'running') ? { ...r, ...patch } : r));
      let finished = next.filter((r) => r.status !== 'waiting' && r.status !== 'running').length;
      if (finished <= this.opts.maxFinishedRequests) return next;
      return next.filter((r) => {
        if (r.status === 'waiting' || r.status === 'running' || finished <= this.opts.maxFinishedRequests) return true;
        finished--;
        return false;
      });
    });
  }

  // ------------------------------------------------------------------ incoming

  private incoming(link: GatewayLink, message: JsonRpcNotification): void {
    const { method, params } = message;
    for (const key of [method, '*']) {
      const set = this.listeners.get(key);
      if (!set) continue;
      for (const handler of [...set]) {
        try {
          handler(params, method);
        } catch (error) {
          console.error(`mcp-ipc: notification handler for "${method}" threw`, error);
        }
      }
    }
    if (method === 'hello') {
      if (link === this.link) {
        // A hello on an established connection (unexpected): take its servers.
        const hello = params as HelloParams | undefined;
        if (hello && Array.isArray(hello.servers)) this.setServers(hello.servers);
      }
      return;
    }
    if (isBroadcast(method)) {
      const p = params as Partial<BroadcastParams> | undefined;
      if (!p || typeof p.seq !== 'number' || p.data === undefined) return;
      const event = { seq: p.seq, time: typeof p.time === 'number' ? p.time : Date.now(), method, params: p.data } as SequencedEvent;
      this.applyEvent(event);
      if (this.catchingUp) this.liveDuringCatchUp.push(event);
      else this.appendEvents([event]);
    }
  }

  private applyEvent(event: SequencedEvent): void {
    switch (event.method) {
      case 'server/state': {
        const { server, state, reason } = event.params;
        this.patchServer(server, (s) => withState(s, state, reason));
        break;
      }
      case 'metrics': {
        const snapshot = event.params.snapshot;
        if (!snapshot || typeof snapshot.name !== 'string') break;
        const list = this._servers.get();
        const found = list.some((s) => s.name === snapshot.name);
        this.setServers(found ? list.map((s) => (s.name === snapshot.name ? snapshot : s)) : [...list, snapshot]);
        break;
      }
      case 'tools/changed': {
        const { server, tools } = event.params;
        if (!Array.isArray(tools)) break;
        this.setServers(this._servers.get().map((s) => (s.name === server ? { ...s, toolCount: tools.length } : s)));
        break;
      }
      case 'server/event': {
        // The process facts a card shows change with these before the next `metrics` snapshot comes.
        const { server, type, data } = event.params;
        const facts = data as { pid?: unknown; code?: unknown; signal?: unknown; at?: unknown } | undefined;
        if (type === 'spawn' && typeof facts?.pid === 'number') {
          const pid = facts.pid;
          this.patchServer(server, (s) => ({ ...s, pid }));
        } else if (type === 'exit' && facts && (typeof facts.code === 'number' || typeof facts.signal === 'string')) {
          const lastExit = {
            code: typeof facts.code === 'number' ? facts.code : null,
            signal: typeof facts.signal === 'string' ? facts.signal : null,
            at: typeof facts.at === 'number' ? facts.at : event.params.time,
          };
          this.patchServer(server, (s) => ({ ...s, pid: null, lastExit }));
        }
        break;
      }
    }
  }

  private patchServer(name: string, patch: (snapshot: ServerSnapshot) => ServerSnapshot): void {
    const list = this._servers.get();
    if (list.some((s) => s.name === name)) this.setServers(list.map((s) => (s.name === name ? patch(s) : s)));
  }

  private setServers(list: ServerSnapshot[]): void {
    this._servers.set(list);
    const metrics: Record<string, IpcMetricsSnapshot> = {};
    for (const s of list) if (s.metrics) metrics[s.name] = s.metrics;
    this._metrics.set(metrics);
  }

  /** Appends events newer than the last seen (in seq order), bounded to `maxEvents`. */
  private appendEvents(events: SequencedEvent[]): void {
    const fresh: SequencedEvent[] = [];
    for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
      if (this.lastSeq !== undefined && e.seq <= this.lastSeq) continue;
      this.lastSeq = e.seq;
      fresh.push(e);
    }
    if (fresh.length === 0) return;
    this._events.update((list) => {
      const next = [...list, ...fresh];
      return next.length > this.opts.maxEvents ? next.slice(next.length - this.opts.maxEvents) : next;
    });
  }

  /** Fetches the events missed while disconnected; live ones are held back meanwhile to keep order. */
  private async catchUp(link: GatewayLink): Promise<void> {
    this.catchingUp = true;
    try {
      for (let page = 0; page < 100 && this.link === link; page++) {
        const since = this.lastSeq ?? 0;
        const r = await this.rpc('events/since', { seq: since, limit: CATCH_UP_PAGE });
        if (this.link !== link) break;
        if (!r.ok) {
          // Cannot tell how many: count the gap as one rather than pretend the history is whole.
          this._missed.update((n) => n + 1);
          break;
        }
        if (r.data.truncated) {
          const firstKept = r.data.events[0]?.seq ?? r.data.latestSeq + 1;
          this._missed.update((n) => n + Math.max(0, firstKept - since - 1));
        }
        this.appendEvents(r.data.events);
        if (r.data.events.length === 0 || (this.lastSeq ?? 0) >= r.data.latestSeq || (this.lastSeq ?? 0) === since) break;
      }
    } finally {
      this.catchingUp = false;
      this.appendEvents(this.liveDuringCatchUp.splice(0));
    }
  }
}

/**
 * A snapshot after a state change, before the host's next full snapshot: facts that only hold while
 * the process runs (uptime, health RTT, CPU and memory) are dropped, and the pid too once it is gone.
 */
function withState(s: ServerSnapshot, state: ServerState, reason: string | null): ServerSnapshot {
  if (state === 'running') return { ...s, state, reason };
  const gone = state !== 'stopping'; // the old process has exited (or a new one has yet to spawn)
  return {
    ...s,
    state,
    reason,
    uptimeMs: 0,
    pid: gone ? null : s.pid,
    health: { ...s.health, rttMs: null },
    usage: null,
  };
}

/**
 * Joins streamed chunks back into the result's text: the streamed text comes first, then whatever
 * content the final result still carries (images, resources, a server's trailing text).
 */
export function reassemble(result: CallToolResult, chunks: string[]): CallToolResult {
  if (chunks.length === 0) return result;
  const rest = Array.isArray(result.content) ? result.content : [];
  return { ...result, content: [{ type: 'text', text: chunks.join('') }, ...rest] };
}

function outcomeUnknown(error: IpcError, tool: string): IpcError {
  const data = typeof error.data === 'object' && error.data !== null ? error.data : {};
  return new IpcError('NotConnected', `${error.message}; outcome of ${tool} unknown`, { data: { ...data, outcomeUnknown: true }, cause: error });
}

// ------------------------------------------------------------------ the adapter

interface LinkHooks {
  notification: (link: GatewayLink, message: JsonRpcNotification) => void;
  closed: (link: GatewayLink) => void;
  tracker: (key: string) => Tracker | undefined;
}

/**
 * Transport seen by IpcManager; maps the gateway's wire conventions to IpcManager's:
 * - outgoing `tools/call`: records the JSON-RPC id on its tracker, drops IpcManager's `_meta` tokens
 *   (the client already put the key as top-level `progressToken` / `streamToken`);
 * - outgoing `notifications/cancelled` (abort, timeout) → request `cancel` { requestId } (its response is swallowed);
 * - incoming `progress` / `stream/chunk` (token = key) → `notifications/progress` / `notifications/stream/chunk`
 *   (token = JSON-RPC id), so IpcManager resets the idle timeout and checks chunk order;
 * - every incoming notification is also handed to the client as it came.
 */
class GatewayLink implements Transport {
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  ondiagnostic?: (diagnostic: Diagnostic) => void;

  private readonly cancelIds = new Set<string>();
  private cancelCounter = 0;
  private readonly helloPromise: Promise<HelloParams>;
  private resolveHello!: (hello: HelloParams) => void;
  private rejectHello!: (error: IpcError) => void;

  constructor(
    private readonly ws: WebSocketTransport,
    private readonly hooks: LinkHooks,
  ) {
    this.helloPromise = new Promise<HelloParams>((resolve, reject) => {
      this.resolveHello = resolve;
      this.rejectHello = reject;
    });
    this.helloPromise.catch(() => undefined);
    ws.onmessage = (message) => this.receive(message);
    ws.onerror = (error) => this.onerror?.(error);
    ws.ondiagnostic = (diagnostic) => this.ondiagnostic?.(diagnostic);
    ws.onclose = () => {
      this.rejectHello(this.closeError ?? new NotConnectedError('Connection closed'));
      this.hooks.closed(this);
      this.onclose?.();
    };
  }

  get closeError(): IpcError | undefined {
    return this.ws.closeError;
  }

  /** Resolves with the gateway's hello, or undefined after `timeoutMs`; rejects if the socket closes first. */
  hello(timeoutMs: number): Promise<HelloParams | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
    return Promise.race([this.helloPromise, timeout]).finally(() => clearTimeout(timer));
  }

  start(): Promise<void> {
    return this.ws.start();
  }

  close(): Promise<void> {
    return this.ws.close();
  }

  send(message: JsonRpcMessage): Promise<void> {
    if (isRequest(message) && message.method === 'tools/call' && message.params && !Array.isArray(message.params)) {
      const params = message.params as unknown as TaggedCallParams & { _meta?: Record<string, unknown> };
      const tracker = params[CALL];
      if (tracker) {
        const { _meta, ...rest } = params;
        if (_meta) {
          const { progressToken: _p, streamToken: _s, ...meta } = _meta;
          if (Object.keys(meta).length > 0) (rest as Record<string, unknown>)._meta = meta;
        }
        tracker.rpcId = message.id;
        const sending = this.ws.send({ ...message, params: rest as unknown as Record<string, unknown> });
        tracker.sent = true;
        return sending.catch((error: unknown) => {
          if (tracker.rpcId === message.id) tracker.sent = false;
          throw error;
        });
      }
    }
    if (isNotification(message) && message.method === 'notifications/cancelled') {
      const params = (message.params ?? {}) as { requestId?: RequestId; reason?: string };
      if (params.requestId === undefined) return Promise.resolve();
      const id = `cancel-${++this.cancelCounter}`;
      this.cancelIds.add(id);
      const cancelParams: GatewayParams<'cancel'> = { requestId: params.requestId };
      if (typeof params.reason === 'string') cancelParams.reason = params.reason;
      return this.ws.send({ jsonrpc: '2.0', id, method: 'cancel', params: cancelParams });
    }
    return this.ws.send(message);
  }

  private receive(message: JsonRpcMessage): void {
    if (isResponse(message)) {
      if (typeof message.id === 'string' && this.cancelIds.delete(message.id)) return;
      this.onmessage?.(message);
      return;
    }
    if (!isNotification(message)) {
      this.onmessage?.(message); // a request from the gateway: IpcManager answers (ping) or refuses it
      return;
    }
    this.hooks.notification(this, message);
    const params = (message.params ?? {}) as Record<string, unknown>;
    switch (message.method) {
      case 'hello':
        this.resolveHello(message.params as unknown as HelloParams);
        return;
      case 'progress': {
        const id = this.rpcIdOf(params.progressToken);
        if (id !== undefined) this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/progress', params: { ...params, progressToken: id } });
        return;
      }
      case 'stream/chunk': {
        const id = this.rpcIdOf(params.streamToken);
        if (id !== undefined) this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/stream/chunk', params: { ...params, streamToken: id } });
        return;
      }
      default:
        this.onmessage?.(message);
    }
  }

  private rpcIdOf(token: unknown): RequestId | undefined {
    if (typeof token !== 'string') return undefined;
    const tracker = this.hooks.tracker(token);
    return tracker && !tracker.done ? tracker.rpcId : undefined;
  }
}
