import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { get, writable as svelteWritable } from 'svelte/store';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type CallToolResult,
  type ClientState,
  type GatewayEventName,
  type GatewayEvents,
  type IpcMetricsSnapshot,
  McpIpcClient,
  type McpIpcClientOptions,
  type Progress,
  type SequencedEvent,
  type ServerSnapshot,
  WebSocketTransport,
  getValue,
  reassemble,
  writable,
} from '../../src/client/index.js';
import { processDocument, search } from '../../src/client/demo.js';
import type { JsonRpcMessage, JsonRpcRequest } from '../../src/core/jsonrpc.js';
import { refreshTracingActive } from '../../src/core/tracing.js';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, timeoutMs = 3_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await tick(5);
  }
}

function snapshot(name: string, state: ServerSnapshot['state'] = 'running'): ServerSnapshot {
  return {
    name,
    state,
    pid: 1234,
    restarts: 0,
    uptimeMs: 10,
    lastExit: null,
    health: { rttMs: 1, consecutiveFailures: 0, lastCheckAt: null },
    usage: null,
    serverInfo: { name, version: '1.0.0' },
    era: 'legacy',
    protocolVersion: '2025-06-18',
    capabilities: { tools: {} },
    toolCount: 3,
    metrics: { requests: 0, inFlight: 0 } as unknown as IpcMetricsSnapshot,
    reason: null,
  };
}

const TOKEN = 'secret';

/** A small gateway speaking the protocol, scripted per test. */
class FakeGateway {
  wss: WebSocketServer | undefined;
  port = 0;
  token = TOKEN;
  seq = 0;
  readonly log: SequencedEvent[] = [];
  readonly received: JsonRpcMessage[] = [];
  readonly sockets = new Set<WebSocket>();
  connections = 0;
  servers: ServerSnapshot[] = [snapshot('alpha'), snapshot('beta')];
  /** tools/call requests left unanswered (tool `slow`), by id. */
  readonly pending = new Map<string | number, WebSocket>();
  flakyCalls = 0;

