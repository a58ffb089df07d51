/**
 * ServerPool: several supervised processes (replicas) of one MCP server behind its name, with the
 * same surface as a single McpBridge (McpServerHandle), so hosts, the gateway and the CLI use it
 * unchanged. `replicas: N` in a server's config makes one; `replicas: {min, max}` scales on queue
 * depth (see PoolScaler for the rules).
 *
 * Routing (PoolDispatcher): the pool keeps the queue; each call goes to the least busy available
 * replica (pool calls running on it + calls waiting for it) as soon as one has a free slot
 * (`queue.maxConcurrent` per replica); `sticky: true` keeps calls with the same `stickyKey` on one
 * replica. `queue.maxQueueSize` bounds the pool's queue.
 *
 * Crashes: a replica is a McpBridge with its own restarts. Calls waiting in the pool are never
 * bound to a replica, so they simply go to the others. Calls a crashed replica was running come
 * back to the pool (attempts run with `maxRetries: 0`): those safe to resend (the tool is annotated
 * idempotent/read-only, listed in `retryableTools`, or the caller said `retryable: true`; reads,
 * prompts and completion) move to another replica at the front of the queue; the others fail with
 * ServerCrashed `outcomeUnknown`, exactly as with a single server. A streamed call moves only
 * before its first chunk.
 *
 * Across replicas:
 * - lists (tools, resources, templates, prompts) come from one available replica (each replica
 *   caches its own and refreshes on its own `list_changed`); `tools` events are sent when the list
 *   differs from the last one sent, not once per replica;
 * - a resource subscription is held on one replica and moved to another when that one stops
 *   running (crash, scale-down, stop);
 * - request handlers, roots and the log level apply to every replica, present and future;
 * - notifications, logs, stderr lines and history events of every replica are forwarded under the
 *   pool's name with the replica's id (`replica`).
 *
 * Policy, approvals, cache and audit (the CallGuard) sit at the pool, in front of its queue, and the
 * replicas run without them: a call is approved once and audited once (one line per caller call,
 * however many replicas it tried), and one result cache serves every replica, so identical calls
 * coalesce and hit whichever replica answered first. Replicas keep only `tools.allow`/`tools.deny`,
 * so their lists and tool counts stay filtered. The cache is dropped on the list and resource
 * changes any replica reports, and whenever a replica (re)starts: a new process may answer differently.
 */
import { signalOf } from '../core/cancellation.js';
import { DEFAULTS } from '../core/defaults.js';
import { Emitter } from '../core/emitter.js';
import { type IpcError, NotConnectedError } from '../core/errors.js';
import type { CacheStats, CallToolResult, ReplicaSnapshot, ServerEvent, ServerSnapshot, ServerState, ToolInfo } from '../core/gateway-protocol.js';
import type { IpcMetricsSnapshot, RequestHandler, StreamingRequest } from '../core/ipc-manager.js';
import type { LoggingLevel } from '../core/mcp-session.js';
import type {
  CompleteResult,
  CompletionReference,
  GetPromptResult,
  PromptInfo,
  ReadResourceResult,
  ResourceInfo,
  ResourceTemplateInfo,
  Root,
} from '../core/mcp-types.js';
import { type HistogramSnapshot } from '../core/metrics.js';
import type { Priority } from '../core/queue.js';
import {
  type BridgeCallOptions,
  type BridgeOptions,
  McpBridge,
  type McpBridgeEvents,
  type McpServerConfig,
  type ResourceUpdate,
  type StreamingCallOptions,
} from './mcp-bridge.js';
import { CallGuard } from './call-guard.js';
import { detached } from './detached.js';
import { ChunkStream } from '../core/chunk-stream.js';
import { type DispatchTarget, PoolDispatcher } from './pool/dispatcher.js';
import { PoolScaler, replicaSettings } from './pool/scaler.js';
import { checkServerConfig } from './options.js';
import { checkOptions, func } from '../core/options.js';
import type { HandleRequestOptions, McpServerHandle, ServerIdentityView } from './server-handle.js';

/** What a pool needs of each replica; McpBridge is the real one. */
export interface PoolReplica extends McpServerHandle {
  isRetryable(tool: string, retryable?: boolean): boolean;
  /** The replica's engine: `connected` while its process can take requests. */
  readonly ipc: { readonly state: string };
}

export interface ServerPoolOptions extends BridgeOptions {
  /**
   * Makes each replica (default: an McpBridge named `NAME#ID`). It gets `resources` and
   * `clientInfo`, never `approvals` or `audit`: those act once per call, at the pool.
   */
  createReplica?: (name: string, config: McpServerConfig, options: BridgeOptions) => PoolReplica;
  /** Clock for the pool's queue and scaling (ms). @default Date.now */
  now?: () => number;
}

interface Replica {
  id: number;
  bridge: PoolReplica;
  retiring: boolean;
  offs: Array<() => void>;
}

interface Subscription {
  listeners: Set<(update: ResourceUpdate) => void>;
  holder: Replica | undefined;
  off: (() => Promise<void>) | undefined;
  /** Bumped on every placement, so a late one for a moved subscription is undone. */
  generation: number;
}

const LOST = new Set(['ServerCrashed', 'NotConnected']);
const EMPTY_HISTOGRAM: HistogramSnapshot = { count: 0, min: 0, max: 0, mean: 0, p50: 0, p95: 0, p99: 0 };

