/** mcp-ipc core: the transport-agnostic JSON-RPC 2.0 engine. Runs in browsers and Node. */
export * from './errors.js';
export * from './result.js';
export * from './jsonrpc.js';
export * from './transport.js';
export * from './framing.js';
export * from './queue.js';
export * from './metrics.js';
export * from './backoff.js';
export * from './emitter.js';
export * from './defaults.js';
export * from './memory-transport.js';
export * from './ipc-manager.js';
export * from './gateway-protocol.js';
export * from './inbound.js';
export * from './mcp-versions.js';
export * from './mcp-session.js';
export * from './mcp-types.js';
export * from './mcp-tasks.js';
export * from './list-cache.js';
export * from './elicitation.js';
export * from './rate-window.js';
export * from './bounded-log.js';
export {
  TRACER_NAME,
  MCP_ATTR,
  TRACEPARENT_KEY,
  TRACESTATE_KEY,
  type McpOutcome,
  type McpSpanTarget,
  tracingActive,
  refreshTracingActive,
  mcpSpanName,
  mcpAttributes,
  startMcpSpan,
  endMcpSpan,
  traceContextMeta,
  injectTraceContext,
  extractTraceContext,
} from './tracing.js';
export * from './canonical-json.js';
