/**
 * What compression buys on the gateway (issue 13): a 1 MB tool result — the Python demo's
 * `generate_large_result`, numbered lines of English text — through a real gateway (a child process,
 * bench/gateway-child.ts, compression at its defaults but forced on for loopback peers with
 * `compression: { loopback: true }`: the bench's client is on this machine, to which the gateway
 * otherwise compresses nothing) with and without it:
 *
 * - WebSocket: McpIpcClient over `ws` offering permessage-deflate, and the same client offering none
 *   (the gateway then sends plain frames). Bytes on the wire are counted at the client's TCP socket
 *   (bytesRead + bytesWritten, frames and all); client and gateway CPU are each process's own
 *   `process.cpuUsage()`.
 * - HTTP: `POST /mcp/bench` (Streamable HTTP) `tools/call` with `Accept-Encoding: br`, `gzip` and
 *   `identity`; bytes are the request's socket (headers and body, both ways), the client CPU includes
 *   decoding the body.
 *
 * Modes alternate within a round, in an order rotated every round; figures are medians over rounds.
 */
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { createBrotliDecompress, createGunzip } from 'node:zlib';
import { WebSocket, type ClientOptions as WsClientOptions } from 'ws';
import { McpIpcClient } from '../src/client/client.js';
import type { WebSocketConstructor } from '../src/client/websocket-transport.js';
import { type GatewayRun, startGateway } from './gateway.js';
import type { CompressionFigures, CompressionModeFigures } from './results.js';
import { spread } from './stats.js';
import { measureWindow, type WindowResult } from './workloads.js';

export const COMPRESSION_RESULT_BYTES = 1_000_000;
export const COMPRESSION_MODES = ['ws-deflate', 'ws-plain', 'http-br', 'http-gzip', 'http-identity'] as const;
export type CompressionMode = (typeof COMPRESSION_MODES)[number];

export interface CompressionSettings {
  rounds: number;
  /** Calls per mode per round (one call at a time: the figure is the cost of one result). */
  calls: number;
  /** Unmeasured calls per mode before the first round. */
  warmupCalls: number;
}

interface Sample {
  window: WindowResult;
  bytesPerCall: number;
}

/** A WebSocket class that offers (or not) permessage-deflate and keeps the TCP socket for counting. */
function countingWebSocket(deflate: boolean, sockets: Socket[], opened: WebSocket[]): WebSocketConstructor {
  class Counting extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      const options: WsClientOptions = { perMessageDeflate: deflate };
      super(url, protocols, options);
      this.on('upgrade', (res) => sockets.push(res.socket as Socket));
      opened.push(this);
    }
  }
  return Counting as unknown as WebSocketConstructor;
}

const socketBytes = (sockets: Socket[]) => sockets.reduce((n, s) => n + s.bytesRead + s.bytesWritten, 0);

const toolArguments = { name: 'generate_large_result', arguments: { size: COMPRESSION_RESULT_BYTES } };

/** The text of a tools/call result, checked to be the size asked for. */
function checkResult(result: unknown, where: string): void {
  const content = (result as { content?: Array<{ type: string; text?: string }> } | undefined)?.content;
  const bytes = (content ?? []).reduce((n, c) => n + (c.type === 'text' ? (c.text ?? '').length : 0), 0);
  if (bytes !== COMPRESSION_RESULT_BYTES) throw new Error(`${where}: result of ${bytes} bytes, expected ${COMPRESSION_RESULT_BYTES}`);
}

interface Mode {
  /** What the gateway actually sent: the negotiated WebSocket extension, or the response's Content-Encoding. */
  onWire(): string;
  measure(calls: number): Promise<Sample>;
  close(): void;
}

async function webSocketMode(run: GatewayRun, deflate: boolean): Promise<Mode> {
  const sockets: Socket[] = [];
  const opened: WebSocket[] = [];
  const client = new McpIpcClient({ url: run.url, WebSocket: countingWebSocket(deflate, sockets, opened), reconnect: false, server: 'bench' });
  const connected = await client.connect();
  if (!connected.ok) throw connected.error;
  const call = async () => {
    const r = await client.call('bench', 'generate_large_result', { size: COMPRESSION_RESULT_BYTES });
    if (!r.ok) throw r.error;
    checkResult(r.data, deflate ? 'ws-deflate' : 'ws-plain');
  };
  return {
    onWire: () => opened.at(-1)?.extensions || 'no extension',
    measure: async (calls) => {
      const before = socketBytes(sockets);
      const window = await measureWindow(call, { inFlight: 1, windowMs: 0, minCalls: calls, otherCpu: run.gatewayCpu });
      return { window, bytesPerCall: (socketBytes(sockets) - before) / Math.max(1, window.calls) };
    },
    close: () => client.disconnect(),
  };
}

