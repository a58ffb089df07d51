/**
 * McpBridge: one MCP server, supervised. Joins a ProcessManager (spawn, health, restarts) to an
 * IpcManager (queue, timeouts, retries, metrics) and speaks MCP on top: the `initialize` handshake
 * after every (re)start, tools with schema-checked arguments, progress and streamed results.
 *
 * Crash semantics: in-flight calls fail at once with ServerCrashed, except calls to tools annotated
 * idempotent/read-only (or marked retryable), which are resent after the restart; queued calls wait
 * for the restarted server. When the server is stopped or given up on, everything pending fails.
 */
import { LATEST_LEGACY_PROTOCOL_VERSION, LEGACY_PROTOCOL_VERSIONS } from '../core/mcp-versions.js';
import { Ajv, type ValidateFunction } from 'ajv';
import { Emitter } from '../core/emitter.js';
import { InvalidParamsError, type IpcError, NotConnectedError, ProtocolError, ServerCrashedError } from '../core/errors.js';
import type {
  CallToolResult,
  GatewayEvents,
  ServerEvent,
  ServerSnapshot,
  ServerState,
  ToolInfo,
} from '../core/gateway-protocol.js';
import {
  IpcManager,
  type IpcManagerOptions,
  type Progress,
  type RequestHandler,
  type RequestOptions,
  type StreamChunk,
  type StreamingRequest,
} from '../core/ipc-manager.js';
import { type Diagnostic, previewValue } from '../core/jsonrpc.js';
import type { Priority } from '../core/queue.js';
import { DEFAULTS } from '../core/defaults.js';
import { ProcessManager, type ProcessManagerOptions } from './process-manager.js';
import type { ResourceManager } from './resource-manager.js';
import type { StdioTransport } from './stdio-transport.js';

export interface McpServerConfig {
  command: string;
  args?: string[];
  /** The server's own variables, on top of an allow-listed part of the host's environment (see StdioServerParams). */
  env?: Record<string, string>;
  /**
   * Pass the host's whole environment (still without `MCP_IPC_TOKEN` unless `env` names it).
   * @default false
   */
  inheritEnv?: boolean;
  cwd?: string;
  /** IpcManager settings (concurrency, queue size, timeouts, retries). */
  queue?: IpcManagerOptions;
  /** ProcessManager settings (restarts, health checks, shutdown, usage sampling). */
  process?: ProcessManagerOptions;
  /** Tools whose calls are safe to resend after a crash, besides those annotated idempotent/read-only. */
  retryableTools?: string[];
  /** Roots offered to the server (`roots/list`); declares the `roots` client capability. */
  roots?: Array<{ uri: string; name?: string }>;
  /**
   * Extra client capabilities to declare in `initialize` (e.g. `{ sampling: {} }` once a
   * `sampling/createMessage` handler is set with `setRequestHandler`).
   */
  capabilities?: Record<string, unknown>;
}

export interface BridgeCallOptions {
  timeoutMs?: number;
  hardTimeoutMs?: number;
  priority?: Priority;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Safe to resend after a crash (default: from the tool's idempotent/read-only annotations). */
  retryable?: boolean;
  /** Check the arguments against the tool's inputSchema before sending (default true). */
  validate?: boolean;
}

export interface StreamingCallOptions extends BridgeCallOptions {
  onChunk?: (chunk: StreamChunk) => void;
}

export interface McpBridgeEvents extends Record<string, unknown> {
  state: GatewayEvents['server/state'];
  event: ServerEvent;
  stderr: { server: string; line: string };
  /** A fresh snapshot, at most once per metrics interval while something changes. */
  metrics: ServerSnapshot;
  tools: { server: string; tools: ToolInfo[] };
  notification: { server: string; method: string; params: unknown };
}

export interface BridgeOptions {
  resources?: ResourceManager;
  clientInfo?: { name: string; version: string };
}

const CLIENT_INFO = { name: 'mcp-ipc', version: '0.1.0' };
const DIAGNOSTIC_EVENTS_PER_SECOND = 20;

export class McpBridge extends Emitter<McpBridgeEvents> {
  readonly name: string;
  readonly ipc: IpcManager;
  readonly process: ProcessManager;
  private readonly config: McpServerConfig;
  private readonly clientInfo: { name: string; version: string };
  private readonly ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly retryableTools: Set<string>;
  private toolList: ToolInfo[] | undefined;
  private toolsByName = new Map<string, ToolInfo>();
  private toolsLoading: Promise<ToolInfo[]> | undefined;
  private serverInfo: { name: string; version: string } | null = null;
  private protocolVersion: string | null = null;
  private capabilities: Record<string, unknown> = {};
  private instructionsText: string | undefined;
  private metricsTimer: ReturnType<typeof setTimeout> | undefined;
  private diagnosticBudget = { windowStart: 0, count: 0, suppressed: 0 };