  async start(port = 0): Promise<void> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    this.wss = wss;
    await once(wss, 'listening');
    this.port = (wss.address() as AddressInfo).port;
    wss.on('connection', (ws, req) => {
      this.connections++;
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('token') !== this.token) {
        ws.close(4401, 'unauthorized');
        return;
      }
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      ws.on('message', (data) => {
        const message = JSON.parse(String(data)) as JsonRpcMessage;
        this.received.push(message);
        if ('method' in message && 'id' in message) this.handle(ws, message);
        else if ('method' in message && message.method === 'notifications/cancelled') this.cancelled(message.params as { requestId: string | number });
        else if (!('method' in message)) this.answers.push(message);
      });
      this.send(ws, { jsonrpc: '2.0', method: 'hello', params: { version: 'test', latestSeq: this.seq, servers: this.servers } });
    });
  }

  url(token = this.token): string {
    return `ws://127.0.0.1:${this.port}/ws?token=${token}`;
  }

  /** Closes every socket and the server (port stays known for `start(this.port)`). */
  async stop(code = 1001): Promise<void> {
    for (const ws of this.sockets) ws.close(code, 'going away');
    const wss = this.wss;
    this.wss = undefined;
    if (wss) await new Promise<void>((r) => wss.close(() => r()));
    this.sockets.clear();
  }

  restart(): Promise<void> {
    return this.start(this.port);
  }

  /** How many events `events/since` still has (older ones count as dropped: `truncated`). */
  logLimit = Number.POSITIVE_INFINITY;

  broadcast<K extends GatewayEventName>(method: K, data: GatewayEvents[K]): number {
    const seq = ++this.seq;
    this.log.push({ seq, method, params: data } as SequencedEvent);
    for (const ws of this.sockets) this.send(ws, { jsonrpc: '2.0', method, params: { seq, data } });
    return seq;
  }

  requests(method: string): JsonRpcRequest[] {
    return this.received.filter((m): m is JsonRpcRequest => 'method' in m && 'id' in m && m.method === method);
  }

  notifications(method: string): JsonRpcMessage[] {
    return this.received.filter((m) => 'method' in m && !('id' in m) && m.method === method);
  }

  /** Responses the client sent (to requests the gateway made). */
  readonly answers: JsonRpcMessage[] = [];

  /** Sends any frame to every connected client. */
  push(message: unknown): void {
    for (const ws of this.sockets) this.send(ws, message);
  }

  private cancelled(params: { requestId: string | number }): void {
    const socket = this.pending.get(params.requestId);
    this.pending.delete(params.requestId);
    // MCP: a cancelled request gets no answer; the client settled it already.
    void socket;
  }

  private send(ws: WebSocket, message: unknown): void {
    ws.send(JSON.stringify(message));
  }

  private reply(ws: WebSocket, id: string | number, result: unknown): void {
    this.send(ws, { jsonrpc: '2.0', id, result });
  }

  private fail(ws: WebSocket, id: string | number, code: string, message: string, rpcCode: number, data?: unknown): void {
    this.send(ws, { jsonrpc: '2.0', id, error: { code: rpcCode, message, data: { code, message, rpcCode, data } } });
  }

  private handle(ws: WebSocket, req: JsonRpcRequest): void {
    const params = (req.params ?? {}) as Record<string, unknown>;
    switch (req.method) {
      case 'servers/list':
        return this.reply(ws, req.id, this.servers);
      case 'events/since': {
        const since = params.seq as number;
        const kept = this.log.slice(-this.logLimit);
        const truncated = (kept[0]?.seq ?? this.seq + 1) > since + 1;
        return this.reply(ws, req.id, { events: kept.filter((e) => e.seq > since), latestSeq: this.seq, truncated });
      }
      case 'cancel': {
        const target = params.requestId as string | number;
        const socket = this.pending.get(target);
        this.pending.delete(target);
        if (socket) this.fail(socket, target, 'Cancelled', 'cancelled', -32800);
        return this.reply(ws, req.id, { cancelled: socket !== undefined });
      }
      case 'server/restart':
        return this.reply(ws, req.id, snapshot(params.server as string));
      case 'tools/list':
        return this.reply(ws, req.id, { tools: [{ name: 'echo', inputSchema: { type: 'object' } }] });
      case 'resources/read':
        return this.reply(ws, req.id, { contents: [{ uri: params.uri, text: `text of ${String(params.uri)}` }] });
      case 'resources/subscribe':
      case 'resources/unsubscribe':
      case 'gateway/listen':
      case 'gateway/unlisten':
      case 'gateway/unhandle':
        return this.reply(ws, req.id, {});
      case 'gateway/handle':
        return this.reply(ws, req.id, { methods: params.methods });
      case 'tools/call':
        return this.call(ws, req, params);
      default:
        return this.fail(ws, req.id, 'InvalidParams', `Method not found: ${req.method}`, -32601);
    }
  }

  private call(ws: WebSocket, req: JsonRpcRequest, params: Record<string, unknown>): void {
    const args = (params.arguments ?? {}) as Record<string, unknown>;
    const text = (t: string) => ({ content: [{ type: 'text', text: t }] });
    const meta = (params._meta ?? {}) as { progressToken?: string | number; streamToken?: string | number };
    switch (params.name) {
      case 'echo':
      case 'search':
      case 'process_document':
        if (meta.progressToken !== undefined) {
          for (let i = 1; i <= 3; i++) {
            this.send(ws, { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: meta.progressToken, progress: i, total: 3, message: `step ${i}` } });
          }
        }
        return this.reply(ws, req.id, text(JSON.stringify({ server: params.server, tool: params.name, args })));
      case 'fail':
        return this.fail(ws, req.id, 'Timeout', 'Request tools/call timed out', -32001, { kind: 'idle', timeoutMs: 5 });
      case 'big': {
        const parts = ['alpha-', 'beta-', 'gamma-', 'delta-', 'omega'];
        if (meta.streamToken === undefined) return this.reply(ws, req.id, text(parts.join('')));
        parts.forEach((data, seq) => this.send(ws, { jsonrpc: '2.0', method: 'notifications/stream/chunk', params: { streamToken: meta.streamToken, seq, data } }));
        return this.reply(ws, req.id, { content: [], _meta: { streamed: { chunks: parts.length, bytes: parts.join('').length } } });
      }
      case 'slow':
        this.pending.set(req.id, ws);
        return;
      case 'flaky':
        // First call: never answered (the test drops the connection); later ones succeed.
        if (++this.flakyCalls === 1) return;
        return this.reply(ws, req.id, text(`flaky ok after ${this.flakyCalls}`));
      default:
        return this.fail(ws, req.id, 'InvalidParams', `Unknown tool ${String(params.name)}`, -32602);
    }
  }
}

let gateway: FakeGateway;
const clients: McpIpcClient[] = [];

async function setup(options: Partial<McpIpcClientOptions> = {}, connect = true): Promise<McpIpcClient> {
  gateway = new FakeGateway();
  await gateway.start();
  return makeClient(options, connect);
}

async function makeClient(options: Partial<McpIpcClientOptions> = {}, connect = true): Promise<McpIpcClient> {
  const client = new McpIpcClient({ url: gateway.url(), WebSocket, reconnectDelayMs: 20, reconnectMaxDelayMs: 100, ...options });
  clients.push(client);
  if (connect) {
    const r = await client.connect();
    expect(r).toEqual({ ok: true, data: undefined });
  }
  return client;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await gateway?.stop();
});

const textOf = (r: { ok: boolean; data?: { content: Array<{ text?: string }> } }) => r.data?.content[0]?.text;

