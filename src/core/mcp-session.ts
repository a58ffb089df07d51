/**
 * McpSession: the MCP protocol layer over one IpcManager, in both eras.
 *
 * - **Era detection** (`connect`): probe `server/discover` at the newest modern revision. A
 *   recognised reply (a `supportedVersions` list sharing a modern revision with us) or a modern
 *   error (-32022 naming the server's versions) means modern; anything else — method not found,
 *   another error, silence within the probe timeout — means the legacy `initialize` handshake.
 *   -32022 is retried once at a revision both sides know; no common revision at all is an
 *   UnsupportedProtocolVersionError at once (retrying cannot help). The era is remembered: after a
 *   restart a legacy server gets its handshake directly, and is probed again only if that fails.
 * - **Modern requests** carry the `_meta` envelope (protocol version, client info, client
 *   capabilities, log level). A result with `resultType: "input_required"` is answered through
 *   the same request handlers that answer legacy server→client requests, and the original request
 *   is retried with the `inputResponses` (and the opaque `requestState` echoed verbatim); the
 *   caller only sees the final result. A result without `resultType` is complete. The request's
 *   hard cap covers every round and the answering between them: one deadline is set at round 0,
 *   each retry gets only the time left, and handlers still answering when it passes are aborted
 *   (their `signal`) and the request fails with Timeout.
 * - **Health**: `ping` in the legacy era, `server/discover` in the modern one (it has no ping).
 */
import { signalOf } from './cancellation.js';
import { DEFAULTS } from './defaults.js';
import { CancelledError, IpcError, ProtocolError, RpcCode, TimeoutError, UnsupportedProtocolVersionError, toIpcError } from './errors.js';
import type { IpcManager, RequestContext, RequestOptions } from './ipc-manager.js';
import type { RequestOrigin } from './inbound.js';
import { previewValue } from './jsonrpc.js';
import { type McpTaskOptions, TASKS_EXTENSION, followModernTask, isModernTaskResult } from './mcp-tasks.js';
import { LEGACY_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS, type McpEra, PROTOCOL_VERSIONS, eraOf } from './mcp-versions.js';
import { type OptionSpec, checkOptions, nonNegativeInt, positiveMs } from './options.js';

export const METHOD_DISCOVER = 'server/discover';
export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';

export type LoggingLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';
export const LOGGING_LEVELS: readonly LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

export interface Implementation {
  name: string;
  version: string;
  [key: string]: unknown;
}

/** What the server said about itself, in either era. */
export interface McpServerIdentity {
  era: McpEra;
  protocolVersion: string;
  serverInfo: Implementation | null;
  capabilities: Record<string, unknown>;
  instructions?: string;
}

export interface McpSessionOptions {
  /** How mcp-ipc introduces itself. @default { name: 'mcp-ipc', version: '0.1.0' } */
  clientInfo?: Implementation;
  /**
   * Client capabilities declared beside those derived from the registered request handlers
   * (`roots/list` → `roots`, `sampling/createMessage` → `sampling`, `elicitation/create` →
   * `elicitation`). Declared ones win.
   */
  capabilities?: Record<string, unknown>;
  /**
   * Revisions to offer, newest first. Only legacy ones → the handshake era without a probe; only
   * modern ones → no fallback. @default PROTOCOL_VERSIONS (every revision mcp-ipc speaks)
   */
  protocolVersions?: readonly string[];
  /** How long the `server/discover` probe may take before falling back to `initialize`. @default 5000 */
  probeTimeoutMs?: number;
  /** `input_required` rounds per request before it fails with a ProtocolError (0: none allowed). @default 8 */
  maxInputRounds?: number;
}

const MCP_SESSION_OPTIONS: OptionSpec<McpSessionOptions> = {
  probeTimeoutMs: positiveMs(),
  maxInputRounds: nonNegativeInt(),
};

const CLIENT_INFO: Implementation = { name: 'mcp-ipc', version: '0.1.0' };