  constructor(name: string, config: McpServerConfig, options: BridgeOptions = {}) {
    super();
    this.name = name;
    this.config = config;
    this.clientInfo = options.clientInfo ?? CLIENT_INFO;
    this.retryableTools = new Set(config.retryableTools ?? []);
    this.ipc = new IpcManager(undefined, { ...config.queue, holdQueueOnDisconnect: true });
    this.process = new ProcessManager(
      name,
      { command: config.command, args: config.args, env: config.env, inheritEnv: config.inheritEnv, cwd: config.cwd },
      {
        onSpawn: (transport) => this.handshake(transport),
        ping: (timeoutMs) => this.ipc.request('ping', undefined, { timeoutMs, hardTimeoutMs: timeoutMs, bypassQueue: true }),
        drain: (timeoutMs) => this.drain(timeoutMs),
      },
      { ...config.process, resources: options.resources },
    );
    this.wireEvents();
    if (config.roots) {
      const roots = config.roots;
      this.setRequestHandler('roots/list', () => ({ roots }));
    }
  }

  get state(): ServerState {
    return this.process.state;
  }

  /** What the server said about itself in `initialize`. */
  get server(): { info: { name: string; version: string } | null; protocolVersion: string | null; capabilities: Record<string, unknown>; instructions?: string } {
    return { info: this.serverInfo, protocolVersion: this.protocolVersion, capabilities: this.capabilities, instructions: this.instructionsText };
  }

  /** Starts the server and completes the MCP handshake. Rejects if it cannot be brought up. */
  async start(): Promise<void> {
    await this.process.start();
  }

  /** Stops the server gracefully; everything pending fails with NotConnected. */
  async stop(): Promise<void> {
    await this.process.stop();
  }

  async restart(reason = 'restart requested'): Promise<void> {
    await this.process.restart(reason);
  }

  /** Answers the server's requests to the host (`roots/list`, `sampling/createMessage`, …); unknown → -32601. */
  setRequestHandler(method: string, handler: RequestHandler): void {
    this.ipc.setRequestHandler(method, handler);
  }

  /** The server's tools, cached; refreshed on `notifications/tools/list_changed` and after restarts. */
  listTools(options: { refresh?: boolean } = {}): Promise<ToolInfo[]> {
    if (this.toolList && !options.refresh) return Promise.resolve(this.toolList);
    if (!this.toolsLoading) {
      this.toolsLoading = this.fetchTools().finally(() => {
        this.toolsLoading = undefined;
      });
    }
    return this.toolsLoading;
  }

  /** `tools/call`. Rejects only with IpcError subclasses; a tool's own failure is a result with `isError`. */
  call(tool: string, args: Record<string, unknown> = {}, options: BridgeCallOptions = {}): Promise<CallToolResult> {
    // Synchronous when the tool is known (the hot path): no extra promise or await per call.
    let prepared: RequestOptions | Promise<RequestOptions>;
    try {
      prepared = this.prepareCall(tool, args, options);
    } catch (error) {
      return Promise.reject(error);
    }
    // After an await the server may have stopped or failed meanwhile: request() checks again.
    if (prepared instanceof Promise) return prepared.then((o) => this.request<CallToolResult>('tools/call', { name: tool, arguments: args }, o));
    return this.ipc.request<CallToolResult>('tools/call', { name: tool, arguments: args }, prepared);
  }