/**
 * Replicas of one MCP server behind its name (see the module comment for routing, crashes, scaling).
 * @example
 * const pool = new ServerPool('rules', { command: 'python3', args: ['server.py'], replicas: { min: 1, max: 4 }, sticky: true });
 * await pool.start();
 * const result = await pool.call('search', { query: 'dragons' }, { stickyKey: 'user-42' });
 * console.log(pool.snapshot().pool?.replicas);  // id, state, pid, load of each replica
 */
export class ServerPool extends Emitter<McpBridgeEvents> implements McpServerHandle {
  readonly name: string;
  /** Replicas kept at least / at most. */
  readonly min: number;
  readonly max: number;
  readonly sticky: boolean;
  private readonly replicaConfig: McpServerConfig;
  private readonly options: ServerPoolOptions;
  private readonly now: () => number;
  private readonly capacity: number;
  private readonly replicas = new Map<number, Replica>();
  /** The replicas in id order, and their dispatch targets (live getters): rebuilt only when replicas come or go. */
  private ordered: Replica[] = [];
  private targetList: DispatchTarget[] = [];
  private readonly dispatcher: PoolDispatcher;
  private readonly scaler: PoolScaler | undefined;
  private readonly handlers = new Map<string, RequestHandler>();
  /** Policy, approvals, cache and audit, once per caller call (see the module comment). */
  private readonly guard: CallGuard;
  /** Questions the servers asked through our handlers: a result produced meanwhile is not cached. */
  private inputsAnswered = 0;
  private readonly uncacheable = new WeakSet<object>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly events: ServerEvent[] = [];
  private readonly stderrLines: string[] = [];
  private readonly historySize: number;
  private readonly stderrSize: number;
  private roots: Root[] | undefined;
  private logLevel: LoggingLevel | undefined;
  /** start() was called and stop() was not: keep `min` replicas, scale. */
  private wanted = false;
  private lastState: ServerState = 'stopped';
  private lastTools: string | undefined;
  private scaleTimer: ReturnType<typeof setTimeout> | undefined;
  private metricsTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why `retire` was called; start() and restart() refuse from then on. */
  private retiredBecause: string | undefined;
  private readonly drainWaiters = new Set<() => void>();
  private scaleTimerAt: number | undefined;
  private scaleUps = 0;
  private scaleDowns = 0;

  constructor(name: string, config: McpServerConfig, options: ServerPoolOptions = {}) {
    super();
    if (config.replicas === undefined) throw new TypeError(`ServerPool "${name}": the config names no replicas`);
    checkServerConfig(config, `ServerPool "${name}": `);
    checkOptions(options, { now: func(), createReplica: func(), createTransport: func(), random: func() });
    const settings = replicaSettings(config.replicas);
    this.name = name;
    this.min = settings.min;
    this.max = settings.max;
    this.sticky = config.sticky === true;
    const { replicas: _replicas, sticky: _sticky, cache, tools, ...rest } = config;
    const replicaConfig: McpServerConfig = rest;
    this.guard = new CallGuard(name, { policy: tools, cache, approvals: options.approvals, audit: options.audit });
    // Replicas filter their lists by allow/deny (tool counts, `tools` events); confirmations and
    // the cache are the pool's alone.
    if (tools?.allow !== undefined || tools?.deny !== undefined) {
      replicaConfig.tools = { ...(tools.allow !== undefined ? { allow: tools.allow } : {}), ...(tools.deny !== undefined ? { deny: tools.deny } : {}) };
    }
    this.replicaConfig = replicaConfig;
    this.options = options;
    this.now = options.now ?? Date.now;
    this.capacity = config.queue?.maxConcurrent ?? DEFAULTS.queue.maxConcurrent;
    this.historySize = config.process?.eventHistory ?? DEFAULTS.process.eventHistory;
    this.stderrSize = config.process?.stderrLines ?? DEFAULTS.process.stderrLines;
    this.scaler = settings.max > settings.min ? new PoolScaler(settings) : undefined;
    this.dispatcher = new PoolDispatcher({
      targets: () => this.targets(),
      maxQueueSize: config.queue?.maxQueueSize ?? DEFAULTS.queue.maxQueueSize,
      sticky: this.sticky,
      maxStickyKeys: DEFAULTS.pool.maxStickyKeys,
      maxReroutes: config.queue?.maxRetries ?? DEFAULTS.queue.maxRetries,
      now: this.now,
      onChange: () => this.loadChanged(),
    });
    for (let i = 0; i < this.min; i++) this.addReplica();
  }

  get state(): ServerState {
    return this.lastState;
  }

  get exposure(): false | { tokens: readonly string[] } {
    const e = this.replicaConfig.expose;
    return e === false ? false : { tokens: e?.tokens ?? [] };
  }

  get server(): ServerIdentityView {
    const replica = this.pick(true) ?? this.sorted()[0];
    return replica ? replica.bridge.server : { era: null, info: null, protocolVersion: null, capabilities: {} };
  }

  /**
   * Starts `min` replicas (again, after a stop). Resolves once every one of them settled, if at
   * least one runs; rejects with the first replica's error when none could start.
   */
  async start(): Promise<void> {
    this.refuseIfRetired('start');
    this.wanted = true;
    while (this.replicas.size < this.min) this.addReplica();
    const replicas = this.sorted();
    const results = await Promise.allSettled(replicas.map((r) => r.bridge.start()));
    if (replicas.some((r) => r.bridge.state === 'running')) return;
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw failure?.reason ?? new NotConnectedError(`Pool "${this.name}" has no running replica`);
  }

