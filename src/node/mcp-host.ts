/**
 * McpHost: the named servers of one `mcpServers` config, sharing one ResourceManager. A server
 * with `replicas` is a ServerPool, any other an McpBridge; both are McpServerHandles.
 * Re-emits every server's events (each payload names its server) so a gateway listens in one place.
 * `apply` / `reload` change the server set at run time (config hot reload): only the servers whose
 * normalized config differs are started, stopped or restarted.
 */
import { Emitter } from '../core/emitter.js';
import type { HostReload } from '../core/gateway-protocol.js';
import { ApprovalQueue } from './approvals.js';
import type { AuditSink } from './audit-log.js';
import { McpBridge, type McpBridgeEvents, type McpServerConfig } from './mcp-bridge.js';
import { ResourceManager, type ResourceLimits } from './resource-manager.js';
import type { McpServerHandle } from './server-handle.js';
import { ServerPool } from './server-pool.js';

export interface McpConfigFile {
  mcpServers: Record<string, McpServerConfig>;
  /** Host-wide resource limits (defaults: DEFAULTS.limits). */
  limits?: Partial<ResourceLimits>;
}

export interface McpHostOptions {
  resources?: ResourceManager;
  clientInfo?: { name: string; version: string };
  /**
   * Where every server's calls are recorded, one line each (e.g. `new AuditLog(file)`); the host
   * does not close it. @default no audit
   */
  audit?: AuditSink;
  /** The queue where `tools.confirm` calls wait for a person. @default a new ApprovalQueue */
  approvals?: ApprovalQueue;
}

export interface McpHostEvents extends McpBridgeEvents {
  /** After every `apply` / `reload`, applied or rejected. */
  reload: HostReload;
}

export type { HostReload };

const FORWARDED = ['state', 'event', 'stderr', 'metrics', 'tools', 'notification'] as const;

interface Hosted {
  bridge: McpServerHandle;
  /** The normalized config it runs with (compared on reload). */
  key: string;
  /** Stops forwarding its events. */
  detach: () => void;
}

export class McpHost extends Emitter<McpHostEvents> {
  readonly resources: ResourceManager;
  /**
   * Calls to `tools.confirm` tools waiting for a person, shared by every server. Whoever can ask
   * one (the gateway, for its dashboard) attaches to it and answers.
   */
  readonly approvals: ApprovalQueue;
  private readonly hosted = new Map<string, Hosted>();
  private readonly options: McpHostOptions;
  private limitsKey: string;
  /** Reloads run one at a time, in order: a second edit waits for the first to settle. */
  private applying: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(config: McpConfigFile, options: McpHostOptions = {}) {
    super();
    this.resources = options.resources ?? new ResourceManager(config.limits);
    this.approvals = options.approvals ?? new ApprovalQueue();
    this.options = options;
    this.limitsKey = normalize(config.limits ?? {});
    for (const [name, serverConfig] of Object.entries(config.mcpServers)) this.add(name, serverConfig);
  }

  get(name: string): McpServerHandle | undefined {
    return this.hosted.get(name)?.bridge;
  }

  list(): McpServerHandle[] {
    return [...this.hosted.values()].map((h) => h.bridge);
  }

  names(): string[] {
    return [...this.hosted.keys()];
  }

  /** Starts every server; never rejects (a server that cannot start shows it in its state and events). */
  async startAll(): Promise<void> {
    await Promise.allSettled(this.list().map((b) => b.start()));
  }

  /**
   * Drops cached results: of every server, or of one (`server`), optionally only one tool's or one
   * resource URI's. Returns how many entries were dropped. An unknown server name is a TypeError.
   */
  invalidateCache(server?: string, what: { tool?: string; uri?: string } = {}): number {
    if (server !== undefined && !this.hosted.has(server)) throw new TypeError(`Unknown server "${server}" (available: ${this.names().join(', ') || 'none'})`);
    const bridges = server === undefined ? this.list() : [this.hosted.get(server)!.bridge];
    return bridges.reduce((sum, b) => sum + b.invalidateCache(what), 0);
  }

  /**
   * Stops every server, then releases every tracked resource. A reload under way finishes first
   * (so nothing it starts outlives the host); later `apply` / `reload` calls change nothing.
   */
  async stopAll(): Promise<void> {
    this.stopping = true;
    this.approvals.cancelAll();
    await this.applying;
    await Promise.allSettled(this.list().map((b) => b.stop()));
    await this.resources.shutdown();
  }