/** Request options the session understands beyond IpcManager's. */
export interface McpRequestOptions extends RequestOptions {
  /** For a modern `tools/call` the server turns into a task: status updates, deadline, poll interval. */
  taskOptions?: Omit<McpTaskOptions, 'signal' | 'onProgress' | 'request'>;
  /** Who makes the request: the handlers answering its `input_required` rounds get it (RequestContext.origin). */
  origin?: RequestOrigin;
}

let nextTaskToken = 1;

/** The request handler whose presence declares each client capability. */
const CAPABILITY_OF_HANDLER: ReadonlyArray<[method: string, capability: string, value: Record<string, unknown>]> = [
  ['roots/list', 'roots', { listChanged: true }],
  ['sampling/createMessage', 'sampling', {}],
  ['elicitation/create', 'elicitation', { form: {}, url: {} }],
];

export interface InputRequiredResult {
  resultType: 'input_required';
  inputRequests?: Record<string, { method: string; params?: unknown }>;
  requestState?: string;
}

export function isInputRequired(result: unknown): result is InputRequiredResult {
  return typeof result === 'object' && result !== null && (result as { resultType?: unknown }).resultType === 'input_required';
}

export class McpSession {
  private readonly ipc: IpcManager;
  private readonly clientInfo: Implementation;
  private readonly declared: Record<string, unknown>;
  private readonly modernVersions: string[];
  private readonly legacyVersions: string[];
  private readonly probeTimeoutMs: number;
  private readonly maxInputRounds: number;
  private identity: McpServerIdentity | undefined;
  /** The era of the last server process that connected (kept across restarts). */
  private cachedEra: McpEra | undefined;
  private logLevel: LoggingLevel | undefined;

  /** @throws TypeError when an option is out of range (the message names it and its value). */
  constructor(ipc: IpcManager, options: McpSessionOptions = {}) {
    checkOptions(options, MCP_SESSION_OPTIONS);
    this.ipc = ipc;
    this.clientInfo = options.clientInfo ?? CLIENT_INFO;
    this.declared = options.capabilities ?? {};
    const versions = options.protocolVersions ?? PROTOCOL_VERSIONS;
    const unknown = versions.filter((v) => eraOf(v) === undefined);
    if (unknown.length > 0 || versions.length === 0) {
      throw new TypeError(`protocolVersions must name revisions mcp-ipc speaks (${PROTOCOL_VERSIONS.join(', ')}); got ${JSON.stringify(versions)}`);
    }
    // Newest first within each era, whatever order the caller used.
    this.modernVersions = MODERN_PROTOCOL_VERSIONS.filter((v) => versions.includes(v));
    this.legacyVersions = LEGACY_PROTOCOL_VERSIONS.filter((v) => versions.includes(v));
    this.probeTimeoutMs = options.probeTimeoutMs ?? DEFAULTS.mcp.probeTimeoutMs;
    this.maxInputRounds = options.maxInputRounds ?? DEFAULTS.mcp.maxInputRounds;
  }

  /** The connected server's era, revision, info and capabilities; undefined before `connect`. */
  get server(): McpServerIdentity | undefined {
    return this.identity;
  }

  get era(): McpEra | undefined {
    return this.identity?.era;
  }

  /**
   * The client capabilities declared now: those of the registered handlers, then the configured
   * ones; modern requests also declare the tasks extension (a task answer is always followed).
   */
  clientCapabilities(era: McpEra = 'legacy'): Record<string, unknown> {
    const capabilities: Record<string, unknown> = {};
    for (const [method, capability, value] of CAPABILITY_OF_HANDLER) {
      if (this.ipc.inbound.hasRequestHandler(method)) capabilities[capability] = value;
    }
    if (era === 'modern') capabilities.extensions = { [TASKS_EXTENSION]: {} };
    const declared = this.declared;
    if (era === 'modern' && typeof declared.extensions === 'object' && declared.extensions !== null) {
      return { ...capabilities, ...declared, extensions: { ...(capabilities.extensions as object), ...declared.extensions } };
    }
    return { ...capabilities, ...declared };
  }

