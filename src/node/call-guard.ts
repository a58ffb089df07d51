/**
 * What stands between a caller and one server, whatever door the call came through (the library,
 * the CLI, the gateway's WebSocket, Streamable HTTP): the tool policy (hide and refuse denied
 * tools, wait for a person's approval of `confirm` tools), the opt-in result cache and the audit
 * log. McpBridge runs its calls through it; with none of the three configured it is not in the path.
 *
 * Order of a tool call: policy (refused → ToolDenied, nothing sent) → approval (if `confirm`) →
 * cache (hit, join an identical call in flight, or send) → audit line with the outcome.
 */
import { canonicalJson } from '../core/canonical-json.js';
import { DEFAULTS } from '../core/defaults.js';
import { type IpcError, ToolDeniedError, toIpcError } from '../core/errors.js';
import type { CacheStats, CallToolResult, ToolInfo } from '../core/gateway-protocol.js';
import type { RequestOrigin } from '../core/inbound.js';
import type { ApprovalQueue } from './approvals.js';
import type { AuditRecord, AuditSink } from './audit-log.js';
import { type CacheConfig, type CacheMark, ResultCache, markCached } from './result-cache.js';
import { ToolPolicy, type ToolPolicyConfig } from './tool-policy.js';

/** Where a call came from, for the audit log, confirmation dialogs and per-client cache scopes. */
/** Where a call came from: `door` is `api` (the library; the default), `cli`, `websocket`, `http`, …; `client` the caller within it. */
export type CallOrigin = RequestOrigin;

export interface CallGuardOptions {
  policy?: ToolPolicyConfig;
  cache?: CacheConfig;
  /** Where `confirm` tools wait for a person; without one they are refused (`no-approver`). */
  approvals?: ApprovalQueue;
  audit?: AuditSink;
  /** Epoch ms. @default Date.now */
  now?: () => number;
}

const API_ORIGIN: CallOrigin = { door: 'api' };

/** The caching hints of a cacheable result (2026-07-28). */
interface Hinted {
  ttlMs?: unknown;
  cacheScope?: unknown;
}

/** What the guard needs to run one call. */
interface Call<T> {
  origin: CallOrigin | undefined;
  signal: AbortSignal | undefined;
  /** Sends the request; `signal` replaces the caller's when the call is shared with others (coalescing). */
  send: (signal: AbortSignal | undefined) => Promise<T>;
  /** False for an answer that must not be cached (e.g. it depended on a question the server asked). @default always true */
  storable?: (value: T) => boolean;
}

export class CallGuard {
  readonly policy: ToolPolicy;
  /** The result cache, when the server has a `cache` section. */
  readonly cache: ResultCache | undefined;
  private readonly cacheTools: Set<string> | 'readOnly' | undefined;
  private readonly toolTtlMs: number;
  private readonly approvals: ApprovalQueue | undefined;
  private readonly audit: AuditSink | undefined;
  private readonly now: () => number;

  constructor(
    readonly server: string,
    options: CallGuardOptions = {},
  ) {
    this.policy = new ToolPolicy(server, options.policy);
    const cache = options.cache;
    if (cache) {
      this.cache = new ResultCache({ maxEntries: cache.maxEntries, maxBytes: cache.maxBytes, now: options.now });
      this.cacheTools = cache.tools === 'readOnly' ? 'readOnly' : new Set(cache.tools ?? []);
    }
    this.toolTtlMs = cache?.ttlMs ?? DEFAULTS.cache.ttlMs;
    this.approvals = options.approvals;
    this.audit = options.audit;
    this.now = options.now ?? Date.now;
  }

  /** False when there is no policy, no cache and no audit: callers skip the guard entirely. */
  get active(): boolean {
    return !this.policy.empty || this.cache !== undefined || this.audit !== undefined;
  }

  stats(): CacheStats | undefined {
    return this.cache?.stats();
  }

  /** The tools a caller may see. */
  visibleTools(tools: ToolInfo[]): ToolInfo[] {
    return this.policy.filter(tools);
  }

