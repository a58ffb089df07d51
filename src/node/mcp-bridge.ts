/**
 * McpBridge: one MCP server, supervised. Joins a ProcessManager (spawn, health, restarts) to an
 * IpcManager (queue, timeouts, retries, metrics) and speaks MCP on top through an McpSession
 * (core), which settles the era after every (re)start — `server/discover` (modern, stateless) or
 * the `initialize` handshake (legacy). The bridge offers the whole client surface: tools with
 * schema-checked arguments and results (and tasks), resources, templates and subscriptions,
 * prompts, completion, logging, roots; lists are cached and invalidated by `list_changed`.
 *
 * Crash semantics: in-flight calls fail at once with ServerCrashed, except calls to tools annotated
 * idempotent/read-only (or marked retryable), which are resent after the restart; queued calls wait
 * for the restarted server. When the server is stopped or given up on, everything pending fails.
 */
import type { Ajv } from 'ajv';
import { type Cancellation, signalOf } from '../core/cancellation.js';
import { applyElicitationDefaults } from '../core/elicitation.js';
import { Emitter } from '../core/emitter.js';
import { RateWindow } from '../core/rate-window.js';
import { type HintedList, ListCache, fetchAllPages } from '../core/list-cache.js';
import { LOGGING_LEVELS, type LoggingLevel, McpSession, type McpServerIdentity } from '../core/mcp-session.js';
import { type McpTaskOptions, runAsTask, taskSupportOf } from '../core/mcp-tasks.js';
import type {
  CompleteResult,
  CompletionReference,
  GetPromptResult,
  LogMessage,
  PromptInfo,
  ReadResourceResult,
  ResourceInfo,
  ResourceTemplateInfo,
  Root,
} from '../core/mcp-types.js';
import type { McpEra } from '../core/mcp-versions.js';
import { createAjv, DRAFT_07, OutputChecker, speaksDialect } from './output-schema.js';
import { compileSimpleSchema, type SchemaCheck } from './simple-schema.js';
import type { ApprovalQueue } from './approvals.js';
import type { AuditSink } from './audit-log.js';
import { CallGuard, type CallOrigin } from './call-guard.js';
import { detached } from './detached.js';
import type { CacheConfig } from './result-cache.js';
import type { ToolPolicyConfig } from './tool-policy.js';
import { InvalidParamsError, type IpcError, NotConnectedError, ProtocolError, ServerCrashedError } from '../core/errors.js';
import type {
  CacheStats,
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
import { type Diagnostic, previewValue, type RequestId } from '../core/jsonrpc.js';
import { backoffDelay } from '../core/backoff.js';
import type { Priority } from '../core/queue.js';
import { DEFAULTS } from '../core/defaults.js';
import { ProcessManager, type ProcessManagerOptions, type ProcessTransport, type ProcessTransportFactory } from './process-manager.js';
import type { RemoteAuthConfig } from './remote-auth.js';
import type { ResourceManager } from './resource-manager.js';
import type { ReplicasConfig } from './pool/scaler.js';
import type { McpServerHandle } from './server-handle.js';
import type { StdioTransport } from './stdio-transport.js';
import { traceBridgeRequest } from './tracing.js';
import { tracingActive } from '../core/tracing.js';
import type { RemoteTlsConfig } from './tls.js';
import { redactUrl, StreamableHttpTransport } from './transports/streamable-http.js';
import { checkServerConfig } from './options.js';
import { checkOptions, func } from '../core/options.js';

export interface McpServerConfig {
  /** The server's command (a local server over stdio). Exactly one of `command` and `url`. */
  command?: string;
  /**
   * A remote MCP server's Streamable HTTP endpoint (e.g. `https://mcp.example.com/mcp`): supervised
   * like a process whose start is the connection and whose exit is a broken one.
   */
  url?: string;
  /** Remote servers: headers sent with every request (e.g. `{ "X-API-Key": "…" }`). */
  headers?: Record<string, string>;
  /** Remote servers: a bearer token or OAuth 2.1 (see RemoteAuthConfig). */
  auth?: RemoteAuthConfig;
  /** Remote servers: a CA to trust and/or a client certificate (see RemoteTlsConfig). */
  tls?: RemoteTlsConfig;
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
  roots?: Root[];
  /**
   * Extra client capabilities to declare (in `initialize`, or in every modern request's `_meta`).
   * Those of registered handlers (`roots/list`, `sampling/createMessage`, `elicitation/create`)
   * are declared without this; a capability named here without a handler gets -32601 answers.
   */
  capabilities?: Record<string, unknown>;
  /**
   * Protocol revisions to offer, newest first. Only legacy ones skip the `server/discover` probe.
   * @default every revision mcp-ipc speaks (MODERN_PROTOCOL_VERSIONS, then LEGACY_PROTOCOL_VERSIONS)
   */
  protocolVersions?: readonly string[];
  /** How long the `server/discover` probe may take before falling back to `initialize`. @default 5000 */
  probeTimeoutMs?: number;
  /**
   * Opt-in result cache: results of the named tools (or of every `readOnlyHint` tool) for `ttlMs`;
   * `resources/read` and list results for as long as the server's `ttlMs` hint says. See CacheConfig.
   * @default no cache
   */
  cache?: CacheConfig;
  /** Tool policy: `allow` / `deny` glob patterns, `confirm` tools that wait for a person. @default every tool allowed */
  tools?: ToolPolicyConfig;
  /**
   * Run this many processes of the server behind its name (a ServerPool), or between `min` and
   * `max` scaled on queue depth. Each call goes to the least busy running replica.
   * @default undefined (one process, an McpBridge)
   */
  replicas?: number | ReplicasConfig;
  /**
   * Pools only: calls with the same `stickyKey` (the gateway passes its connection) go to the same replica.
   * @default false
   */
  sticky?: boolean;
  /**
   * How `serve` exposes the server at `/mcp/NAME` (MCP Streamable HTTP): `false` keeps it off the
   * endpoint; `tokens` are bearer tokens that open this server only (the gateway's token opens every
   * server). In a config file: `"expose": false`, `"expose": { "token": "${env:NAME}" }` or `{ "tokens": [...] }`.
   * @default exposed, the gateway's token only
   */
  expose?: ExposeConfig | false;
}

/** A server's `/mcp/NAME` exposure (see McpServerConfig.expose). */
export interface ExposeConfig {
  /** Bearer tokens accepted for this server besides the gateway's own. @default [] */
  tokens?: string[];
}

export interface BridgeCallOptions {
  timeoutMs?: number;
  hardTimeoutMs?: number;
  priority?: Priority;
  signal?: AbortSignal;
  /** Cancels the call like `signal`, without an AbortSignal per call (see RequestOptions.cancel). */
  cancel?: Cancellation;
  onProgress?: (progress: Progress) => void;
  /** Safe to resend after a crash (default: from the tool's idempotent/read-only annotations). */
  retryable?: boolean;
  /** Check the arguments against the tool's inputSchema, and structuredContent against its outputSchema (default true). */
  validate?: boolean;
  /**
   * Extra `_meta` for the request (merged under mcp-ipc's own keys). With tracing on, its
   * `traceparent` / `tracestate` are replaced by those of the bridge's span.
   */
  _meta?: Record<string, unknown>;
  /** Called when the request leaves the queue, with its wait (ms); see RequestOptions.onSend. */
  onSend?: (queuedMs: number) => void;
  /**
   * Run as a task when the tool allows it (`execution.taskSupport: 'optional'`); tools that
   * require it always run as tasks. @default false
   */
  task?: boolean;
  /** Task settings (deadline, poll interval, status updates); see McpTaskOptions. */
  taskOptions?: Omit<McpTaskOptions, 'signal' | 'onProgress' | 'request'>;
  /** Where the call came from (audit log, confirmation dialog, per-client cache scope). @default { door: 'api' } */
  origin?: CallOrigin;
  /** Pools with `sticky: true` send calls with the same key to the same replica; a single server ignores it. */
  stickyKey?: string;
  /** Resends after a lost connection (default: `queue.maxRetries`); a pool passes 0 and moves the call itself. */
  maxRetries?: number;
}

/** RequestOptions plus where the request came from. */
export type BridgeRequestOptions = RequestOptions & { origin?: CallOrigin };

export interface StreamingCallOptions extends BridgeCallOptions {
  onChunk?: (chunk: StreamChunk) => void;
}

export interface McpBridgeEvents extends Record<string, unknown> {
  state: GatewayEvents['server/state'];
  event: ServerEvent;
  /** `replica`: which replica of a pool wrote the line. */
  stderr: { server: string; line: string; replica?: number };
  /** A fresh snapshot, at most once per metrics interval while something changes. */
  metrics: ServerSnapshot;
  tools: { server: string; tools: ToolInfo[] };
  notification: { server: string; method: string; params: unknown; replica?: number };
  /** The server's `notifications/message` (MCP logging); stderr lines stay on `stderr`. */
  log: LogMessage;
}

export interface BridgeOptions<T extends ProcessTransport = StdioTransport> {
  resources?: ResourceManager;
  clientInfo?: { name: string; version: string };
  /** Where `tools.confirm` calls wait for a person (McpHost shares one); without it they are refused. */
  approvals?: ApprovalQueue;
  /** Receives one record per call (McpHost's `audit` option). */
  audit?: AuditSink;
  /**
   * Makes the transport of each (re)spawn, handed to the ProcessManager. With a scripted transport
   * (e.g. one over a MemoryTransport pair) the bridge's restart, health, retry and validation
   * policies run in unit tests without a child process.
   * @default a StdioTransport on the config's command
   */
  createTransport?: ProcessTransportFactory<T>;
  /**
   * The engine's clock (ms) and retry jitter (fake timers in tests).
   * @default performance.now() and Math.random
   */
  now?: () => number;
  random?: () => number;
}

/** Characters of a log message's data kept in the event history's line. */
const LOG_TEXT_CHARS = 2000;
/**
 * The options of a call made without any: shared, since the engine keeps a request's options for
 * as long as it is pending (a fresh `{}` per call was ~50 bytes of every pending request).
 */
const NO_OPTIONS: BridgeCallOptions = Object.freeze({});
const CLIENT_INFO = { name: 'mcp-ipc', version: '0.1.0' };
const DIAGNOSTIC_EVENTS_PER_SECOND = 20;
const METHOD_RESOURCE_UPDATED = 'notifications/resources/updated';
const METHOD_LISTEN = 'subscriptions/listen';
const METHOD_LISTEN_ACK = 'notifications/subscriptions/acknowledged';
const METHOD_CANCELLED = 'notifications/cancelled';
/** Names the stream a message belongs to: the JSON-RPC id of its `subscriptions/listen` request. */
const META_SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';

/** One modern change stream: a `subscriptions/listen` request kept open. */
interface ListenStream {
  readonly controller: AbortController;
  /** The listen request's JSON-RPC id once written: the stream's subscription id. */
  id: RequestId | undefined;
  /** When the server acknowledged it (the engine's clock); undefined until then. */
  acknowledgedAt: number | undefined;
}

/** A resource changed (`notifications/resources/updated`). */
export interface ResourceUpdate {
  uri: string;
  [k: string]: unknown;
}

/** MCP log levels → the history's levels. */
const HISTORY_LEVEL: Record<LoggingLevel, ServerEvent['level']> = {
  debug: 'debug',
  info: 'info',
  notice: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'error',
  alert: 'error',
  emergency: 'error',
};

export class McpBridge<T extends ProcessTransport = ProcessTransport> extends Emitter<McpBridgeEvents> implements McpServerHandle {
  readonly name: string;
  readonly ipc: IpcManager;
  readonly process: ProcessManager<T>;
  /** The MCP protocol layer (era, envelope, `input_required` rounds). */
  readonly session: McpSession;
  private readonly config: McpServerConfig;
  /** Made on the first input schema beyond simple-schema.ts's subset (see createAjv). */
  private ajv: Ajv | undefined;
  /** Per tool: its compiled argument check, or null when its schema accepts any object (nothing to run). */
  private readonly validators = new Map<string, SchemaCheck | null>();
  private readonly output = new OutputChecker();
  /** When the tool list was last fetched or re-fetched for an unknown tool (engine clock); see prepareCall. */
  private toolsCheckedAt = -Infinity;
  /** Policy, cache and audit: what every door's calls go through (skipped when none is configured). */
  private readonly guard: CallGuard;
  private readonly retryableTools: Set<string>;
  private readonly tools: ListCache<ToolInfo>;
  private readonly resources: ListCache<ResourceInfo>;
  private readonly templates: ListCache<ResourceTemplateInfo>;
  private readonly prompts: ListCache<PromptInfo>;
  private toolsByName = new Map<string, ToolInfo>();
  private identity: McpServerIdentity | undefined;
  private roots: Root[] | undefined;
  private readonly resourceListeners = new Map<string, Set<(update: ResourceUpdate) => void>>();
  /** The modern era's change-notification stream (`subscriptions/listen`), while open. */
  private listen: ListenStream | undefined;
  /** Reopening a stream that ended while the server runs: reopens in a row, and the pending one. */
  private listenReopens = 0;
  private listenReopenTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly now: () => number;
  private readonly random: () => number;
  private metricsTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why `retire` was called; start() and restart() refuse from then on. */
  private retiredBecause: string | undefined;
  private readonly diagnosticWindow = new RateWindow(DIAGNOSTIC_EVENTS_PER_SECOND, 1000);
  /** Questions the server asked through our handlers (sampling, elicitation, …): see `uncacheable`. */
  private inputsAnswered = 0;
  /**
   * Results of calls during which the server asked a question: they depend on answers that are not
   * part of the cache key (the 2026-07-28 rule for `input_required` retries), so they are not kept.
   */
  private readonly uncacheable = new WeakSet<object>();

  /** @throws TypeError when a setting is out of range (the message names the server, the setting and its value). */
  constructor(name: string, config: McpServerConfig, options: BridgeOptions<T> = {}) {
    super();
    checkServerConfig(config, `Server "${name}": `);
    checkOptions(options, { createTransport: func(), now: func(), random: func() });
    this.name = name;
    this.config = config;
    this.retryableTools = new Set(config.retryableTools ?? []);
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.guard = new CallGuard(name, { policy: config.tools, cache: config.cache, approvals: options.approvals, audit: options.audit });
    this.ipc = new IpcManager(undefined, {
      ...config.queue,
      holdQueueOnDisconnect: true,
      ...(options.now ? { now: options.now } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
    this.session = new McpSession(this.ipc, {
      clientInfo: options.clientInfo ?? CLIENT_INFO,
      capabilities: config.capabilities,
      protocolVersions: config.protocolVersions,
      probeTimeoutMs: config.probeTimeoutMs,
    });
    this.tools = new ListCache(
      () => this.fetchList<ToolInfo>('tools/list', 'tools'),
      (tools) => {
        this.toolsCheckedAt = this.ipc.options.now!();
        this.toolsByName = new Map(tools.map((t) => [t.name, t]));
        this.validators.clear();
        this.output.clear();
        this.emit('tools', { server: this.name, tools: this.guard.visibleTools(tools) });
        this.scheduleMetrics();
      },
    );
    this.resources = new ListCache(() => this.fetchList<ResourceInfo>('resources/list', 'resources'));
    this.templates = new ListCache(() => this.fetchList<ResourceTemplateInfo>('resources/templates/list', 'resourceTemplates'));
    this.prompts = new ListCache(() => this.fetchList<PromptInfo>('prompts/list', 'prompts'));
    if ((config.command === undefined) === (config.url === undefined)) {
      throw new TypeError(`Server "${name}" needs exactly one of "command" (a local server) and "url" (a remote one)`);
    }
    const remote = config.url;
    // A factory in the config's process section (typed for the default transport) yields to the injected one.
    const { createTransport: configured, ...processConfig } = config.process ?? {};
    let createTransport = options.createTransport ?? (configured as ProcessTransportFactory<T> | undefined);
    if (remote !== undefined && !options.createTransport) {
      // A remote server is a "process" whose spawn is a connection (see StreamableHttpTransport).
      const params = { url: remote, headers: config.headers, auth: config.auth, tls: config.tls };
      createTransport = ((_p, o) =>
        new StreamableHttpTransport(params, { stderrLines: o.stderrLines, shutdownTimeoutMs: o.shutdownTimeoutMs })) as ProcessTransportFactory<ProcessTransport> as unknown as ProcessTransportFactory<T>;
    }
    this.process = new ProcessManager<T>(
      name,
      // A remote server's "command" names it in events, resource meta and errors: never with its secrets.
      remote !== undefined ? { command: redactUrl(remote) } : { command: config.command!, args: config.args, env: config.env, inheritEnv: config.inheritEnv, cwd: config.cwd },
      {
        onSpawn: (transport) => this.handshake(transport),
        ping: (timeoutMs) => this.session.healthCheck(timeoutMs),
        drain: (timeoutMs) => this.drain(timeoutMs),
      },
      { ...processConfig, resources: options.resources, createTransport },
    );
    this.wireEvents();
    if (config.roots) this.roots = config.roots;
    if (this.roots) this.ipc.setRequestHandler('roots/list', () => ({ roots: this.roots ?? [] }));
  }

  get state(): ServerState {
    return this.process.state;
  }

  /** Its `expose` setting: false when it is kept off `/mcp/NAME`, else its own bearer tokens. */
  get exposure(): false | { tokens: readonly string[] } {
    const e = this.config.expose;
    return e === false ? false : { tokens: e?.tokens ?? [] };
  }

  /** What the server said about itself (`server/discover` or `initialize`), and the era spoken. */
  get server(): {
    era: McpEra | null;
    info: { name: string; version: string } | null;
    protocolVersion: string | null;
    capabilities: Record<string, unknown>;
    instructions?: string;
  } {
    const id = this.identity;
    return {
      era: id?.era ?? null,
      info: id?.serverInfo ?? null,
      protocolVersion: id?.protocolVersion ?? null,
      capabilities: id?.capabilities ?? {},
      ...(id?.instructions !== undefined ? { instructions: id.instructions } : {}),
    };
  }

  /** Starts the server and settles the era (probe or handshake). Rejects if it cannot be brought up. */
  async start(): Promise<void> {
    this.refuseIfRetired('start');
    await this.process.start();
  }

  /** Stops the server gracefully; everything pending fails with NotConnected. */
  async stop(): Promise<void> {
    this.closeListen();
    await this.process.stop();
  }

  async restart(reason = 'restart requested'): Promise<void> {
    this.refuseIfRetired('restart');
    await this.process.restart(reason);
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

  /**
   * Answers the server's requests to the host (`roots/list`, `sampling/createMessage`,
   * `elicitation/create`, …) — legacy server→client requests and modern `input_required` rounds
   * alike. Registering one declares its capability; unknown methods get -32601. Accepted
   * elicitation forms get the `default`s of the requested schema for fields left out.
   */
  setRequestHandler(method: string, handler: RequestHandler): void {
    // Counted: an answer given while a call runs may shape its result, which then must not be cached.
    const counted: RequestHandler = (params, context) => {
      this.inputsAnswered++;
      return handler(params, context);
    };
    if (method === 'elicitation/create') {
      this.ipc.setRequestHandler(method, async (params, context) => applyElicitationDefaults(params, await counted(params, context)));
    } else this.ipc.setRequestHandler(method, counted);
  }

  removeRequestHandler(method: string): void {
    this.ipc.removeRequestHandler(method);
  }

  /** Whether requests of `method` from the server are answered here (a handler, or configured `roots`). */
  hasRequestHandler(method: string): boolean {
    return this.ipc.inbound.hasRequestHandler(method);
  }

  /**
   * Replaces the roots offered to the server (declares `roots`, answers `roots/list`) and tells a
   * connected legacy server with `notifications/roots/list_changed` (modern servers ask per request).
   */
  async setRoots(roots: Root[]): Promise<void> {
    this.roots = roots.map((r) => ({ ...r }));
    if (!this.ipc.inbound.hasRequestHandler('roots/list')) this.ipc.setRequestHandler('roots/list', () => ({ roots: this.roots ?? [] }));
    if (this.identity?.era === 'legacy' && this.ipc.state === 'connected') await this.ipc.notify('notifications/roots/list_changed');
  }

  /**
   * The level of `notifications/message` the server should send (they arrive on `log`): the
   * legacy `logging/setLevel`, or in the modern era a `_meta` key on every request. Kept across restarts.
   */
  async setLogLevel(level: LoggingLevel): Promise<void> {
    const unavailable = this.unavailableError();
    if (unavailable) throw unavailable;
    await this.session.setLogLevel(level);
  }

  /** The server's tools, cached; refreshed on `notifications/tools/list_changed` and after restarts. */
  listTools(options: { refresh?: boolean } = {}): Promise<ToolInfo[]> {
    // Denied tools are hidden (tools.allow / tools.deny); the bridge itself keeps the whole list.
    return this.guard.policy.empty ? this.tools.get(options) : this.tools.get(options).then((tools) => this.guard.visibleTools(tools));
  }

  /** `resources/list`, every page; cached until `notifications/resources/list_changed` or a restart. */
  listResources(options: { refresh?: boolean } = {}): Promise<ResourceInfo[]> {
    return this.resources.get(options);
  }

  /** `resources/templates/list`, every page; cached like `listResources`. */
  listResourceTemplates(options: { refresh?: boolean } = {}): Promise<ResourceTemplateInfo[]> {
    return this.templates.get(options);
  }

  /** `prompts/list`, every page; cached until `notifications/prompts/list_changed` or a restart. */
  listPrompts(options: { refresh?: boolean } = {}): Promise<PromptInfo[]> {
    return this.prompts.get(options);
  }

  /**
   * `resources/read`. With a `cache` section, answers are kept as long as the server's `ttlMs`
   * hint says (a `cacheScope: "private"` one only for the same `origin.client`), until
   * `notifications/resources/updated` for the URI, `resources/list_changed` or a restart.
   */
  readResource(uri: string, options: BridgeRequestOptions = NO_OPTIONS): Promise<ReadResourceResult> {
    if (!this.guard.active) return this.request<ReadResourceResult>('resources/read', { uri }, options);
    const own = signalOf(options);
    return this.guard.readResource<ReadResourceResult>(uri, {
      origin: options.origin,
      signal: own,
      send: (signal) => this.noteInputs(this.send<ReadResourceResult>('resources/read', { uri }, signal === own ? options : { ...options, signal })),
      storable: (result) => !this.uncacheable.has(result),
    });
  }

  /**
   * Marks the result uncacheable when the server asked a question while it was being produced. Any
   * question counts, also one for a concurrent call: wrongly not caching is cheap, wrongly caching is not.
   */
  private async noteInputs<T extends object>(request: Promise<T>): Promise<T> {
    const before = this.inputsAnswered;
    const result = await request;
    if (this.inputsAnswered !== before && typeof result === 'object' && result !== null) this.uncacheable.add(result);
    return result;
  }

  /** `prompts/get` with the prompt's arguments (strings, per MCP). */
  getPrompt(name: string, args: Record<string, string> = {}, options: BridgeRequestOptions = NO_OPTIONS): Promise<GetPromptResult> {
    return this.request<GetPromptResult>('prompts/get', { name, arguments: args }, options);
  }

  /**
   * `completion/complete`: suggestions for one argument of a prompt or resource template;
   * `context.arguments` are the values already chosen for the others.
   */
  complete(
    ref: CompletionReference,
    argument: { name: string; value: string },
    context?: { arguments?: Record<string, string> },
    options: BridgeRequestOptions = NO_OPTIONS,
  ): Promise<CompleteResult> {
    return this.request<CompleteResult>('completion/complete', { ref, argument, ...(context ? { context } : {}) }, options);
  }

  /**
   * Calls `listener` whenever the resource at `uri` changes, until the returned function is
   * called. Legacy servers get `resources/subscribe` / `resources/unsubscribe`; modern ones one
   * `subscriptions/listen` stream naming every subscribed URI. Re-established after restarts.
   */
  async subscribeResource(uri: string, listener: (update: ResourceUpdate) => void): Promise<() => Promise<void>> {
    const unavailable = this.unavailableError();
    if (unavailable) throw unavailable;
    let set = this.resourceListeners.get(uri);
    const first = !set;
    if (!set) this.resourceListeners.set(uri, (set = new Set()));
    set.add(listener);
    if (first) {
      try {
        await this.subscribeOnServer(uri);
      } catch (error) {
        set.delete(listener);
        if (set.size === 0) this.resourceListeners.delete(uri);
        throw error;
      }
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const current = this.resourceListeners.get(uri);
      if (!current?.delete(listener) || current.size > 0) return;
      this.resourceListeners.delete(uri);
      if (this.ipc.state !== 'connected') return;
      if (this.identity?.era === 'legacy' && this.canSubscribe()) await this.send('resources/unsubscribe', { uri });
      else if (this.identity?.era === 'modern') await this.openListen();
    };
  }

  /**
   * `tools/call`. Rejects only with IpcError subclasses; a tool's own failure is a result with
   * `isError`. Tools whose `execution.taskSupport` is `required` (or `optional` with `task: true`)
   * run as tasks: the call resolves with the task's final result. `structuredContent` is checked
   * against the tool's `outputSchema` (OutputSchemaMismatchError).
   */
  call(tool: string, args: Record<string, unknown> = {}, options: BridgeCallOptions = NO_OPTIONS): Promise<CallToolResult> {
    if (!tracingActive()) return this.callGuarded(tool, args, options);
    // The span covers the whole call, a cached answer included (it then has no queue-wait child).
    return traceBridgeRequest(this.spanTarget('tools/call', { name: tool }), options._meta, ({ meta, onSend }) =>
      this.callGuarded(tool, args, { ...options, ...(meta ? { _meta: meta } : {}), ...(onSend ? { onSend: chain(options.onSend, onSend) } : {}) }),
    );
  }

  /** `tools/call` through the guard (policy, confirmation, cache, audit) when one is configured. */
  private callGuarded(tool: string, args: Record<string, unknown>, options: BridgeCallOptions): Promise<CallToolResult> {
    if (!this.guard.active) return this.callServer(tool, args, options);
    // The guard waits (approvals, a coalesced call) on an AbortSignal: one is made from a `cancel` handle.
    const own = signalOf(options);
    const result = this.guard.callTool(tool, args, {
      origin: options.origin,
      signal: own,
      describe: () => this.toolsByName.get(tool) ?? this.tools.get().then(() => this.toolsByName.get(tool), () => undefined),
      // A call shared with identical ones (cache coalescing) runs under a signal that aborts when all of them left.
      send: (signal) => this.noteInputs(this.callServer(tool, args, signal === own ? options : { ...options, signal })),
      storable: (result) => !this.uncacheable.has(result),
    });
    // A cache hit never reaches the IpcManager (whose metrics would announce it): announce it here.
    if (this.guard.cache) result.then(this.metricsChanged, this.metricsChanged);
    return result;
  }

  private readonly metricsChanged = (): void => this.scheduleMetrics();

  /** `tools/call` past the guard: validated and sent. */
  private callServer(tool: string, args: Record<string, unknown>, options: BridgeCallOptions): Promise<CallToolResult> {
    // Synchronous when the tool is known (the hot path): no extra promise or await per call.
    let prepared: RequestOptions | Promise<RequestOptions>;
    try {
      prepared = this.prepareCall(tool, args, options);
    } catch (error) {
      return Promise.reject(error);
    }
    // After an await the server may have stopped or failed meanwhile: check again.
    if (prepared instanceof Promise) {
      return prepared.then((o) => {
        const unavailable = this.unavailableError();
        if (unavailable) throw unavailable;
        return this.runCall(tool, args, o, options);
      });
    }
    return this.runCall(tool, args, prepared, options);
  }

  /**
   * `tools/call` asking the server to stream its result (mcp-ipc extension). Only a plain legacy
   * call can stream; a modern one (the session's envelope and input_required rounds) and a task
   * (polled to its end) run as `call()` does, and their result comes whole, with no chunks.
   */
  callStreaming(tool: string, args: Record<string, unknown> = {}, options: StreamingCallOptions = {}): StreamingRequest<CallToolResult> {
    if (!tracingActive()) return this.callStreamingNow(tool, args, options);
    let chunks: StreamingRequest<CallToolResult>['chunks'] | undefined;
    const result = traceBridgeRequest(this.spanTarget('tools/call', { name: tool }), options._meta, ({ meta, onSend }) => {
      const request = this.callStreamingNow(tool, args, { ...options, ...(meta ? { _meta: meta } : {}), ...(onSend ? { onSend: chain(options.onSend, onSend) } : {}) });
      chunks = request.chunks;
      return request.result;
    });
    return { result, chunks: chunks! };
  }

  private callStreamingNow(tool: string, args: Record<string, unknown>, options: StreamingCallOptions): StreamingRequest<CallToolResult> {
    // Validation is async (the tool list may need loading), so the chunk iterator is relayed.
    const stream = new RelayStream();
    const guard = this.guard;
    const run = () =>
      Promise.resolve()
        .then(() => (guard.active ? guard.admit(tool, args, options.origin, signalOf(options)) : undefined))
        .then(() => this.prepareCall(tool, args, options))
        .then((requestOptions) => {
          const unavailable = this.unavailableError();
          if (unavailable) throw unavailable;
          if (this.identity?.era === 'modern' || this.runsAsTask(tool, options)) {
            stream.follow(NO_CHUNKS);
            return this.runCall(tool, args, requestOptions, options);
          }
          const feed = this.ipc.requestStream<CallToolResult>('tools/call', this.callParams(tool, args, options), { ...requestOptions, onChunk: options.onChunk });
          stream.follow(feed.chunks);
          return feed.result;
        });
    // Streamed results are not cached (their chunks go to one caller), but they are audited.
    const result = guard.active ? guard.track({ method: 'tools/call', tool }, args, options.origin, run) : run();
    result.catch((error: IpcError) => stream.fail(error));
    return { result, chunks: stream };
  }

  /**
   * Any JSON-RPC method on this server, through the queue (with the modern `_meta` envelope when
   * modern). Audited; a raw `tools/call` still obeys the tool policy, a raw `tools/list` hides denied tools.
   */
  request<T = unknown>(method: string, params?: Record<string, unknown>, options?: BridgeRequestOptions): Promise<T> {
    if (!this.guard.active) return this.send<T>(method, params, options);
    const own = signalOf(options);
    return this.guard.request<T>(method, params, {
      origin: options?.origin,
      signal: own,
      send: (signal) => this.send<T>(method, params, signal === own ? options : { ...options, signal }),
    });
  }

  /**
   * Drops cached results (the `cache` section): all of them, or those of one tool or one resource
   * URI. Returns how many entries were dropped (0 without a cache).
   */
  invalidateCache(what: { tool?: string; uri?: string } = {}): number {
    const dropped = this.guard.invalidate(what);
    this.scheduleMetrics();
    return dropped;
  }

  /** The result cache's counters; undefined without a `cache` section. */
  cacheStats(): CacheStats | undefined {
    return this.guard.stats();
  }

  /** The host's own requests (lists, subscriptions): not audited, never refused by the policy. */
  private send<T = unknown>(method: string, params?: Record<string, unknown>, options?: RequestOptions): Promise<T> {
    const unavailable = this.unavailableError();
    if (unavailable) return Promise.reject(unavailable);
    if (!tracingActive()) return this.session.request<T>(method, params, options);
    const given = params?._meta;
    const meta = typeof given === 'object' && given !== null && !Array.isArray(given) ? (given as Record<string, unknown>) : undefined;
    return traceBridgeRequest(this.spanTarget(method, params), meta, (traced) =>
      this.session.request<T>(method, traced.meta ? { ...params, _meta: traced.meta } : params, traced.onSend ? { ...options, onSend: chain(options?.onSend, traced.onSend) } : options),
    );
  }

  /** What a span says about a request to this server. */
  private spanTarget(method: string, params: Record<string, unknown> | undefined) {
    const id = this.identity;
    return { method, params, server: this.name, era: id?.era, protocolVersion: id?.protocolVersion };
  }

  snapshot(): ServerSnapshot {
    const p = this.process;
    const id = this.identity;
    const snapshot: ServerSnapshot = {
      name: this.name,
      state: p.state,
      pid: p.pid,
      restarts: p.restarts,
      uptimeMs: p.uptimeMs,
      lastExit: p.lastExit,
      health: p.health,
      usage: p.usage,
      era: id?.era ?? null,
      serverInfo: id?.serverInfo ?? null,
      protocolVersion: id?.protocolVersion ?? null,
      capabilities: id?.capabilities ?? null,
      toolCount: this.tools.current ? this.guard.visibleTools(this.tools.current).length : 0,
      metrics: this.ipc.snapshot(),
      reason: p.reason,
    };
    const cache = this.guard.stats();
    if (cache) snapshot.cache = cache;
    return snapshot;
  }

  history(): ServerEvent[] {
    return this.process.history();
  }

  pids(): number[] {
    const pid = this.process.pid;
    return pid ? [pid] : [];
  }

  /**
   * Whether a call of `tool` is safe to resend after a lost connection: `retryable` when the caller
   * said, else the tool's idempotent/read-only annotations or the config's `retryableTools`.
   */
  isRetryable(tool: string, retryable?: boolean): boolean {
    if (retryable !== undefined) return retryable;
    const info = this.toolsByName.get(tool);
    return info?.annotations?.idempotentHint === true || info?.annotations?.readOnlyHint === true || this.retryableTools.has(tool);
  }

  stderrTail(n?: number): string[] {
    return this.process.stderrTail(n);
  }

  // ---------------------------------------------------------------- internals

  private callParams(tool: string, args: Record<string, unknown>, options: BridgeCallOptions): Record<string, unknown> {
    return options._meta ? { name: tool, arguments: args, _meta: { ...options._meta } } : { name: tool, arguments: args };
  }

  /** Legacy: the client asks for a task (2025-11-25 task-augmented request). Modern: the server decides. */
  private runsAsTask(tool: string, options: BridgeCallOptions): boolean {
    const support = taskSupportOf(this.toolsByName.get(tool));
    return this.identity?.era === 'legacy' && (support === 'required' || (support === 'optional' && options.task === true));
  }

  private runCall(tool: string, args: Record<string, unknown>, requestOptions: RequestOptions, options: BridgeCallOptions): Promise<CallToolResult> {
    const info = this.toolsByName.get(tool);
    const params = this.callParams(tool, args, options);
    let result: Promise<CallToolResult>;
    if (this.runsAsTask(tool, options)) {
      result = runAsTask<CallToolResult>(this.session, this.ipc, 'tools/call', params, {
        ...options.taskOptions,
        signal: signalOf(options),
        onProgress: options.onProgress,
        request: { priority: requestOptions.priority, timeoutMs: requestOptions.timeoutMs, hardTimeoutMs: requestOptions.hardTimeoutMs },
      });
    } else {
      // Modern servers may still answer with a task (tasks extension): the session follows it.
      result = this.session.request<CallToolResult>('tools/call', params, options.taskOptions ? { ...requestOptions, taskOptions: options.taskOptions } : requestOptions);
    }
    if (!info?.outputSchema || options.validate === false) return result;
    return result.then((r) => {
      this.output.check(info, r);
      return r;
    });
  }

  /** Checks the call (throws a typed error); async only when the tool list must be (re)loaded first. */
  private prepareCall(tool: string, args: Record<string, unknown>, options: BridgeCallOptions): RequestOptions | Promise<RequestOptions> {
    const unavailable = this.unavailableError();
    if (unavailable) throw unavailable;
    const validating = options.validate !== false && this.identity?.capabilities.tools !== undefined;
    if (validating && !this.toolsByName.has(tool)) {
      // A tool added since the list was fetched is found by fetching it again — but at most once
      // per DEFAULTS.mcp.unknownToolRefreshMs: calls to a tool that does not exist must not each
      // cost a paginated tools/list. Concurrent ones join the refresh in flight (the list is then
      // not current), and a list_changed refreshes the list at once anyway.
      const now = this.ipc.options.now!();
      const list = this.tools.current;
      if (list && now - this.toolsCheckedAt < DEFAULTS.mcp.unknownToolRefreshMs) return this.checkCall(tool, args, options, true);
      if (list) this.toolsCheckedAt = now;
      return this.listTools(list ? { refresh: true } : {})
        .catch(() => undefined)
        .then(() => this.checkCall(tool, args, options, true));
    }
    return this.checkCall(tool, args, options, validating);
  }

  private checkCall(tool: string, args: Record<string, unknown>, options: BridgeCallOptions, validating: boolean): RequestOptions {
    const info = this.toolsByName.get(tool);
    const list = this.tools.current;
    if (validating) {
      if (list && !info) {
        const names = this.guard.visibleTools(list).map((t) => t.name).join(', ');
        throw new InvalidParamsError(`Unknown tool "${tool}" on server "${this.name}" (available: ${names || 'none'})`, { tool });
      }
      if (info) this.validate(info, args);
    }
    const retryable = this.isRetryable(tool, options.retryable);
    // The caller's own object whenever it already says the right thing — an unset `retryable` says
    // "no" (IpcManager resends written requests only on `true`) — so the hot path copies nothing;
    // IpcManager ignores the bridge-only keys. (Object.assign, not `{ ...options, retryable }`: in
    // Node 20 a spread with a key added after it allocates ~370 bytes, a plain copy ~100.)
    return retryable === (options.retryable === true) ? options : Object.assign({}, options, retryable ? RETRYABLE : NOT_RETRYABLE);
  }

  private validate(tool: ToolInfo, args: Record<string, unknown>): void {
    let check = this.validators.get(tool.name);
    if (check === undefined) {
      try {
        // Compiled once per tool list; a schema that accepts every object is not run at all, and
        // the common kind is compiled without Ajv (same verdicts and errors, see simple-schema.ts).
        if (acceptsAnyObject(tool.inputSchema)) check = null;
        else if (!speaksDialect(DRAFT_07, tool.inputSchema)) return; // as a schema Ajv cannot compile (below)
        else check = compileSimpleSchema(tool.inputSchema) ?? (this.ajv ??= createAjv()).compile(tool.inputSchema);
      } catch {
        return; // a schema ajv cannot compile is the server's problem; let the server judge the arguments
      }
      this.validators.set(tool.name, check);
    }
    if (check === null) {
      if (typeof args === 'object' && args !== null && !Array.isArray(args)) return;
      throw new InvalidParamsError(`Invalid arguments for ${tool.name}: (arguments) must be object`, { tool: tool.name, errors: [{ instancePath: '', keyword: 'type', message: 'must be object' }] });
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

  /**
   * Every page of a list method (`nextCursor` followed to the end). With a `cache` section the
   * server's `ttlMs` hints count (2026-07-28): the list goes stale after the shortest page's TTL,
   * and a modern server's page without one is stale at once (the spec's default of 0).
   */
  private async fetchList<T>(method: string, key: string): Promise<T[] | HintedList<T>> {
    let ttlMs: number | undefined;
    const honour = this.config.cache !== undefined;
    const items = await fetchAllPages<T>(async (cursor) => {
      const page = await this.send<Record<string, unknown>>(method, cursor !== undefined ? { cursor } : undefined, { priority: 'high' });
      const items = page?.[key];
      if (!Array.isArray(items)) throw new ProtocolError(`${method} returned no ${key} array`, page);
      if (honour) {
        const hint = typeof page.ttlMs === 'number' && Number.isFinite(page.ttlMs) ? page.ttlMs : this.identity?.era === 'modern' ? 0 : undefined;
        if (hint !== undefined) ttlMs = Math.min(ttlMs ?? hint, hint);
      }
      const next = page.nextCursor;
      return { items: items as T[], ...(typeof next === 'string' ? { nextCursor: next } : {}) };
    }, `${method} on "${this.name}"`);
    return ttlMs === undefined ? items : { items, ttlMs };
  }

  /** Runs after every spawn: attach the new transport, settle the era, resume the queue, restore state. */
  private async handshake(transport: ProcessTransport): Promise<void> {
    this.closeListen();
    this.identity = undefined;
    await this.ipc.attach(transport, { paused: true, started: true });
    const timeoutMs = this.config.process?.startupTimeoutMs ?? DEFAULTS.process.startupTimeoutMs;
    this.identity = await this.session.connect(timeoutMs);
    this.ipc.resume();
    // The restarted server may offer other lists: drop them; reload tools in the background (calls wait if needed).
    for (const cache of [this.tools, this.resources, this.templates, this.prompts]) cache.invalidate();
    this.guard.invalidate(); // a restarted server may answer differently
    if (this.identity.capabilities.tools !== undefined) {
      this.listTools().catch((error: IpcError) => this.event('tools', 'warn', `tools/list failed: ${error.message}`));
    }
    // Awaited, so that requests made once the server is running see their subscriptions in place.
    await this.restoreAfterConnect().catch((error: IpcError) => this.event('log', 'warn', `Could not restore subscriptions or log level: ${error.message}`));
  }

  /** What a restarted server must be told again: the log level (legacy) and the resource subscriptions. */
  private async restoreAfterConnect(): Promise<void> {
    const era = this.identity?.era;
    const level = this.session.currentLogLevel;
    if (era === 'legacy' && level && this.identity?.capabilities.logging !== undefined) await this.session.setLogLevel(level);
    if (era === 'modern') await this.openListen();
    else if (this.canSubscribe()) for (const uri of this.resourceListeners.keys()) await this.send('resources/subscribe', { uri });
  }

  private async subscribeOnServer(uri: string): Promise<void> {
    if (this.identity?.era === 'modern') await this.openListen();
    else if (this.identity?.era === 'legacy' && this.canSubscribe()) await this.send('resources/subscribe', { uri });
    // Not connected yet: the handshake subscribes everything listed. A legacy server without
    // `resources.subscribe` has no such method; its unsolicited updates still reach the listener.
  }

  private canSubscribe(): boolean {
    return (this.identity?.capabilities.resources as { subscribe?: unknown } | undefined)?.subscribe === true;
  }

  /**
   * (Re)opens the modern change stream: one `subscriptions/listen` request, open for as long as the
   * server runs, whose filter names the list changes and every subscribed URI. Resolves when the
   * server acknowledges it; the stream's notifications arrive like legacy ones. A stream the server
   * ends while it keeps running (a graceful close, `notifications/cancelled`, an error after the
   * acknowledgement) is reopened with backoff (see `listenEnded`). `reopening`: called for that.
   */
  private async openListen(reopening = false): Promise<void> {
    this.closeListen(reopening);
    const caps = this.identity?.capabilities ?? {};
    const notifications: Record<string, unknown> = {};
    const listChanged = (c: unknown) => typeof c === 'object' && c !== null && (c as { listChanged?: unknown }).listChanged === true;
    if (listChanged(caps.tools)) notifications.toolsListChanged = true;
    if (listChanged(caps.prompts)) notifications.promptsListChanged = true;
    if (listChanged(caps.resources)) notifications.resourcesListChanged = true;
    if (this.resourceListeners.size > 0) notifications.resourceSubscriptions = [...this.resourceListeners.keys()];
    if (Object.keys(notifications).length === 0) return;
    const stream: ListenStream = { controller: new AbortController(), id: undefined, acknowledgedAt: undefined };
    this.listen = stream;
    const acknowledged = new Promise<void>((resolve, reject) => {
      // A server that never acknowledges must not stall the caller (or a restart) for good.
      const ackMs = this.config.probeTimeoutMs ?? DEFAULTS.mcp.probeTimeoutMs;
      const timer = setTimeout(() => {
        off();
        this.event('log', 'warn', `subscriptions/listen not acknowledged within ${ackMs} ms; change notifications may be missing`);
        resolve();
      }, ackMs);
      timer.unref?.();
      const off = () => {
        clearTimeout(timer);
        offAck();
      };
      const offAck = this.ipc.onNotification(METHOD_LISTEN_ACK, (params) => {
        // On stdio every stream shares one channel: an ack naming another stream (the late ack of
        // one we cancelled) is not this one's. An untagged ack, from a server that predates the
        // rule, is taken as ours.
        const sid = subscriptionIdOf(params);
        if (sid !== undefined && !sameRequestId(sid, stream.id)) return;
        off();
        stream.acknowledgedAt = this.now();
        if (reopening) this.event('log', 'info', 'Change stream (subscriptions/listen) reopened');
        resolve();
      });
      this.send(METHOD_LISTEN, { notifications }, {
        bypassQueue: true,
        longLived: true,
        timeoutMs: Infinity,
        hardTimeoutMs: Infinity,
        signal: stream.controller.signal,
        maxRetries: 0,
        onSent: (id) => (stream.id = id),
      }).then(
        () => {
          off();
          resolve();
          this.listenEnded(stream, 'was closed by the server');
        },
        (error: IpcError) => {
          off();
          // Closed by us, or ended by the server's notifications/cancelled (handled there).
          if (stream.controller.signal.aborted || this.listen !== stream) return resolve();
          if (stream.acknowledgedAt === undefined && !reopening) {
            // Refused outright (e.g. -32601): the caller reports it; reopening would not help.
            this.listen = undefined;
            return reject(error);
          }
          resolve();
          this.listenEnded(stream, `failed (${error.message})`);
        },
      );
    });
    await acknowledged;
  }

  /**
   * The current change stream ended while nothing asked it to. While the server keeps running it
   * is reopened after a backoff delay — bounded: after `DEFAULTS.mcp.listenReopen.attempts` reopens
   * in a row it stays closed (an error in the history) until a restart or a subscription change
   * opens one again. A lost connection is left to the restart, whose handshake opens a new stream
   * (and cancels a pending reopen).
   */
  private listenEnded(stream: ListenStream, why: string): void {
    if (this.listen !== stream) return; // superseded, or closed by us
    this.listen = undefined;
    // Still the connection it was opened on (also during the handshake, before `running`)?
    if (this.ipc.state !== 'connected' || this.unavailableError()) return;
    const policy = DEFAULTS.mcp.listenReopen;
    // One that stayed open a good while was not part of a run of failures.
    if (stream.acknowledgedAt !== undefined && this.now() - stream.acknowledgedAt >= policy.maxDelayMs) this.listenReopens = 0;
    const attempt = this.listenReopens;
    if (attempt >= policy.attempts) {
      this.event(
        'log',
        'error',
        `Change stream (subscriptions/listen) ${why}; not reopened after ${attempt} reopens in a row: no change notifications until the server restarts or a subscription changes`,
      );
      return;
    }
    this.listenReopens = attempt + 1;
    const delay = backoffDelay(attempt, { initialMs: policy.delayMs, maxMs: policy.maxDelayMs }, this.random);
    this.event('log', 'warn', `Change stream (subscriptions/listen) ${why}; reopening in ${delay} ms (attempt ${attempt + 1} of ${policy.attempts})`);
    this.listenReopenTimer = setTimeout(() => {
      this.listenReopenTimer = undefined;
      if (this.listen || this.identity?.era !== 'modern' || this.ipc.state !== 'connected' || this.unavailableError()) return;
      this.openListen(true).catch((error: IpcError) => this.event('log', 'warn', `Could not reopen the change stream: ${error.message}`));
    }, delay);
    this.listenReopenTimer.unref?.();
  }

  /** Closes the change stream; unless `reopening`, also forgets a pending reopen and the count of them. */
  private closeListen(reopening = false): void {
    if (!reopening) {
      if (this.listenReopenTimer) clearTimeout(this.listenReopenTimer);
      this.listenReopenTimer = undefined;
      this.listenReopens = 0;
    }
    const listen = this.listen;
    this.listen = undefined;
    listen?.controller.abort('subscriptions changed');
  }

  /** Waits (bounded) for in-flight calls to finish before a planned restart: the engine's `idle` event, no polling. */
  private async drain(timeoutMs: number): Promise<void> {
    this.ipc.pause();
    this.closeListen(); // never finishes by itself (and is not counted in the load anyway)
    if (this.ipc.load.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const off = this.ipc.on('idle', done);
      const timer = setTimeout(done, timeoutMs);
      timer.unref?.();
    });
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
      this.guard.toolsChanged();
      // Invalidate first: a tools/list in flight may predate the change (see ListCache).
      this.listTools({ refresh: true }).catch((error: IpcError) => this.event('tools', 'warn', `tools/list failed: ${error.message}`));
    });
    this.ipc.onNotification('notifications/resources/list_changed', () => {
      this.guard.resourcesChanged();
      this.resources.invalidate();
      this.templates.invalidate();
    });
    this.ipc.onNotification('notifications/prompts/list_changed', () => this.prompts.invalidate());
    this.ipc.onNotification(METHOD_RESOURCE_UPDATED, (params) => this.resourceUpdated(params));
    // Modern servers send no requests to cancel: on stdio their notifications/cancelled ends a change stream.
    this.ipc.onNotification(METHOD_CANCELLED, (params) => {
      const stream = this.listen;
      const id = (params as { requestId?: unknown } | undefined)?.requestId;
      if (this.identity?.era !== 'modern' || !stream || !sameRequestId(id, stream.id)) return;
      this.listenEnded(stream, 'was cancelled by the server');
      stream.controller.abort('ended by the server'); // settles our request; its cancel reaches a server that already forgot it
    });
    this.ipc.onNotification('notifications/message', (params) => this.logMessage(params));
  }

  private resourceUpdated(params: unknown): void {
    const update = params as ResourceUpdate | undefined;
    if (typeof update?.uri !== 'string') return;
    this.guard.invalidate({ uri: update.uri });
    for (const listener of [...(this.resourceListeners.get(update.uri) ?? [])]) {
      try {
        listener(update);
      } catch (error) {
        this.event('log', 'warn', `resource listener for ${update.uri} threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /** `notifications/message` → the history (type 'log') and the `log` stream. */
  private logMessage(params: unknown): void {
    const m = (params ?? {}) as { level?: unknown; logger?: unknown; data?: unknown };
    const level = LOGGING_LEVELS.includes(m.level as LoggingLevel) ? (m.level as LoggingLevel) : 'info';
    const message: LogMessage = { server: this.name, level, data: m.data };
    if (typeof m.logger === 'string') message.logger = m.logger;
    // Bounded and total: the history keeps a readable line; the whole value travels in `message`.
    const text = typeof m.data === 'string' ? (m.data.length > LOG_TEXT_CHARS ? `${m.data.slice(0, LOG_TEXT_CHARS)}…` : m.data) : previewValue(m.data, LOG_TEXT_CHARS);
    this.event('log', HISTORY_LEVEL[level], `${message.logger ? `[${message.logger}] ` : ''}${text ?? ''}`, message);
    this.emit('log', message);
  }

  /** Diagnostics can come in floods (a server logging to stdout): at most N events a second, then a count. */
  private reportDiagnostic(d: Diagnostic): void {
    const { allowed, ended } = this.diagnosticWindow.take();
    if (ended > 0) this.event('diagnostic', 'warn', `${ended} more diagnostics suppressed`);
    if (!allowed) return;
    this.event('diagnostic', d.kind === 'unknown-id' && d.reason === 'late' ? 'debug' : 'warn', describeDiagnostic(d), d);
  }

  private event(type: ServerEvent['type'], level: ServerEvent['level'], message: string, data?: unknown): void {
    this.process.record(type, level, message, data); // kept in the history and re-emitted as 'event'
  }

  private scheduleMetrics(): void {
    if (this.metricsTimer || this.listenerCount('metrics') === 0) return;
    const interval = this.config.queue?.metricsIntervalMs ?? DEFAULTS.queue.metricsIntervalMs;
    // Armed by whichever request ran last; its listeners must not see that request's context.
    this.metricsTimer = detached(() =>
      setTimeout(() => {
        this.metricsTimer = undefined;
        this.emit('metrics', this.snapshot());
      }, interval),
    );
    this.metricsTimer.unref();
  }
}

/** The stream a notification belongs to (`_meta["io.modelcontextprotocol/subscriptionId"]`), if it names one. */
function subscriptionIdOf(params: unknown): unknown {
  const meta = (params as { _meta?: unknown } | undefined)?._meta;
  return typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>)[META_SUBSCRIPTION_ID] : undefined;
}

/** Request ids compared as the peer may echo them (a number's digits as a string count as the number). */
function sameRequestId(a: unknown, b: RequestId | undefined): boolean {
  if (b === undefined || (typeof a !== 'string' && typeof a !== 'number')) return false;
  return a === b || String(a) === String(b);
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
const NO_CHUNKS: AsyncIterable<StreamChunk> = { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) };

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

const RETRYABLE = Object.freeze({ retryable: true });
const NOT_RETRYABLE = Object.freeze({ retryable: false });

/** Both hooks, the caller's first. */
function chain(first: ((queuedMs: number) => void) | undefined, second: (queuedMs: number) => void): (queuedMs: number) => void {
  return first ? (queuedMs) => (first(queuedMs), second(queuedMs)) : second;
}

/**
 * Whether an input schema accepts every arguments object — `{}`, `{type: "object"}`, with
 * `properties: {}` and no other keyword — so that checking arguments against it can be skipped
 * (the arguments are always an object). Anything else (required, additionalProperties, $ref, …)
 * is compiled and run.
 */
export function acceptsAnyObject(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return false;
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'type' && value === 'object') continue;
    if (key === 'properties' && typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) continue;
    // Annotations that never reject anything.
    if (key === '$schema' || key === 'title' || key === 'description' || key === '$comment') continue;
    return false;
  }
  return true;
}
