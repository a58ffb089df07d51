/**
 * mcp-ipc core (`mcp-ipc`, `mcp-ipc/core`): the transport-agnostic JSON-RPC 2.0 engine. Runs in
 * browsers and Node. Every export is named: what is listed here is the public API (pinned by
 * test/unit/public-api.test.ts); the modules' other exports are internal and may change.
 */

// Typed errors (they survive the wire: `ipcErrorFromJSON` rebuilds the subclass) and their codes.
export {
  IpcError,
  IpcErrorCode,
  RpcCode,
  TimeoutError,
  CancelledError,
  QueueFullError,
  ServerCrashedError,
  NotConnectedError,
  ProtocolError,
  MessageTooLargeError,
  ResourceLimitError,
  InvalidParamsError,
  ServerError,
  StartupFailedError,
  UnsupportedProtocolVersionError,
  OutputSchemaMismatchError,
  ToolDeniedError,
  UnauthorizedError,
  TlsError,
  isIpcError,
  ipcErrorFromJSON,
  toIpcError,
  type IpcErrorJSON,
  type TimeoutData,
  type CrashData,
  type StartupFailedData,
  type UnsupportedProtocolVersionData,
  type OutputSchemaMismatchData,
  type ToolDeniedData,
  type UnauthorizedData,
  type TlsData,
} from './errors.js';

// Result values instead of exceptions.
export { ok, err, toResult, unwrap, type Result } from './result.js';

// JSON-RPC 2.0 messages: types, builders, guards, and the decoder for custom transports.
export {
  request,
  notification,
  success,
  failure,
  isRequest,
  isNotification,
  isResponse,
  isFailure,
  decodeText,
  decodeInto,
  type RequestId,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcNotification,
  type JsonRpcResponse,
  type JsonRpcSuccess,
  type JsonRpcFailure,
  type JsonRpcErrorObject,
  type DecodeOptions,
  type DecodeSink,
  type Decoded,
  type Diagnostic,
} from './jsonrpc.js';

// The transport contract (the MCP SDK's shape) and newline framing for stream transports.
export { SENT, type Transport, type TransportSendOptions } from './transport.js';
export { LineDecoder, encodeMessage, type LineDecoderOptions, type OversizedLine } from './framing.js';
// An in-memory transport pair: for tests of code built on IpcManager or McpBridge.
export { MemoryTransport } from './memory-transport.js';

// The engine: correlation, priority queue, timeouts, retries, cancellation, progress, streams, metrics.
export {
  IpcManager,
  type IpcManagerOptions,
  type IpcManagerEvents,
  type RequestOptions,
  type CancelSignal,
  type StreamingRequest,
  type ConnectionState,
  type Progress,
  type StreamChunk,
  type IpcMetricsSnapshot,
  type RequestContext,
  type RequestOrigin,
  type RequestHandler,
  type NotificationHandler,
} from './ipc-manager.js';
// A cancel handle that makes an AbortSignal only when something asks for one (RequestOptions.cancel).
export { Cancellation } from './cancellation.js';
export { PRIORITIES, type Priority } from './queue.js';
export type { HistogramSnapshot } from './metrics.js';
export { DEFAULTS, type Defaults } from './defaults.js';

// MCP: the session (both protocol eras), protocol revisions, tasks, and the MCP result types.
export {
  McpSession,
  LOGGING_LEVELS,
  type McpSessionOptions,
  type McpRequestOptions,
  type McpServerIdentity,
  type Implementation,
  type LoggingLevel,
} from './mcp-session.js';
export {
  PROTOCOL_VERSIONS,
  LEGACY_PROTOCOL_VERSIONS,
  MODERN_PROTOCOL_VERSIONS,
  LATEST_LEGACY_PROTOCOL_VERSION,
  LATEST_MODERN_PROTOCOL_VERSION,
  type McpEra,
} from './mcp-versions.js';
export type { McpTaskOptions, TaskInfo, TaskStatus, TaskSupport } from './mcp-tasks.js';
export type {
  Annotated,
  CompleteResult,
  CompletionReference,
  GetPromptResult,
  LogMessage,
  PromptArgument,
  PromptInfo,
  PromptMessage,
  ReadResourceResult,
  ResourceContents,
  ResourceInfo,
  ResourceTemplateInfo,
  Root,
} from './mcp-types.js';

// OpenTelemetry spans for MCP calls and W3C trace context in `_meta` (no-ops without an SDK).
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

// The browser ↔ host wire contract of the gateway (shared by the gateway and the client).
export {
  GATEWAY_PATH,
  BATCH_PROTOCOL,
  TOKEN_PARAM,
  GATEWAY_EVENTS,
  GatewayCloseCode,
  type GatewayMethods,
  type GatewayMethod,
  type GatewayParams,
  type GatewayResult,
  type GatewayEvents,
  type GatewayEventName,
  type GatewayCallNotifications,
  type GatewayErrorData,
  type SequencedEvent,
  type HelloParams,
  type CallParams,
  type BroadcastParams,
  type CallToolResult,
  type ToolInfo,
  type ServerState,
  type ServerEvent,
  type ServerSnapshot,
  type ExitInfo,
  type PoolSnapshot,
  type ReplicaSnapshot,
  type CacheStats,
  type ApprovalRequest,
  type ApprovalSettled,
} from './gateway-protocol.js';
