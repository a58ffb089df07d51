/**
 * What the dashboard is told is true: a real host and gateway, the browser client in Node, and the
 * dashboard's own row and card rules on top. Stopped servers carry no stale readings, a crash restart
 * shows the current pid and exit, every state change is one log row at the time it happened, a
 * late page sees history at its own times, and a user's cancel is not an error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { filterRows } from '../../dashboard/src/lib/events.js';
import { McpIpcClient } from '../../src/client/index.js';
import type { ServerSnapshot } from '../../src/core/gateway-protocol.js';
import { demoServerConfig } from '../../src/node/config.js';
import { type Gateway, startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const NO_FILTER = { server: '', level: '', type: '', text: '' };

let host: McpHost;
let gateway: Gateway;
let stateDir: string;
const clients: McpIpcClient[] = [];

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'mcp-ipc-facts-'));
  host = new McpHost({
    mcpServers: {
      demo: demoServerConfig({ process: { usageIntervalMs: 100, healthCheckIntervalMs: 100 }, queue: { metricsIntervalMs: 50 } }),
      // Crashes (exit code 3) on its first tools/call, then keeps answering (the count survives the restart).
      crashy: {
        command: 'python3',
        args: [join(FIXTURES, 'crash_after.py'), '1'],
        env: { CRASH_STATE_FILE: join(stateDir, 'count') },
        process: { restartDelayMs: 300, restartMaxDelayMs: 300, usageIntervalMs: 100, healthCheckIntervalMs: 0 },
        queue: { metricsIntervalMs: 50 },
      },
    },
  });
  await host.startAll();
  gateway = await startGateway({ host, port: 0 });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await gateway?.close();
  await host?.stopAll();
  rmSync(stateDir, { recursive: true, force: true });
});

async function connect(): Promise<McpIpcClient> {
  const page = new URL(gateway.url);
  const client = new McpIpcClient({ url: `ws://${page.host}/ws`, token: page.searchParams.get('token') ?? '', WebSocket });
  clients.push(client);
  const r = await client.connect();
  expect(r.ok).toBe(true);
  return client;
}

/** Resolves with the first snapshot of `name` that passes `check`; records every one seen meanwhile. */
function until(client: McpIpcClient, name: string, check: (s: ServerSnapshot) => boolean, seen: ServerSnapshot[] = [], timeoutMs = 15_000): Promise<ServerSnapshot> {
  return new Promise((resolvePromise, reject) => {
    let unsubscribe: (() => void) | undefined;
    let done = false;
    const timer = setTimeout(() => finish(new Error(`timed out waiting on ${name}: last ${JSON.stringify(seen.at(-1))}`)), timeoutMs);
    const finish = (outcome: ServerSnapshot | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => unsubscribe?.());
      if (outcome instanceof Error) reject(outcome);
      else resolvePromise(outcome);
    };
    unsubscribe = client.servers.subscribe((list) => {
      const s = list.find((x) => x.name === name);
      if (!s) return;
      if (seen.at(-1) !== s) seen.push(s);
      if (check(s)) finish(s);
    });
  });
}