/** One POST (or DELETE) to the Streamable HTTP endpoint; resolves with the decoded body, its headers and the socket's bytes. */
function post(url: URL, body: unknown, headers: Record<string, string>, method = 'POST'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const payload = body === null ? '' : JSON.stringify(body);
    const req = request(url, { method, agent: false, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': String(Buffer.byteLength(payload)), ...headers } }, (res) => {
      const encoding = res.headers['content-encoding'];
      const decoded = encoding === 'br' ? res.pipe(createBrotliDecompress()) : encoding === 'gzip' ? res.pipe(createGunzip()) : res;
      const chunks: Buffer[] = [];
      decoded.on('data', (c: Buffer) => chunks.push(c));
      decoded.on('error', reject);
      decoded.on('end', () => {
        const socket = res.socket;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), bytes: socket.bytesRead + socket.bytesWritten });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The JSON-RPC answer in a JSON or SSE body. */
function rpcResult(text: string, where: string): unknown {
  const json = text.trimStart().startsWith('{')
    ? text
    : text
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trim())
        .find((l) => l.includes('"result"') || l.includes('"error"'));
  const msg = JSON.parse(json ?? '{}') as { result?: unknown; error?: { message: string } };
  if (msg.error) throw new Error(`${where}: ${msg.error.message}`);
  return msg.result;
}

async function httpMode(run: GatewayRun, encoding: 'br' | 'gzip' | 'identity'): Promise<Mode> {
  const url = new URL('/mcp/bench', run.url.replace(/^ws/, 'http'));
  const auth = { authorization: `Bearer ${new URL(run.url).searchParams.get('token') ?? ''}` };
  const init = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '0' } } }, auth);
  const session = init.headers['mcp-session-id'];
  if (init.status !== 200 || typeof session !== 'string') throw new Error(`http: initialize answered ${init.status}: ${init.text.slice(0, 200)}`);
  const headers = { ...auth, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18', 'accept-encoding': encoding };
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  let id = 1;
  let bytes = 0;
  let contentEncoding = 'not answered';
  const call = async () => {
    const r = await post(url, { jsonrpc: '2.0', id: id++, method: 'tools/call', params: toolArguments }, headers);
    if (r.status !== 200) throw new Error(`http-${encoding}: tools/call answered ${r.status}`);
    checkResult(rpcResult(r.text, `http-${encoding}`), `http-${encoding}`);
    bytes += r.bytes;
    contentEncoding = `Content-Encoding: ${String(r.headers['content-encoding'] ?? 'none')}`;
  };
  return {
    onWire: () => contentEncoding,
    measure: async (calls) => {
      bytes = 0;
      const window = await measureWindow(call, { inFlight: 1, windowMs: 0, minCalls: calls, otherCpu: run.gatewayCpu });
      return { window, bytesPerCall: bytes / Math.max(1, window.calls) };
    },
    // Ends the session (the gateway closes idle ones anyway; it is stopped right after).
    close: () => void post(url, null, headers, 'DELETE').catch(() => undefined),
  };
}

/**
 * Runs the comparison against `server` (the Python demo). `log` gets progress lines. Never throws for
 * a failed mode: its figures are null with the first error.
 */
export async function runCompression(
  server: { command: string; args: string[] },
  env: Record<string, string>,
  settings: CompressionSettings,
  log: (line: string) => void,
): Promise<CompressionFigures> {
  // Forced on: by default a loopback client gets no compression at all (see the header).
  const run = await startGateway({ server, env, inFlight: 4, raiseHostLimits: true, compressLoopback: true });
  const samples = new Map<CompressionMode, Sample[]>();
  const errors = new Map<CompressionMode, string>();
  const modes = new Map<CompressionMode, Mode>();
  try {
    for (const name of COMPRESSION_MODES) {
      try {
        const mode = name === 'ws-deflate' || name === 'ws-plain' ? await webSocketMode(run, name === 'ws-deflate') : await httpMode(run, name.slice(5) as 'br' | 'gzip' | 'identity');
        modes.set(name, mode);
        if (settings.warmupCalls > 0) await mode.measure(settings.warmupCalls);
      } catch (error) {
        errors.set(name, error instanceof Error ? error.message : String(error));
        log(`  compression ${name}: ${errors.get(name)}`);
      }
    }
    for (let r = 0; r < settings.rounds; r++) {
      const order = COMPRESSION_MODES.map((_, i) => COMPRESSION_MODES[(i + r) % COMPRESSION_MODES.length]!);
      log(`  compression round ${r + 1}/${settings.rounds}: ${order.join(', ')}`);
      for (const name of order) {
        const mode = modes.get(name);
        if (!mode || errors.has(name)) continue;
        const s = await mode.measure(settings.calls);
        if (s.window.firstError) errors.set(name, s.window.firstError);
        const list = samples.get(name) ?? [];
        list.push(s);
        samples.set(name, list);
      }
    }
  } finally {
    for (const mode of modes.values()) mode.close();
    await run.close();
  }
  const figures = {} as Record<CompressionMode, CompressionModeFigures>;
  for (const name of COMPRESSION_MODES) {
    const ws = (samples.get(name) ?? []).filter((s) => s.window.calls > 0);
    const f: CompressionModeFigures = {
      bytesPerCall: spread(ws.map((s) => s.bytesPerCall)),
      clientCpuUsPerCall: spread(ws.map((s) => s.window.cpuUsPerCall)),
      gatewayCpuUsPerCall: spread(ws.map((s) => s.window.otherCpuUsPerCall)),
      p50Ms: spread(ws.map((s) => s.window.p50Ms)),
      errors: (samples.get(name) ?? []).reduce((n, s) => n + s.window.errors, 0),
      onWire: modes.get(name)?.onWire() ?? 'not connected',
    };
    const firstError = errors.get(name);
    if (firstError) f.firstError = firstError;
    figures[name] = f;
  }
  return { status: 'ok', resultBytes: COMPRESSION_RESULT_BYTES, tool: 'generate_large_result (Python demo)', rounds: settings.rounds, callsPerRound: settings.calls, modes: figures };
}
