/**
 * mcp-ipc: McpBridge (ProcessManager + IpcManager + MCP) as a user gets it. Two settings:
 *
 * - `mcp-ipc`: the defaults (10 in flight, 100 queued; what the bench has outstanding beyond 10
 *   waits in mcp-ipc's own queue — the cost of that is part of the figure);
 * - `mcp-ipc-tuned`: limits raised to the bench's in-flight count (maxConcurrent = it, a queue that
 *   never fills), so the same number of calls is on the wire as for the other contenders.
 *
 * Health checks, metrics, validation: all as configured by default in both.
 */
import { McpBridge } from '../../src/node/mcp-bridge.js';
import { ensureGone, trackPid } from './child.js';
import { type BenchClient, type ClientOptions, textOf } from './types.js';

export class McpIpcBenchClient implements BenchClient {
  readonly name: 'mcp-ipc' | 'mcp-ipc-tuned';
  private bridge: McpBridge | undefined;
  private serverPid: number | undefined;
  private readonly options: ClientOptions;

  constructor(name: 'mcp-ipc' | 'mcp-ipc-tuned', options: ClientOptions) {
    this.name = name;
    this.options = options;
  }

  get pid(): number | undefined {
    return this.serverPid;
  }

  async start(): Promise<void> {
    const { command, args } = this.options.server;
    const n = this.options.maxInFlight;
    const bridge = new McpBridge('bench', {
      command,
      args,
      env: this.options.env,
      ...(this.name === 'mcp-ipc-tuned' ? { queue: { maxConcurrent: n, maxQueueSize: n + 16 } } : {}),
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

  hang(args: Record<string, unknown>): Promise<unknown> {
    return this.bridge!.call('hang', args);
  }

  /** Direct access for the memory probe (it checks that the requests really are in flight). */
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