  /**
   * Settles the era and revision with a freshly started server (all requests bypass the queue).
   * Rejects with UnsupportedProtocolVersionError when no revision is common, or with the
   * transport's error when the server goes away meanwhile.
   */
  async connect(timeoutMs: number): Promise<McpServerIdentity> {
    this.identity = undefined;
    if (this.modernVersions.length === 0 || (this.cachedEra === 'legacy' && this.legacyVersions.length > 0)) {
      try {
        return this.adopt(await this.initialize(timeoutMs));
      } catch (error) {
        // Only a server that may have changed era deserves a probe; everything else is final.
        if (this.modernVersions.length === 0 || !mayBeModern(error)) throw error;
      }
    }
    return this.adopt(await this.probe(timeoutMs));
  }

  /** Forgets the identity (the server process is gone); the era stays cached. */
  disconnected(): void {
    this.identity = undefined;
  }

  /**
   * Sends a request in the connected era: modern requests carry the `_meta` envelope and
   * `input_required` rounds are answered and retried here. Rejects only with IpcError subclasses.
   */
  request<T = unknown>(method: string, params?: Record<string, unknown>, options: McpRequestOptions = {}): Promise<T> {
    if (this.identity?.era !== 'modern') return this.ipc.request<T>(method, params, options);
    return this.modernRequest<T>(method, params, options, this.identity.protocolVersion);
  }

  /** A cheap liveness probe that works in both eras: `ping` (legacy) or `server/discover` (modern). */
  async healthCheck(timeoutMs: number): Promise<void> {
    const options: RequestOptions = { timeoutMs, hardTimeoutMs: timeoutMs, bypassQueue: true, maxRetries: 0 };
    if (this.identity?.era === 'modern') await this.ipc.request(METHOD_DISCOVER, { _meta: this.envelope(this.identity.protocolVersion) }, options);
    else await this.ipc.request('ping', undefined, options);
  }

  /**
   * The level of `notifications/message` the server should send: `logging/setLevel` in the legacy
   * era (when the server declares `logging`); in the modern era (which has no such method) it
   * rides in every request's `_meta`.
   */
  async setLogLevel(level: LoggingLevel): Promise<void> {
    if (!LOGGING_LEVELS.includes(level)) throw new TypeError(`Unknown log level ${JSON.stringify(level)} (one of ${LOGGING_LEVELS.join(', ')})`);
    this.logLevel = level;
    // Only a server declaring `logging` has the method (others log at their own level, if at all).
    if (this.identity?.era === 'legacy' && this.identity.capabilities.logging !== undefined) {
      await this.ipc.request('logging/setLevel', { level }, { priority: 'high' });
    }
  }

  /** The level set by `setLogLevel`, re-applied by the owner after a legacy restart. */
  get currentLogLevel(): LoggingLevel | undefined {
    return this.logLevel;
  }

  /** The `_meta` envelope every modern request carries. */
  envelope(version: string): Record<string, unknown> {
    const meta: Record<string, unknown> = {
      [META_PROTOCOL_VERSION]: version,
      [META_CLIENT_INFO]: this.clientInfo,
      [META_CLIENT_CAPABILITIES]: this.clientCapabilities('modern'),
    };
    if (this.logLevel) meta[META_LOG_LEVEL] = this.logLevel;
    return meta;
  }

  // ---------------------------------------------------------------- negotiation

  private adopt(identity: McpServerIdentity): McpServerIdentity {
    this.identity = identity;
    this.cachedEra = identity.era;
    return identity;
  }

