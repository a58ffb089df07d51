/**
 * mcp-ipc for browsers: the gateway client, its stores and the WebSocket transport. No Node imports.
 * The demo server's helpers (`search`, `processDocument`) are on the `mcp-ipc/client/demo` subpath.
 */
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
  errorFromWire,
  reassemble,
} from './client.js';
export { CLIENT_PROTOCOL, TOKEN_PROTOCOL_PREFIX, type ClientState } from './connection.js';
export type { RequestInfo, RequestStatus } from './request-log.js';
export * from './store.js';
export * from './websocket-transport.js';
export * from '../core/result.js';
export * from '../core/errors.js';
export * from '../core/gateway-protocol.js';
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
