/**
 * Request context does not leak into what a request happens to create: a pool replica started by a
 * scale-up inside browser A's call must not make A "the caller" of that replica's later
 * server→client requests (legacy requests carry no link to a call; the gateway falls back to the
 * connection with a call running on the server). Real WebSockets, real child processes.
 */
import { resolve } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { McpIpcClient } from '../../src/client/index.js';
import { type Gateway, startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';

const fake = resolve(import.meta.dirname, '../fixtures/fake-mcp.mjs');
let host: McpHost | undefined;
let gateway: Gateway | undefined;
const clients: McpIpcClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await gateway?.close();
  await host?.stopAll();
});

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const textOf = (r: { ok: boolean; data?: { content: Array<{ text?: string }> } }) => r.data?.content.map((c) => c.text ?? '').join('');

it("routes a scaled-up replica's elicitations to the connection calling it, not to the one whose call scaled the pool", async () => {
  host = new McpHost({
    mcpServers: {
      p: {
        command: process.execPath,
        args: [fake, '--era', 'legacy'],
        replicas: { min: 1, max: 2, scaleUpQueueDepth: 1, scaleUpAfterMs: 0, cooldownMs: 0 },
        queue: { maxConcurrent: 1 },
      },
    },
  });
  await host.startAll();
  gateway = await startGateway({ host, port: 0, heartbeatMs: 0, serverRequestTimeoutMs: 20_000 });
  const connect = async (name: string, asked: string[], hold?: Promise<void>) => {
    const c = new McpIpcClient({ url: gateway!.wsUrl, WebSocket, reconnect: false, timeoutMs: 20_000 });
    clients.push(c);
    expect((await c.connect()).ok).toBe(true);
    c.setRequestHandler('elicitation/create', async () => {
      asked.push(name);
      if (hold) await hold;
      return { action: 'accept', content: { name } };
    });
    await c.synced();
    return c;
  };
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const askedA: string[] = [];
  const askedB: string[] = [];
  const a = await connect('A', askedA, held);
  const b = await connect('B', askedB);

  // A's first call holds the only replica (A answers slowly); its second waits in the queue, and
  // the pool scales up inside A's call.
  const first = a.call('p', 'ask');
  await until(() => askedA.length === 1, "A's elicitation");
  const second = a.call('p', 'good');
  const replicas = () => ((host!.get('p')!.snapshot() as { pool?: { replicas?: Array<{ state: string }> } }).pool?.replicas ?? []).filter((r) => r.state === 'running').length;
  await until(() => replicas() === 2, 'the second replica');
  release();
  expect(textOf(await first)).toBe('hello A (en)');
  expect((await second).ok).toBe(true);

  // B's calls land on both replicas (round robin / least loaded); every elicitation goes to B.
  askedA.length = 0;
  for (let i = 0; i < 6; i++) expect(textOf(await b.call('p', 'ask'))).toBe('hello B (en)');
  expect(askedA).toEqual([]);
  expect(askedB).toHaveLength(6);
}, 60_000);

it('keeps a resource subscription across a reload that replaces its server, and drops it when the server is removed', async () => {
  const ops = resolve(import.meta.dirname, '../fixtures/ops-server.mjs');
  const server = (tag: string) => ({ command: process.execPath, args: [ops], env: { TAG: tag } });
  host = new McpHost({ mcpServers: { o: server('1') } });
  await host.startAll();
  gateway = await startGateway({ host, port: 0, heartbeatMs: 0 });
  const c = new McpIpcClient({ url: gateway.wsUrl, WebSocket, reconnect: false, timeoutMs: 20_000 });
  clients.push(c);
  expect((await c.connect()).ok).toBe(true);
  const updates: string[] = [];
  const sub = await c.subscribeResource('o', 'ops://public', (u) => updates.push(String(u.uri)));
  expect(sub.ok).toBe(true);
  expect(textOf(await c.call('o', 'touch', { uri: 'ops://public' }))).toContain('touched');
  await until(() => updates.length === 1, 'the first update');

  // The server's config changes: a new process on a new handle; the subscription follows it.
  const old = host.get('o')!;
  expect(await host.apply({ mcpServers: { o: server('2') } })).toMatchObject({ changed: ['o'], errors: [] });
  expect(host.get('o')).not.toBe(old);
  // Re-made on the new handle once it runs (the gateway does it on its own).
  await until(() => (host!.get('o') as unknown as { resourceListeners: Map<string, unknown> }).resourceListeners.has('ops://public'), 'the subscription on the new handle');
  expect(textOf(await c.call('o', 'touch', { uri: 'ops://public' }))).toContain('touched');
  await until(() => updates.length === 2, 'an update from the new process');
  expect(updates).toEqual(['ops://public', 'ops://public']);

  // Removed: the old entry is gone, so unsubscribing succeeds and a server of that name added
  // later starts with no stale subscription.
  await host.apply({ mcpServers: {} });
  if (sub.ok) await sub.data();
}, 60_000);