  /**
   * `tools/call` through the policy, the approval queue, the cache and the audit log. `describe`
   * gives the tool's listing (for `cache.tools: "readOnly"`), undefined when unknown.
   */
  callTool(
    tool: string,
    args: Record<string, unknown>,
    call: Call<CallToolResult> & { describe: () => ToolInfo | undefined | Promise<ToolInfo | undefined> },
  ): Promise<CallToolResult> {
    return this.audited({ method: 'tools/call', tool }, args, call.origin, async () => {
      await this.admit(tool, args, call.origin, call.signal);
      if (!this.cache || !(await this.cacheable(tool, call.describe))) return { value: await call.send(call.signal) };
      return this.cache.run<CallToolResult>({
        key: `tools/call\u0000${tool}\u0000${canonicalJson(args)}`,
        tags: [`tool:${tool}`, 'tools'],
        fetch: (signal) => call.send(signal),
        // Errors are never stored (a rejection is not an answer); neither are tool failures.
        ttlMs: (result) => (result.isError === true || call.storable?.(result) === false ? undefined : this.toolTtlMs),
        signal: call.signal,
      });
    });
  }

  /** The policy (and confirmation) of a `tools/call` that does not go through the cache (streaming, raw requests). */
  async admit(tool: string, args: Record<string, unknown>, origin: CallOrigin | undefined, signal: AbortSignal | undefined): Promise<void> {
    const { confirm } = this.policy.check(tool);
    if (!confirm) return;
    if (!this.approvals) {
      throw new ToolDeniedError(`Tool "${tool}" on server "${this.server}" needs a person's approval, and nothing can ask one`, {
        server: this.server,
        tool,
        reason: 'no-approver',
      });
    }
    const who = origin ?? API_ORIGIN;
    await this.approvals.request(
      { server: this.server, tool, arguments: args, door: who.door, ...(who.client !== undefined ? { client: who.client } : {}) },
      { signal, timeoutMs: this.policy.confirmTimeoutMs },
    );
  }

  /**
   * `resources/read`, cached by the server's own hints (2026-07-28): kept `ttlMs` ms (absent or 0:
   * not kept); a `cacheScope: "private"` answer is served only to the same client (origin.client).
   */
  readResource<T extends object>(uri: string, call: Call<T>): Promise<T> {
    return this.audited({ method: 'resources/read', uri }, { uri }, call.origin, async () => {
      if (!this.cache) return { value: await call.send(call.signal) };
      const base = `resources/read\u0000${uri}`;
      const client = call.origin?.client ?? '';
      return this.cache.run<T>({
        // Identical reads share one request only within a client: a private answer must not reach another.
        key: `${base}\u0000flight\u0000${client}`,
        lookupKeys: [`${base}\u0000public`, `${base}\u0000private\u0000${client}`],
        storeKey: (result) => ((result as Hinted).cacheScope === 'public' ? `${base}\u0000public` : `${base}\u0000private\u0000${client}`),
        tags: ['resources', `uri:${uri}`],
        fetch: (signal) => call.send(signal),
        ttlMs: (result) => {
          if (call.storable?.(result) === false) return undefined;
          const ttl = (result as Hinted).ttlMs;
          return typeof ttl === 'number' && Number.isFinite(ttl) ? ttl : undefined;
        },
        signal: call.signal,
      });
    });
  }

  /** Any other request: audited; a raw `tools/call` still goes through the policy. */
  request<T>(method: string, params: Record<string, unknown> | undefined, call: Call<T>): Promise<T> {
    const fields: Partial<AuditRecord> & { method: string } = { method };
    if (method === 'tools/call' && typeof params?.name === 'string') fields.tool = params.name;
    if (method === 'prompts/get' && typeof params?.name === 'string') fields.prompt = params.name;
    if (method === 'resources/read' && typeof params?.uri === 'string') fields.uri = params.uri;
    const { _meta: _ignored, ...args } = params ?? {};
    return this.audited(fields, args, call.origin, async () => {
      if (method === 'tools/call') {
        const tool = params?.name;
        if (typeof tool === 'string') await this.admit(tool, (params?.arguments ?? {}) as Record<string, unknown>, call.origin, call.signal);
      }
      const value = await call.send(call.signal);
      if (method === 'tools/list' && Array.isArray((value as { tools?: unknown })?.tools)) {
        const page = value as { tools: ToolInfo[] };
        return { value: { ...page, tools: this.policy.filter(page.tools) } as T };
      }
      return { value };
    });
  }

