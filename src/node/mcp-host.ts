/**
 * McpHost: the named servers of one `mcpServers` config, sharing one ResourceManager.
 * Re-emits every bridge's events (each payload names its server) so a gateway listens in one place.
 */
import { Emitter } from '../core/emitter.js';
import { McpBridge, type McpBridgeEvents, type McpServerConfig } from './mcp-bridge.js';
import { ResourceManager, type ResourceLimits } from './resource-manager.js';

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
  private readonly bridges = new Map<string, McpBridge>();

  constructor(config: McpConfigFile, options: McpHostOptions = {}) {
    super();
    this.resources = options.resources ?? new ResourceManager(config.limits);
    for (const [name, serverConfig] of Object.entries(config.mcpServers)) {
      const bridge = new McpBridge(name, serverConfig, { resources: this.resources, clientInfo: options.clientInfo });
      for (const event of FORWARDED) {
        bridge.on(event, (payload) => this.emit(event, payload as never));
      }
      this.bridges.set(name, bridge);
    }
  }

  get(name: string): McpBridge | undefined {
    return this.bridges.get(name);
  }

  list(): McpBridge[] {
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