  private async probe(timeoutMs: number): Promise<McpServerIdentity> {
    let version = this.modernVersions[0]!;
    let reprobed = false;
    for (;;) {
      const probeMs = Math.min(this.probeTimeoutMs, timeoutMs);
      let result: unknown;
      try {
        result = await this.ipc.request(METHOD_DISCOVER, { _meta: this.envelope(version) }, { bypassQueue: true, timeoutMs: probeMs, hardTimeoutMs: probeMs, maxRetries: 0 });
      } catch (error) {
        if (!(error instanceof IpcError)) throw error;
        if (error.code === 'NotConnected' || error.code === 'ServerCrashed' || error.code === 'MessageTooLarge') throw error; // no era verdict
        const supported = unsupportedVersions(error);
        if (supported) {
          const mutual = this.modernVersions.find((v) => supported.includes(v));
          if (mutual && mutual !== version && !reprobed) {
            version = mutual;
            reprobed = true;
            continue;
          }
          if (!supported.some((v) => this.legacyVersions.includes(v))) throw this.unsupported(version, supported);
        }
        if (this.legacyVersions.length === 0) throw this.unsupported(version, supported ?? []);
        try {
          return await this.initialize(timeoutMs);
        } catch (handshakeError) {
          // A slow server may have answered the timed-out probe and locked itself modern before our
          // `initialize` arrived: its -32022 names its versions. Probe once more at one of them.
          const named = unsupportedVersions(handshakeError);
          const mutual = named && this.modernVersions.find((v) => named.includes(v));
          if (!mutual || reprobed) throw handshakeError;
          version = mutual;
          reprobed = true;
          continue;
        }
      }
      const discovered = parseDiscover(result);
      const mutual = discovered && this.modernVersions.find((v) => discovered.supportedVersions.includes(v));
      if (!discovered || !mutual) {
        // Not modern evidence (or a discover that advertises only handshake revisions): legacy.
        if (this.legacyVersions.length === 0) throw this.unsupported(version, discovered?.supportedVersions ?? []);
        return this.initialize(timeoutMs);
      }
      return { era: 'modern', protocolVersion: mutual, serverInfo: discovered.serverInfo, capabilities: discovered.capabilities, instructions: discovered.instructions };
    }
  }

  private async initialize(timeoutMs: number): Promise<McpServerIdentity> {
    const requested = this.legacyVersions[0]!;
    const result = await this.ipc.request<Record<string, unknown> | null>(
      'initialize',
      { protocolVersion: requested, capabilities: this.clientCapabilities(), clientInfo: this.clientInfo },
      { bypassQueue: true, timeoutMs, hardTimeoutMs: timeoutMs, maxRetries: 0 },
    );
    if (typeof result !== 'object' || result === null) throw new ProtocolError('initialize returned no result object', result);
    const version = result.protocolVersion;
    if (typeof version !== 'string' || !this.legacyVersions.includes(version)) {
      throw this.unsupported(requested, typeof version === 'string' ? [version] : [], `answered initialize with protocol version ${previewValue(version)}`);
    }
    await this.ipc.notify('notifications/initialized');
    return {
      era: 'legacy',
      protocolVersion: version,
      serverInfo: isImplementation(result.serverInfo) ? result.serverInfo : null,
      capabilities: isRecord(result.capabilities) ? result.capabilities : {},
      ...(typeof result.instructions === 'string' ? { instructions: result.instructions } : {}),
    };
  }

  private unsupported(requested: string, supported: string[], what = 'supports none of the protocol versions offered'): UnsupportedProtocolVersionError {
    const offered = [...this.modernVersions, ...this.legacyVersions];
    return new UnsupportedProtocolVersionError(
      `Server ${what} (server: ${supported.length > 0 ? supported.join(', ') : 'unknown'}; mcp-ipc: ${offered.join(', ')})`,
      { requested, supported, offered },
    );
  }

  // ---------------------------------------------------------------- modern requests

