/**
 * Helpers for the bundled demo server's tools (examples/python-server: `search`, `process_document`).
 * They are the demo's, not the client's: an app's own tools get helpers like these in its own code.
 */
import type { CallToolResult } from '../core/gateway-protocol.js';
import type { Progress } from '../core/ipc-manager.js';
import type { Result } from '../core/result.js';
import type { CallOptions, McpIpcClient } from './client.js';

/**
 * The demo's `search` tool (rules search), on `options.server` or the client's default server.
 * @example
 * const found = await search(client, 'grapple', { limit: 5 });
 */
export function search(client: McpIpcClient, query: string, options: CallOptions & { limit?: number; server?: string } = {}): Promise<Result<CallToolResult>> {
  const { limit, server, ...callOptions } = options;
  return client.callOn(server, 'search', limit === undefined ? { query } : { query, limit }, callOptions);
}

/** The demo's `process_document` tool, with progress. */
export function processDocument(
  client: McpIpcClient,
  path: string,
  onProgress?: (progress: Progress) => void,
  options: CallOptions & { server?: string } = {},
): Promise<Result<CallToolResult>> {
  const { server, ...callOptions } = options;
  return client.callOn(server, 'process_document', { file_path: path }, onProgress ? { ...callOptions, onProgress } : callOptions);
}
