/**
 * mcp-ipc for Node (`mcp-ipc/node`): transports, supervision, resources, the MCP bridge and host,
 * server pools, the result cache, tool policy and audit log, config loading, the gateway. The
 * engine, errors and MCP types are in `mcp-ipc` (core). Every export is named: what is listed here
 * is the public API (pinned by test/unit/public-api.test.ts); the modules' other exports are
 * internal and may change.
 */

// Hosting MCP servers: one server, a host of several (from a config), and their common handle.
export {
  McpBridge,
  type McpServerConfig,
  type BridgeOptions,
  type BridgeCallOptions,
  type BridgeRequestOptions,
  type StreamingCallOptions,
  type McpBridgeEvents,
  type ResourceUpdate,
} from './mcp-bridge.js';
export { McpHost, type McpHostOptions, type McpConfigFile } from './mcp-host.js';
export type { McpServerHandle, ServerIdentityView, HandleRequestOptions } from './server-handle.js';
export type { CallOrigin } from './call-guard.js';

// Server pools: replicas of one server behind its name.
export { ServerPool, type ServerPoolOptions, type PoolReplica } from './server-pool.js';
export type { ReplicasConfig } from './pool/scaler.js';

// Config files: the `mcpServers` format plus mcp-ipc's sections, and the bundled demo server.
export { loadConfig, parseConfig, ConfigError, demoServerConfig } from './config.js';
export { watchConfigFile, CONFIG_WATCH_DEFAULTS, type ConfigWatcherOptions, type ConfigChange } from './config-watcher.js';

// Transports: a local server over stdio, a remote one over Streamable HTTP (auth, TLS).
export { StdioTransport, type StdioServerParams, type StdioTransportOptions } from './stdio-transport.js';
export { StreamableHttpTransport, type RemoteServerParams, type StreamableHttpTransportOptions } from './transports/streamable-http.js';
export { FileOAuthProvider, type RemoteAuthConfig, type BearerAuthConfig, type OAuthConfig } from './remote-auth.js';
export type { RemoteTlsConfig } from './tls.js';

// Supervision: spawn, restart with backoff, health checks, usage sampling, shutdown of the whole tree.
export {
  ProcessManager,
  type ProcessManagerOptions,
  type ProcessManagerEvents,
  type ProcessHooks,
  type ProcessTransport,
  type ProcessTransportFactory,
  type Usage,
} from './process-manager.js';

// The operating-system specifics behind one interface (injectable: the `platform` option).
export {
  currentPlatform,
  platformFor,
  defaultEnvironment,
  TREE_VARIABLE,
  type Platform,
  type ServerTree,
  type TreeSignal,
  type Watchdog,
  type CommandRunner,
  type CommandResult,
} from './platform/index.js';

// Resource accounting and limits (processes, connections, files, tasks).
export {
  ResourceManager,
  type ResourceLimits,
  type ResourceManagerOptions,
  type ResourceManagerEvents,
  type ResourceType,
  type ResourceInfo,
  type ResourceHandle,
  type AcquireOptions,
} from './resource-manager.js';

// Result cache, tool policy, approvals and the audit log (a server's `cache` and `tools` sections).
export { CACHE_META_KEY, type CacheMark, type CacheConfig } from './result-cache.js';
export type { ToolPolicyConfig } from './tool-policy.js';
export { ApprovalQueue, type ApprovalQueueOptions, type ApprovalRequest, type ApprovalSettled } from './approvals.js';
export { AuditLog, type AuditLogOptions, type AuditRecord, type AuditSink } from './audit-log.js';

// The gateway: HTTP + WebSocket for browsers, the dashboard, /metrics.
export { startGateway, Gateway, type GatewayOptions, type CompressionOptions } from './gateway/index.js';

// Tracing: OTLP export and spans around gateway and bridge requests.
export {
  startOtlpTracing,
  traceGatewayRequest,
  traceBridgeRequest,
  tracesEndpoint,
  OTLP_PACKAGES,
  type OtlpTracing,
  type OtlpTracingOptions,
  type TracedRequest,
} from './tracing.js';