describe('McpIpcClient', () => {
  it('connects, seeds the stores from hello and calls tools', async () => {
    const client = await setup();
    expect(get(client.connection)).toBe('open');
    expect(get(client.servers).map((s) => s.name)).toEqual(['alpha', 'beta']);
    expect(Object.keys(get(client.metrics))).toEqual(['alpha', 'beta']);

    const r = await client.call('beta', 'echo', { x: 1 });
    expect(r.ok).toBe(true);
    expect(JSON.parse(textOf(r)!)).toEqual({ server: 'beta', tool: 'echo', args: { x: 1 } });

    // search / processDocument default to the first listed server
    const s = await search(client, 'hello', { limit: 2 });
    expect(JSON.parse(textOf(s)!)).toEqual({ server: 'alpha', tool: 'search', args: { query: 'hello', limit: 2 } });

    const tools = await client.listTools('alpha');
    expect(tools.ok && tools.data[0]?.name).toBe('echo');
    const restarted = await client.restartServer('beta');
    expect(restarted.ok && restarted.data.name).toBe('beta');
    const raw = await client.rpc('servers/list', undefined);
    expect(raw.ok && raw.data.length).toBe(2);
    // the wire carries no client internals
    const call = gateway.requests('tools/call')[0]!;
    expect(Object.keys(call.params as object).sort()).toEqual(['arguments', 'name', 'server', 'timeoutMs']);
  });

  it('uses the configured default server', async () => {
    const client = await setup({ server: 'beta' });
    const r = await processDocument(client, '/tmp/a.txt');
    expect(JSON.parse(textOf(r)!)).toEqual({ server: 'beta', tool: 'process_document', args: { file_path: '/tmp/a.txt' } });
    const short = await client.call('echo', { text: 'hi' }); // call(tool, args): the default server
    expect(JSON.parse(textOf(short)!)).toEqual({ server: 'beta', tool: 'echo', args: { text: 'hi' } });
    const explicit = await client.call('alpha', 'echo', { text: 'hi' });
    expect(JSON.parse(textOf(explicit)!)).toEqual({ server: 'alpha', tool: 'echo', args: { text: 'hi' } });
  });

  it('returns server errors as typed Results', async () => {
    const client = await setup();
    const r = await client.call('alpha', 'fail');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('Timeout');
    expect(r.error.rpcCode).toBe(-32001);
    expect(r.error.data).toEqual({ kind: 'idle', timeoutMs: 5 });
    const unknown = await client.call('alpha', 'nope');
    expect(!unknown.ok && unknown.error.code).toBe('InvalidParams');
    const statuses = get(client.requests).map((q) => [q.tool, q.status, q.error]);
    expect(statuses).toEqual([
      ['fail', 'error', 'Timeout'],
      ['nope', 'error', 'InvalidParams'],
    ]);
  });

  it('reports progress in order and in the requests store', async () => {
    const client = await setup();
    const seen: Progress[] = [];
    const r = await processDocument(client, '/doc.pdf', (p) => seen.push(p), { key: 'doc-1' });
    expect(r.ok).toBe(true);
    expect(seen).toEqual([1, 2, 3].map((i) => ({ progress: i, total: 3, message: `step ${i}` })));
    const call = gateway.requests('tools/call')[0]!;
    // MCP's own progress token: the JSON-RPC id of the request
    expect((call.params as { _meta?: { progressToken?: unknown } })._meta?.progressToken).toBe(call.id);
    const entry = get(client.requests).find((q) => q.key === 'doc-1')!;
    expect(entry).toMatchObject({ key: 'doc-1', server: 'alpha', tool: 'process_document', status: 'done', progress: { progress: 3, total: 3 } });
  });

  it('streams chunks in order, or joins them back when no onChunk is given', async () => {
    const client = await setup();
    const chunks: Array<{ seq: number; data: string }> = [];
    const r = await client.call('alpha', 'big', {}, { key: 'big-1', onChunk: (c) => chunks.push(c) });
    expect(r.ok).toBe(true);
    expect(chunks.map((c) => c.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(chunks.map((c) => c.data).join('')).toBe('alpha-beta-gamma-delta-omega');
    const first = gateway.requests('tools/call')[0]!;
    expect((first.params as { _meta?: { streamToken?: unknown } })._meta?.streamToken).toBe(first.id);

    const joined = await client.call('alpha', 'big', {}, { stream: true });
    expect(textOf(joined)).toBe('alpha-beta-gamma-delta-omega');
  });

  it('gives up a connection attempt whose handshake never completes (connectTimeoutMs)', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket)); // accepts TCP, never answers the upgrade
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as AddressInfo).port;
      const client = new McpIpcClient({ url: `ws://127.0.0.1:${port}/ws`, WebSocket, connectTimeoutMs: 200, reconnect: false });
      clients.push(client);
      const started = Date.now();
      const r = await client.connect();
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error.message).toContain('within 200 ms');
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('survives frames nested 10^4 and 10^5 deep (arrays and objects), and fails a too-deep answer with ProtocolError', async () => {
    const client = await setup();
    const nested = (shape: 'array' | 'object', depth: number, inner = '0') =>
      shape === 'array' ? `${'['.repeat(depth)}${inner}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
    const [ws] = [...gateway.sockets];
    for (const shape of ['array', 'object'] as const) {
      for (const depth of [10_000, 100_000]) {
        ws!.send(nested(shape, depth));
        ws!.send(`{"jsonrpc":"2.0","method":"server/event","params":{"seq":0,"data":${nested(shape, depth)}}}`);
        const r = await client.call('beta', 'echo', { depth });
        expect(r.ok).toBe(true);
        expect(JSON.parse(textOf(r)!)).toMatchObject({ args: { depth } });
      }
    }
    const slow = client.call('alpha', 'slow', {});
    await waitFor(() => gateway.pending.size === 1, 3_000, 'the slow call to reach the gateway');
    const [id, socket] = [...gateway.pending][0]!;
    socket!.send(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${nested('array', 100_000)}}`);
    const failed = await slow;
    expect(failed.ok).toBe(false);
    expect(!failed.ok && failed.error.code).toBe('ProtocolError');
    expect(!failed.ok && failed.error.message).toContain('nested deeper than 512 levels');
    expect(get(client.connection)).toBe('open');
  });

  it('reassembles streamed text in front of the content the result kept when the server streamed (no marks)', () => {
    const image = { type: 'image', data: 'AAAA', mimeType: 'image/png' };
    const result = reassemble({ content: [image] } as CallToolResult, ['ab', 'cd']);
    expect(result.content).toEqual([{ type: 'text', text: 'abcd' }, image]);
    const untouched = { content: [image] } as CallToolResult;
    expect(reassemble(untouched, [])).toBe(untouched);
  });

  it('reassembles [text, image, text] in its order when the gateway marked each streamed block', () => {
    const image = { type: 'image', data: 'AAAA', mimeType: 'image/png' };
    const mark = (first: number, count: number, extra: Record<string, unknown> = {}) => ({ _meta: { ...extra, 'mcp-ipc/streamed': { first, count } } });
    const result = reassemble(
      { content: [{ type: 'text', text: '', ...mark(0, 2) }, image, { type: 'text', text: '', ...mark(2, 1, { keep: 1 }) }] } as CallToolResult,
      ['he', 'llo', 'world'],
    );
    expect(result.content).toEqual([{ type: 'text', text: 'hello' }, image, { type: 'text', text: 'world', _meta: { keep: 1 } }]);
  });

  it('cancels a running call: settles at once and sends the gateway notifications/cancelled', async () => {
    const client = await setup();
    const pending = client.call('alpha', 'slow', {}, { key: 'k1' });
    await waitFor(() => gateway.requests('tools/call').length === 1, 3_000, 'tools/call');
    const rpcId = gateway.requests('tools/call')[0]!.id;
    await waitFor(() => get(client.requests)[0]?.status === 'running');
    expect(client.cancel('k1')).toBe(true);
    const r = await pending;
    expect(!r.ok && r.error.code).toBe('Cancelled');
    await waitFor(() => gateway.notifications('notifications/cancelled').length === 1, 3_000, 'notifications/cancelled');
    expect((gateway.notifications('notifications/cancelled')[0] as { params: unknown }).params).toMatchObject({ requestId: rpcId });
    expect(client.cancel('k1')).toBe(false);
    expect(client.cancel('never')).toBe(false);
    expect(get(client.requests)[0]!.status).toBe('cancelled');

    // an AbortSignal does the same
    const controller = new AbortController();
    const aborted = client.call('alpha', 'slow', {}, { signal: controller.signal });
    await waitFor(() => gateway.requests('tools/call').length === 2);
    controller.abort();
    expect((await aborted).ok).toBe(false);
    await waitFor(() => gateway.notifications('notifications/cancelled').length === 2);
    // the connection is still fine
    expect((await client.call('alpha', 'echo')).ok).toBe(true);
  });

  it('times out locally when the gateway does not answer, and cancels there', async () => {
    const client = await setup();
    const r = await client.call('alpha', 'slow', {}, { timeoutMs: 50 });
    expect(!r.ok && r.error.code).toBe('Timeout');
    expect(gateway.requests('tools/call')[0]!.params).toMatchObject({ timeoutMs: 50 });
    await waitFor(() => gateway.notifications('notifications/cancelled').length === 1);
  });

  it('disconnect fails pending calls with NotConnected and does not reconnect', async () => {
    const client = await setup();
    const pending = client.call('alpha', 'slow');
    await waitFor(() => gateway.requests('tools/call').length === 1);
    client.disconnect();
    const r = await pending;
    expect(!r.ok && r.error.code).toBe('NotConnected');
    expect(get(client.connection)).toBe('closed');
    const after = await client.call('alpha', 'echo');
    expect(!after.ok && after.error.code).toBe('NotConnected');
    await tick(100);
    expect(gateway.connections).toBe(1);
    // connect() again works
    expect((await client.connect()).ok).toBe(true);
    expect((await client.call('alpha', 'echo')).ok).toBe(true);
  });

  it('reconnects after the gateway restarts and catches up on missed events', async () => {
    const client = await setup();
    const states: ClientState[] = [];
    client.connection.subscribe((s) => states.push(s));
    const seq1 = gateway.broadcast('server/event', { time: 1, server: 'alpha', type: 'log', level: 'info', message: 'one' });
    await waitFor(() => get(client.events).length === 1);
    expect(get(client.events)[0]).toMatchObject({ seq: seq1, method: 'server/event' });

    const inFlight = client.call('alpha', 'slow');
    await waitFor(() => gateway.requests('tools/call').length === 1);
    await gateway.stop();
    const lost = await inFlight;
    expect(!lost.ok && lost.error.code).toBe('NotConnected');
    expect(!lost.ok && (lost.error.data as { outcomeUnknown?: boolean }).outcomeUnknown).toBe(true);
    await waitFor(() => get(client.connection) === 'reconnecting');

    // missed while down
    gateway.broadcast('server/state', { server: 'alpha', state: 'crashed', previous: 'running', reason: 'boom' });
    gateway.broadcast('server/event', { time: 2, server: 'alpha', type: 'log', level: 'info', message: 'three' });
    gateway.servers = [snapshot('alpha', 'restarting'), snapshot('gamma')];
    await tick(50);
    await gateway.restart();
    await waitFor(() => get(client.connection) === 'open', 3_000, 'reconnect');
    await waitFor(() => get(client.events).length === 3, 3_000, 'catch-up');
    expect(get(client.events).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(gateway.requests('events/since')[0]!.params).toMatchObject({ seq: 1 });
    expect(get(client.servers).map((s) => [s.name, s.state])).toEqual([
      ['alpha', 'restarting'],
      ['gamma', 'running'],
    ]);
    expect(states).toEqual(['open', 'reconnecting', 'open']);
    // live events keep flowing, no duplicates
    gateway.broadcast('server/event', { time: 4, server: 'alpha', type: 'log', level: 'info', message: 'four' });
    await waitFor(() => get(client.events).length === 4);
    expect((await client.call('alpha', 'echo')).ok).toBe(true);
  });

  it('counts events it can no longer catch up on (missedEvents)', async () => {
    const client = await setup();
    gateway.broadcast('server/event', { time: 1, server: 'alpha', type: 'log', level: 'info', message: 'seen' });
    await waitFor(() => get(client.events).length === 1);
    await gateway.stop();
    await waitFor(() => get(client.connection) === 'reconnecting');
    for (let i = 0; i < 5; i++) gateway.broadcast('server/event', { time: 2 + i, server: 'alpha', type: 'log', level: 'info', message: `missed ${i}` });
    gateway.logLimit = 2; // the gateway kept only the last 2 of the 5 missed events
    await gateway.restart();
    await waitFor(() => get(client.events).length === 3, 3_000, 'catch-up');
    expect(get(client.events).map((e) => e.seq)).toEqual([1, 5, 6]);
    expect(get(client.missedEvents)).toBe(3);
  });

  it('resends a retryable call after a reconnect, not a plain one', async () => {
    const client = await setup();
    const retryable = client.call('alpha', 'flaky', {}, { retryable: true });
    await waitFor(() => gateway.requests('tools/call').length === 1);
    await gateway.stop();
    await tick(30);
    await gateway.restart();
    const r = await retryable;
    expect(textOf(r)).toBe('flaky ok after 2');
    expect(gateway.requests('tools/call')[1]!.params).toMatchObject({ name: 'flaky', retryable: true });
    expect(get(client.connection)).toBe('open');
  });

  it('calls made while reconnecting wait for the connection (bounded), or fail fast', async () => {
    const client = await setup({ offlineWaitMs: 2_000, maxOfflineQueue: 1 });
    const fast = await makeClient({ offlineWaitMs: 0 });
    await gateway.stop();
    await waitFor(() => get(client.connection) === 'reconnecting' && get(fast.connection) === 'reconnecting');

    const waiting = client.call('alpha', 'echo', { n: 1 });
    const overflow = await client.call('alpha', 'echo', { n: 2 });
    expect(!overflow.ok && overflow.error.code).toBe('QueueFull');
    const failFast = await fast.call('alpha', 'echo');
    expect(!failFast.ok && failFast.error.code).toBe('NotConnected');
    expect(get(client.requests).find((q) => q.status === 'waiting')).toBeTruthy();

    await gateway.restart();
    const r = await waiting;
    expect(r.ok).toBe(true);
    expect(JSON.parse(textOf(r)!).args).toEqual({ n: 1 });
  });

  it('gives up waiting after offlineWaitMs', async () => {
    const client = await setup({ offlineWaitMs: 50 });
    await gateway.stop();
    await waitFor(() => get(client.connection) === 'reconnecting');
    const started = Date.now();
    const r = await client.call('alpha', 'echo');
    expect(!r.ok && r.error.code).toBe('NotConnected');
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    await gateway.restart(); // for afterEach
  });

  it('stops when the gateway refuses the token (4401), first connect or reconnect', async () => {
    gateway = new FakeGateway();
    await gateway.start();
    const client = new McpIpcClient({ url: gateway.url('wrong'), WebSocket, reconnectDelayMs: 10 });
    clients.push(client);
    const r = await client.connect();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('NotConnected');
    expect(r.error.data).toMatchObject({ closeCode: 4401, closeReason: 'unauthorized' });
    expect(get(client.connection)).toBe('closed');
    await tick(100);
    expect(gateway.connections).toBe(1);

    // token rotated while the client was away: the reconnect is refused, then no more attempts
    const other = await makeClient();
    await gateway.stop();
    gateway.token = 'rotated';
    await gateway.restart();
    await waitFor(() => get(other.connection) === 'closed', 3_000, 'closed after 4401');
    const connections = gateway.connections;
    expect((get(other.error)?.data as { closeCode?: number }).closeCode).toBe(4401);
    await tick(150);
    expect(gateway.connections).toBe(connections);
  });

  it('keeps servers, metrics and events stores up to date from broadcasts', async () => {
    const client = await setup();
    const seenParams: unknown[] = [];
    const off = client.onNotification('server/state', (p) => seenParams.push(p));
    gateway.broadcast('server/state', { server: 'alpha', state: 'stopping', previous: 'running', reason: 'asked' });
    await waitFor(() => get(client.servers)[0]?.state === 'stopping');
    expect(get(client.servers)[0]?.reason).toBe('asked');
    expect(seenParams).toEqual([{ seq: 1, data: { server: 'alpha', state: 'stopping', previous: 'running', reason: 'asked' } }]);
    off();

    const fresh = { ...snapshot('beta', 'running'), restarts: 7, metrics: { requests: 42 } as unknown as IpcMetricsSnapshot };
    gateway.broadcast('metrics', { server: 'beta', snapshot: fresh });
    await waitFor(() => get(client.servers)[1]?.restarts === 7);
    expect(get(client.metrics).beta).toEqual({ requests: 42 });
    gateway.broadcast('metrics', { server: 'delta', snapshot: snapshot('delta') });
    gateway.broadcast('tools/changed', { server: 'alpha', tools: [] });
    await waitFor(() => get(client.servers).length === 3 && get(client.servers)[0]?.toolCount === 0);
    expect(get(client.events).map((e) => [e.seq, e.method])).toEqual([
      [1, 'server/state'],
      [2, 'metrics'],
      [3, 'metrics'],
      [4, 'tools/changed'],
    ]);
    expect(seenParams).toHaveLength(1);
  });

  it('keeps process facts current between snapshots: pid and last exit from spawn/exit events, no readings off-running', async () => {
    gateway = new FakeGateway();
    gateway.servers = [{ ...snapshot('alpha'), usage: { cpuPercent: 5, memoryBytes: 1_000, at: 1 }, uptimeMs: 9_000 }];
    await gateway.start();
    const client = await makeClient();
    const alpha = () => get(client.servers)[0]!;
    gateway.broadcast('server/event', { time: 10, server: 'alpha', type: 'exit', level: 'warn', message: 'Process exited (exit code 3)', data: { code: 3, signal: null, at: 10 } });
    gateway.broadcast('server/state', { server: 'alpha', state: 'crashed', previous: 'running', reason: 'exited with code 3' });
    await waitFor(() => alpha().state === 'crashed');
    expect(alpha()).toMatchObject({ pid: null, lastExit: { code: 3, signal: null, at: 10 }, usage: null, uptimeMs: 0, health: { rttMs: null } });
    gateway.broadcast('server/state', { server: 'alpha', state: 'restarting', previous: 'crashed', reason: 'exited with code 3' });
    gateway.broadcast('server/state', { server: 'alpha', state: 'starting', previous: 'restarting', reason: 'exited with code 3' });
    gateway.broadcast('server/event', { time: 20, server: 'alpha', type: 'spawn', level: 'info', message: 'Spawned python3 (pid 777)', data: { pid: 777 } });
    gateway.broadcast('server/state', { server: 'alpha', state: 'running', previous: 'starting', reason: null });
    await waitFor(() => alpha().state === 'running');
    expect(alpha()).toMatchObject({ pid: 777, lastExit: { code: 3 }, reason: null });
    gateway.broadcast('server/state', { server: 'alpha', state: 'stopping', previous: 'running', reason: 'stop requested' });
    await waitFor(() => alpha().state === 'stopping');
    expect(alpha().pid).toBe(777); // still there until it exits
    gateway.broadcast('server/state', { server: 'alpha', state: 'stopped', previous: 'stopping', reason: 'stop requested' });
    await waitFor(() => alpha().state === 'stopped');
    expect(alpha()).toMatchObject({ pid: null, usage: null });
    expect(get(client.events).every((e) => typeof e.time === 'number')).toBe(true);
  });

  it('loads the recent event history on its first connection (initialEvents)', async () => {
    gateway = new FakeGateway();
    await gateway.start();
    for (let i = 0; i < 8; i++) gateway.broadcast('server/event', { time: i, server: 'alpha', type: 'log', level: 'info', message: `old${i}` });
    const client = await makeClient({ initialEvents: 3 });
    await waitFor(() => get(client.events).length === 3, 3_000, 'history');
    expect(get(client.events).map((e) => e.seq)).toEqual([6, 7, 8]);
    const none = await makeClient({ initialEvents: 0 });
    await tick(50);
    expect(get(none.events)).toEqual([]);
  });

  it('bounds the events store', async () => {
    const client = await setup({ maxEvents: 5 });
    for (let i = 0; i < 12; i++) gateway.broadcast('server/event', { time: i, server: 'alpha', type: 'log', level: 'info', message: `m${i}` });
    await waitFor(() => get(client.events).at(-1)?.seq === 12);
    expect(get(client.events).map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
  });

  it('returns errors, never throws, for calls before connect and unknown defaults', async () => {
    gateway = new FakeGateway();
    await gateway.start();
    const client = new McpIpcClient({ url: gateway.url(), WebSocket });
    clients.push(client);
    expect(get(client.connection)).toBe('idle');
    const r = await client.call('alpha', 'echo');
    expect(!r.ok && r.error.code).toBe('NotConnected');
    // No connection, so no server list: the default server is unknown because the client is not connected.
    const s = await search(client, 'q');
    expect(!s.ok && s.error.code).toBe('NotConnected');
    const unreachable = new McpIpcClient({ url: 'ws://127.0.0.1:1/ws', WebSocket });
    const c = await unreachable.connect();
    expect(!c.ok && c.error.code).toBe('NotConnected');
    expect(get(unreachable.connection)).toBe('closed');
    for (const afterFailedConnect of [unreachable.call('echo', { text: 'hi' }), search(unreachable, 'q'), processDocument(unreachable, 'adventure.md')]) {
      const r2 = await afterFailedConnect;
      expect(!r2.ok && r2.error.code).toBe('NotConnected');
      expect(!r2.ok && r2.error.message).toMatch(/Not connected \(closed\)/);
    }
  });

  it('default-server calls made while connecting wait for the server list', async () => {
    const client = await setup({}, false);
    const connecting = client.connect();
    const r = await client.call('echo', { text: 'hi' });
    expect(JSON.parse(textOf(r) ?? '{}')).toMatchObject({ server: 'alpha', tool: 'echo' });
    await connecting;
    gateway.servers = [];
    const empty = await makeClient();
    const none = await search(empty, 'q');
    expect(!none.ok && none.error.code).toBe('InvalidParams');
  });
});