describe('dashboard facts, end to end', () => {
  it('a stopped server carries no stale health RTT, CPU, memory or pid', async () => {
    const client = await connect();
    await until(client, 'demo', (s) => s.state === 'running' && s.usage !== null && s.health.rttMs !== null);
    const seen: ServerSnapshot[] = [];
    const watching = until(client, 'demo', () => false, seen, 60_000).catch(() => undefined);
    const stopped = await client.stopServer('demo');
    expect(stopped.ok && stopped.data).toMatchObject({ state: 'stopped', pid: null, usage: null, health: { rttMs: null } });
    await until(client, 'demo', (s) => s.state === 'stopped');
    // The next full snapshot (metrics broadcast) says the same as the patch made on the state change.
    await new Promise((r) => setTimeout(r, 300));
    const after = seen.filter((s) => s.state !== 'running');
    expect(after.length).toBeGreaterThan(0);
    for (const s of after) expect({ state: s.state, usage: s.usage, rtt: s.health.rttMs, uptime: s.uptimeMs }).toEqual({ state: s.state, usage: null, rtt: null, uptime: 0 });
    expect(after.filter((s) => s.state === 'stopped').every((s) => s.pid === null)).toBe(true);
    void watching;
    const started = await client.startServer('demo');
    expect(started.ok).toBe(true);
  });

  it('during a crash restart the card has the current pid and last exit', async () => {
    const client = await connect();
    const first = await until(client, 'crashy', (s) => s.state === 'running' && s.pid !== null);
    const seen: ServerSnapshot[] = [];
    const back = until(client, 'crashy', (s) => s.state === 'running' && s.pid !== null && s.pid !== first.pid, seen);
    const crashed = await client.call('crashy', 'echo', { text: 'boom' });
    expect(!crashed.ok && crashed.error.code).toBe('ServerCrashed');
    const again = await back;
    const during = seen.filter((s) => s.state === 'crashed' || s.state === 'restarting');
    expect(during.length).toBeGreaterThan(0);
    for (const s of during) expect({ state: s.state, pid: s.pid, exit: s.lastExit?.code }).toEqual({ state: s.state, pid: null, exit: 3 });
    expect(again.lastExit?.code).toBe(3);
    expect(again.pid).not.toBe(first.pid);
  });

  it('logs every state change once, at the time it happened, also for a page opened later', async () => {
    const early = await connect();
    const stop = await early.stopServer('demo');
    expect(stop.ok).toBe(true);
    expect((await early.startServer('demo')).ok).toBe(true);
    await until(early, 'demo', (s) => s.state === 'running');
    // Everything up to here happened before the late page opened (the early one saw it live).
    const opened = Date.now();
    const cutoff = early.events.get().at(-1)?.seq ?? 0;
    const late = await connect();
    await new Promise<void>((r) => {
      const off = late.events.subscribe((events) => {
        if (events.some((e) => e.method === 'server/event' && e.params.message.includes('stopping → stopped'))) queueMicrotask(() => (off(), r()));
      });
    });
    for (const client of [early, late]) {
      const rows = filterRows(client.events.get(), { ...NO_FILTER, server: 'demo', type: 'state' }, 500);
      const messages = rows.map((r) => r.message);
      // One row per change (no second row in another wording), and it says what the server said.
      expect(messages.filter((m) => m.startsWith('running → stopping')).length).toBe(messages.filter((m) => m.startsWith('stopping → stopped')).length);
      expect(new Set(rows.map((r) => `${r.time}|${r.message}`)).size).toBe(rows.length);
    }
    const lateRows = filterRows(late.events.get(), NO_FILTER, 500).filter((r) => r.seq <= cutoff);
    expect(lateRows.length).toBeGreaterThan(5);
    // Caught-up history keeps its own times (all before the page opened) in order, newest first.
    expect(lateRows.filter((r) => r.time > opened).map((r) => `${r.type} ${r.message}`)).toEqual([]);
    const times = lateRows.map((r) => r.time);
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it("a user's cancel is counted as a cancel, not as an error", async () => {
    const client = await connect();
    await until(client, 'demo', (s) => s.state === 'running');
    const before = await client.rpc('metrics/snapshot', { server: 'demo' });
    if (!before.ok) throw before.error;
    const nap = client.call('demo', 'sleep', { ms: 10_000 }, { key: 'nap' });
    await new Promise((r) => setTimeout(r, 200));
    expect(client.cancel('nap')).toBe(true);
    const result = await nap;
    expect(!result.ok && result.error.code).toBe('Cancelled');
    // The host cancels its own call when the gateway gets `cancel`, right after the client settled.
    let after = before.data;
    for (let i = 0; i < 50 && after.demo?.cancels === before.data.demo?.cancels; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const r = await client.rpc('metrics/snapshot', { server: 'demo' });
      if (!r.ok) throw r.error;
      after = r.data;
    }
    expect(after.demo!.cancels - before.data.demo!.cancels).toBe(1);
    expect(after.demo!.errors - before.data.demo!.errors).toBe(0);
  });
});