  /** Stops every replica; waiting calls fail with NotConnected. Scaled-up replicas are removed. */
  async stop(): Promise<void> {
    this.wanted = false;
    this.clearScaleTimer();
    this.dispatcher.failQueued(new NotConnectedError(`Server "${this.name}" stopped`));
    await Promise.allSettled(this.sorted().map((r) => r.bridge.stop()));
    for (const r of this.sorted().slice(this.min)) this.removeReplica(r, 'pool stopped');
    this.loadChanged();
  }

  /** Rolling restart: one replica after the other, so that the others keep serving. */
  async restart(reason = 'restart requested'): Promise<void> {
    this.refuseIfRetired('restart');
    if (!this.wanted || this.lastState === 'stopped' || this.lastState === 'failed') return this.start();
    for (const r of this.sorted()) {
      if (!this.replicas.has(r.id) || r.retiring) continue;
      await r.bridge.restart(reason).catch((error: IpcError) => this.record('restart', 'warn', `replica ${r.id} did not restart: ${error.message}`, undefined, r.id));
    }
  }

  get retired(): boolean {
    return this.retiredBecause !== undefined;
  }

  async retire(reason: string): Promise<void> {
    this.retiredBecause = reason;
    await this.stop();
  }

  private refuseIfRetired(what: string): void {
    if (this.retiredBecause !== undefined) throw new NotConnectedError(`Server "${this.name}" cannot ${what}: it was retired (${this.retiredBecause})`);
  }

  setRequestHandler(method: string, handler: RequestHandler): void {
    // Counted: an answer given while a call runs may shape its result, which then must not be cached.
    const counted: RequestHandler = (params, context) => {
      this.inputsAnswered++;
      return handler(params, context);
    };
    this.handlers.set(method, counted);
    for (const r of this.replicas.values()) r.bridge.setRequestHandler(method, counted);
  }

  removeRequestHandler(method: string): void {
    this.handlers.delete(method);
    for (const r of this.replicas.values()) r.bridge.removeRequestHandler(method);
  }

  hasRequestHandler(method: string): boolean {
    if (this.handlers.has(method)) return true;
    // Configured `roots` are answered by every replica's own bridge.
    for (const r of this.replicas.values()) return r.bridge.hasRequestHandler(method);
    return false;
  }

  async setRoots(roots: Root[]): Promise<void> {
    this.roots = roots.map((r) => ({ ...r }));
    await this.everyReplica((b) => b.setRoots(roots));
  }

  async setLogLevel(level: LoggingLevel): Promise<void> {
    const unavailable = this.unavailableError();
    if (unavailable) throw unavailable;
    this.logLevel = level;
    await this.everyReplica((b) => (b.state === 'running' ? b.setLogLevel(level) : Promise.resolve()));
  }

  listTools(options: { refresh?: boolean } = {}): Promise<ToolInfo[]> {
    return this.fromOne((b) => b.listTools(options));
  }

  listResources(options: { refresh?: boolean } = {}): Promise<ResourceInfo[]> {
    return this.fromOne((b) => b.listResources(options));
  }

  listResourceTemplates(options: { refresh?: boolean } = {}): Promise<ResourceTemplateInfo[]> {
    return this.fromOne((b) => b.listResourceTemplates(options));
  }

  listPrompts(options: { refresh?: boolean } = {}): Promise<PromptInfo[]> {
    return this.fromOne((b) => b.listPrompts(options));
  }

  /** `resources/read` on one replica; safe to resend, so it moves if its replica is lost (unless `retryable: false`). */
  readResource(uri: string, options: HandleRequestOptions = {}): Promise<ReadResourceResult> {
    const read = (o: HandleRequestOptions) => this.dispatch(`resources/read ${uri}`, o, o.retryable ?? true, (b, x) => b.readResource(uri, x));
    if (!this.guard.active) return read(options);
    const own = signalOf(options);
    return this.guard.readResource<ReadResourceResult>(uri, {
      origin: options.origin,
      signal: own,
      send: (signal) => this.noteInputs(read(signal === own ? options : { ...options, signal })),
      storable: (result) => !this.uncacheable.has(result),
    });
  }

  getPrompt(name: string, args: Record<string, string> = {}, options: HandleRequestOptions = {}): Promise<GetPromptResult> {
    return this.guarded('prompts/get', { name, arguments: args }, options, (o) =>
      this.dispatch(`prompts/get ${name}`, o, o.retryable ?? true, (b, x) => b.getPrompt(name, args, x)),
    );
  }

  complete(
    ref: CompletionReference,
    argument: { name: string; value: string },
    context?: { arguments?: Record<string, string> },
    options: HandleRequestOptions = {},
  ): Promise<CompleteResult> {
    return this.guarded('completion/complete', { ref, argument, ...(context ? { context } : {}) }, options, (o) =>
      this.dispatch('completion/complete', o, o.retryable ?? true, (b, x) => b.complete(ref, argument, context, x)),
    );
  }

  /** Any method, through the pool's queue; moved after a lost replica only with `retryable: true`. */
  request<T = unknown>(method: string, params?: Record<string, unknown>, options: HandleRequestOptions = {}): Promise<T> {
    return this.guarded(method, params, options, (o) => this.dispatch(method, o, o.retryable === true, (b, x) => b.request<T>(method, params, x)));
  }

