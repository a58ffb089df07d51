/**
 * vscode-jsonrpc: Microsoft's JSON-RPC engine (VS Code's language client) speaking MCP by hand over
 * newline framing (bench/clients/ndjson.ts). A mature, lean engine with cancellation tokens and no
 * MCP layer: what a careful general-purpose JSON-RPC client costs.
 */
import type { ChildProcess } from 'node:child_process';
import rpc from 'vscode-jsonrpc/node.js';
import type { MessageConnection } from 'vscode-jsonrpc/node.js';
import { reap, spawnServer } from './child.js';
import { NdjsonMessageReader, NdjsonMessageWriter } from './ndjson.js';
import { type BenchClient, type ClientOptions, textOf } from './types.js';

export class VscodeClient implements BenchClient {
  readonly name = 'vscode-jsonrpc' as const;
  private child: ChildProcess | undefined;
  private connection: MessageConnection | undefined;
  private readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const child = spawnServer(this.options);
    this.child = child;
    child.stdin!.on('error', () => undefined);
    const connection = rpc.createMessageConnection(new NdjsonMessageReader(child.stdout!), new NdjsonMessageWriter(child.stdin!));
    connection.onError(() => undefined);
    this.connection = connection;
    connection.listen();
    await connection.sendRequest('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'vscode-jsonrpc', version: '8' } });
    await connection.sendNotification('notifications/initialized');
  }

  async call(text: string): Promise<string> {
    return textOf(await this.connection!.sendRequest('tools/call', { name: 'echo', arguments: { text } }));
  }

  async callBlob(bytes: number): Promise<number> {
    return textOf(await this.connection!.sendRequest('tools/call', { name: 'blob', arguments: { bytes } })).length;
  }

  hang(args: Record<string, unknown>): Promise<unknown> {
    return this.connection!.sendRequest('tools/call', { name: 'hang', arguments: args });
  }

  async stop(): Promise<void> {
    const child = this.child;
    const connection = this.connection;
    this.child = undefined;
    this.connection = undefined;
    connection?.dispose();
    if (child) await reap(child);
  }
}