describe('McpIpcClient: the MCP surface', () => {
  it('sends any MCP request under its own name with the server selector, and typed helpers unwrap lists', async () => {
    const client = await setup();
    const read = await client.readResource('beta', 'file:///a.md');
    expect(read.ok && read.data.contents[0]).toEqual({ uri: 'file:///a.md', text: 'text of file:///a.md' });
    expect(gateway.requests('resources/read')[0]!.params).toMatchObject({ server: 'beta', uri: 'file:///a.md' });
    const raw = await client.request('beta', 'resources/read', { uri: 'x:y' });
    expect(raw.ok).toBe(true);
    const tools = await client.listTools('alpha', { refresh: true });
    expect(tools.ok && tools.data.map((t) => t.name)).toEqual(['echo']);
    expect(gateway.requests('tools/list')[0]!.params).toMatchObject({ server: 'alpha', refresh: true });
    const unknown = await client.request('alpha', 'nope/nope');
    expect(!unknown.ok && unknown.error.rpcCode).toBe(-32601);
    expect(get(client.requests).map((r) => r.method)).toEqual(['resources/read', 'resources/read', 'tools/list', 'nope/nope']);
  });

  it('asks the gateway for server notifications while someone listens, delivers them untagged, and asks again after a reconnect', async () => {
    const client = await setup();
    const seen: Array<[string, string, unknown]> = [];
    const off = client.onServerNotification('*', 'notifications/message', (params, { server, method }) => seen.push([server, method, params]));
    const offAll = client.onServerNotification('beta', '*', (_params, { method }) => seen.push(['beta-any', method, null]));
    await waitFor(() => gateway.requests('gateway/listen').length === 2, 3_000, 'gateway/listen');
    expect(gateway.requests('gateway/listen').map((r) => r.params)).toEqual([
      { server: '*', methods: ['notifications/message'] },
      { server: 'beta', methods: ['*'] },
    ]);
    gateway.push({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'hi', _meta: { 'mcp-ipc/server': 'alpha' } } });
    gateway.push({ jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: { _meta: { 'mcp-ipc/server': 'beta' } } });
    await waitFor(() => seen.length === 2, 3_000, 'notifications');
    expect(seen).toEqual([
      ['alpha', 'notifications/message', { level: 'info', data: 'hi' }],
      ['beta-any', 'notifications/tools/list_changed', null],
    ]);

    // After a reconnect the gateway is asked again, before the client counts as open.
    await gateway.stop();
    await waitFor(() => get(client.connection) === 'reconnecting');
    await gateway.restart();
    await waitFor(() => get(client.connection) === 'open', 5_000, 'reconnect');
    expect(gateway.requests('gateway/listen').length).toBe(4);
    off();
    await waitFor(() => gateway.requests('gateway/unlisten').length === 1, 3_000, 'gateway/unlisten');
    expect(gateway.requests('gateway/unlisten')[0]!.params).toEqual({ server: '*', methods: ['notifications/message'] });
    offAll();
  });

  it('answers server→client requests with the page handler (tag removed, server in the context); errors keep their code', async () => {
    const client = await setup();
    const contexts: unknown[] = [];
    client.setRequestHandler('elicitation/create', (params, { server, method }) => {
      contexts.push({ params, server, method });
      return { action: 'accept', content: { name: 'Ada' } };
    });
    await waitFor(() => gateway.requests('gateway/handle').length === 1, 3_000, 'gateway/handle');
    expect(gateway.requests('gateway/handle')[0]!.params).toEqual({ methods: ['elicitation/create'] });
    gateway.push({ jsonrpc: '2.0', id: 'gw-1', method: 'elicitation/create', params: { message: 'Name?', _meta: { 'mcp-ipc/server': 'alpha' } } });
    gateway.push({ jsonrpc: '2.0', id: 'gw-2', method: 'sampling/createMessage', params: { messages: [], _meta: { 'mcp-ipc/server': 'alpha' } } });
    await waitFor(() => gateway.answers.length === 2, 3_000, 'answers');
    expect(contexts).toEqual([{ params: { message: 'Name?' }, server: 'alpha', method: 'elicitation/create' }]);
    const byId = Object.fromEntries(gateway.answers.map((a) => [(a as { id: string }).id, a]));
    expect(byId['gw-1']).toMatchObject({ result: { action: 'accept', content: { name: 'Ada' } } });
    expect(byId['gw-2']).toMatchObject({ error: { code: -32601 } });
    client.removeRequestHandler('elicitation/create');
    await waitFor(() => gateway.requests('gateway/unhandle').length === 1, 3_000, 'gateway/unhandle');
  });

  it('subscribes to a resource once per URI, calls its listeners on updates, and unsubscribes with the last one', async () => {
    const client = await setup();
    const updates: unknown[] = [];
    const a = await client.subscribeResource('alpha', 'file:///a.md', (u) => updates.push(['a', u]));
    const b = await client.subscribeResource('alpha', 'file:///a.md', (u) => updates.push(['b', u]));
    expect(a.ok && b.ok).toBe(true);
    expect(gateway.requests('resources/subscribe').map((r) => r.params)).toMatchObject([{ server: 'alpha', uri: 'file:///a.md' }]);
    gateway.push({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'file:///a.md', _meta: { 'mcp-ipc/server': 'alpha' } } });
    gateway.push({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'file:///a.md', _meta: { 'mcp-ipc/server': 'beta' } } });
    await waitFor(() => updates.length === 2, 3_000, 'updates');
    expect(updates).toEqual([
      ['a', { uri: 'file:///a.md' }],
      ['b', { uri: 'file:///a.md' }],
    ]);
    if (a.ok) await a.data();
    expect(gateway.requests('resources/unsubscribe').length).toBe(0);
    if (b.ok) await b.data();
    expect(gateway.requests('resources/unsubscribe').map((r) => r.params)).toMatchObject([{ server: 'alpha', uri: 'file:///a.md' }]);
  });
});