  /**
   * `tools/call` on the least busy replica (see the class comment for crashes and sticky keys).
   * Rejects only with IpcError subclasses.
   */
  call(tool: string, args: Record<string, unknown> = {}, options: BridgeCallOptions = {}): Promise<CallToolResult> {
    if (!this.guard.active) return this.callReplicas(tool, args, options);
    // Refused before anyone is asked to approve it, but still recorded.
    const unavailable = this.unavailableError();
    if (unavailable) return this.guard.track({ method: 'tools/call', tool }, args, options.origin, () => Promise.reject(unavailable));
    const own = signalOf(options);
    const result = this.guard.callTool(tool, args, {
      origin: options.origin,
      signal: own,
      describe: () => this.fromOne((b) => b.listTools()).then((tools) => tools.find((t) => t.name === tool), () => undefined),
      // A call shared with identical ones (cache coalescing) runs under a signal that aborts when all of them left.
      send: (signal) => this.noteInputs(this.callReplicas(tool, args, signal === own ? options : { ...options, signal })),
      storable: (result) => !this.uncacheable.has(result),
    });
    // A cache hit never reaches a replica (whose metrics would announce it): announce it here.
    if (this.guard.cache) result.then(this.metricsChanged, this.metricsChanged);
    return result;
  }

  /** `tools/call` with the result streamed; the call moves after a lost replica only before its first chunk. */
  callStreaming(tool: string, args: Record<string, unknown> = {}, options: StreamingCallOptions = {}): StreamingRequest<CallToolResult> {
    const relay = new ChunkStream();
    const guard = this.guard;
    let result: Promise<CallToolResult>;
    if (!guard.active) result = this.streamReplicas(tool, args, options, relay);
    else {
      // Streamed results are not cached (their chunks go to one caller), but they are approved and audited once.
      const unavailable = this.unavailableError();
      const run = () =>
        unavailable ? Promise.reject(unavailable) : guard.admit(tool, args, options.origin, signalOf(options)).then(() => this.streamReplicas(tool, args, options, relay));
      result = guard.track({ method: 'tools/call', tool }, args, options.origin, run);
    }
    result.then(
      () => relay.end(),
      (error: IpcError) => relay.fail(error),
    );
    return { result, chunks: relay };
  }

  private readonly metricsChanged = (): void => this.scheduleMetrics();

  /** Runs a non-`tools/call` request through the guard (audit; a raw `tools/call` obeys the policy). */
  private guarded<T>(method: string, params: Record<string, unknown> | undefined, options: HandleRequestOptions, run: (o: HandleRequestOptions) => Promise<T>): Promise<T> {
    if (!this.guard.active) return run(options);
    const own = signalOf(options);
    return this.guard.request<T>(method, params, {
      origin: options.origin,
      signal: own,
      send: (signal) => run(signal === own ? options : { ...options, signal }),
    });
  }

  /**
   * Marks the result uncacheable when a server asked a question while it was being produced (any
   * question counts, also one for a concurrent call: wrongly not caching is cheap, wrongly caching is not).
   */
  private async noteInputs<T extends object>(request: Promise<T>): Promise<T> {
    const before = this.inputsAnswered;
    const result = await request;
    if (this.inputsAnswered !== before && typeof result === 'object' && result !== null) this.uncacheable.add(result);
    return result;
  }

  /** `tools/call` past the guard: through the pool's queue to a replica, moved after a lost one when safe. */
  private callReplicas(tool: string, args: Record<string, unknown>, options: BridgeCallOptions): Promise<CallToolResult> {
    // Checked again: the guard may have waited (for a person, for a coalesced call) while the pool stopped.
    const unavailable = this.unavailableError();
    if (unavailable) return Promise.reject(unavailable);
    let used: PoolReplica | undefined;
    return this.dispatcher.submit({
      label: `tools/call ${tool}`,
      priority: options.priority,
      stickyKey: options.stickyKey,
      signal: signalOf(options),
      hardTimeoutMs: this.hardTimeout(options),
      run: (id, hardTimeoutMs) => {
        used = this.bridgeOf(id);
        return used.call(tool, args, { ...options, hardTimeoutMs, maxRetries: 0 });
      },
      reroutable: (error) => LOST.has(error.code) && used !== undefined && used.isRetryable(tool, options.retryable),
    });
  }

  private streamReplicas(tool: string, args: Record<string, unknown>, options: StreamingCallOptions, relay: ChunkStream): Promise<CallToolResult> {
    const unavailable = this.unavailableError();
    if (unavailable) return Promise.reject(unavailable);
    let delivered = 0;
    let used: PoolReplica | undefined;
    return this.dispatcher.submit({
      label: `tools/call ${tool}`,
      priority: options.priority,
      stickyKey: options.stickyKey,
      signal: signalOf(options),
      hardTimeoutMs: this.hardTimeout(options),
      run: (id, hardTimeoutMs) => {
        used = this.bridgeOf(id);
        // The callback form: the attempt buffers nothing; the relay is the one buffer.
        const attempt: StreamingCallOptions = {
          ...options,
          hardTimeoutMs,
          maxRetries: 0,
          onChunk: (chunk) => {
            delivered++;
            options.onChunk?.(chunk);
            relay.push(chunk);
          },
        };
        return used.call(tool, args, attempt);
      },
      reroutable: (error) => delivered === 0 && LOST.has(error.code) && used !== undefined && used.isRetryable(tool, options.retryable),
    });
  }

