/**
 * floor: the least a client can do, so the others are measured against something real. One JSON line
 * out, one JSON line in, correlation by id in a Map, no queue, no timeouts, no validation. Like
 * mcp-ipc's stdio transport it write-combines: lines sent in one tick go out as one write (one
 * syscall), flushed on process.nextTick — a floor that wrote one syscall per message would be no
 * floor for an engine that batches.
 */
import type { ChildProcess } from 'node:child_process';
import { reap, spawnServer } from './child.js';
import { type BenchClient, type ClientOptions, textOf } from './types.js';

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

const NEWLINE = 0x0a;

export class FloorClient implements BenchClient {
  readonly name = 'floor' as const;
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Waiter>();
  private nextId = 1;
  private rest: Buffer[] = [];
  private batch = '';
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
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stdin!.on('error', () => undefined);
    child.once('exit', () => this.failAll(new Error('server exited')));
    await this.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'floor', version: '0' } });
    this.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  }

  async call(text: string): Promise<string> {
    return textOf(await this.request('tools/call', { name: 'echo', arguments: { text } }));
  }

  async callBlob(bytes: number): Promise<number> {
    return textOf(await this.request('tools/call', { name: 'blob', arguments: { bytes } })).length;
  }

  hang(args: Record<string, unknown>): Promise<unknown> {
    return this.request('tools/call', { name: 'hang', arguments: args });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await reap(child);
    this.failAll(new Error('stopped'));
  }

  request(method: string, params: unknown): Promise<unknown> {
    if (!this.child) return Promise.reject(new Error('not started'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  private write(line: string): void {
    if (this.batch === '') process.nextTick(this.flush);
    this.batch += line;
  }

  private readonly flush = (): void => {
    const lines = this.batch;
    this.batch = '';
    if (lines !== '' && this.child?.stdin?.writable) this.child.stdin.write(lines);
  };

  private onData(chunk: Buffer): void {
    let start = 0;
    let nl = chunk.indexOf(NEWLINE);
    if (nl !== -1 && this.rest.length > 0) {
      this.rest.push(chunk.subarray(0, nl));
      const line = Buffer.concat(this.rest);
      this.rest = [];
      this.onLine(line.toString('utf8'));
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    while (nl !== -1) {
      if (nl > start) this.onLine(chunk.toString('utf8', start, nl));
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) this.rest.push(start === 0 ? chunk : chunk.subarray(start));
  }

  private onLine(line: string): void {
    const msg = JSON.parse(line) as { id?: number; result?: unknown; error?: { message: string } };
    if (typeof msg.id !== 'number') return;
    const waiter = this.pending.get(msg.id);
    if (!waiter) return;
    this.pending.delete(msg.id);
    if (msg.error) waiter.reject(new Error(msg.error.message));
    else waiter.resolve(msg.result);
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