describe('stores', () => {
  it('follow the Svelte store contract (svelte/store get())', () => {
    const store = writable(1);
    expect(get(store)).toBe(1);
    const seen: number[] = [];
    const off = store.subscribe((v) => seen.push(v));
    store.set(2);
    store.update((v) => v + 1);
    store.set(3); // same primitive: no notification
    off();
    store.set(4);
    expect(seen).toEqual([1, 2, 3]);
    expect(get(store)).toBe(4);
    expect(getValue(store)).toBe(4);
    // and a Svelte store reads the same way through ours
    expect(getValue(svelteWritable('x'))).toBe('x');
  });

  it('client stores work with svelte/store get()', async () => {
    const client = await setup();
    expect(get(client.connection)).toBe('open');
    expect(get(client.events)).toEqual([]);
    expect(get(client.requests)).toEqual([]);
    expect(get(client.error)).toBeNull();
  });
});

describe('WebSocketTransport', () => {
  it('rejects start() with the close code when the gateway refuses', async () => {
    gateway = new FakeGateway();
    await gateway.start();
    const t = new WebSocketTransport(gateway.url('bad'), WebSocket);
    // the socket opens, then the gateway closes it with 4401
    await t.start();
    await new Promise<void>((r) => (t.onclose = r));
    expect(t.closeError?.data).toEqual({ closeCode: 4401, closeReason: 'unauthorized' });

    const refused = new WebSocketTransport('ws://127.0.0.1:1/ws', WebSocket);
    const e = await refused.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((e as { code?: string }).code).toBe('NotConnected');
    expect((e as { data?: { closeCode?: number } }).data?.closeCode).toBe(1006);
  });

  it('sends and receives JSON-RPC, reports garbage as diagnostics', async () => {
    gateway = new FakeGateway();
    await gateway.start();
    const server = gateway.wss!;
    server.on('connection', (ws) => ws.send('not json'));
    const t = new WebSocketTransport(gateway.url(), { WebSocket });
    const messages: JsonRpcMessage[] = [];
    const diagnostics: unknown[] = [];
    t.onmessage = (m) => messages.push(m);
    t.ondiagnostic = (d) => diagnostics.push(d);
    await t.start();
    await t.send({ jsonrpc: '2.0', id: 7, method: 'servers/list' });
    await waitFor(() => messages.some((m) => 'id' in m && m.id === 7));
    expect(messages[0]).toMatchObject({ method: 'hello' });
    await waitFor(() => diagnostics.length === 1);
    expect(diagnostics[0]).toMatchObject({ kind: 'non-json' });
    let closed = 0;
    t.onclose = () => closed++;
    await t.close();
    await t.close();
    expect(closed).toBe(1);
    await expect(t.send({ jsonrpc: '2.0', method: 'x' })).rejects.toMatchObject({ code: 'NotConnected' });
  });
});

