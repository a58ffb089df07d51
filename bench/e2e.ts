/**
 * End-to-end: McpIpcClient (the browser client, here with `ws`) → WebSocket gateway → McpBridge →
 * echo server. Loaded lazily by run.ts: if the gateway or client cannot be loaded or fail, the
 * suite reports "e2e: skipped (reason)" and carries on.
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { McpIpcClient } from '../src/client/client.js';
import type { WebSocketConstructor } from '../src/client/websocket-transport.js';
import { Gateway } from '../src/node/gateway.js';
import { McpHost } from '../src/node/mcp-host.js';
import { ensureGone, trackPid } from './clients/child.js';
import { textOf } from './clients/types.js';
import { ECHO_SERVER } from './paths.js';
import type { E2eResult } from './results.js';
import { percentileSorted } from './stats.js';
import { closedLoop, ECHO_TEXT } from './workloads.js';

export interface E2eOptions {
  calls: number;
  latencyCalls: number;
  inFlight: number;
  warmup: number;
  log: (line: string) => void;
}

const SERVER = 'echo';

export async function runE2e(options: E2eOptions): Promise<E2eResult> {
  const host = new McpHost({ mcpServers: { [SERVER]: { command: process.execPath, args: [ECHO_SERVER] } } });
  host.on('event', () => undefined);
  let gateway: Gateway | undefined;
  let client: McpIpcClient | undefined;
  let pid: number | undefined;
  try {
    await host.get(SERVER)!.start();
    pid = host.get(SERVER)!.pids()[0];
    trackPid(pid);
    gateway = new Gateway({ host, hostname: '127.0.0.1', port: 0, token: randomBytes(16).toString('hex') });
    await gateway.start();
    client = new McpIpcClient({ url: gateway.wsUrl, WebSocket: WebSocket as unknown as WebSocketConstructor, reconnect: false, server: SERVER });
    const connected = await client.connect();
    if (!connected.ok) throw connected.error;
    const c = client;
    const call = async () => {
      const r = await c.call(SERVER, 'echo', { text: ECHO_TEXT });
      if (!r.ok) throw r.error;
      const text = textOf(r.data);
      if (text !== ECHO_TEXT) throw new Error(`e2e: echo returned ${JSON.stringify(text)}`);
    };
    for (let i = 0; i < options.warmup; i++) await call();
    const samples: number[] = [];
    for (let i = 0; i < options.latencyCalls; i++) {
      const t0 = performance.now();
      await call();
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    const elapsedMs = await closedLoop(options.calls, options.inFlight, call);
    return {
      status: 'ok',
      callsPerSec: (options.calls / elapsedMs) * 1000,
      p50Ms: percentileSorted(samples, 50),
      p99Ms: percentileSorted(samples, 99),
      calls: options.calls,
      inFlight: options.inFlight,
    };
  } finally {
    client?.disconnect();
    await gateway?.close().catch(() => undefined);
    await host.stopAll().catch(() => undefined);
    if (pid !== undefined) await ensureGone(pid);
  }
}
