/**
 * The gateway path: McpIpcClient (the browser client, here over `ws`) → WebSocket gateway → McpBridge
 * → the instant server. The gateway runs in a child process (bench/gateway-child.ts) so the figure is
 * client CPU + gateway CPU per call, each process measuring its own `process.cpuUsage()`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { WebSocket } from 'ws';
import { McpIpcClient } from '../src/client/client.js';
import type { WebSocketConstructor } from '../src/client/websocket-transport.js';
import { ensureGone, reap, track, trackPid } from './clients/child.js';
import { textOf } from './clients/types.js';
import type { GatewayChildParams, GatewayChildReady } from './gateway-child.js';
import { GATEWAY_CHILD } from './paths.js';
import { ECHO_TEXT, measureWindow, type WindowResult } from './workloads.js';

export interface GatewayRun {
  config: Record<string, unknown>;
  /** The gateway's WebSocket URL, token included (bench/compression.ts opens its own clients). */
  url: string;
  /** The gateway process's CPU time so far (user + system), µs. */
  gatewayCpu(): Promise<number>;
  /** One window; `otherCpuUsPerCall` is the gateway's share. */
  window(windowMs: number): Promise<WindowResult>;
  warmUp(ms: number): Promise<void>;
  close(): Promise<void>;
}

class LineReader {
  private readonly waiting: Array<(line: string) => void> = [];
  private readonly lines: string[] = [];
  constructor(rl: Interface) {
    rl.on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
  }
  next(timeoutMs: number, what: string): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway child: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  }
}

export async function startGateway(params: GatewayChildParams): Promise<GatewayRun> {
  if (!existsSync(GATEWAY_CHILD)) throw new Error(`${GATEWAY_CHILD} not built (npm run build)`);
  const child: ChildProcess = spawn(process.execPath, [GATEWAY_CHILD, JSON.stringify(params)], { stdio: ['pipe', 'pipe', 'pipe'], env: params.env });
  track(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
  const reader = new LineReader(createInterface({ input: child.stdout! }));
  let serverPid: number | null = null;
  let client: McpIpcClient | undefined;
  const close = async () => {
    client?.disconnect();
    await reap(child, 10_000);
    if (serverPid !== null) await ensureGone(serverPid);
  };
  try {
    const ready = JSON.parse(await reader.next(30_000, 'ready line').catch((e: Error) => Promise.reject(new Error(`${e.message}: ${stderr.trim()}`)))) as GatewayChildReady;
    serverPid = ready.serverPid;
    trackPid(serverPid);
    // The client's own in-flight cap defaults to 32: raised, so `inFlight` calls really are on the wire.
    client = new McpIpcClient({ url: ready.url, WebSocket: WebSocket as unknown as WebSocketConstructor, reconnect: false, server: 'bench', maxConcurrent: params.inFlight });
    const connected = await client.connect();
    if (!connected.ok) throw connected.error;
    const c = client;
    const call = async () => {
      const r = await c.call('bench', 'echo', { text: ECHO_TEXT });
      if (!r.ok) throw r.error;
      if (textOf(r.data) !== ECHO_TEXT) throw new Error('gateway: wrong echo');
    };
    const gatewayCpu = async () => {
      child.stdin!.write('cpu\n');
      return (JSON.parse(await reader.next(10_000, 'cpu answer')) as { cpuUs: number }).cpuUs;
    };
    return {
      config: ready.config,
      url: ready.url,
      gatewayCpu,
      window: (windowMs) => measureWindow(call, { inFlight: params.inFlight, windowMs, otherCpu: gatewayCpu }),
      warmUp: async (ms) => void (await measureWindow(call, { inFlight: params.inFlight, windowMs: ms })),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