describe('McpIpcClient: tracing', () => {
  afterEach(() => {
    trace.disable();
    refreshTracingActive();
  });

  it('without a tracer provider, sends no trace context and keeps the caller\'s _meta', async () => {
    const client = await setup();
    await client.call('beta', 'echo', {}, { _meta: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    await client.call('beta', 'echo', {});
    const [first, second] = gateway.requests('tools/call');
    expect((first!.params as { _meta?: unknown })._meta).toEqual({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    expect((second!.params as { _meta?: unknown })._meta).toBeUndefined();
  });

  it('with one, a span per request whose context goes to the gateway in _meta, ended with the outcome', async () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    refreshTracingActive();
    const client = await setup();
    expect((await client.call('beta', 'echo', { x: 1 }, { _meta: { keep: true } })).ok).toBe(true);
    expect((await client.call('beta', 'nope', {})).ok).toBe(false);
    const spans = exporter.getFinishedSpans();
    const ok = spans.find((s) => s.name === 'tools/call echo')!;
    const failed = spans.find((s) => s.name === 'tools/call nope')!;
    expect(ok.attributes).toMatchObject({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'echo', 'mcp_ipc.server': 'beta', 'mcp_ipc.outcome': 'ok' });
    expect(failed.attributes).toMatchObject({ 'mcp_ipc.outcome': 'error', 'error.type': 'InvalidParams' });
    const sent = gateway.requests('tools/call')[0]!.params as { _meta?: Record<string, unknown> };
    expect(sent._meta).toEqual({ keep: true, traceparent: `00-${ok.spanContext().traceId}-${ok.spanContext().spanId}-01` });
  });
});