  /**
   * Calls `listener` whenever the resource changes. The subscription is held on one replica and
   * moved to another when that one stops running.
   */
  async subscribeResource(uri: string, listener: (update: ResourceUpdate) => void): Promise<() => Promise<void>> {
    const unavailable = this.unavailableError();
    if (unavailable) throw unavailable;
    let sub = this.subscriptions.get(uri);
    if (!sub) {
      sub = { listeners: new Set(), holder: undefined, off: undefined, generation: 0 };
      this.subscriptions.set(uri, sub);
    }
    sub.listeners.add(listener);
    if (!sub.holder) {
      try {
        await this.place(uri, sub);
      } catch (error) {
        sub.listeners.delete(listener);
        if (sub.listeners.size === 0) this.subscriptions.delete(uri);
        throw error;
      }
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const current = this.subscriptions.get(uri);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      this.subscriptions.delete(uri);
      current.generation++;
      const off = current.off;
      current.holder = undefined;
      current.off = undefined;
      await off?.();
    };
  }

  snapshot(): ServerSnapshot {
    const replicas = this.sorted();
    const snaps = replicas.map((r) => r.bridge.snapshot());
    const lead = snaps.find((s) => s.state === 'running') ?? snaps[0];
    const stats = this.dispatcher.stats();
    const replicaSnaps: ReplicaSnapshot[] = replicas.map((r, i) => {
      const s = snaps[i]!;
      return {
        id: r.id,
        state: s.state,
        pid: s.pid,
        restarts: s.restarts,
        uptimeMs: s.uptimeMs,
        lastExit: s.lastExit,
        health: s.health,
        usage: s.usage,
        reason: s.reason,
        retiring: r.retiring,
        load: this.dispatcher.load(r.id),
        subscriptions: [...this.subscriptions.values()].filter((sub) => sub.holder === r).length,
        metrics: s.metrics,
      };
    });
    const usages = snaps.map((s) => s.usage).filter((u) => u !== null);
    const exits = snaps.map((s) => s.lastExit).filter((e) => e !== null);
    const cache = this.guard.stats();
    return {
      name: this.name,
      state: this.lastState,
      pid: lead?.state === 'running' ? lead.pid : null,
      restarts: snaps.reduce((n, s) => n + s.restarts, 0),
      uptimeMs: Math.max(0, ...snaps.map((s) => s.uptimeMs)),
      lastExit: exits.length > 0 ? exits.reduce((a, b) => (b.at > a.at ? b : a)) : null,
      health: {
        rttMs: lead?.health.rttMs ?? null,
        consecutiveFailures: Math.max(0, ...snaps.map((s) => s.health.consecutiveFailures)),
        lastCheckAt: snaps.reduce<number | null>((t, s) => (s.health.lastCheckAt !== null && (t === null || s.health.lastCheckAt > t) ? s.health.lastCheckAt : t), null),
      },
      usage:
        usages.length > 0
          ? {
              cpuPercent: usages.reduce((n, u) => n + u.cpuPercent, 0),
              memoryBytes: usages.reduce((n, u) => n + u.memoryBytes, 0),
              at: Math.max(...usages.map((u) => u.at)),
            }
          : null,
      era: lead?.era ?? null,
      serverInfo: lead?.serverInfo ?? null,
      protocolVersion: lead?.protocolVersion ?? null,
      capabilities: lead?.capabilities ?? null,
      toolCount: lead?.toolCount ?? 0,
      metrics: poolMetrics(snaps.map((s) => s.metrics), stats),
      reason: this.lastState === 'failed' || this.lastState === 'crashed' ? (lead?.reason ?? null) : null,
      pool: {
        min: this.min,
        max: this.max,
        sticky: this.sticky,
        queued: stats.queued,
        rerouted: stats.rerouted,
        scaleUps: this.scaleUps,
        scaleDowns: this.scaleDowns,
        replicas: replicaSnaps,
      },
      ...(cache ? { cache } : {}),
    };
  }

  history(): ServerEvent[] {
    return [...this.events];
  }

  /** The last `n` stderr lines of all replicas in arrival order, each prefixed with `[#ID]`. */
  stderrTail(n?: number): string[] {
    return n === undefined ? [...this.stderrLines] : n <= 0 ? [] : this.stderrLines.slice(-n);
  }

  pids(): number[] {
    return this.sorted().flatMap((r) => r.bridge.pids());
  }

  /** Drops cached results of the pool's one cache (every replica's answers). */
  invalidateCache(what: { tool?: string; uri?: string } = {}): number {
    const dropped = this.guard.invalidate(what);
    this.scheduleMetrics();
    return dropped;
  }

  cacheStats(): CacheStats | undefined {
    return this.guard.stats();
  }

  /** The replica (bridge) with id `id`, for inspection. */
  replica(id: number): PoolReplica | undefined {
    return this.replicas.get(id)?.bridge;
  }

  // ---------------------------------------------------------------- routing

  private targets(): DispatchTarget[] {
    return this.targetList;
  }

  private rebuildTargets(): void {
    this.ordered = [...this.replicas.values()].sort((a, b) => a.id - b.id);
    const capacity = this.capacity;
    // Read on every routing decision (the hot path): no allocation per call.
    this.targetList = this.ordered.map((r) => ({
      id: r.id,
      capacity,
      get available() {
        return !r.retiring && r.bridge.state === 'running' && r.bridge.ipc.state === 'connected';
      },
    }));
  }

