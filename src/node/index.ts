/** mcp-ipc for Node: stdio transport, supervision, resources, the MCP bridge, the gateway. */
export * from './stdio-transport.js';
export * from './orphan-guard.js';
export {
  currentPlatform,
  platformFor,
  defaultEnvironment,
  TREE_VARIABLE,
  type Platform,
  type ServerTree,
  type TreeSignal,
  type CommandRunner,
  type CommandResult,
} from './platform/index.js';
export * from './process-manager.js';
export * from './resource-manager.js';
export * from './mcp-bridge.js';
export * from './mcp-host.js';
export type { McpServerHandle, ServerIdentityView, HandleRequestOptions } from './server-handle.js';
export { ServerPool, aggregateState, type PoolReplica, type ServerPoolOptions } from './server-pool.js';
export { PoolScaler, replicaSettings, type ReplicasConfig, type PoolLoad, type ScaleDecision } from './pool/scaler.js';
export * from './config.js';
export * from './gateway.js';
export * from './output-schema.js';
export { watchConfigFile, CONFIG_WATCH_DEFAULTS, type ConfigWatcherOptions, type ConfigChange } from './config-watcher.js';
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
export * from './tool-policy.js';
export * from './approvals.js';
export * from './result-cache.js';
export * from './audit-log.js';
export * from './call-guard.js';
export { StreamableHttpTransport, type RemoteServerParams, type StreamableHttpTransportOptions } from './transports/streamable-http.js';
export { FileOAuthProvider, type RemoteAuthConfig, type BearerAuthConfig, type OAuthConfig } from './remote-auth.js';
export type { RemoteTlsConfig } from './tls.js';