  private async modernRequest<T>(method: string, params: Record<string, unknown> | undefined, options: McpRequestOptions, version: string): Promise<T> {
    // A tools/call may become a task: its progress must outlive the request, so it gets a token
    // of its own (IpcManager's would die with the request).
    if (method === 'tools/call' && options.onProgress) {
      const token = `call-progress-${nextTaskToken++}`;
      const untrack = this.ipc.trackProgress(token, options.onProgress);
      const meta = { ...(isRecord(params?._meta) ? params._meta : {}), progressToken: token };
      const { onProgress: _dropped, ...rest } = options;
      try {
        return await this.modernRequest<T>(method, { ...params, _meta: meta }, rest, version);
      } finally {
        untrack();
      }
    }
    const base = params ?? {};
    let extra: { inputResponses?: Record<string, unknown>; requestState?: string } = {};
    // One deadline for the whole exchange (the request's hard cap), set now: nothing is in flight
    // while the handlers answer, so the IpcManager would arm none then, and a fresh cap per round
    // would let a chatty server stretch the call to maxInputRounds + 1 caps.
    const clock = this.ipc.options.now!;
    const startedAt = clock();
    const capMs = this.hardCapOf(options);
    const deadline: InputDeadline = {
      at: startedAt + capMs,
      now: clock,
      expired: () => new TimeoutError(`Request ${method} timed out (hard cap after ${Math.round(capMs)} ms, while its input_required rounds were answered)`, {
        method,
        kind: 'hard',
        phase: 'in-flight',
        timeoutMs: capMs,
        queuedMs: 0,
        inFlightMs: Math.round(clock() - startedAt),
      }),
    };
    for (let round = 0; ; round++) {
      const meta = { ...(isRecord(base._meta) ? base._meta : {}), ...this.envelope(version) };
      let roundOptions = options;
      if (round > 0) {
        const left = deadline.at - clock();
        if (left <= 0) throw deadline.expired();
        roundOptions = { ...options, hardTimeoutMs: left };
      }
      const result = await this.ipc.request<unknown>(method, { ...base, ...extra, _meta: meta }, roundOptions);
      if (isModernTaskResult(result)) return this.followTask<T>(method, result, options, version);
      if (!isInputRequired(result)) return result as T;
      if (round >= this.maxInputRounds) {
        throw new ProtocolError(`${method} still required input after ${this.maxInputRounds} rounds`, { method, rounds: round + 1 });
      }
      // Each round's answers go only to the retry of this request (never to parallel ones).
      extra = {};
      if (result.inputRequests !== undefined) extra.inputResponses = await this.answerInputs(method, result.inputRequests, signalOf(options), options.origin, deadline);
      if (typeof result.requestState === 'string') extra.requestState = result.requestState;
    }
  }

  /** A `resultType: "task"` answer (tasks extension): follow it to the final result. */
  private followTask<T>(method: string, created: unknown, options: McpRequestOptions, version: string): Promise<T> {
    if (method !== 'tools/call') throw new ProtocolError(`${method} answered with a task, which only tools/call may`, created);
    const envelope = (params: Record<string, unknown>) => ({ ...params, _meta: this.envelope(version) });
    return followModernTask<T>(
      {
        request: (m, p, o) => this.ipc.request(m, envelope(p), o),
        answer: (requests, signal) => this.answerInputs(method, requests, signal, options.origin),
      },
      created,
      { ...options.taskOptions, signal: signalOf(options) },
    );
  }

  /** The hard cap of a request with `options`, as the IpcManager computes it. */
  private hardCapOf(options: RequestOptions): number {
    const defaults = this.ipc.options;
    return options.hardTimeoutMs ?? defaults.hardTimeoutMs ?? (options.timeoutMs ?? defaults.timeoutMs ?? DEFAULTS.queue.timeoutMs) * DEFAULTS.queue.hardTimeoutFactor;
  }

