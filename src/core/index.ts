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