  private dispatch<T>(label: string, options: HandleRequestOptions, retryable: boolean, run: (b: PoolReplica, o: HandleRequestOptions) => Promise<T>): Promise<T> {
    const unavailable = this.unavailableError();
    if (unavailable) return Promise.reject(unavailable);
    return this.dispatcher.submit({
      label,
      priority: options.priority as Priority | undefined,
      stickyKey: options.stickyKey,
      signal: signalOf(options),
      hardTimeoutMs: this.hardTimeout(options),
      run: (id, hardTimeoutMs) => run(this.bridgeOf(id), { ...options, hardTimeoutMs, maxRetries: 0 }),
      reroutable: (error) => retryable && LOST.has(error.code),
    });
  }

  private hardTimeout(options: { timeoutMs?: number; hardTimeoutMs?: number }): number {
    const q = this.replicaConfig.queue;
    const timeoutMs = options.timeoutMs ?? q?.timeoutMs ?? DEFAULTS.queue.timeoutMs;
    return options.hardTimeoutMs ?? q?.hardTimeoutMs ?? timeoutMs * DEFAULTS.queue.hardTimeoutFactor;
  }

  private bridgeOf(id: number): PoolReplica {
    const r = this.replicas.get(id);
    if (!r) throw new NotConnectedError(`Replica ${id} of "${this.name}" is gone`);
    return r.bridge;
  }

  /** An available replica, least busy first; with `runningOnly` false, else one that will run (its requests wait). */
  private pick(runningOnly: boolean): Replica | undefined {
    const targets = this.targets().filter((t) => t.available);
    let best: Replica | undefined;
    let bestLoad = Infinity;
    for (const t of targets) {
      const l = this.dispatcher.load(t.id);
      const load = l.inFlight + l.queued;
      if (load < bestLoad) {
        best = this.replicas.get(t.id);
        bestLoad = load;
      }
    }
    if (best || runningOnly) return best;
    return this.sorted().find((r) => !r.retiring && (r.bridge.state === 'starting' || r.bridge.state === 'restarting' || r.bridge.state === 'crashed'));
  }

  private fromOne<T>(f: (b: PoolReplica) => Promise<T>): Promise<T> {
    const unavailable = this.unavailableError();
    if (unavailable) return Promise.reject(unavailable);
    const replica = this.pick(false);
    if (!replica) return Promise.reject(new NotConnectedError(`Server "${this.name}" has no replica that runs or starts`));
    return f(replica.bridge);
  }