  /**
   * Answers an `input_required` round with the handlers that answer legacy server→client requests.
   * The handlers' `signal` aborts when the caller's does (CancelledError) or the deadline passes
   * (TimeoutError); the round fails at that moment even if a handler ignores its signal.
   */
  private async answerInputs(
    method: string,
    requests: unknown,
    signal: AbortSignal | undefined,
    origin: RequestOrigin | undefined,
    deadline?: InputDeadline,
  ): Promise<Record<string, unknown>> {
    if (!isRecord(requests)) throw new ProtocolError(`${method} returned input_required with malformed inputRequests`, requests);
    const entries = Object.entries(requests);
    for (const [key, request] of entries) {
      if (!isRecord(request) || typeof request.method !== 'string') throw new ProtocolError(`${method}: malformed input request "${key}"`, request);
      if (!this.ipc.inbound.hasRequestHandler(request.method)) {
        throw new ProtocolError(`${method}: the server asked for ${request.method} (input "${key}"), which has no handler here and was not declared`, {
          method,
          input: key,
          requested: request.method,
        });
      }
    }
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      const stop = (error: IpcError) => {
        controller.abort(error);
        reject(error);
      };
      onAbort = () => stop(new CancelledError(`Request ${method} cancelled while its input_required round was answered`, { reason: reasonOf(signal!), phase: 'in-flight' }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (deadline && Number.isFinite(deadline.at)) {
        timer = setTimeout(() => stop(deadline.expired()), Math.max(0, deadline.at - deadline.now()));
        (timer as { unref?: () => void }).unref?.();
      }
    });
    const answering = Promise.all(
      entries.map(async ([key, request]) => {
        const { method: asked, params } = request as { method: string; params?: unknown };
        try {
          const context: RequestContext = { id: key, method: asked, signal: controller.signal };
          if (origin) context.origin = origin;
          return [key, await this.ipc.inbound.handle(asked, params, context)] as const;
        } catch (error) {
          throw toIpcError(error); // the caller's request fails with the handler's reason, typed
        }
      }),
    );
    try {
      return Object.fromEntries(await Promise.race([answering, stopped]));
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      answering.catch(() => undefined); // a handler that fails after the round was given up on
    }
  }
}

/** The overall deadline of a modern request's `input_required` exchange. */
interface InputDeadline {
  /** When it passes, on `now`'s clock. */
  at: number;
  now: () => number;
  /** The error the request fails with once it passed. */
  expired: () => TimeoutError;
}

function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string') return r;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  return 'aborted';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isImplementation(value: unknown): value is Implementation {
  return isRecord(value) && typeof value.name === 'string';
}

/** The server's versions from an UnsupportedProtocolVersion (-32022) error, or undefined. */
function unsupportedVersions(error: unknown): string[] | undefined {
  if (!(error instanceof IpcError) || error.rpcCode !== RpcCode.UnsupportedProtocolVersion) return undefined;
  const data = error.data;
  if (!isRecord(data) || !Array.isArray(data.supported)) return [];
  return data.supported.filter((v): v is string => typeof v === 'string');
}

/** Errors after which a server cached as legacy may have become modern (anything but a dead process). */
function mayBeModern(error: unknown): boolean {
  return error instanceof IpcError && error.code !== 'NotConnected' && error.code !== 'ServerCrashed' && error.code !== 'Timeout';
}

function parseDiscover(result: unknown):
  | { supportedVersions: string[]; capabilities: Record<string, unknown>; serverInfo: Implementation | null; instructions?: string }
  | undefined {
  if (!isRecord(result) || !Array.isArray(result.supportedVersions) || !isRecord(result.capabilities)) return undefined;
  const meta = isRecord(result._meta) ? result._meta : {};
  const info = meta[META_SERVER_INFO] ?? result.serverInfo;
  return {
    supportedVersions: result.supportedVersions.filter((v): v is string => typeof v === 'string'),
    capabilities: result.capabilities,
    serverInfo: isImplementation(info) ? info : null,
    ...(typeof result.instructions === 'string' ? { instructions: result.instructions } : {}),
  };
}
