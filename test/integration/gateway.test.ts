/**
 * The gateway over real sockets: McpHost running the Python demo server, the gateway on an
 * ephemeral port, `ws` clients. Covers the security guards, the JSON-RPC surface, progress,
 * streaming, cancellation, per-connection limits, fan-out, event catch-up, /metrics and /health.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFAULTS } from '../../src/core/defaults.js';
import type { IpcErrorJSON } from '../../src/core/errors.js';
import { BATCH_PROTOCOL, type CallToolResult, type HelloParams, MCP_CLIENT_METHODS, type SequencedEvent, type ServerSnapshot } from '../../src/core/gateway-protocol.js';
import { DEMO_DOCUMENTS_DIR, demoServerConfig } from '../../src/node/config.js';
import { Gateway, startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';

interface RpcError {
  code: number;
  message: string;
  data?: IpcErrorJSON;
}
interface RpcResponse {
  jsonrpc: '2.0';
  id: string | number | null;
  result?: unknown;
  error?: RpcError;
}
interface Note {
  method: string;
  params: Record<string, unknown>;
}

/** A minimal JSON-RPC client over `ws`, recording every notification. */
class TestClient {
  readonly ws: WebSocket;
  readonly notes: Note[] = [];
  readonly strays: RpcResponse[] = [];
  /** Every frame as received, before batches are unrolled. */
  readonly frames: string[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;
  private readonly pending = new Map<string, (r: RpcResponse) => void>();
  private readonly watchers = new Set<() => void>();

  constructor(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]) {
    this.ws = protocols ? new WebSocket(url, protocols, options) : new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data) => {
      this.frames.push(data.toString());
      const value = JSON.parse(data.toString()) as unknown;
      for (const m of Array.isArray(value) ? value : [value]) {
        const msg = m as RpcResponse & Note;
        if (typeof msg.method === 'string') this.notes.push({ method: msg.method, params: msg.params });
        else {
          const key = JSON.stringify(msg.id);
          const resolve = this.pending.get(key);
          if (resolve) {
            this.pending.delete(key);
            resolve(msg);
          } else this.strays.push(msg);
        }
      }
      for (const w of [...this.watchers]) w();
    });
  }

  static async open(url: string, options?: WebSocket.ClientOptions, protocols?: string[]): Promise<TestClient> {
    const client = new TestClient(url, options, protocols);
    await client.opened;
    return client;
  }

  /** Sends a request; resolves with the whole response (result or error). */
  send(method: string, params?: unknown, id: string | number = this.nextId++): Promise<RpcResponse> {
    const response = new Promise<RpcResponse>((resolve) => this.pending.set(JSON.stringify(id), resolve));
    this.ws.send(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }));
    return response;
  }

  /** Sends a request; resolves with its result, throws on an error response. */
  async call<T = unknown>(method: string, params?: unknown): Promise<T> {
    const r = await this.send(method, params);
    if (r.error) throw new Error(`${method} failed: ${JSON.stringify(r.error)}`);
    return r.result as T;
  }

  /** Waits until `predicate` holds (re-checked after every message). */
  until(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve();
      };
      this.watchers.add(check);
    });
  }

  /** The next message of any kind (used after raw sends). */
  nextStray(timeoutMs = 5_000): Promise<RpcResponse> {
    const seen = this.strays.length;
    return this.until(() => this.strays.length > seen, timeoutMs, 'an error response').then(() => this.strays[seen]!);
  }

  /** The next frame (after raw sends), parsed but not unrolled: an array when it is a batch reply. */
  nextFrame(timeoutMs = 5_000): Promise<unknown> {
    const seen = this.frames.length;
    return this.until(() => this.frames.length > seen, timeoutMs, 'a frame').then(() => JSON.parse(this.frames[seen]!) as unknown);
  }

  notesOf(method: string): Array<Record<string, unknown>> {
    return this.notes.filter((n) => n.method === method).map((n) => n.params);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, 2000))]);
    if ((this.ws.readyState as number) !== WebSocket.CLOSED) this.ws.terminate();
  }
}

