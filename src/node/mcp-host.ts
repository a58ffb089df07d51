/**
 * McpHost: the named servers of one `mcpServers` config, sharing one ResourceManager. A server
 * with `replicas` is a ServerPool, any other an McpBridge; both are McpServerHandles.
 * Re-emits every server's events (each payload names its server) so a gateway listens in one place.
 */
import { Emitter } from '../core/emitter.js';
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
}

const FORWARDED = ['state', 'event', 'stderr', 'metrics', 'tools', 'notification'] as const;

export class McpHost extends Emitter<McpBridgeEvents> {
  readonly resources: ResourceManager;
  private readonly bridges = new Map<string, McpServerHandle>();

  constructor(config: McpConfigFile, options: McpHostOptions = {}) {
    super();
    this.resources = options.resources ?? new ResourceManager(config.limits);
    for (const [name, serverConfig] of Object.entries(config.mcpServers)) {
      const serverOptions = { resources: this.resources, clientInfo: options.clientInfo };
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

  /** Stops every server, then releases every tracked resource. */
  async stopAll(): Promise<void> {
    await Promise.allSettled(this.list().map((b) => b.stop()));
    await this.resources.shutdown();
  }
}
