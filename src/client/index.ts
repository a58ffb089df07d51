/** mcp-ipc for browsers: the gateway client, its stores and the WebSocket transport. No Node imports. */
export * from './client.js';
export * from './store.js';
export * from './websocket-transport.js';
export * from '../core/result.js';
export * from '../core/errors.js';
export * from '../core/gateway-protocol.js';
export type { Progress, IpcMetricsSnapshot, StreamChunk } from '../core/ipc-manager.js';
export type { Priority } from '../core/queue.js';