  /** `tools/call` asking the server to stream its result (mcp-ipc extension; plain servers answer whole). */
  callStreaming(tool: string, args: Record<string, unknown> = {}, options: StreamingCallOptions = {}): StreamingRequest<CallToolResult> {
    // Validation is async (the tool list may need loading), so the chunk iterator is relayed.
    const stream = new RelayStream();
    const result = Promise.resolve()
      .then(() => this.prepareCall(tool, args, options))
      .then((requestOptions) => {
        const unavailable = this.unavailableError();
        if (unavailable) throw unavailable;
        const feed = this.ipc.requestStream<CallToolResult>('tools/call', { name: tool, arguments: args }, { ...requestOptions, onChunk: options.onChunk });
        stream.follow(feed.chunks);
        return feed.result;
      });
    result.catch((error: IpcError) => stream.fail(error));
    return { result, chunks: stream };
  }

  /** Any JSON-RPC method on this server, through the queue. */
  request<T = unknown>(method: string, params?: Record<string, unknown>, options?: RequestOptions): Promise<T> {
    const unavailable = this.unavailableError();
    if (unavailable) return Promise.reject(unavailable);
    return this.ipc.request<T>(method, params, options);
  }

  snapshot(): ServerSnapshot {
    const p = this.process;
    return {
      name: this.name,
      state: p.state,
      pid: p.pid,
      restarts: p.restarts,
      uptimeMs: p.uptimeMs,
      lastExit: p.lastExit,
      health: p.health,
      usage: p.usage,
      serverInfo: this.serverInfo,
      protocolVersion: this.protocolVersion,
      toolCount: this.toolList?.length ?? 0,
      metrics: this.ipc.snapshot(),
      reason: p.reason,
    };
  }

  history(): ServerEvent[] {
    return this.process.history();
  }

  stderrTail(n?: number): string[] {
    return this.process.stderrTail(n);
  }

  // ---------------------------------------------------------------- internals

  /** Checks the call (throws a typed error); async only when the tool list must be (re)loaded first. */
  private prepareCall(tool: string, args: Record<string, unknown>, options: BridgeCallOptions): RequestOptions | Promise<RequestOptions> {
    const unavailable = this.unavailableError();
    if (unavailable) throw unavailable;
    const validating = options.validate !== false && this.capabilities.tools !== undefined;
    if (validating && !this.toolsByName.has(tool)) {
      return this.listTools(this.toolList ? { refresh: true } : {})
        .catch(() => undefined)
        .then(() => this.checkCall(tool, args, options, true));
    }
    return this.checkCall(tool, args, options, validating);
  }

  private checkCall(tool: string, args: Record<string, unknown>, options: BridgeCallOptions, validating: boolean): RequestOptions {
    const info = this.toolsByName.get(tool);
    if (validating) {
      if (this.toolList && !info) {
        const names = this.toolList.map((t) => t.name).join(', ');
        throw new InvalidParamsError(`Unknown tool "${tool}" on server "${this.name}" (available: ${names || 'none'})`, { tool });
      }
      if (info) this.validate(info, args);
    }
    const annotated = info?.annotations?.idempotentHint === true || info?.annotations?.readOnlyHint === true;
    const retryable = options.retryable ?? (annotated || this.retryableTools.has(tool));
    // One object per call (the hot path); IpcManager ignores the bridge-only `validate` key.
    return options.retryable === retryable ? options : { ...options, retryable };
  }

