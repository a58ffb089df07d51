/**
 * mcp-ipc for browsers (`mcp-ipc/client`): the gateway client, its stores and the WebSocket
 * transport, plus what a client's user needs from core (errors, `Result`, the wire types). No Node
 * imports. The demo server's helpers (`search`, `processDocument`) are on the `mcp-ipc/client/demo`
 * subpath. Every export is named: what is listed here is the public API (pinned by
 * test/unit/public-api.test.ts); the modules' other exports are internal and may change.
 */

// The client: the whole MCP surface per server over one WebSocket, reconnect with catch-up.
export {
  McpIpcClient,
  type McpIpcClientOptions,
  type RequestOptions,
  type CallOptions,
  type RpcOptions,
  type ServerMessageContext,
  type ServerNotificationListener,
  type ServerRequestHandler,
  type NotificationListener,
  type TaskInfo,
} from './client.js';
export type { ClientState } from './connection.js';
export type { RequestInfo, RequestStatus } from './request-log.js';

// Svelte-compatible stores (the client's `connection`, `servers`, `metrics`, … are Readable).
export type { Readable, Subscriber, Unsubscriber } from './store.js';

// The WebSocket transport (inject a WebSocket implementation in Node 20 or tests).
export {
  WebSocketTransport,
  type WebSocketTransportOptions,
  type WebSocketLike,
  type WebSocketConstructor,
  type CloseInfo,
  type CoalesceLimits,
} from './websocket-transport.js';

// From core: typed errors, Result values, the engine types that appear in the client's API.
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
} from '../core/errors.js';
export { ok, err, toResult, unwrap, type Result } from '../core/result.js';
export type { Progress, IpcMetricsSnapshot, StreamChunk } from '../core/ipc-manager.js';
export type { Priority } from '../core/queue.js';
export type { LoggingLevel } from '../core/mcp-session.js';
export type {
  CompleteResult,
  CompletionReference,
  GetPromptResult,
  PromptInfo,
  PromptMessage,
  ReadResourceResult,
  ResourceContents,
  ResourceInfo,
  ResourceTemplateInfo,
  Root,
} from '../core/mcp-types.js';

// From core: the browser ↔ host wire contract.
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
} from '../core/gateway-protocol.js';