/** The HTTP status an upgrade attempt gets (101 when the WebSocket opens). */
function upgradeStatus(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = protocols ? new WebSocket(url, protocols, options) : new WebSocket(url, options);
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

/** A raw HTTP request with full control of the headers (the Host header in particular). */
function rawRequest(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // A refused upgrade comes back as a normal response; an accepted one as 'upgrade'.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET with full control of the request headers; the body as raw bytes (not decoded). */
function rawGet(port: number, path: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, method }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const upgradeHeaders = () => ({
  Connection: 'Upgrade',
  Upgrade: 'websocket',
  'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
});

let host: McpHost;
let gateway: Gateway;
let small: Gateway | undefined;
const clients = new Set<TestClient>();
const tmpRoot = mkdtempSync(join(tmpdir(), 'mcp-ipc-gateway-'));
const staticDir = join(tmpRoot, 'public');

async function connect(options?: WebSocket.ClientOptions, g: Gateway = gateway): Promise<TestClient> {
  const client = await TestClient.open(g.wsUrl, options);
  clients.add(client);
  // `hello` is the first frame (it may be compressed, so it can arrive after 'open'); a refused connection closes instead.
  await Promise.race([client.until(() => client.notes.some((n) => n.method === 'hello'), 10_000, 'hello'), client.closed]);
  return client;
}

beforeAll(async () => {
  mkdirSync(staticDir);
  writeFileSync(join(tmpRoot, 'secret.txt'), 'TOP-SECRET');
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><div id="app"></div>');
  writeFileSync(join(staticDir, 'app.js'), 'console.log(1)');
  host = new McpHost({ mcpServers: { demo: demoServerConfig() } });
  await host.startAll();
  expect(host.get('demo')?.state).toBe('running');
  gateway = await startGateway({
    host,
    port: 0,
    staticDir,
    maxMessageBytes: 64 * 1024,
    maxInFlightPerConnection: 3,
    chunkChars: 1_000,
    // Every test here connects from 127.0.0.1 and most keep their sockets until afterAll: the
    // per-address cap has its own tests below.
    maxConnectionsPerAddress: DEFAULTS.limits.connections,
    // Compression as a remote peer gets it (loopback peers get none by default: tested on its own below).
    compression: { loopback: true },
  });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([...clients].map((c) => c.close()));
  await small?.close();
  await gateway?.close();
  await host?.stopAll();
  rmSync(tmpRoot, { recursive: true, force: true });
});

describe('security', () => {
  it('binds 127.0.0.1 with a random token', () => {
    const url = new URL(gateway.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(Number(url.port)).toBe(gateway.port);
    expect(url.searchParams.get('token')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses an upgrade without a token or with a wrong one (401)', async () => {
    const base = `ws://127.0.0.1:${gateway.port}/ws`;
    expect(await upgradeStatus(base)).toBe(401);
    expect(await upgradeStatus(`${base}?token=${'0'.repeat(64)}`)).toBe(401);
    expect(await upgradeStatus(`${base}?token=`)).toBe(401);
    expect(await upgradeStatus(base, {}, ['mcp-ipc.token.nope'])).toBe(401);
  });

  it('tells our own client (subprotocol mcp-ipc) why with close code 4401, since a browser cannot see a 401', async () => {
    const client = new TestClient(`ws://127.0.0.1:${gateway.port}/ws?token=wrong`, {}, ['mcp-ipc']);
    clients.add(client);
    const closed = await client.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toContain('token');
  });

  it('tells a client offering only independent batches (mcp-ipc.batch) with close code 4401 too', async () => {
    const client = new TestClient(`ws://127.0.0.1:${gateway.port}/ws?token=wrong`, {}, [BATCH_PROTOCOL]);
    clients.add(client);
    expect((await client.closed).code).toBe(4401);
  });

  it('tells our own client about a refused Origin with close code 4403', async () => {
    const client = new TestClient(gateway.wsUrl, { origin: 'http://evil.example' }, ['mcp-ipc']);
    clients.add(client);
    expect((await client.closed).code).toBe(4403);
  });

  it('refuses a batch over the limit whole, with one error, and keeps the connection', async () => {
    const client = await connect();
    const batch = Array.from({ length: 51 }, (_, i) => ({ jsonrpc: '2.0', id: `b${i}`, method: 'ping' }));
    client.ws.send(JSON.stringify(batch));
    const reply = await client.nextStray();
    expect(reply.id).toBeNull();
    expect(reply.error?.code).toBe(-32600);
    expect(reply.error?.message).toContain('over the limit of 50');
    expect(await client.call('ping')).toEqual({});
    // Invalid items count too: 51 of them get one refusal, not 51 error objects.
    client.ws.send(JSON.stringify(Array.from({ length: 51 }, () => 1)));
    const refused = await client.nextFrame();
    expect(Array.isArray(refused)).toBe(false);
    expect(refused).toMatchObject({ id: null, error: { code: -32600, message: expect.stringContaining('over the limit of 50') } });
  });

  it('answers each item of a batch as it is ready on a connection that agreed on independent batches', async () => {
    const hello = (c: TestClient) => c.notesOf('hello')[0] as unknown as HelloParams;
    const batched = await TestClient.open(gateway.wsUrl, {}, ['mcp-ipc', BATCH_PROTOCOL]);
    clients.add(batched);
    await batched.until(() => batched.notes.some((n) => n.method === 'hello'), 10_000, 'hello');
    expect(batched.ws.protocol).toBe(BATCH_PROTOCOL);
    expect(hello(batched).batch).toEqual({ maxItems: 50, maxBytes: 64 * 1024 });
    const plain = await TestClient.open(gateway.wsUrl, {}, ['mcp-ipc']);
    clients.add(plain);
    await plain.until(() => plain.notes.some((n) => n.method === 'hello'), 10_000, 'hello');
    expect(plain.ws.protocol).toBe('mcp-ipc');
    expect(hello(plain).batch).toBeUndefined();

    const batch = (tag: string) =>
      JSON.stringify([
        { jsonrpc: '2.0', id: `${tag}-slow`, method: 'tools/call', params: { server: 'demo', name: 'sleep', arguments: { ms: 300 } } },
        { jsonrpc: '2.0', id: `${tag}-fast`, method: 'tools/call', params: { server: 'demo', name: 'echo', arguments: { text: 'hi' } } },
      ]);
    const framesWith = (c: TestClient, id: string) => c.frames.map((f, i) => (f.includes(`"${id}"`) ? i : -1)).filter((i) => i >= 0);
    for (const c of [batched, plain]) c.ws.send(batch(c === batched ? 'b' : 'p'));
    await batched.until(() => batched.strays.length === 2, 10_000, 'both replies');
    await plain.until(() => plain.strays.length === 2, 10_000, 'both replies');
    // Independent: the fast reply came first, in a frame of its own, before the slow one was done.
    expect(batched.strays.map((r) => r.id)).toEqual(['b-fast', 'b-slow']);
    const [fast] = framesWith(batched, 'b-fast');
    const [slow] = framesWith(batched, 'b-slow');
    expect(fast).toBeLessThan(slow!);
    expect(batched.strays.every((r) => r.result !== undefined)).toBe(true);
    // JSON-RPC 2.0 §6: one array with both, once both were done.
    expect(framesWith(plain, 'p-fast')).toEqual(framesWith(plain, 'p-slow'));
    const reply = JSON.parse(plain.frames[framesWith(plain, 'p-fast')[0]!]!) as RpcResponse[];
    expect(reply.map((r) => r.id).sort()).toEqual(['p-fast', 'p-slow']);
  });

  it('accepts the token as a Sec-WebSocket-Protocol', async () => {
    const client = await TestClient.open(`ws://127.0.0.1:${gateway.port}/ws`, {}, [`mcp-ipc.token.${gateway.token}`]);
    clients.add(client);
    expect(client.ws.protocol).toBe(`mcp-ipc.token.${gateway.token}`);
    expect(await client.call('ping')).toEqual({});
  });

  it('refuses a foreign Origin (403) and accepts its own', async () => {
    expect(await upgradeStatus(gateway.wsUrl, { origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(gateway.wsUrl, { origin: 'null' })).toBe(403);
    expect(await upgradeStatus(gateway.wsUrl, { origin: `http://127.0.0.1:${gateway.port + 1}` })).toBe(403);
    expect(await upgradeStatus(gateway.wsUrl, { origin: `http://127.0.0.1:${gateway.port}` })).toBe(101);
    expect(await upgradeStatus(gateway.wsUrl, { origin: `http://localhost:${gateway.port}` })).toBe(101);
  });

  it('refuses a non-local Host header (403), for upgrades and for HTTP', async () => {
    const path = `/ws?token=${gateway.token}`;
    const port = gateway.port;
    expect((await rawRequest(port, path, { ...upgradeHeaders(), Host: `evil.example:${port}` })).status).toBe(403);
    expect((await rawRequest(port, path, { ...upgradeHeaders(), Host: `127.0.0.1:${port + 1}` })).status).toBe(403);
    expect((await rawRequest(port, path, { ...upgradeHeaders(), Host: `localhost:${port}` })).status).toBe(101);
    expect((await rawRequest(port, '/', { Host: `rebind.example:${port}` })).status).toBe(403);
    expect((await rawRequest(port, `/metrics?token=${gateway.token}`, { Host: `evil.example:${port}` })).status).toBe(403);
    expect((await rawRequest(port, '/health', { Host: `[::1]:${port}` })).status).toBe(200);
  });

  it('negotiates permessage-deflate, and measures the size limit after decompression (a small frame inflating past it is closed with 1009)', async () => {
    const client = await connect();
    expect(client.ws.extensions).toMatch(/^permessage-deflate/);
    // An offer without client_max_window_bits (Firefox's) is accepted too.
    const plainOffer = await connect({ perMessageDeflate: { clientMaxWindowBits: false } as never });
    expect(plainOffer.ws.extensions).toMatch(/^permessage-deflate/);
    await plainOffer.close();
    // ~100 KiB of JSON that deflates to a few hundred bytes: the limit (64 KiB) holds for what it inflates to.
    client.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(100 * 1024) } }), { compress: true });
    const { code } = await client.closed;
    expect(code).toBe(1009);
    const plain = await startGateway({ host, port: 0, heartbeatMs: 0, compression: false });
    try {
      const other = await connect(undefined, plain);
      expect(other.ws.extensions).toBe('');
      expect(await other.call('ping')).toEqual({});
      await other.close();
    } finally {
      await plain.close();
    }
  });

  it('compresses nothing for a peer on this machine by default: no permessage-deflate, HTTP bodies as they are', async () => {
    const local = await startGateway({ host, port: 0, heartbeatMs: 0, staticDir });
    try {
      // ws offers permessage-deflate; over loopback the gateway accepts the connection without it.
      const c = await connect(undefined, local);
      expect(c.ws.extensions).toBe('');
      expect(await c.call('ping')).toEqual({});
      await c.close();
      const metrics = await rawGet(local.port, '/metrics', { Authorization: `Bearer ${local.token}`, 'Accept-Encoding': 'gzip, br' });
      expect(metrics.body.length).toBeGreaterThan(1024);
      expect(metrics.headers['content-encoding']).toBeUndefined();
      expect(metrics.body.toString()).toMatch(/^mcp_ipc_up\{server="demo"\} 1$/m);
      const script = 'console.log("local");\n'.repeat(200);
      writeFileSync(join(staticDir, 'local.js'), script);
      const js = await rawGet(local.port, '/local.js', { 'Accept-Encoding': 'br' });
      expect(js.headers['content-encoding']).toBeUndefined();
      expect(js.body.toString()).toBe(script);
    } finally {
      await local.close();
    }
  });

  it('closes a connection that sends an oversized message (1009)', async () => {
    const client = await connect();
    client.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(100 * 1024) } }));
    const { code } = await client.closed;
    expect(code).toBe(1009);
  });

  it('answers garbage frames with an error (id null) and keeps the connection', async () => {
    const client = await connect();
    client.ws.send('this is not json');
    const parse = await client.nextStray();
    expect(parse.id).toBeNull();
    expect(parse.error?.code).toBe(-32700);
    expect(parse.error?.data?.code).toBe('ProtocolError');

    client.ws.send(JSON.stringify({ hello: 'world' }));
    const invalid = await client.nextStray();
    expect(invalid.id).toBeNull();
    expect(invalid.error?.code).toBe(-32600);

    client.ws.send(Buffer.from([0xff, 0xfe, 0x00]));
    expect((await client.nextStray()).error?.code).toBe(-32700);

    const unknown = await client.send('no/such/method', {});
    expect(unknown.error?.code).toBe(-32601);
    expect(unknown.error?.data).toMatchObject({ code: 'ProtocolError', rpcCode: -32601 });

    const noServer = await client.send('tools/list', {});
    expect(noServer.error?.code).toBe(-32602);
    expect(noServer.error?.data?.code).toBe('InvalidParams');
    const badServer = await client.send('tools/call', { server: 'nope', tool: 'echo', arguments: { text: 'x' } });
    expect(badServer.error?.code).toBe(-32602);
    expect(badServer.error?.data?.code).toBe('InvalidParams');

    expect(await client.call('ping')).toEqual({});
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics?token=${gateway.token}`)).text();
    expect(metrics).toMatch(/mcp_ipc_gateway_invalid_messages_total\{kind="parse"\} [1-9]/);
  });

  it('disconnects a slow consumer without blocking other clients', async () => {
    small = await startGateway({ host, port: 0, maxSendBufferBytes: 64 * 1024, heartbeatMs: 0 });
    const slow = await connect(undefined, small);
    const fast = await connect(undefined, small);
    await slow.until(() => slow.notesOf('hello').length === 1);
    // Stop reading: everything sent to `slow` piles up in the gateway's send buffer.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = 'y'.repeat(60 * 1024);
    // Until the kernel's socket buffers (several MiB on loopback, sized by autotuning) are full and the
    // gateway's own buffer grows: bounded by time, not by a count that a large buffer can absorb.
    const sendUntil = Date.now() + 20_000;
    for (let i = 0; Date.now() < sendUntil && small.connectionCount === 2; i++) {
      slow.ws.send(JSON.stringify({ jsonrpc: '2.0', id: `big${i}`, method: 'tools/call', params: { server: 'demo', tool: 'echo', arguments: { text: big } } }));
      await new Promise((r) => setTimeout(r, 10));
    }
    const deadline = Date.now() + 15_000;
    while (small.connectionCount > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(small.connectionCount).toBe(1);
    expect(await fast.call('ping')).toEqual({});
    const text = await small.metrics.render();
    expect(text).toMatch(/mcp_ipc_gateway_slow_consumers_total 1/);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.closed;
    expect([4408, 1006]).toContain(closed.code);
  }, 60_000);
});

describe('JSON-RPC surface', () => {
  it('sends hello on connect', async () => {
    const before = gateway.latestSeq;
    const client = await connect();
    await client.until(() => client.notesOf('hello').length > 0);
    const hello = client.notesOf('hello')[0] as unknown as HelloParams;
    expect(typeof hello.version).toBe('string');
    // Events may be logged between hello and this line (metrics, stderr): hello's seq is the latest at connect time.
    expect(hello.latestSeq).toBeGreaterThanOrEqual(before);
    expect(hello.latestSeq).toBeLessThanOrEqual(gateway.latestSeq);
    expect(hello.servers.map((s) => s.name)).toEqual(['demo']);
    expect(hello.servers[0]?.state).toBe('running');
    // What a page may do here: the allow-list, host control, the server requests it may answer.
    expect(hello.offers).toEqual({ methods: [...MCP_CLIENT_METHODS], hostControl: true, serverRequests: ['sampling/createMessage', 'elicitation/create', 'roots/list'] });
  });

  it('forwards only the configured MCP methods and refuses host control when told to (-32601), also inside a batch', async () => {
    const strict = await startGateway({ host, port: 0, heartbeatMs: 0, methods: ['tools/list'], allowHostControl: false });
    try {
      const client = await connect(undefined, strict);
      expect((client.notesOf('hello')[0] as unknown as HelloParams).offers).toMatchObject({ methods: ['tools/list'], hostControl: false });
      expect((await client.call<{ tools: unknown[] }>('tools/list', { server: 'demo' })).tools.length).toBeGreaterThan(0);
      client.ws.send(
        JSON.stringify([
          { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { server: 'demo', name: 'echo', arguments: { text: 'x' } } },
          { jsonrpc: '2.0', id: 'b', method: 'server/stop', params: { server: 'demo' } },
        ]),
      );
      const replies = (await client.nextFrame()) as RpcResponse[];
      expect(replies.map((r) => [r.id, r.error?.code])).toEqual([
        ['a', -32601],
        ['b', -32601],
      ]);
      expect(host.get('demo')?.state).toBe('running');
      await client.close();
    } finally {
      await strict.close();
    }
  });

  it('lists servers and tools', async () => {
    const client = await connect();
    const servers = await client.call<ServerSnapshot[]>('servers/list');
    expect(servers).toHaveLength(1);
    expect(servers[0]).toMatchObject({ name: 'demo', state: 'running' });
    expect(typeof servers[0]?.pid).toBe('number');
    const { tools } = await client.call<{ tools: Array<{ name: string }> }>('tools/list', { server: 'demo' });
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['search', 'process_document', 'generate_large_result', 'echo', 'sleep']));
    const metrics = await client.call<Record<string, { requests: number }>>('metrics/snapshot', {});
    expect(metrics.demo?.requests).toBeGreaterThan(0);
    expect(Array.isArray(await client.call('server/stderr', { server: 'demo', lines: 5 }))).toBe(true);
  });

  it('calls search and returns results', async () => {
    const client = await connect();
    const result = await client.call<CallToolResult>('tools/call', { server: 'demo', tool: 'search', arguments: { query: 'the', limit: 3 } });
    expect(result.isError ?? false).toBe(false);
    expect(result.content.length).toBeGreaterThan(0);
    expect(JSON.stringify(result).length).toBeGreaterThan(20);
    const invalid = await client.send('tools/call', { server: 'demo', tool: 'search', arguments: { limit: 'many' } });
    expect(invalid.error?.data?.code).toBe('InvalidParams');
  });

  it('relays progress of process_document to the calling connection only', async () => {
    const caller = await connect();
    const bystander = await connect();
    const file = readdirSync(DEMO_DOCUMENTS_DIR).find((f) => !f.startsWith('.'));
    expect(file).toBeDefined();
    const result = await caller.call<CallToolResult>('tools/call', {
      server: 'demo',
      tool: 'process_document',
      arguments: { file_path: join(DEMO_DOCUMENTS_DIR, file as string), delay_ms: 20 },
      _meta: { progressToken: 'doc-1' },
    });
    expect(result.isError ?? false).toBe(false);
    const progress = caller.notesOf('notifications/progress');
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) {
      expect(p.progressToken).toBe('doc-1');
      expect(typeof p.progress).toBe('number');
    }
    const values = progress.map((p) => p.progress as number);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(bystander.notesOf('notifications/progress')).toHaveLength(0);
  });

  it('streams generate_large_result as notifications/stream/chunk', async () => {
    const client = await connect();
    const size = 300_000;
    const response = await client.send('tools/call', { server: 'demo', name: 'generate_large_result', arguments: { size }, _meta: { streamToken: 's1' } });
    expect(response.error).toBeUndefined();
    const chunks = client.notesOf('notifications/stream/chunk').filter((c) => c.streamToken === 's1');
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    const payload = chunks.map((c) => c.data as string).join('');
    expect(payload.length).toBe(size);
    const result = response.result as CallToolResult;
    expect(result.content.filter((c) => c.type === 'text')).toHaveLength(0);
  });

  it('splits a non-streamed result into chunks when a streamToken is given', async () => {
    const client = await connect();
    const text = 'abcdefghij'.repeat(450); // 4 500 chars, chunkChars 1 000
    const response = await client.send('tools/call', { server: 'demo', name: 'echo', arguments: { text }, _meta: { streamToken: 7 } });
    const result = response.result as CallToolResult;
    const chunks = client.notesOf('notifications/stream/chunk').filter((c) => c.streamToken === 7);
    const payload = chunks.map((c) => c.data as string).join('');
    expect(payload).toContain(text);
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    // Every block keeps its place: the text block is there, its text carried by chunks 0..n-1.
    expect(result.content).toEqual([{ type: 'text', text: '', _meta: { 'mcp-ipc/streamed': { first: 0, count: chunks.length } } }]);
    expect(result._meta?.streamed).toEqual({ chunks: chunks.length, bytes: Buffer.byteLength(payload) });
  });

  it('cancels a call by its request id', async () => {
    const client = await connect();
    const call = client.send('tools/call', { server: 'demo', tool: 'sleep', arguments: { ms: 20_000 } }, 'sleepy');
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    expect(await client.call('cancel', { requestId: 'sleepy', reason: 'test' })).toEqual({ cancelled: true });
    const response = await call;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(response.error?.data?.code).toBe('Cancelled');
    expect(response.error?.code).toBe(-32800);
    expect(await client.call('cancel', { requestId: 'sleepy' })).toEqual({ cancelled: false });
    expect(await client.call('cancel', { requestId: 12345 })).toEqual({ cancelled: false });
  });

  it('limits calls in flight per connection (QueueFull at once)', async () => {
    const client = await connect();
    const other = await connect();
    const sleeps = [1, 2, 3].map((i) => client.send('tools/call', { server: 'demo', tool: 'sleep', arguments: { ms: 10_000 } }, `s${i}`));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const rejected = await client.send('tools/call', { server: 'demo', tool: 'echo', arguments: { text: 'x' } });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(rejected.error?.data?.code).toBe('QueueFull');
    // Other connections are not affected; non-call methods still work on this one.
    expect(await other.call('tools/call', { server: 'demo', tool: 'echo', arguments: { text: 'ok' } })).toBeTruthy();
    expect(await client.call('ping')).toEqual({});
    for (const i of [1, 2, 3]) await client.call('cancel', { requestId: `s${i}` });
    for (const r of await Promise.all(sleeps)) expect(r.error?.data?.code).toBe('Cancelled');
    // Slots are free again.
    expect(await client.call('tools/call', { server: 'demo', tool: 'echo', arguments: { text: 'again' } })).toBeTruthy();
  });

  it('aborts the calls of a connection that closes', async () => {
    const client = await connect();
    void client.send('tools/call', { server: 'demo', tool: 'sleep', arguments: { ms: 20_000 } });
    const bridge = host.get('demo')!;
    await new Promise((r) => setTimeout(r, 200));
    const before = bridge.snapshot().metrics.cancels;
    await client.close();
    const deadline = Date.now() + 5_000;
    while (bridge.snapshot().metrics.cancels === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(bridge.snapshot().metrics.cancels).toBeGreaterThan(before);
  });

  it('serves 20 clients at once', async () => {
    const many = await Promise.all(Array.from({ length: 20 }, () => connect()));
    const results = await Promise.all(
      many.map((c, i) => c.call<CallToolResult>('tools/call', { server: 'demo', tool: 'echo', arguments: { text: `client ${i}` } })),
    );
    results.forEach((r, i) => expect(JSON.stringify(r.content)).toContain(`client ${i}`));
    await Promise.all(many.map((c) => c.until(() => c.notesOf('hello').length === 1)));
    await Promise.all(many.map((c) => c.close()));
  });
});

describe('events', () => {
  it('starts its event log with what the servers did before the gateway started', async () => {
    const client = await connect();
    const { events } = await client.call<{ events: Array<{ method: string; params: { type?: string; server?: string } }> }>('events/since', { seq: 0 });
    const early = events.filter((e) => e.method === 'server/event').map((e) => e.params.type);
    expect(early).toEqual(expect.arrayContaining(['spawn', 'state']));
  });

  it('broadcasts events with seq and serves events/since for catch-up', async () => {
    const watcher = await connect();
    await watcher.until(() => watcher.notesOf('hello').length === 1);
    const startSeq = (watcher.notesOf('hello')[0] as unknown as HelloParams).latestSeq;

    const snapshot = await watcher.call<ServerSnapshot>('server/restart', { server: 'demo' });
    expect(snapshot.state).toBe('running');
    await watcher.until(
      () => watcher.notesOf('server/state').some((p) => (p.data as { state: string }).state === 'running'),
      10_000,
      'server/state running',
    );
    const broadcast = watcher.notes.filter((n) => ['server/state', 'server/event', 'metrics', 'tools/changed'].includes(n.method));
    expect(broadcast.length).toBeGreaterThan(1);
    const seqs = broadcast.map((n) => n.params.seq as number);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
    expect(seqs[0]).toBeGreaterThan(startSeq);
    const state = watcher.notesOf('server/state')[0]!;
    expect(state.data).toMatchObject({ server: 'demo' });

    // A client that was away asks for what it missed.
    const late = await connect();
    const since = await late.call<{ events: SequencedEvent[]; latestSeq: number; truncated: boolean }>('events/since', { seq: startSeq });
    expect(since.truncated).toBe(false);
    expect(since.latestSeq).toBe(gateway.latestSeq);
    expect(since.events.length).toBeGreaterThan(0);
    expect(since.events.every((e) => e.seq > startSeq)).toBe(true);
    // Every broadcast the watcher saw is in the log, with the same payload.
    for (const n of broadcast) {
      const logged = since.events.find((e) => e.seq === n.params.seq);
      expect(logged?.method).toBe(n.method);
      expect(logged?.params).toEqual(n.params.data);
    }
    const limited = await late.call<{ events: SequencedEvent[] }>('events/since', { seq: startSeq, limit: 2 });
    expect(limited.events.map((e) => e.seq)).toEqual(since.events.slice(0, 2).map((e) => e.seq));
    const none = await late.call<{ events: SequencedEvent[] }>('events/since', { seq: gateway.latestSeq });
    expect(none.events).toEqual([]);
    expect((await late.send('events/since', {})).error?.code).toBe(-32602);
  }, 30_000);

  it('bounds its event log by bytes as well as by count', async () => {
    const tiny = await startGateway({ host, port: 0, eventHistoryBytes: 1 });
    try {
      const client = await connect(undefined, tiny);
      const r = await client.call<{ events: unknown[]; truncated: boolean; latestSeq: number }>('events/since', { seq: 0 });
      expect(r.latestSeq).toBeGreaterThan(1); // the servers' history was logged …
      expect(r.events).toHaveLength(1); // … but only the newest event fits the budget
      expect(r.truncated).toBe(true);
    } finally {
      await tiny.close();
    }
  });

  it('reports truncation when the log dropped events', async () => {
    const tiny = await startGateway({ host, port: 0, eventHistory: 2 });
    try {
      const client = await TestClient.open(tiny.wsUrl);
      clients.add(client);
      await client.call('server/restart', { server: 'demo' });
      await new Promise((r) => setTimeout(r, 200));
      const since = await client.call<{ events: SequencedEvent[]; latestSeq: number; truncated: boolean }>('events/since', { seq: 0 });
      expect(since.latestSeq).toBeGreaterThan(2);
      expect(since.events).toHaveLength(2);
      expect(since.truncated).toBe(true);
      await client.close();
    } finally {
      await tiny.close();
    }
  }, 30_000);
});

describe('HTTP', () => {
  it('serves /metrics in Prometheus text with the token only', async () => {
    const base = `http://127.0.0.1:${gateway.port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${gateway.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    for (const name of [
      'mcp_ipc_requests_total',
      'mcp_ipc_responses_total',
      'mcp_ipc_errors_total',
      'mcp_ipc_timeouts_total',
      'mcp_ipc_cancels_total',
      'mcp_ipc_in_flight',
      'mcp_ipc_queue_depth',
      'mcp_ipc_throughput',
      'mcp_ipc_restarts_total',
      'mcp_ipc_cpu_percent',
      'mcp_ipc_memory_bytes',
    ]) {
      expect(text).toMatch(new RegExp(`^${name}\\{server="demo"\\} `, 'm'));
    }
    expect(text).toMatch(/^mcp_ipc_up\{server="demo"\} 1$/m);
    expect(text).toMatch(/^mcp_ipc_request_latency_ms\{server="demo",quantile="0.95"\} /m);
    expect(text).toMatch(/^mcp_ipc_gateway_connections \d+$/m);
    expect((await fetch(`${base}/metrics?token=${gateway.token}`)).status).toBe(200);
  });

  it('compresses /metrics, /api and dashboard files with br or gzip as the client accepts, and small or already-compressed bodies not at all', async () => {
    const port = gateway.port;
    const auth = { Authorization: `Bearer ${gateway.token}` };
    const br = await rawGet(port, '/metrics', { ...auth, 'Accept-Encoding': 'gzip, deflate, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toBe('Accept-Encoding');
    expect(brotliDecompressSync(br.body).toString()).toMatch(/^mcp_ipc_up\{server="demo"\} 1$/m);
    const gz = await rawGet(port, '/metrics', { ...auth, 'Accept-Encoding': 'gzip;q=1, br;q=0' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(Number(gz.headers['content-length'])).toBe(gz.body.length);
    const text = gunzipSync(gz.body).toString();
    expect(text).toMatch(/^mcp_ipc_up\{server="demo"\} 1$/m);
    expect(gz.body.length).toBeLessThan(text.length / 3);
    const identity = await rawGet(port, '/metrics', auth);
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.body.toString()).toMatch(/^mcp_ipc_up/m);
    const refused = await rawGet(port, '/metrics', { ...auth, 'Accept-Encoding': 'gzip;q=0, br;q=0' });
    expect(refused.headers['content-encoding']).toBeUndefined();
    const api = await rawGet(port, '/api/servers', { ...auth, 'Accept-Encoding': 'gzip' });
    expect(api.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(api.body).toString())[0]).toMatchObject({ name: 'demo' });
    // Below the threshold (1 KiB): as is.
    const health = await rawGet(port, '/health', { 'Accept-Encoding': 'gzip, br' });
    expect(health.headers['content-encoding']).toBeUndefined();
    // Dashboard files: text types streamed through the compressor (chunked), images as they are.
    const script = 'console.log("dashboard");\n'.repeat(400);
    writeFileSync(join(staticDir, 'big.js'), script);
    writeFileSync(join(staticDir, 'big.png'), Buffer.alloc(4096, 7));
    const js = await rawGet(port, '/big.js', { 'Accept-Encoding': 'br' });
    expect(js.headers['content-encoding']).toBe('br');
    expect(js.headers['content-length']).toBeUndefined();
    expect(brotliDecompressSync(js.body).toString()).toBe(script);
    const head = await rawGet(port, '/big.js', { 'Accept-Encoding': 'gzip' }, 'HEAD');
    expect(head.headers['content-encoding']).toBe('gzip');
    expect(head.body.length).toBe(0);
    const png = await rawGet(port, '/big.png', { 'Accept-Encoding': 'gzip, br' });
    expect(png.headers['content-encoding']).toBeUndefined();
    expect(png.body.length).toBe(4096);
  });

  it('serves /health without a token, /api with one', async () => {
    const base = `http://127.0.0.1:${gateway.port}`;
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect((await fetch(`${base}/api/servers`)).status).toBe(401);
    const servers = await fetch(`${base}/api/servers`, { headers: { Authorization: `Bearer ${gateway.token}` } });
    expect(servers.status).toBe(200);
    expect(((await servers.json()) as ServerSnapshot[])[0]?.name).toBe('demo');
  });

  it('serves the dashboard files without a token, and nothing outside them', async () => {
    const base = `http://127.0.0.1:${gateway.port}`;
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<div id="app">');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    const js = await fetch(`${base}/app.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${base}/missing.js`)).status).toBe(404);
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/assets/..%2f..%2fsecret.txt']) {
      const res = await rawRequest(gateway.port, path, { Host: `127.0.0.1:${gateway.port}` });
      expect(res.body, path).not.toContain('TOP-SECRET');
    }
    expect((await rawRequest(gateway.port, '/..%2fsecret.txt', { Host: `127.0.0.1:${gateway.port}` })).status).toBe(403);
  });

  it('shows a placeholder page when the dashboard is not built', async () => {
    const bare = await startGateway({ host, port: 0, staticDir: join(staticDir, 'nope') });
    try {
      const res = await fetch(`http://127.0.0.1:${bare.port}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/not built/);
    } finally {
      await bare.close();
    }
  });
});

async function poll(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('resource limits (the host\'s ResourceManager)', () => {
  it('tracks connections and calls; over the limits a connection gets 1013 and a call ResourceLimit', async () => {
    const limited = new McpHost({ mcpServers: { demo: demoServerConfig() }, limits: { connections: 2, concurrentTasks: 1, fileHandles: 0 } });
    await limited.startAll();
    const g = await startGateway({ host: limited, port: 0 });
    try {
      // Static files are opened under the fileHandles limit (0 here): 503 rather than an fd leak.
      const page = await fetch(`http://127.0.0.1:${g.port}/`);
      expect(page.status).toBe(503);
      expect(page.headers.get('retry-after')).toBe('1');
      const a = await connect(undefined, g);
      const b = await connect(undefined, g);
      expect(limited.resources.count('connection')).toBe(2);
      const third = new TestClient(g.wsUrl);
      clients.add(third);
      expect((await third.closed).code).toBe(1013);

      const slow = a.send('tools/call', { server: 'demo', tool: 'sleep', arguments: { ms: 400 } });
      await poll(() => limited.resources.count('task') === 1, 'the first call to be tracked');
      const refused = await b.send('tools/call', { server: 'demo', tool: 'echo', arguments: { text: 'x' } });
      expect(refused.error?.data?.code).toBe('ResourceLimit');
      expect(refused.error?.message).toContain('limits.concurrentTasks');
      // The limit, what is in use and the refusal are visible in /metrics.
      const metrics = await (await fetch(`http://127.0.0.1:${g.port}/metrics?token=${g.token}`)).text();
      expect(metrics).toMatch(/^mcp_ipc_gateway_task_limit 1$/m);
      expect(metrics).toMatch(/^mcp_ipc_gateway_tasks 1$/m);
      expect(metrics).toMatch(/^mcp_ipc_gateway_in_flight_limit 32$/m);
      expect(metrics).toMatch(/^mcp_ipc_gateway_refused_total\{limit="concurrentTasks"\} 1$/m);
      expect((await slow).error).toBeUndefined();
      expect(limited.resources.count('task')).toBe(0);
      expect((await b.send('tools/call', { server: 'demo', tool: 'echo', arguments: { text: 'y' } })).error).toBeUndefined();

      await a.close();
      await b.close();
      await poll(() => limited.resources.count('connection') === 0, 'connections to be forgotten');
    } finally {
      await g.close();
      await limited.stopAll();
    }
  });
});