  /**
   * Makes the running set match `config`: servers not running yet are started, servers no longer
   * named are stopped cleanly (pending requests fail with NotConnected), servers whose config
   * changed are stopped and started again with the new one; the others are left alone. Resolves
   * once every start and stop settled (a server that fails to start shows it in its state, as with
   * `startAll`). Emits `reload`. Host-wide `limits` are fixed at construction (listed in `notes`).
   *
   * @example
   * const result = await host.apply(await loadConfig('mcp.json'));
   * console.log(result.added, result.removed, result.changed);
   */
  apply(config: McpConfigFile, source?: string): Promise<HostReload> {
    return this.serialize(() => this.applyNow(config, source));
  }

  /**
   * `apply(await load())`, except that a `load` that throws (a file that does not parse or
   * validate) changes nothing: the result (and the `reload` event) carries the error and the
   * running set is kept. Never rejects.
   */
  reload(load: () => Promise<McpConfigFile>, source?: string): Promise<HostReload> {
    return this.serialize(async () => {
      let config: McpConfigFile;
      try {
        config = await load();
      } catch (error) {
        const rejected: HostReload = { ...(source !== undefined ? { source } : {}), added: [], removed: [], changed: [], unchanged: this.names(), errors: [error instanceof Error ? error.message : String(error)], notes: [] };
        this.emit('reload', rejected);
        return rejected;
      }
      return this.applyNow(config, source);
    });
  }

  private serialize<T>(run: () => Promise<T>): Promise<T> {
    const next = this.applying.then(run, run);
    this.applying = next.catch(() => undefined);
    return next;
  }

  private async applyNow(config: McpConfigFile, source: string | undefined): Promise<HostReload> {
    const result: HostReload = { ...(source !== undefined ? { source } : {}), added: [], removed: [], changed: [], unchanged: [], errors: [], notes: [] };
    if (this.stopping) {
      result.unchanged = this.names();
      result.errors.push('the host is stopping');
      return result;
    }
    const wanted = new Map(Object.entries(config.mcpServers).map(([name, c]) => [name, { config: c, key: normalize(c) }]));
    for (const name of this.hosted.keys()) if (!wanted.has(name)) result.removed.push(name);
    for (const [name, { key }] of wanted) {
      const current = this.hosted.get(name);
      if (!current) result.added.push(name);
      else if (current.key !== key) result.changed.push(name);
      else result.unchanged.push(name);
    }
    const limitsKey = normalize(config.limits ?? {});
    if (limitsKey !== this.limitsKey) result.notes.push('host-wide "limits" changed: they apply after a restart of mcp-ipc');

    // Stop first (removed and changed), so a changed server never runs twice at once.
    const leaving = [...result.removed, ...result.changed].map((name) => this.hosted.get(name)!);
    for (const name of result.removed) this.hosted.delete(name);
    const stopped = await Promise.allSettled(leaving.map((h) => h.bridge.stop()));
    stopped.forEach((outcome, i) => {
      if (outcome.status === 'rejected') result.errors.push(`stopping "${leaving[i]!.bridge.name}": ${describe(outcome.reason)}`);
      leaving[i]!.detach();
    });
    const starting = [...result.added, ...result.changed].map((name) => this.add(name, wanted.get(name)!.config));
    this.emit('reload', result);
    // Started after `reload` is out, so listeners (the gateway) can install their handlers on the new
    // bridges before the servers' first requests arrive.
    await Promise.allSettled(starting.map((b) => b.start()));
    return result;
  }

  private add(name: string, config: McpServerConfig): McpServerHandle {
    const o = this.options;
    const serverOptions = { resources: this.resources, clientInfo: o.clientInfo, approvals: this.approvals, audit: o.audit };
    const bridge: McpServerHandle = config.replicas !== undefined ? new ServerPool(name, config, serverOptions) : new McpBridge(name, config, serverOptions);
    const offs = FORWARDED.map((event) => bridge.on(event, (payload) => this.emit(event, payload as never)));
    this.hosted.set(name, { bridge, key: normalize(config), detach: () => offs.forEach((off) => off()) });
    return bridge;
  }
}

/** A canonical JSON text of a config (object keys sorted, undefined left out): equal configs, equal texts. */
export function normalize(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
