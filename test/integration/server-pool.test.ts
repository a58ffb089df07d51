/**
 * Server pools with real demo-server processes: replicas SIGKILLed one by one under load lose no
 * call, routing prefers the least busy replica, sticky keys stay on one replica, min/max scaling
 * follows the queue, and snapshots, /metrics and streamed calls see the replicas.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type IpcError, ServerCrashedError } from '../../src/core/errors.js';
import type { CallToolResult } from '../../src/core/gateway-protocol.js';
import { demoServerConfig } from '../../src/node/config.js';
import { startGateway } from '../../src/node/gateway.js';
import { AuditLog, type AuditRecord } from '../../src/node/audit-log.js';
import { GatewayMetrics } from '../../src/node/gateway/metrics.js';
import { McpHost } from '../../src/node/mcp-host.js';
import type { McpServerConfig } from '../../src/node/mcp-bridge.js';
import { ServerPool } from '../../src/node/server-pool.js';
import { PYTHON_SDK_ERROR_VARIABLE, PYTHON_SDK_VARIABLE } from '../python-sdk.js';

const FAST = { healthCheckIntervalMs: 0, usageIntervalMs: 0, restartDelayMs: 50, restartMaxDelayMs: 200, shutdownTimeoutMs: 1_500 };

const pools: ServerPool[] = [];
function pool(config: Partial<McpServerConfig>): ServerPool {
  const p = new ServerPool('demo', demoServerConfig({ ...config, process: { ...FAST, ...config.process } }));
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});

async function waitFor(check: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pidOf = (r: CallToolResult) => (r.structuredContent as { pid: number }).pid;
const replicaPid = (p: ServerPool, id: number) => p.replica(id)!.pids()[0]!;

describe('ServerPool with real processes', () => {
  it('loses no call while its replicas are SIGKILLed one by one under load; unsafe in-flight calls fail as outcome unknown', async () => {
    const p = pool({ replicas: 3, queue: { maxConcurrent: 2, maxQueueSize: 500 } });
    await p.start();
    expect(p.snapshot().pool!.replicas.map((r) => r.state)).toEqual(['running', 'running', 'running']);
    const safe: Array<Promise<CallToolResult>> = [];
    const unsafe: Array<Promise<CallToolResult | IpcError>> = [];
    for (let i = 0; i < 150; i++) {
      safe.push(p.call('work', { rounds: 20_000, seed: String(i) }));
      // The same tool, declared unsafe to resend by the caller: like a non-idempotent tool.
      if (i % 5 === 0) unsafe.push(p.call('work', { rounds: 20_000, seed: `u${i}` }, { retryable: false }).catch((e: IpcError) => e));
    }
    const killed: number[] = [];
    for (const id of [0, 1, 2]) {
      // Kill a replica while it runs calls and others wait in the pool's queue.
      await waitFor(() => p.snapshot().pool!.replicas[id]!.state === 'running' && p.snapshot().pool!.replicas[id]!.load.inFlight > 0, 15_000, `replica ${id} busy`);
      expect(p.snapshot().pool!.queued).toBeGreaterThan(0);
      const pid = replicaPid(p, id);
      killed.push(pid);
      process.kill(pid, 'SIGKILL');
      await waitFor(() => p.replica(id)!.state !== 'running' || replicaPid(p, id) !== pid, 5_000, `replica ${id} noticed its death`);
    }
    const results = await Promise.all(safe);
    expect(results).toHaveLength(150);
    for (const r of results) expect(r.isError).toBeFalsy();
    // Calls resent elsewhere ran on a live replica; some ran on replicas started after a kill.
    expect(new Set(results.map(pidOf)).size).toBeGreaterThan(3);
    const outcomes = await Promise.all(unsafe);
    for (const o of outcomes) {
      if (o instanceof Error) {
        expect(o).toBeInstanceOf(ServerCrashedError);
        expect((o as ServerCrashedError).data.outcomeUnknown).toBe(true);
      } else expect(o.isError).toBeFalsy();
    }
    const snap = p.snapshot();
    expect(snap.pool!.rerouted).toBeGreaterThan(0);
    expect(snap.restarts).toBeGreaterThanOrEqual(3);
    expect(snap.state).toBe('running');
    for (const pid of killed) expect(p.pids()).not.toContain(pid);
  });

  it('a killed replica\'s safe call moves to another replica and succeeds; its unsafe one fails as outcome unknown', async () => {
    const p = pool({ replicas: 2, sticky: true, queue: { maxConcurrent: 4 } });
    await p.start();
    // One sticky key: both calls run on the same replica.
    const safe = p.call('sleep', { ms: 1_000 }, { stickyKey: 'k' });
    const unsafe = p.call('sleep', { ms: 1_000 }, { stickyKey: 'k', retryable: false });
    const victim = p.snapshot().pool!.replicas.find((r) => r.load.inFlight === 2)!;
    const other = p.snapshot().pool!.replicas.find((r) => r.id !== victim.id)!;
    await new Promise((r) => setTimeout(r, 100)); // written and running in the server
    process.kill(victim.pid!, 'SIGKILL');
    await expect(unsafe).rejects.toMatchObject({ code: 'ServerCrashed', data: { outcomeUnknown: true } });
    expect((await safe).content[0]?.text).toBe('slept 1000 ms');
    expect(p.snapshot().pool!.rerouted).toBe(1);
    // The key now lives on the other replica.
    const r = await p.call('work', { rounds: 1_000 }, { stickyKey: 'k' });
    expect(pidOf(r)).toBe(other.pid);
  });

  it('a confirm call moved to another replica after a crash is approved once and audited once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-pool-audit-'));
    const audit = new AuditLog(join(dir, 'audit.log'));
    const host = new McpHost(
      { mcpServers: { demo: demoServerConfig({ replicas: 2, tools: { confirm: ['sleep'] }, queue: { maxConcurrent: 4 }, process: FAST }) } },
      { audit },
    );
    try {
      await host.startAll();
      const p = host.get('demo') as ServerPool;
      let asked = 0;
      host.approvals.attachApprover();
      host.approvals.onRequested((request) => {
        asked++;
        host.approvals.answer(request.id, true, 'test');
      });
      const call = p.call('sleep', { ms: 1_000 }, { origin: { door: 'websocket', client: '7' } });
      await waitFor(() => p.snapshot().pool!.replicas.some((r) => r.load.inFlight === 1), 5_000, 'the call to run');
      const victim = p.snapshot().pool!.replicas.find((r) => r.load.inFlight === 1)!;
      await new Promise((r) => setTimeout(r, 100)); // written and running in the server
      process.kill(victim.pid!, 'SIGKILL');
      expect((await call).content[0]?.text).toBe('slept 1000 ms');
      expect(p.snapshot().pool!.rerouted).toBe(1);
      expect(asked).toBe(1);
      audit.close();
      const lines = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
      expect(lines).toEqual([expect.objectContaining({ server: 'demo', method: 'tools/call', tool: 'sleep', door: 'websocket', client: '7', outcome: 'ok' })]);
    } finally {
      await host.stopAll();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stop() fails the calls waiting in the pool and refuses new ones', async () => {
    const p = pool({ replicas: 1, queue: { maxConcurrent: 1 } });
    await p.start();
    const running = p.call('sleep', { ms: 5_000 }).catch((e: IpcError) => e);
    const waiting = p.call('echo', { text: 'never' });
    expect(p.snapshot().pool!.queued).toBe(1);
    const stopping = p.stop();
    await expect(waiting).rejects.toMatchObject({ code: 'NotConnected' });
    await expect(p.call('echo', { text: 'late' })).rejects.toMatchObject({ code: 'NotConnected' });
    await stopping;
    expect(p.state).toBe('stopped');
    expect(await running).toMatchObject({ code: 'NotConnected' });
    expect(p.history().some((e) => e.replica === 0 && e.message.startsWith('[#0] '))).toBe(true);
  });

  it('sends a call to the least busy replica', async () => {
    const p = pool({ replicas: 2, queue: { maxConcurrent: 4 } });
    await p.start();
    const pids = [replicaPid(p, 0), replicaPid(p, 1)];
    // Three long calls: round robin puts two on one replica, one on the other.
    const sleeps = [p.call('sleep', { ms: 1_500 }), p.call('sleep', { ms: 1_500 }), p.call('sleep', { ms: 1_500 })];
    const loads = p.snapshot().pool!.replicas.map((r) => r.load.inFlight);
    expect(loads.sort()).toEqual([1, 2]);
    const idle = p.snapshot().pool!.replicas.find((r) => r.load.inFlight === 1)!.id;
    const r = await p.call('work', { rounds: 1_000 });
    expect(pidOf(r)).toBe(pids[idle]);
    await Promise.all(sleeps);
  });

  it('keeps the calls of a sticky key on one replica', async () => {
    const p = pool({ replicas: 3, sticky: true, queue: { maxConcurrent: 4 } });
    await p.start();
    const byKey = new Map<string, Set<number>>();
    const calls: Array<Promise<void>> = [];
    for (let i = 0; i < 30; i++) {
      const key = `user-${i % 3}`;
      calls.push(
        p.call('work', { rounds: 2_000 }, { stickyKey: key }).then((r) => {
          const set = byKey.get(key) ?? new Set();
          set.add(pidOf(r));
          byKey.set(key, set);
        }),
      );
    }
    await Promise.all(calls);
    for (const set of byKey.values()) expect(set.size).toBe(1);
    // The three keys were routed to the least busy replica when first seen: all three are used.
    expect(new Set([...byKey.values()].map((s) => [...s][0])).size).toBe(3);
    // Without a key, calls spread.
    const free = await Promise.all(Array.from({ length: 6 }, () => p.call('work', { rounds: 20_000 })));
    expect(new Set(free.map(pidOf)).size).toBeGreaterThan(1);
  });

  it('scales up under queue depth and back down when idle', async () => {
    const p = pool({
      replicas: { min: 1, max: 3, scaleUpQueueDepth: 1, scaleUpAfterMs: 100, scaleDownAfterMs: 400, cooldownMs: 100 },
      queue: { maxConcurrent: 1 },
    });
    await p.start();
    expect(p.snapshot().pool!.replicas).toHaveLength(1);
    const calls = Array.from({ length: 12 }, () => p.call('sleep', { ms: 300 }));
    await waitFor(() => p.snapshot().pool!.replicas.filter((r) => r.state === 'running').length === 3, 15_000, 'three running replicas');
    const results = await Promise.all(calls);
    expect(new Set(results.map((r) => r.content[0]?.text))).toEqual(new Set(['slept 300 ms']));
    expect(p.snapshot().pool!.scaleUps).toBe(2);
    await waitFor(() => p.snapshot().pool!.replicas.length === 1, 15_000, 'scale down to min');
    expect(p.snapshot().pool!.scaleDowns).toBe(2);
    expect(p.pids()).toHaveLength(1);
    expect(p.history().some((e) => e.message.startsWith('scaling up'))).toBe(true);
    // Still serving.
    expect((await p.call('echo', { text: 'still here' })).content[0]?.text).toBe('still here');
  });

  it('streams through a replica, lists tools once, and shows replicas in the snapshot and /metrics', async () => {
    const host = new McpHost({ mcpServers: { demo: demoServerConfig({ replicas: 2, process: FAST }) } });
    try {
      await host.startAll();
      const server = host.get('demo')!;
      expect(server).toBeInstanceOf(ServerPool);
      expect((await server.listTools()).map((t) => t.name)).toContain('work');
      const stream = server.callStreaming('generate_large_result', { size: 300_000, chunk_size: 65_536 });
      let text = '';
      for await (const chunk of stream.chunks) text += chunk.data;
      await stream.result;
      expect(text).toHaveLength(300_000);
      const snap = server.snapshot();
      expect(snap.state).toBe('running');
      expect(snap.pool!.replicas.map((r) => [r.id, r.state])).toEqual([
        [0, 'running'],
        [1, 'running'],
      ]);
      expect(snap.pool!.replicas.every((r) => typeof r.pid === 'number')).toBe(true);
      const metrics = new GatewayMetrics(() => host.list().map((s) => s.snapshot()), { connections: () => 0, eventLogSize: () => 0, latestSeq: () => 0 });
      const text2 = await metrics.render();
      expect(text2).toContain('mcp_ipc_up{server="demo",replica="0"} 1');
      expect(text2).toContain('mcp_ipc_up{server="demo",replica="1"} 1');
      expect(text2).toContain('mcp_ipc_pool_replicas{server="demo"} 2');
      expect(text2).toMatch(/mcp_ipc_requests_total\{server="demo",replica="0"\} \d+/);
    } finally {
      await host.stopAll();
    }
  });

  it('through the gateway, a sticky pool keeps each WebSocket connection on one replica', async () => {
    const host = new McpHost({ mcpServers: { demo: demoServerConfig({ replicas: 2, sticky: true, process: FAST }) } });
    const gateway = await startGateway({ host, port: 0 });
    const sockets: WebSocket[] = [];
    try {
      await host.startAll();
      const open = async () => {
        const ws = new WebSocket(gateway.wsUrl);
        sockets.push(ws);
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        let id = 0;
        const pending = new Map<number, (r: { result?: CallToolResult }) => void>();
        ws.on('message', (data) => {
          // One message per frame, or an array of them (the gateway batches what it sends in one tick).
          const parsed = JSON.parse(String(data)) as unknown;
          for (const m of (Array.isArray(parsed) ? parsed : [parsed]) as Array<{ id?: number; result?: CallToolResult }>) {
            if (typeof m.id === 'number') pending.get(m.id)?.(m);
          }
        });
        return async () => {
          const n = ++id;
          const reply = new Promise<{ result?: CallToolResult }>((resolve) => pending.set(n, resolve));
          ws.send(JSON.stringify({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { server: 'demo', tool: 'work', arguments: { rounds: 1_000 } } }));
          return pidOf((await reply).result!);
        };
      };
      const first = await open();
      const second = await open();
      const a = [await first(), await first(), await first()];
      const b = [await second(), await second(), await second()];
      expect(new Set(a).size).toBe(1);
      expect(new Set(b).size).toBe(1);
      // Both idle when first seen, so the two connections were spread over the two replicas.
      expect(a[0]).not.toBe(b[0]);
    } finally {
      for (const ws of sockets) ws.close();
      await gateway.close();
      await host.stopAll();
    }
  });

  it('holds a resource subscription on one replica and moves it when that replica is killed', async () => {
    const python = process.env[PYTHON_SDK_VARIABLE];
    if (!python) throw new Error(`The Python MCP SDK is not available: ${process.env[PYTHON_SDK_ERROR_VARIABLE] ?? 'global setup did not run'}`);
    const p = new ServerPool('py', { command: python, args: [resolve(import.meta.dirname, '../fixtures/py_sdk_server.py')], replicas: 2, process: FAST });
    pools.push(p);
    await p.start();
    const updates: string[] = [];
    let seen!: () => void;
    let next = new Promise<void>((r) => (seen = r));
    const unsubscribe = await p.subscribeResource('fixture://readme', (u) => {
      updates.push(u.uri);
      seen();
    });
    const holderOf = () => p.snapshot().pool!.replicas.find((r) => r.subscriptions === 1);
    const holder = holderOf()!;
    expect(p.snapshot().pool!.replicas.map((r) => r.subscriptions).sort()).toEqual([0, 1]);
    await p.replica(holder.id)!.call('touch', { uri: 'fixture://readme' });
    await next;
    next = new Promise<void>((r) => (seen = r));
    process.kill(holder.pid!, 'SIGKILL');
    await waitFor(() => p.history().some((e) => e.message.startsWith('subscription to fixture://readme moved')), 15_000, 'the subscription to move');
    const moved = holderOf()!;
    expect(moved.id).not.toBe(holder.id);
    await p.replica(moved.id)!.call('touch', { uri: 'fixture://readme' });
    await next;
    expect(updates).toEqual(['fixture://readme', 'fixture://readme']);
    await unsubscribe();
    expect(p.snapshot().pool!.replicas.every((r) => r.subscriptions === 0)).toBe(true);
  });
});