/** `[[[…]]]` or `{"a":{"a":…}}`, `depth` levels, as text. */
const nestedText = (shape: 'array' | 'object', depth: number) =>
  shape === 'array' ? `${'['.repeat(depth)}0${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;

describe('hostile frames: deep nesting and empty batches', () => {
  let roomy: Gateway;
  beforeAll(async () => {
    // The default 1 MiB message limit: a 10^5-deep object (~500 KB) must reach the decoder.
    roomy = await startGateway({ host, port: 0, heartbeatMs: 0 });
  });
  afterAll(async () => {
    await roomy?.close();
  });

  for (const shape of ['array', 'object'] as const) {
    for (const depth of [10_000, 100_000]) {
      it(`answers a frame of ${shape}s nested ${depth} deep with -32600 (id null); the next request works`, async () => {
        const client = await connect(undefined, roomy);
        client.ws.send(nestedText(shape, depth));
        const frame = await client.nextFrame();
        // A top-level array is a batch (JSON-RPC 2.0 §6): one error per item, in an array.
        const reply = (shape === 'array' ? (frame as RpcResponse[])[0] : frame) as RpcResponse;
        expect(Array.isArray(frame)).toBe(shape === 'array');
        if (Array.isArray(frame)) expect(frame).toHaveLength(1);
        expect(reply.id).toBeNull();
        expect(reply.error?.code).toBe(-32600);
        expect(reply.error?.data?.code).toBe('ProtocolError');
        expect(await client.call('ping')).toEqual({});
        const echo = await client.call<CallToolResult>('tools/call', { server: 'demo', tool: 'echo', arguments: { text: 'still here' } });
        expect(echo.content[0]?.text).toContain('still here');
        await client.close();
      });
    }
  }

  it('answers a request whose params nest too deep with -32600 under its own id', async () => {
    const client = await connect(undefined, roomy);
    client.ws.send(`{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"server":"demo","tool":"echo","arguments":{"text":${nestedText('array', 10_000)}}}}`);
    const reply = (await client.nextFrame()) as RpcResponse;
    expect(reply.id).toBe('deep');
    expect(reply.error?.code).toBe(-32600);
    expect(reply.error?.message).toContain('nested deeper than 512 levels');
    expect(await client.call('ping')).toEqual({});
    await client.close();
  });

  it('applies the same guards to the forwarded MCP methods and the forwarding controls', async () => {
    const client = await connect(undefined, roomy);
    client.ws.send(`{"jsonrpc":"2.0","id":"deep-read","method":"resources/read","params":{"server":"demo","uri":${nestedText('array', 10_000)}}}`);
    const reply = (await client.nextFrame()) as RpcResponse;
    expect(reply).toMatchObject({ id: 'deep-read', error: { code: -32600 } });
    const tooMany = await client.send('gateway/listen', { methods: Array.from({ length: 101 }, (_, i) => `m${i}`) });
    expect(tooMany.error?.data?.code).toBe('InvalidParams');
    const notAList = await client.send('gateway/handle', { methods: 'elicitation/create' });
    expect(notAList.error?.data?.code).toBe('InvalidParams');
    const arrayParams = await client.send('prompts/get', ['demo', 'x']);
    expect(arrayParams.error?.data?.code).toBe('InvalidParams');
    expect(await client.call('ping')).toEqual({});
    await client.close();
  });

  it('answers an empty batch with one error object, not an array (JSON-RPC 2.0 §6)', async () => {
    const client = await connect(undefined, roomy);
    client.ws.send('[]');
    const empty = await client.nextFrame();
    expect(Array.isArray(empty)).toBe(false);
    expect(empty).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
    // A batch that is not even JSON is a parse error: one object as well.
    client.ws.send('[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method"]');
    const broken = await client.nextFrame();
    expect(Array.isArray(broken)).toBe(false);
    expect(broken).toMatchObject({ id: null, error: { code: -32700 } });
    // An invalid batch (not empty) still gets an array: one error per item.
    client.ws.send('[1,2]');
    const invalid = await client.nextFrame();
    expect(invalid).toEqual([expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) }), expect.objectContaining({ id: null })]);
    expect(await client.call('ping')).toEqual({});
    await client.close();
  });
});

describe('connections per remote address', () => {
  it('refuses connections over the per-address cap with 1013 and a reason; other addresses still get in', async () => {
    const g = await startGateway({ host, port: 0, heartbeatMs: 0, maxConnectionsPerAddress: 2 });
    try {
      const a = await connect(undefined, g);
      const b = await connect(undefined, g);
      const third = new TestClient(g.wsUrl);
      clients.add(third);
      const refused = await third.closed;
      expect(refused.code).toBe(1013);
      expect(refused.reason).toBe('Too many connections from this address (max 2 per address)');
      expect(g.connectionCount).toBe(2);

      // Another loopback address is another client: it is not locked out.
      const other = await connect({ localAddress: '127.0.0.2' }, g);
      expect(await other.call('ping')).toEqual({});

      // A closed connection frees its slot.
      await a.close();
      await poll(() => g.connectionCount === 2, 'the closed connection to be forgotten');
      const again = await connect(undefined, g);
      expect(await again.call('ping')).toEqual({});
      expect(await b.call('ping')).toEqual({});

      const metrics = await (await fetch(`http://127.0.0.1:${g.port}/metrics?token=${g.token}`)).text();
      expect(metrics).toMatch(/mcp_ipc_gateway_rejected_total\{reason="address"\} 1/);
    } finally {
      await g.close();
    }
  });

  it(`caps one address at ${DEFAULTS.gateway.maxConnectionsPerAddress} connections by default, below the host's ${DEFAULTS.limits.connections}`, async () => {
    const g = await startGateway({ host, port: 0, heartbeatMs: 0 });
    const opened: TestClient[] = [];
    try {
      for (let i = 0; i < DEFAULTS.gateway.maxConnectionsPerAddress; i++) opened.push(await TestClient.open(g.wsUrl));
      const over = new TestClient(g.wsUrl);
      opened.push(over);
      expect((await over.closed).code).toBe(1013);
      expect(DEFAULTS.gateway.maxConnectionsPerAddress).toBeLessThan(DEFAULTS.limits.connections);
    } finally {
      await Promise.all(opened.map((c) => c.close()));
      await g.close();
    }
  });

  it('rejects a cap that is not a positive whole number', () => {
    expect(() => new Gateway({ host, maxConnectionsPerAddress: 0 })).toThrow(TypeError);
    expect(() => new Gateway({ host, maxConnectionsPerAddress: 1.5 })).toThrow(/maxConnectionsPerAddress/);
  });
});

describe('shutdown', () => {
  it('closes sockets with 1001 and leaves the host running', async () => {
    const g = await startGateway({ host, port: 0 });
    const client = await TestClient.open(g.wsUrl);
    const port = g.port;
    await g.close();
    expect((await client.closed).code).toBe(1001);
    expect(host.get('demo')?.state).toBe('running');
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
