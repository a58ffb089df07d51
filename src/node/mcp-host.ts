/**
 * McpHost: the named servers of one `mcpServers` config, sharing one ResourceManager. A server
 * with `replicas` is a ServerPool, any other an McpBridge; both are McpServerHandles.
 * Re-emits every server's events (each payload names its server) so a gateway listens in one place.
 */
import { Emitter } from '../core/emitter.js';
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

const FORWARDED = ['state', 'event', 'stderr', 'metrics', 'tools', 'notification'] as const;

export class McpHost extends Emitter<McpBridgeEvents> {
  readonly resources: ResourceManager;
  /**
   * Calls to `tools.confirm` tools waiting for a person, shared by every server. Whoever can ask
   * one (the gateway, for its dashboard) attaches to it and answers.
   */
  readonly approvals: ApprovalQueue;
  private readonly bridges = new Map<string, McpServerHandle>();

  constructor(config: McpConfigFile, options: McpHostOptions = {}) {
    super();
    this.resources = options.resources ?? new ResourceManager(config.limits);
    this.approvals = options.approvals ?? new ApprovalQueue();
    for (const [name, serverConfig] of Object.entries(config.mcpServers)) {
      const serverOptions = { resources: this.resources, clientInfo: options.clientInfo, approvals: this.approvals, audit: options.audit };
      const bridge: McpServerHandle =
        serverConfig.replicas !== undefined ? new ServerPool(name, serverConfig, serverOptions) : new McpBridge(name, serverConfig, serverOptions);
      for (const event of FORWARDED) {
        bridge.on(event, (payload) => this.emit(event, payload as never));
      }
      this.bridges.set(name, bridge);
    }
  }

  get(name: string): McpServerHandle | undefined {
    return this.bridges.get(name);
  }

  list(): McpServerHandle[] {
    return [...this.bridges.values()];
  }

  names(): string[] {
    return [...this.bridges.keys()];
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
    if (server !== undefined && !this.bridges.has(server)) throw new TypeError(`Unknown server "${server}" (available: ${this.names().join(', ') || 'none'})`);
    const bridges = server === undefined ? this.list() : [this.bridges.get(server)!];
    return bridges.reduce((sum, b) => sum + b.invalidateCache(what), 0);
  }

  /** Stops every server, then releases every tracked resource. */
  async stopAll(): Promise<void> {
    this.approvals.cancelAll();
    await Promise.allSettled(this.list().map((b) => b.stop()));
    await this.resources.shutdown();
  }
}