  private async everyReplica(f: (b: PoolReplica) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled(this.sorted().map((r) => f(r.bridge)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private unavailableError(): IpcError | undefined {
    const state = this.lastState;
    // Not started, or stop() under way: nothing would ever take the call.
    if (!this.wanted) return new NotConnectedError(`Server "${this.name}" is ${state === 'running' ? 'stopping' : state}`);
    if (state === 'stopped' || state === 'stopping') return new NotConnectedError(`Server "${this.name}" is ${state}`);
    if (state === 'failed') return new NotConnectedError(`Server "${this.name}" failed: every replica failed`);
    return undefined;
  }

  private sorted(): Replica[] {
    return this.ordered;
  }

  // ---------------------------------------------------------------- replicas

  private addReplica(): Replica {
    let id = 0;
    while (this.replicas.has(id)) id++;
    const create = this.options.createReplica ?? ((name, config, options) => new McpBridge(name, config, options));
    // No approvals, no audit: the pool's guard approves and records each call once (see the module comment).
    const bridge = create(`${this.name}#${id}`, this.replicaConfig, { resources: this.options.resources, clientInfo: this.options.clientInfo });
    const replica: Replica = { id, bridge, retiring: false, offs: [] };
    for (const [method, handler] of this.handlers) bridge.setRequestHandler(method, handler);
    if (this.roots) bridge.setRoots(this.roots).catch(() => undefined);
    replica.offs.push(
      bridge.on('state', ({ state }) => this.replicaState(replica, state)),
      bridge.on('event', (event) => this.push({ ...event, server: this.name, message: `[#${id}] ${event.message}`, replica: id })),
      bridge.on('stderr', ({ line }) => {
        this.stderrLines.push(`[#${id}] ${line}`);
        if (this.stderrLines.length > this.stderrSize) this.stderrLines.splice(0, this.stderrLines.length - this.stderrSize);
        this.emit('stderr', { server: this.name, line, replica: id });
      }),
      bridge.on('metrics', () => this.scheduleMetrics()),
      bridge.on('tools', ({ tools }) => this.toolsChanged(tools)),
      bridge.on('notification', (n) => {
        this.invalidateOn(n.method, n.params);
        this.emit('notification', { ...n, server: this.name, replica: id });
      }),
      bridge.on('log', (message) => this.emit('log', { ...message, server: this.name })),
    );
    this.replicas.set(id, replica);
    this.rebuildTargets();
    return replica;
  }

  private removeReplica(replica: Replica, reason: string): void {
    if (this.replicas.get(replica.id) !== replica) return;
    for (const off of replica.offs) off();
    this.replicas.delete(replica.id);
    this.rebuildTargets();
    this.dispatcher.forget(replica.id);
    this.record('state', 'info', `replica ${replica.id} removed: ${reason}`, { replicas: this.replicas.size }, replica.id);
    this.updateState();
    this.scheduleMetrics();
  }

  private replicaState(replica: Replica, state: ServerState): void {
    if (state === 'running') {
      // A new process (restart, scale-up) may answer differently, as a restarted single server may.
      if (this.guard.invalidate() > 0) this.scheduleMetrics();
      if (this.logLevel !== undefined) replica.bridge.setLogLevel(this.logLevel).catch(() => undefined);
    }
    this.dispatcher.targetsChanged();
    this.moveSubscriptions();
    this.updateState();
    this.loadChanged();
  }

  private updateState(): void {
    const states = this.sorted().filter((r) => !r.retiring).map((r) => r.bridge.state);
    const next = aggregateState(states);
    if (next === this.lastState) return;
    const previous = this.lastState;
    this.lastState = next;
    const reason = next === 'failed' ? `every replica failed (${this.sorted()[0]?.bridge.snapshot().reason ?? 'unknown reason'})` : null;
    if (next === 'failed') this.dispatcher.failQueued(new NotConnectedError(`Server "${this.name}" failed: ${reason}`));
    else if (next === 'stopped') this.dispatcher.failQueued(new NotConnectedError(`Server "${this.name}" stopped`));
    this.emit('state', { server: this.name, state: next, previous, reason });
    this.scheduleMetrics();
  }

  /** The pool's cache follows the change notifications of every replica, as a bridge's follows its server's. */
  private invalidateOn(method: string, params: unknown): void {
    if (method === 'notifications/tools/list_changed') this.guard.toolsChanged();
    else if (method === 'notifications/resources/list_changed') this.guard.resourcesChanged();
    else if (method === 'notifications/resources/updated') {
      const uri = (params as { uri?: unknown } | undefined)?.uri;
      if (typeof uri === 'string') this.guard.invalidate({ uri });
    }
  }

  private toolsChanged(tools: ToolInfo[]): void {
    const key = JSON.stringify(tools);
    if (key === this.lastTools) return;
    this.lastTools = key;
    this.emit('tools', { server: this.name, tools });
  }

  // ---------------------------------------------------------------- subscriptions

  /** Holds `uri`'s subscription on an available replica (or, if none is, on one that starts). */
  private async place(uri: string, sub: Subscription): Promise<void> {
    const replica = this.pick(false);
    if (!replica) throw new NotConnectedError(`Server "${this.name}" has no replica to subscribe on`);
    const generation = ++sub.generation;
    sub.holder = replica;
    let off: () => Promise<void>;
    try {
      off = await replica.bridge.subscribeResource(uri, (update) => {
        for (const l of [...sub.listeners]) {
          try {
            l(update);
          } catch (error) {
            this.record('log', 'warn', `resource listener for ${uri} threw: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
      });
    } catch (error) {
      // Not held anywhere: the next change of replica states places it again.
      if (sub.generation === generation) sub.holder = undefined;
      throw error;
    }
    if (sub.generation !== generation || this.subscriptions.get(uri) !== sub) {
      await off(); // moved or dropped meanwhile
      return;
    }
    sub.off = off;
  }

  /** Subscriptions held on a replica that stopped running move to one that runs. */
  private moveSubscriptions(): void {
    for (const [uri, sub] of this.subscriptions) {
      const holder = sub.holder;
      const holderOk = holder && this.replicas.get(holder.id) === holder && !holder.retiring && holder.bridge.state === 'running';
      if (holderOk) continue;
      if (!this.pick(true)) continue; // nowhere better to go yet; moved when a replica runs
      const off = sub.off;
      sub.off = undefined;
      sub.holder = undefined;
      // The old holder forgets it (a restarted replica would subscribe again otherwise).
      off?.().catch(() => undefined);
      this.place(uri, sub).then(
        () => this.record('log', 'info', `subscription to ${uri} moved to replica ${sub.holder?.id ?? '?'}`),
        (error: IpcError) => this.record('log', 'warn', `could not move the subscription to ${uri}: ${error.message}`),
      );
    }
  }

  // ---------------------------------------------------------------- scaling

  /** After any change of load or replicas: wake drain waiters, consider scaling, refresh metrics. */
  private loadChanged(): void {
    for (const wake of [...this.drainWaiters]) wake();
    this.scheduleMetrics();
    if (!this.scaler || !this.wanted) return;
    const active = this.sorted().filter((r) => !r.retiring);
    const now = this.now();
    const decision = this.scaler.decide(
      {
        replicas: active.length,
        starting: active.filter((r) => r.bridge.state === 'starting').length,
        queued: this.dispatcher.queued,
        inFlight: this.dispatcher.inFlight,
        capacity: this.capacity,
      },
      now,
    );
    if (decision.action === 'up') {
      this.clearScaleTimer();
      this.scaleUp(now);
    } else if (decision.action === 'down') {
      this.clearScaleTimer();
      this.scaleDown(now, active);
    } else if (decision.recheckAt !== this.scaleTimerAt) {
      // Re-armed only when the time changes: this runs after every call of a busy pool.
      this.clearScaleTimer();
      if (decision.recheckAt !== undefined) {
        this.scaleTimerAt = decision.recheckAt;
        // Background work: no caller's context (see detached.ts) for the scale-up it may start.
        this.scaleTimer = detached(() =>
          setTimeout(() => {
            this.scaleTimer = undefined;
            this.scaleTimerAt = undefined;
            this.loadChanged();
          }, Math.max(0, decision.recheckAt! - now)),
        );
        this.scaleTimer.unref?.();
      }
    }
  }

  private scaleUp(now: number): void {
    this.scaler!.stepped(now);
    this.scaleUps++;
    // Runs inside whichever call raised the load; the replica must not belong to that call (detached.ts).
    const replica = detached(() => this.addReplica());
    this.record('state', 'info', `scaling up: replica ${replica.id} added (${this.dispatcher.queued} calls waiting)`, { replicas: this.replicas.size }, replica.id);
    detached(() => replica.bridge.start()).catch((error: IpcError) => {
      this.record('state', 'warn', `replica ${replica.id} did not start: ${error.message}`, undefined, replica.id);
      void replica.bridge.stop().finally(() => this.removeReplica(replica, 'did not start'));
    });
    this.loadChanged();
  }

  /** Retires the least busy replica (the newest among equals): no new calls, drain, stop, remove. */
  private scaleDown(now: number, active: Replica[]): void {
    let victim: Replica | undefined;
    for (const r of active) {
      if (!victim || this.dispatcher.load(r.id).inFlight <= this.dispatcher.load(victim.id).inFlight) victim = r;
    }
    if (!victim) return;
    this.scaler!.stepped(now);
    this.scaleDowns++;
    const replica = victim;
    replica.retiring = true;
    this.record('state', 'info', `scaling down: retiring replica ${replica.id}`, { replicas: active.length - 1 }, replica.id);
    this.dispatcher.targetsChanged();
    this.moveSubscriptions();
    void this.drained(replica)
      .then(() => replica.bridge.stop())
      .catch(() => undefined)
      .finally(() => this.removeReplica(replica, 'scaled down'));
  }

  /** Resolves when no pool call runs on `replica` any more, or after half the shutdown budget. */
  private drained(replica: Replica): Promise<void> {
    const budget = (this.replicaConfig.process?.shutdownTimeoutMs ?? DEFAULTS.process.shutdownTimeoutMs) / 2;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, budget);
      timer.unref?.();
      const check = () => {
        if (this.dispatcher.load(replica.id).inFlight === 0) done();
      };
      function done(): void {
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      }
      const waiters = this.drainWaiters;
      waiters.add(check);
      check();
    });
  }

  private clearScaleTimer(): void {
    if (this.scaleTimer) clearTimeout(this.scaleTimer);
    this.scaleTimer = undefined;
    this.scaleTimerAt = undefined;
  }

  // ---------------------------------------------------------------- events

  private record(type: ServerEvent['type'], level: ServerEvent['level'], message: string, data?: unknown, replica?: number): void {
    const event: ServerEvent = { time: Date.now(), server: this.name, type, level, message };
    if (data !== undefined) event.data = data;
    if (replica !== undefined) event.replica = replica;
    this.push(event);
  }

  private push(event: ServerEvent): void {
    this.events.push(event);
    if (this.events.length > this.historySize) this.events.splice(0, this.events.length - this.historySize);
    this.emit('event', event);
  }

  private scheduleMetrics(): void {
    if (this.metricsTimer || this.listenerCount('metrics') === 0) return;
    const interval = this.replicaConfig.queue?.metricsIntervalMs ?? DEFAULTS.queue.metricsIntervalMs;
    this.metricsTimer = detached(() =>
      setTimeout(() => {
        this.metricsTimer = undefined;
        this.emit('metrics', this.snapshot());
      }, interval),
    );
    this.metricsTimer.unref?.();
  }
}

/** The state of a pool from its replicas': running while any runs. */
export function aggregateState(states: readonly ServerState[]): ServerState {
  if (states.length === 0) return 'stopped';
  if (states.includes('running')) return 'running';
  for (const s of ['starting', 'restarting', 'crashed', 'stopping'] as const) if (states.includes(s)) return s;
  return states.every((s) => s === 'failed') ? 'failed' : 'stopped';
}

/** Replica metrics summed, plus the pool's own queue, latency and queue wait. */
function poolMetrics(replicas: IpcMetricsSnapshot[], stats: ReturnType<PoolDispatcher['stats']>): IpcMetricsSnapshot {
  const sum = (f: (m: IpcMetricsSnapshot) => number) => replicas.reduce((n, m) => n + f(m), 0);
  const throughput = sum((m) => m.throughput);
  const byPriority = { ...stats.queuedByPriority };
  for (const m of replicas) for (const p of Object.keys(byPriority) as Priority[]) byPriority[p] += m.queueDepthByPriority[p] ?? 0;
  return {
    requests: sum((m) => m.requests),
    responses: sum((m) => m.responses),
    errors: sum((m) => m.errors) + stats.timeouts + stats.refused,
    timeouts: sum((m) => m.timeouts) + stats.timeouts,
    cancels: sum((m) => m.cancels) + stats.cancels,
    retries: sum((m) => m.retries) + stats.rerouted,
    lateResponses: sum((m) => m.lateResponses),
    diagnostics: sum((m) => m.diagnostics),
    notificationsIn: sum((m) => m.notificationsIn),
    inFlight: sum((m) => m.inFlight),
    queueDepth: stats.queued + sum((m) => m.queueDepth),
    queueDepthByPriority: byPriority,
    latency: stats.latency.count > 0 ? stats.latency : (replicas[0]?.latency ?? EMPTY_HISTOGRAM),
    queueWait: stats.queueWait,
    throughput,
    errorRate: throughput > 0 ? Math.min(1, replicas.reduce((n, m) => n + m.errorRate * m.throughput, 0) / throughput) : 0,
  };
}