  /** Audits a call the guard does not otherwise handle (e.g. a streamed `tools/call`). */
  track<T>(fields: Partial<AuditRecord> & { method: string }, args: unknown, origin: CallOrigin | undefined, run: () => Promise<T>): Promise<T> {
    return this.audited(fields, args, origin, async () => ({ value: await run() }));
  }

  /** Drops cached answers: all of them, a tool's, or a resource's. Returns how many. */
  invalidate(what: { tool?: string; uri?: string } = {}): number {
    if (!this.cache) return 0;
    const tags = [...(what.tool !== undefined ? [`tool:${what.tool}`] : []), ...(what.uri !== undefined ? [`uri:${what.uri}`] : [])];
    return this.cache.invalidate(tags.length > 0 ? tags : undefined);
  }

  /** The server's tools changed: their cached results may be stale. */
  toolsChanged(): void {
    this.cache?.invalidate(['tools']);
  }

  /** The server's resources changed: every cached read may be stale. */
  resourcesChanged(): void {
    this.cache?.invalidate(['resources']);
  }

  private async cacheable(tool: string, describe: () => ToolInfo | undefined | Promise<ToolInfo | undefined>): Promise<boolean> {
    if (this.cacheTools === undefined) return false;
    if (this.cacheTools !== 'readOnly') return this.cacheTools.has(tool);
    const info = await describe();
    return info?.annotations?.readOnlyHint === true;
  }

  private async audited<T>(
    fields: Partial<AuditRecord> & { method: string },
    args: unknown,
    origin: CallOrigin | undefined,
    run: () => Promise<{ value: T; mark?: CacheMark }>,
  ): Promise<T> {
    const audit = this.audit;
    const started = this.now();
    let outcome: { value: T; mark?: CacheMark };
    try {
      outcome = await run();
    } catch (error) {
      if (audit) this.write(audit, fields, args, origin, started, toIpcError(error));
      throw error;
    }
    if (audit) this.write(audit, fields, args, origin, started, outcome.value, outcome.mark);
    return outcome.mark && typeof outcome.value === 'object' && outcome.value !== null ? markCached(outcome.value as T & object, outcome.mark) : outcome.value;
  }

  private write(
    audit: AuditSink,
    fields: Partial<AuditRecord> & { method: string },
    args: unknown,
    origin: CallOrigin | undefined,
    started: number,
    result: unknown,
    mark?: CacheMark,
  ): void {
    const who = origin ?? API_ORIGIN;
    const failed = result instanceof Error ? (result as IpcError) : undefined;
    const record: AuditRecord = {
      time: new Date(started).toISOString(),
      door: who.door,
      ...(who.client !== undefined ? { client: who.client } : {}),
      server: this.server,
      ...fields,
      ...(fields.uri !== undefined ? { uri: withoutQuery(fields.uri) } : {}),
      argsHash: audit.hashArguments(args),
      outcome: failed ? failed.code : (result as { isError?: unknown } | undefined)?.isError === true ? 'isError' : 'ok',
      ...(mark?.hit ? { cached: true } : {}),
      durationMs: Math.max(0, this.now() - started),
    };
    audit.record(record);
  }
}

/** A URI for the audit log: its query and fragment may carry credentials (`?token=…`), so they are cut. */
function withoutQuery(uri: string): string {
  const cut = uri.search(/[?#]/);
  return cut === -1 ? uri : `${uri.slice(0, cut)}?…`;
}
