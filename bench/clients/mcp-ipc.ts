/** mcp-ipc: our McpBridge (ProcessManager + IpcManager + MCP), default settings: queue, metrics, health checks on. */
import { McpBridge } from '../../src/node/mcp-bridge.js';
import { ECHO_SERVER } from '../paths.js';
import { ensureGone, trackPid } from './child.js';
import { type BenchClient, type ClientOptions, textOf } from './types.js';

export class McpIpcClient implements BenchClient {
  readonly name = 'mcp-ipc' as const;
  private bridge: McpBridge | undefined;
  private serverPid: number | undefined;
  private readonly options: ClientOptions;

  constructor(options: ClientOptions = {}) {
    this.options = options;
  }

  get pid(): number | undefined {
    return this.serverPid;
  }

  async start(): Promise<void> {
    const bridge = new McpBridge('echo', {
      command: process.execPath,
      args: [this.options.serverPath ?? ECHO_SERVER],
      ...(this.options.queue ? { queue: this.options.queue } : {}),
    });
    // An 'error' event without listeners must not crash the benchmark.
    bridge.on('event', () => undefined);
    this.bridge = bridge;
    await bridge.start();
    this.serverPid = bridge.process.pid ?? undefined;
    trackPid(this.serverPid);
  }

  async call(text: string): Promise<string> {
    return textOf(await this.bridge!.call('echo', { text }));
  }

  async callBlob(bytes: number): Promise<number> {
    return textOf(await this.bridge!.call('blob', { bytes })).length;
  }

  /** The streamed variant (mcp-ipc extension): chunks of 64 KiB, then an empty result. */
  async callBlobStreaming(bytes: number): Promise<number> {
    let received = 0;
    const { result } = this.bridge!.callStreaming('blob', { bytes }, { onChunk: (chunk) => (received += chunk.data.length) });
    await result;
    return received;
  }

  hang(args: Record<string, unknown>): Promise<unknown> {
    return this.bridge!.call('hang', args);
  }

  /** Direct access for probes that need it. */
  get raw(): McpBridge | undefined {
    return this.bridge;
  }

  async stop(): Promise<void> {
    const bridge = this.bridge;
    const pid = this.serverPid;
    this.bridge = undefined;
    this.serverPid = undefined;
    if (bridge) await bridge.stop();
    if (pid !== undefined) await ensureGone(pid);
  }
}

export const createMcpIpcClient = (options?: ClientOptions): BenchClient => new McpIpcClient(options);
