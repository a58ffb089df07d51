/** The common shape of the benchmarked clients. */
import type { IpcManagerOptions } from '../../src/core/ipc-manager.js';

export type ClientName = 'raw' | 'sdk' | 'mcp-ipc';
export const CLIENT_NAMES: readonly ClientName[] = ['raw', 'sdk', 'mcp-ipc'];

export interface ClientOptions {
  /** The MCP server script to run with `node` (default: test/fixtures/echo-server.mjs). */
  serverPath?: string;
  /** mcp-ipc only: queue settings (the benchmark keeps the defaults except in the memory probes). */
  queue?: IpcManagerOptions;
}

export interface BenchClient {
  readonly name: ClientName;
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

export type ClientFactory = (options?: ClientOptions) => BenchClient;

export const textOf = (result: unknown): string => {
  const content = (result as { content?: Array<{ type?: string; text?: string }> } | undefined)?.content;
  const first = content?.[0];
  if (!first || typeof first.text !== 'string') throw new Error(`bench: unexpected tool result ${JSON.stringify(result)?.slice(0, 200)}`);
  return first.text;
};
