/**
 * The result cache, the tool policy and the audit log with real components: McpHost running the
 * ops fixture server (a child process), the gateway on an ephemeral port with `ws` clients, and an
 * AuditLog file. The fixture numbers every run of a tool, so "did the call reach the server" is read
 * from its answer, not from timing.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type IpcError, ToolDeniedError } from '../../src/core/errors.js';
import type { ApprovalRequest, CallToolResult } from '../../src/core/gateway-protocol.js';
import type { ReadResourceResult } from '../../src/core/mcp-types.js';
import { AuditLog, type AuditRecord } from '../../src/node/audit-log.js';
import { type Gateway, startGateway } from '../../src/node/gateway.js';
import type { McpServerConfig } from '../../src/node/mcp-bridge.js';
import { McpHost } from '../../src/node/mcp-host.js';
import { CACHE_META_KEY } from '../../src/node/result-cache.js';

const FIXTURE = resolve(import.meta.dirname, '../fixtures/ops-server.mjs');
const ops = (extra: Partial<McpServerConfig> = {}, era: 'legacy' | 'modern' = 'legacy'): McpServerConfig => ({
  command: process.execPath,
  args: [FIXTURE, ...(era === 'modern' ? ['--era', 'modern'] : [])],
  process: { healthCheckIntervalMs: 0, usageIntervalMs: 0 },
  ...extra,
});
const text = (r: CallToolResult | ReadResourceResult): string =>
  'contents' in r ? ((r as ReadResourceResult).contents[0] as { text: string }).text : ((r as CallToolResult).content[0]?.text as string);
const mark = (r: CallToolResult | ReadResourceResult) =>
  (r._meta as Record<string, unknown> | undefined)?.[CACHE_META_KEY] as { hit: boolean; ageMs?: number; coalesced?: true } | undefined;

const hosts: McpHost[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stopAll()));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
async function started(config: McpServerConfig, options: ConstructorParameters<typeof McpHost>[1] = {}): Promise<McpHost> {
  const host = new McpHost({ mcpServers: { ops: config } }, options);
  hosts.push(host);
  await host.startAll();
  await host.get('ops')!.listTools();
  return host;
}

describe('result cache', () => {
  it('makes a slow read-only tool fast on the second call, marks the hit, and coalesces identical calls', async () => {
    const host = await started(ops({ cache: { tools: 'readOnly', ttlMs: 60_000 } }));
    const bridge = host.get('ops')!;
    const t0 = performance.now();
    const first = await bridge.call('slow', { ms: 1500, q: 'x' });
    const firstMs = performance.now() - t0;
    expect(text(first)).toBe('slow #1 x');
    expect(mark(first)).toBeUndefined();
    const t1 = performance.now();
    // Same arguments in another key order: the same entry.
    const second = await bridge.call('slow', { q: 'x', ms: 1500 });
    const secondMs = performance.now() - t1;
    expect(text(second)).toBe('slow #1 x');
    expect(mark(second)).toMatchObject({ hit: true });
    expect(firstMs).toBeGreaterThanOrEqual(1400);
    expect(secondMs).toBeLessThan(1500); // served without the server's 1.5 s sleep

    const together = await Promise.all([1, 2, 3].map(() => bridge.call('slow', { ms: 300, q: 'y' })));
    expect(together.map(text)).toEqual(['slow #2 y', 'slow #2 y', 'slow #2 y']);
    expect(together.filter((r) => mark(r)?.coalesced)).toHaveLength(2);
    expect(bridge.snapshot().cache).toMatchObject({ hits: 1, misses: 2, coalesced: 2, entries: 2 });
  });

  it('is invalidated by a real tools/list_changed, by a restart and on demand; never caches isError or uncached tools', async () => {
    const host = await started(ops({ cache: { tools: 'readOnly' } }));
    const bridge = host.get('ops')!;
    expect(text(await bridge.call('slow', { q: 'a' }))).toBe('slow #1 a');
    expect(text(await bridge.call('slow', { q: 'a' }))).toBe('slow #1 a');

    // The server adds a tool and announces it: cached results may be stale.
    const changed = new Promise<void>((r) => bridge.once('tools', () => r()));
    await bridge.call('bump');
    await changed;
    expect(text(await bridge.call('slow', { q: 'a' }))).toBe('slow #2 a');
    expect(text(await bridge.call('slow', { q: 'a' }))).toBe('slow #2 a');

    expect(host.invalidateCache('ops', { tool: 'slow' })).toBe(1);
    expect(text(await bridge.call('slow', { q: 'a' }))).toBe('slow #3 a');

    await bridge.restart();
    const afterRestart = await bridge.call('slow', { q: 'a' });
    expect(text(afterRestart)).toBe('slow #1 a'); // a new process: the server ran it again
    expect(mark(afterRestart)).toBeUndefined();

    expect(text(await bridge.call('oops'))).toBe('oops #1');
    expect(text(await bridge.call('oops'))).toBe('oops #2'); // isError: never cached
    expect(text(await bridge.call('count'))).toBe('count #1');
    expect(text(await bridge.call('count'))).toBe('count #2'); // not read-only: not cached
  });

  it('resources/read honours ttlMs and cacheScope, and resources/updated invalidates the URI', async () => {
    const host = await started(ops({ cache: { tools: [] } }));
    const bridge = host.get('ops')!;
    const alice = { origin: { door: 'websocket', client: 'alice' } };
    const bob = { origin: { door: 'websocket', client: 'bob' } };
    expect(text(await bridge.readResource('ops://public', alice))).toBe('ops://public #1');
    const shared = await bridge.readResource('ops://public', bob);
    expect(text(shared)).toBe('ops://public #1'); // public: every caller
    expect(mark(shared)).toMatchObject({ hit: true });
    expect(text(await bridge.readResource('ops://private', alice))).toBe('ops://private #1');
    expect(text(await bridge.readResource('ops://private', alice))).toBe('ops://private #1');
    expect(text(await bridge.readResource('ops://private', bob))).toBe('ops://private #2'); // private: alice's only
    expect(text(await bridge.readResource('ops://stale'))).toBe('ops://stale #1');
    expect(text(await bridge.readResource('ops://stale'))).toBe('ops://stale #2'); // no hint: not kept

    await bridge.subscribeResource('ops://public', () => undefined);
    const updated = new Promise<void>((r) => bridge.on('notification', (n) => n.method === 'notifications/resources/updated' && r()));
    await bridge.call('touch', { uri: 'ops://public' });
    await updated;
    expect(text(await bridge.readResource('ops://public', alice))).toBe('ops://public #2');
  });
});

describe('result cache and questions', () => {
  for (const era of ['legacy', 'modern'] as const) {
    it(`never keeps a result the server asked a question for (${era}: ${era === 'modern' ? 'input_required round' : 'elicitation/create request'})`, async () => {
      const fake = resolve(import.meta.dirname, '../fixtures/fake-mcp.mjs');
      const host = await started({ command: process.execPath, args: [fake, '--era', era], process: { healthCheckIntervalMs: 0, usageIntervalMs: 0 }, cache: { tools: ['ask'] } });
      const bridge = host.get('ops')!;
      const names = ['Ada', 'Bob'];
      bridge.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { name: names.shift() } }));
      expect(text(await bridge.call('ask'))).toBe('hello Ada (en)');
      const second = await bridge.call('ask');
      expect(text(second)).toBe('hello Bob (en)'); // asked again: the first answer was not kept
      expect(mark(second)).toBeUndefined();
      expect(bridge.cacheStats()).toMatchObject({ entries: 0, misses: 2 });
    });
  }
});

describe('tool policy', () => {
  it('hides denied tools and refuses them through the API (typed call and raw request); nothing reaches the server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-policy-'));
    dirs.push(dir);
    const log = join(dir, 'requests.log');
    const host = await started(ops({ env: { OPS_LOG: log }, tools: { deny: ['delete_*'], allow: ['*'] } }));
    const bridge = host.get('ops')!;
    const names = (await bridge.listTools()).map((t) => t.name);
    expect(names).toContain('slow');
    expect(names).not.toContain('delete_all');
    expect(bridge.snapshot().toolCount).toBe(names.length);

    const error = (await bridge.call('delete_all').catch((e: unknown) => e)) as ToolDeniedError;
    expect(error).toBeInstanceOf(ToolDeniedError);
    expect(error.data).toEqual({ server: 'ops', tool: 'delete_all', reason: 'denied', pattern: 'delete_*' });
    await expect(bridge.request('tools/call', { name: 'delete_all', arguments: {} })).rejects.toBeInstanceOf(ToolDeniedError);
    const raw = await bridge.request<{ tools: Array<{ name: string }> }>('tools/list');
    expect(raw.tools.map((t) => t.name)).not.toContain('delete_all');
    const stream = bridge.callStreaming('delete_all');
    await expect(stream.result).rejects.toBeInstanceOf(ToolDeniedError);
    expect(readFileSync(log, 'utf8')).not.toContain('delete_all');
  });

  it('a confirm tool waits for a person: approved runs, rejected and unattended are refused', async () => {
    const host = await started(ops({ tools: { confirm: ['pay'] } }));
    const bridge = host.get('ops')!;
    await expect(bridge.call('pay', { amount: 1 })).rejects.toMatchObject({ code: 'ToolDenied', data: { reason: 'no-approver' } });
    host.approvals.attachApprover();
    const answers = [true, false];
    host.approvals.onRequested((request) => {
      expect(request).toMatchObject({ server: 'ops', tool: 'pay', arguments: { amount: 2 }, door: 'api' });
      host.approvals.answer(request.id, answers.shift()!, 'test');
    });
    expect(text(await bridge.call('pay', { amount: 2 }))).toBe('pay #1');
    const rejected = (await bridge.call('pay', { amount: 2 }).catch((e: unknown) => e)) as IpcError;
    expect(rejected).toMatchObject({ code: 'ToolDenied', data: { reason: 'rejected', by: 'test' } });
  });
});

describe('a pool (replicas: N) behind one guard', () => {
  it('asks one approval and runs a confirm call once, shares one cache across replicas, and audits each caller call once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-pool-guard-'));
    dirs.push(dir);
    const opsLog = join(dir, 'ops.log');
    const audit = new AuditLog(join(dir, 'audit.log'));
    const host = await started(ops({ replicas: 2, env: { OPS_LOG: opsLog }, cache: { tools: ['slow'] }, tools: { confirm: ['pay'] } }), { audit });
    const pool = host.get('ops')!;
    const requested: ApprovalRequest[] = [];
    host.approvals.attachApprover();
    host.approvals.onRequested((request) => {
      requested.push(request);
      host.approvals.answer(request.id, true, 'test');
    });
    expect(text(await pool.call('pay', { amount: 5 }))).toBe('pay #1');
    expect(requested).toEqual([expect.objectContaining({ server: 'ops', tool: 'pay', arguments: { amount: 5 }, door: 'api' })]);
    // Two identical calls at once: one request (each replica would run its own with split caches).
    const both = await Promise.all([pool.call('slow', { ms: 300, q: 'x' }), pool.call('slow', { ms: 300, q: 'x' })]);
    expect(both.map(text)).toEqual(['slow #1 x', 'slow #1 x']);
    expect(both.map((r) => mark(r)?.coalesced ?? false).sort()).toEqual([false, true]);
    expect(mark(await pool.call('slow', { q: 'x', ms: 300 }))?.hit).toBe(true);
    expect(pool.cacheStats()).toMatchObject({ hits: 1, coalesced: 1, entries: 1 });
    expect(pool.snapshot().cache).toMatchObject({ hits: 1, entries: 1 });
    audit.close();
    const calls = readFileSync(opsLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { method: string; params: { name: string } });
    expect(calls.filter((m) => m.method === 'tools/call').map((m) => m.params.name)).toEqual(['pay', 'slow']);
    const lines = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    expect(lines.map((l) => `${l.tool} ${l.outcome}${l.cached ? ' cached' : ''}`)).toEqual(['pay ok', 'slow ok', 'slow ok', 'slow ok cached']);
    expect(lines.every((l) => l.server === 'ops' && l.door === 'api')).toBe(true);
  });
});

/** A minimal gateway client. */
class Client {
  private nextId = 1;
  private readonly waiting = new Map<number, (m: { result?: unknown; error?: { data?: unknown } }) => void>();
  readonly notes: Array<{ method: string; params: { data: unknown } }> = [];
  private readonly watchers = new Set<() => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      // The gateway batches what it sends in one tick: a frame is one message or an array of them.
      const frame = JSON.parse(String(data)) as unknown;
      for (const m of (Array.isArray(frame) ? frame : [frame]) as Array<{ id?: number; method?: string; params?: { data: unknown } }>) {
        if (m.method) this.notes.push({ method: m.method, params: m.params! });
        else if (typeof m.id === 'number') this.waiting.get(m.id)?.(m as { result?: unknown; error?: { data?: unknown } });
      }
      for (const w of [...this.watchers]) w();
    });
  }
  static async open(gateway: Gateway): Promise<Client> {
    const ws = new WebSocket(gateway.wsUrl);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    return new Client(ws);
  }
  call(method: string, params: Record<string, unknown>): Promise<{ result?: unknown; error?: { data?: unknown } }> {
    const id = this.nextId++;
    return new Promise((r) => {
      this.waiting.set(id, r);
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }
  note(method: string): Promise<{ data: unknown }> {
    return new Promise((r) => {
      const check = () => {
        const found = this.notes.find((n) => n.method === method);
        if (found) {
          this.watchers.delete(check);
          r(found.params);
        }
      };
      this.watchers.add(check);
      check();
    });
  }
}

describe('through the WebSocket gateway', () => {
  let host: McpHost;
  let gateway: Gateway;
  const clients: Client[] = [];
  beforeAll(async () => {
    host = new McpHost({ mcpServers: { ops: ops({ cache: { tools: ['slow'] }, tools: { deny: ['delete_*'], confirm: ['pay'] } }) } });
    await host.startAll();
    gateway = await startGateway({ host, port: 0 });
  });
  afterAll(async () => {
    for (const c of clients) c.ws.close();
    await gateway.close();
    await host.stopAll();
  });
  const open = async () => {
    const c = await Client.open(gateway);
    clients.push(c);
    return c;
  };

  it('refuses a denied tool with a rebuildable ToolDenied and hides it from tools/list', async () => {
    const c = await open();
    const denied = await c.call('tools/call', { server: 'ops', tool: 'delete_all' });
    expect(denied.error?.data).toMatchObject({ code: 'ToolDenied', data: { reason: 'denied', tool: 'delete_all' } });
    const { tools } = (await c.call('tools/list', { server: 'ops' })).result as { tools: Array<{ name: string }> };
    expect(tools.map((t) => t.name)).not.toContain('delete_all');
  });

  it('forwards a confirmation to the dashboard and accepts its answer', async () => {
    const caller = await open();
    const dashboard = await open();
    const pending = caller.call('tools/call', { server: 'ops', tool: 'pay', arguments: { to: 'x' } });
    const requested = (await dashboard.note('approval/requested')).data as { id: string; door: string; tool: string };
    expect(requested).toMatchObject({ tool: 'pay', door: 'websocket' });
    expect(((await dashboard.call('approvals/list', {})).result as unknown[]).length).toBe(1);
    expect((await dashboard.call('approvals/answer', { id: requested.id, approved: true })).result).toEqual({ settled: true });
    expect(text((await pending).result as CallToolResult)).toBe('pay #1');
    expect((await dashboard.note('approval/settled')).data).toMatchObject({ id: requested.id, outcome: 'approved' });
  });

  it('refuses an answer from the connection that made the call; another connection (the dashboard) approves it', async () => {
    const caller = await open();
    const dashboard = await open();
    const pending = caller.call('tools/call', { server: 'ops', tool: 'pay', arguments: { to: 'me' } });
    // The caller sees the request too, as every connection does …
    const requested = (await caller.note('approval/requested')).data as { id: string; door: string; client: string };
    expect(requested).toMatchObject({ door: 'websocket', tool: 'pay', arguments: { to: 'me' } });
    // … but cannot answer it.
    const self = await caller.call('approvals/answer', { id: requested.id, approved: true });
    expect(self.error?.data).toMatchObject({ code: 'InvalidParams', data: { id: requested.id, reason: 'self-approval', door: 'websocket', client: requested.client } });
    expect(((await dashboard.call('approvals/list', {})).result as Array<{ id: string }>).map((r) => r.id)).toEqual([requested.id]);
    expect((await dashboard.call('approvals/answer', { id: requested.id, approved: true })).result).toEqual({ settled: true });
    expect(text((await pending).result as CallToolResult)).toMatch(/^pay #\d+$/);
  });

  it('cache/invalidate empties the cache the dashboard button clears', async () => {
    const c = await open();
    const call = async () => text((await c.call('tools/call', { server: 'ops', tool: 'slow', arguments: { q: 'g' } })).result as CallToolResult);
    expect(await call()).toBe('slow #1 g');
    expect(await call()).toBe('slow #1 g');
    expect((await c.call('cache/invalidate', { server: 'ops' })).result).toEqual({ dropped: 1 });
    expect(await call()).toBe('slow #2 g');
    expect((await c.call('cache/invalidate', { server: 'nope' })).error?.data).toMatchObject({ code: 'InvalidParams' });
  });

  it('/metrics reports the cache counters', async () => {
    const c = await open();
    await c.call('tools/call', { server: 'ops', tool: 'slow', arguments: { q: 'm' } });
    await c.call('tools/call', { server: 'ops', tool: 'slow', arguments: { q: 'm' } });
    const metrics = await (await fetch(new URL('/metrics', gateway.url), { headers: { Authorization: `Bearer ${gateway.token}` } })).text();
    expect(metrics).toMatch(/^mcp_ipc_cache_hits_total\{server="ops"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^mcp_ipc_cache_misses_total\{server="ops"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^mcp_ipc_cache_entries\{server="ops"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^mcp_ipc_cache_bytes\{server="ops"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^mcp_ipc_cache_evictions_total\{server="ops"\} 0$/m);
  });
});

describe('audit log', () => {
  it('writes one line per call under load: door, client, server, tool, hashed arguments, outcome, duration; no raw arguments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-audit-'));
    dirs.push(dir);
    const file = join(dir, 'audit.log');
    const audit = new AuditLog(file);
    const host = await started(ops({ tools: { deny: ['delete_*'] }, queue: { maxConcurrent: 10, maxQueueSize: 1000 } }), { audit });
    const bridge = host.get('ops')!;
    const calls = Array.from({ length: 300 }, (_, i) => bridge.call('count', { secret: `hunter${i}` }, { origin: { door: 'websocket', client: String(i % 3) } }));
    await Promise.all(calls);
    await bridge.call('delete_all', { secret: 'hunter-x' }).catch(() => undefined);
    await bridge.readResource('ops://public?token=abc');
    audit.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('hunter');
    expect(text).not.toContain('token=abc');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    expect(lines).toHaveLength(302);
    const counts = lines.filter((l) => l.tool === 'count');
    expect(counts).toHaveLength(300);
    expect(counts.every((l) => l.door === 'websocket' && l.server === 'ops' && l.method === 'tools/call' && l.outcome === 'ok' && /^hmac-sha256:[0-9a-f]{64}$/.test(l.argsHash!))).toBe(true);
    expect(new Set(counts.map((l) => l.argsHash)).size).toBe(300);
    expect(new Set(counts.map((l) => l.client))).toEqual(new Set(['0', '1', '2']));
    expect(lines.find((l) => l.tool === 'delete_all')).toMatchObject({ outcome: 'ToolDenied', door: 'api' });
    expect(lines.at(-1)).toMatchObject({ method: 'resources/read', uri: 'ops://public?…', outcome: 'ok' });
    expect(lines.every((l) => typeof l.durationMs === 'number' && !Number.isNaN(Date.parse(l.time)))).toBe(true);
  });
});