  private validate(tool: ToolInfo, args: Record<string, unknown>): void {
    let check = this.validators.get(tool.name);
    if (!check) {
      try {
        check = this.ajv.compile(tool.inputSchema);
      } catch {
        return; // a schema ajv cannot compile is the server's problem; let the server judge the arguments
      }
      this.validators.set(tool.name, check);
    }
    if (check(args)) return;
    const errors = (check.errors ?? []).map((e) => `${e.instancePath || '(arguments)'} ${e.message ?? 'is invalid'}`);
    throw new InvalidParamsError(`Invalid arguments for ${tool.name}: ${errors.join('; ')}`, { tool: tool.name, errors: check.errors });
  }

  private unavailableError(): IpcError | undefined {
    const state = this.process.state;
    if (state === 'stopped' || state === 'stopping') return new NotConnectedError(`Server "${this.name}" is ${state}`);
    if (state === 'failed') return new NotConnectedError(`Server "${this.name}" failed: ${this.process.reason ?? 'unknown reason'}`);
    return undefined;
  }

  private async fetchTools(): Promise<ToolInfo[]> {
    const tools: ToolInfo[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.request<{ tools: ToolInfo[]; nextCursor?: string }>('tools/list', cursor ? { cursor } : undefined, { priority: 'high' });
      if (!Array.isArray(page?.tools)) throw new ProtocolError('tools/list returned no tools array', page);
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    this.toolList = tools;
    this.toolsByName = new Map(tools.map((t) => [t.name, t]));
    this.validators.clear();
    this.emit('tools', { server: this.name, tools });
    this.scheduleMetrics();
    return tools;
  }

  /** Runs after every spawn: attach the new transport, `initialize`, `notifications/initialized`, resume the queue. */
  private async handshake(transport: StdioTransport): Promise<void> {
    await this.ipc.attach(transport, { paused: true, started: true });
    const timeoutMs = this.config.process?.startupTimeoutMs ?? DEFAULTS.process.startupTimeoutMs;
    const capabilities: Record<string, unknown> = { ...(this.config.roots ? { roots: { listChanged: false } } : {}), ...this.config.capabilities };
    const result = await this.ipc.request<{
      protocolVersion?: string;
      capabilities?: Record<string, unknown>;
      serverInfo?: { name: string; version: string };
      instructions?: string;
    }>('initialize', { protocolVersion: LATEST_LEGACY_PROTOCOL_VERSION, capabilities, clientInfo: this.clientInfo }, { bypassQueue: true, timeoutMs, hardTimeoutMs: timeoutMs });
    const version = result?.protocolVersion;
    if (typeof version !== 'string' || !(LEGACY_PROTOCOL_VERSIONS as readonly string[]).includes(version)) {
      throw new ProtocolError(`Server "${this.name}" answered initialize with unsupported protocol version ${previewValue(version)}`, result);
    }
    this.protocolVersion = version;
    this.capabilities = result.capabilities ?? {};
    this.serverInfo = result.serverInfo ?? null;
    this.instructionsText = result.instructions;
    await this.ipc.notify('notifications/initialized');
    this.ipc.resume();
    // The restarted server may offer other tools: reload in the background (calls wait for it if needed).
    this.toolList = undefined;
    if (this.capabilities.tools !== undefined) {
      this.listTools().catch((error: IpcError) => this.event('tools', 'warn', `tools/list failed: ${error.message}`));
    }
  }

  /** Waits (bounded) for in-flight calls to finish before a planned restart. */
  private async drain(timeoutMs: number): Promise<void> {
    this.ipc.pause();
    const deadline = Date.now() + timeoutMs;
    while (this.ipc.load.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  }

  private wireEvents(): void {
    const p = this.process;
    p.on('state', ({ state, previous, reason }) => {
      this.emit('state', { server: this.name, state, previous, reason });
      if (state === 'failed' || state === 'stopped') {
        const error =
          state === 'failed'
            ? new ServerCrashedError(`Server "${this.name}" failed: ${reason ?? 'unknown reason'}`, {
                exitCode: p.lastExit?.code ?? null,
                signal: p.lastExit?.signal ?? null,
                stderrTail: p.stderrTail(20),
              })
            : new NotConnectedError(`Server "${this.name}" stopped`);
        this.ipc.failAll(error);
      }
      this.scheduleMetrics();
    });
    p.on('event', (event) => this.emit('event', event));
    p.on('stderr', (line) => this.emit('stderr', { server: this.name, line }));
    p.on('usage', () => this.scheduleMetrics());
    this.ipc.on('metrics', () => this.scheduleMetrics());
    this.ipc.on('diagnostic', (d) => this.reportDiagnostic(d));
    this.ipc.on('error', (e) => this.event('log', 'warn', e.message));
    this.ipc.on('notification', (n) => this.emit('notification', { server: this.name, method: n.method, params: n.params }));
    this.ipc.onNotification('notifications/tools/list_changed', () => {
      this.listTools({ refresh: true }).catch((error: IpcError) => this.event('tools', 'warn', `tools/list failed: ${error.message}`));
    });
  }

  /** Diagnostics can come in floods (a server logging to stdout): at most N events a second, then a count. */
  private reportDiagnostic(d: Diagnostic): void {
    const now = Date.now();
    const budget = this.diagnosticBudget;
    if (now - budget.windowStart >= 1000) {
      if (budget.suppressed > 0) this.event('diagnostic', 'warn', `${budget.suppressed} more diagnostics suppressed`);
      budget.windowStart = now;
      budget.count = 0;
      budget.suppressed = 0;
    }
    if (++budget.count > DIAGNOSTIC_EVENTS_PER_SECOND) {
      budget.suppressed++;
      return;
    }
    this.event('diagnostic', d.kind === 'unknown-id' && d.reason === 'late' ? 'debug' : 'warn', describeDiagnostic(d), d);
  }

  private event(type: ServerEvent['type'], level: ServerEvent['level'], message: string, data?: unknown): void {
    this.process.record(type, level, message, data); // kept in the history and re-emitted as 'event'
  }

  private scheduleMetrics(): void {
    if (this.metricsTimer || this.listenerCount('metrics') === 0) return;
    const interval = this.config.queue?.metricsIntervalMs ?? DEFAULTS.queue.metricsIntervalMs;
    this.metricsTimer = setTimeout(() => {
      this.metricsTimer = undefined;
      this.emit('metrics', this.snapshot());
    }, interval);
    this.metricsTimer.unref();
  }
}

export function describeDiagnostic(d: Diagnostic): string {
  switch (d.kind) {
    case 'non-json':
      return `Server wrote a non-JSON line to stdout (${d.bytes} bytes): ${d.preview}`;
    case 'invalid-message':
      return `Invalid JSON-RPC message (${d.reason}): ${d.preview}`;
    case 'oversized':
      return `Skipped a ${d.bytes}-byte message over the ${d.limit}-byte limit${d.id !== undefined ? ` (response to request ${d.id})` : ''}`;
    case 'unknown-id':
      return d.reason === 'late'
        ? `Dropped a late response to request ${String(d.id)} (already timed out or cancelled)`
        : `Response with ${d.reason} id ${String(d.id)}: ${d.preview}`;
    case 'unknown-token':
      return `${d.method} for unknown token ${previewValue(d.token)}`;
  }
}

/** An async iterable that relays another one which is only known later, or fails early. */
class RelayStream implements AsyncIterable<StreamChunk> {
  private source: AsyncIterable<StreamChunk> | undefined;
  private error: IpcError | undefined;
  private wake: (() => void) | undefined;

  follow(source: AsyncIterable<StreamChunk>): void {
    this.source = source;
    this.wake?.();
  }

  fail(error: IpcError): void {
    this.error = error;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamChunk> {
    while (!this.source && !this.error) await new Promise<void>((resolve) => (this.wake = resolve));
    if (!this.source) throw this.error;
    yield* this.source;
  }
}
