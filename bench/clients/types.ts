/** The common shape of the benchmarked clients ("contenders"). */
import type { ServerSpec } from '../servers.js';

export type ContenderName = 'floor' | 'sdk-v1' | 'sdk-v2' | 'vscode-jsonrpc' | 'mcp-ipc' | 'mcp-ipc-tuned';
export const CONTENDERS: readonly ContenderName[] = ['floor', 'sdk-v1', 'sdk-v2', 'vscode-jsonrpc', 'mcp-ipc', 'mcp-ipc-tuned'];

export const CONTENDER_LABELS: Record<ContenderName, string> = {
  floor: 'floor (raw, write-combining)',
  'sdk-v1': '@modelcontextprotocol/sdk v1',
  'sdk-v2': '@modelcontextprotocol/client v2',
  'vscode-jsonrpc': 'vscode-jsonrpc 8 (ndjson)',
  'mcp-ipc': 'mcp-ipc, defaults',
  'mcp-ipc-tuned': 'mcp-ipc, tuned',
};

export interface ClientOptions {
  /** The server to spawn. */
  server: Pick<ServerSpec, 'command' | 'args'>;
  /** Its whole environment (bench/env.ts: the same for every contender). */
  env: Record<string, string>;
  /**
   * The most calls the bench will have outstanding at once. mcp-ipc-tuned raises its limits to it
   * (maxConcurrent = this, a queue that never fills); the others need nothing.
   */
  maxInFlight: number;
}

export interface BenchClient {
  readonly name: ContenderName;
  /** Spawns the server and completes the MCP handshake (initialize + notifications/initialized). */
  start(): Promise<void>;
  /** tools/call echo {text}; resolves with the echoed text. */
  call(text: string): Promise<string>;
  /** tools/call blob {bytes}; resolves with the length of the text received. */
  callBlob(bytes: number): Promise<number>;
  /**
   * tools/call hang (never answers), with `args` passed through untouched so the caller can share one
   * object between calls (memory probes count bytes beyond the params). Settles only on stop().
   */
  hang(args: Record<string, unknown>): Promise<unknown>;
  /** Stops the server (the child must be gone when this resolves). */
  stop(): Promise<void>;
  /** The server's pid, when running. */
  readonly pid: number | undefined;
}

export const textOf = (result: unknown): string => {
  const content = (result as { content?: Array<{ type?: string; text?: string }> } | undefined)?.content;
  const first = content?.[0];
  if (!first || typeof first.text !== 'string') throw new Error(`bench: unexpected tool result ${JSON.stringify(result)?.slice(0, 200)}`);
  return first.text;
};

/** Big enough for the 10 MiB result (the SDKs' default read buffer, 10 MiB, closes the connection on it). */
export const MAX_BUFFER = 64 * 1024 * 1024;
