/**
 * McpBridge against a scripted server (test/fixtures/fake-mcp.mjs) for what real servers do not
 * exercise: pagination, list_changed races, outputSchema violations, unsupported versions,
 * input_required rounds — in both eras.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CancelledError, OutputSchemaMismatchError, ProtocolError, TimeoutError } from '../../src/core/errors.js';
import type { ServerEvent } from '../../src/core/gateway-protocol.js';
import { McpBridge, type ResourceUpdate } from '../../src/node/mcp-bridge.js';

const script = resolve(import.meta.dirname, '../fixtures/fake-mcp.mjs');
const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-fake-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bridges: McpBridge[] = [];
afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.stop()));
});

let logs = 0;
function fake(era: string, extra: Partial<ConstructorParameters<typeof McpBridge>[1]> = {}) {
  const log = join(dir, `requests-${logs++}.jsonl`);
  const bridge = new McpBridge(`fake-${era}`, {
    command: process.execPath,
    args: [script, '--era', era],
    env: { FAKE_MCP_LOG: log },
    process: { autoRestart: false, healthCheckIntervalMs: 0 },
    ...extra,
  });
  bridges.push(bridge);
  const requests = () =>
    readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id?: number; method: string; params?: Record<string, unknown> });
  return { bridge, requests };
}

for (const era of ['modern', 'legacy'] as const) {
  describe(`fake server, ${era} era`, () => {
    it('settles the era and puts it on the snapshot', async () => {
      const { bridge, requests } = fake(era);
      await bridge.start();
      expect(bridge.snapshot()).toMatchObject({ era, protocolVersion: era === 'modern' ? '2026-07-28' : '2025-11-25', serverInfo: { name: 'fake' }, capabilities: { tools: { listChanged: true } } });
      await bridge.listTools(); // a later request: everything before it has reached the server's log
      const methods = requests().map((r) => r.method);
      if (era === 'modern') expect(methods).not.toContain('initialize');
      else expect(methods.slice(0, 3)).toEqual(['server/discover', 'initialize', 'notifications/initialized']);
    });

    it('passes call _meta through beside its own keys; setRoots announces roots/list_changed (legacy)', async () => {
      const { bridge, requests } = fake(era);
      await bridge.start();
      await bridge.call('good', {}, { _meta: { traceparent: '00-abc-def-01' } });
      await bridge.setRoots([{ uri: 'file:///new' }]);
      await bridge.listPrompts(); // a later request: everything before it has reached the server's log
      const call = requests().find((r) => r.method === 'tools/call')!;
      expect(call.params!._meta).toMatchObject({ traceparent: '00-abc-def-01' });
      if (era === 'modern') expect(call.params!._meta).toMatchObject({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28' });
      expect(requests().some((r) => r.method === 'notifications/roots/list_changed')).toBe(era === 'legacy');
    });

    it('follows nextCursor through every page of every list', async () => {
      const { bridge } = fake(era);
      await bridge.start();
      expect((await bridge.listTools()).map((t) => t.name).slice(0, 5)).toEqual(['good', 'bad', 'missing', 'ask', 'race']);
      expect((await bridge.listResources()).map((r) => r.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(await bridge.listResourceTemplates()).toEqual([{ uriTemplate: 'fake://t/{id}', name: 't' }]);
      expect((await bridge.listPrompts()).map((p) => p.name)).toEqual(['p1', 'p2', 'p3']);
    });

    it('does not cache a tools/list answer that raced a list_changed', async () => {
      const { bridge } = fake(era);
      await bridge.start();
      await bridge.listTools();
      await bridge.call('race');
      // This fetch's last page was built before the change, and list_changed arrives while it is in flight.
      await bridge.listTools({ refresh: true });
      expect((await bridge.listTools()).map((t) => t.name)).toContain('extra');
    });

    it('checks structuredContent against the outputSchema ($ref resolved)', async () => {
      const { bridge } = fake(era);
      await bridge.start();
      await expect(bridge.call('good')).resolves.toMatchObject({ structuredContent: { point: { x: 1 } } });
      const bad = await bridge.call('bad').catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(OutputSchemaMismatchError);
      expect((bad as OutputSchemaMismatchError).data).toMatchObject({ tool: 'bad', result: { structuredContent: { x: 'not a number' } }, errors: [{ instancePath: '/x' }] });
      await expect(bridge.call('missing')).rejects.toBeInstanceOf(OutputSchemaMismatchError);
      await expect(bridge.call('bad', {}, { validate: false })).resolves.toMatchObject({ structuredContent: { x: 'not a number' } });
    });

    it('answers elicitation through the registered handler, with schema defaults applied', async () => {
      const { bridge, requests } = fake(era);
      bridge.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { name: 'Ada' } }));
      await bridge.start();
      const result = await bridge.call('ask');
      expect(result.content[0]?.text).toBe('hello Ada (en)');
      if (era === 'modern') {
        const calls = requests().filter((r) => r.method === 'tools/call' && (r.params as { name: string }).name === 'ask');
        expect(calls).toHaveLength(2);
        expect(calls[1]!.params).toMatchObject({ inputResponses: { name: { action: 'accept', content: { name: 'Ada', lang: 'en' } } }, requestState: 'round-1' });
        expect(calls[1]!.id).not.toBe(calls[0]!.id);
        expect((calls[0]!.params!._meta as Record<string, unknown>)['io.modelcontextprotocol/clientCapabilities']).toMatchObject({ elicitation: { form: {} } });
      }
    });
  });
}

/** Resolves with the first history event (past or future) whose message matches. */
function eventMatching(bridge: McpBridge, pattern: RegExp): Promise<ServerEvent> {
  const past = bridge.history().find((e) => pattern.test(e.message));
  if (past) return Promise.resolve(past);
  return new Promise((resolve) => {
    const off = bridge.on('event', (e) => {
      if (!pattern.test(e.message)) return;
      off();
      resolve(e);
    });
  });
}

/** Resource updates as they come, awaited one by one. */
function updatesOf(): { listener: (u: ResourceUpdate) => void; next: () => Promise<ResourceUpdate> } {
  const queued: ResourceUpdate[] = [];
  let wake: (() => void) | undefined;
  return {
    listener: (u) => {
      queued.push(u);
      wake?.();
    },
    next: async () => {
      while (queued.length === 0) await new Promise<void>((r) => (wake = r));
      return queued.shift()!;
    },
  };
}

describe('fake server: the modern change stream (subscriptions/listen)', () => {
  const why = { end: 'was closed by the server', cancel: 'was cancelled by the server', fail: 'failed' };
  for (const action of ['end', 'cancel', 'fail'] as const) {
    it(`reopens a stream the server ${action === 'end' ? 'closes gracefully' : action === 'cancel' ? 'cancels (notifications/cancelled)' : 'fails after the ack'}, and updates flow again`, async () => {
      const { bridge, requests } = fake('modern');
      await bridge.start();
      const updates = updatesOf();
      await bridge.subscribeResource('fake://a', updates.listener);
      await bridge.call('listen', { do: 'touch', uri: 'fake://a' });
      expect((await updates.next()).uri).toBe('fake://a');
      const reopened = eventMatching(bridge, /^Change stream \(subscriptions\/listen\) reopened$/);
      await bridge.call('listen', { do: action });
      await reopened;
      const ended = bridge.history().find((e) => e.message.includes(why[action]))!;
      expect(ended).toMatchObject({ level: 'warn' });
      expect(ended.message).toMatch(/reopening in \d+ ms \(attempt 1 of 5\)$/);
      await bridge.call('listen', { do: 'touch', uri: 'fake://a' });
      expect((await updates.next()).uri).toBe('fake://a');
      const listens = requests().filter((r) => r.method === 'subscriptions/listen');
      expect(listens.at(-1)!.params!.notifications).toMatchObject({ resourceSubscriptions: ['fake://a'] });
    });
  }

  it('waits for the ack naming its own stream: a late ack of a cancelled stream does not count', async () => {
    const { bridge } = fake('modern');
    await bridge.start();
    const acks: unknown[] = [];
    bridge.ipc.onNotification('notifications/subscriptions/acknowledged', (p) => acks.push((p as { _meta: Record<string, unknown> })._meta['io.modelcontextprotocol/subscriptionId']));
    await bridge.call('listen', { do: 'hold' });
    const first = bridge.subscribeResource('fake://a', () => undefined); // a stream whose ack is held back
    const second = bridge.subscribeResource('fake://b', () => undefined); // cancels it, opens another
    await first;
    let settled = false;
    void second.then(() => (settled = true));
    // The server sends the cancelled stream's ack now (before answering this call, on the same pipe).
    await bridge.call('listen', { do: 'release-stale' });
    await new Promise((r) => setTimeout(r, 20));
    expect(acks).toHaveLength(1);
    expect(settled).toBe(false);
    await bridge.call('listen', { do: 'release' });
    await second;
    expect(acks).toHaveLength(2);
    expect(acks[1]).not.toEqual(acks[0]);
  });
});

describe('fake server: modern tasks extension', () => {
  it('follows a task through input_required (tasks/update) to its result, with progress after the call returned', async () => {
    const { bridge, requests } = fake('modern');
    bridge.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { ok: true } }));
    await bridge.start();
    const statuses: string[] = [];
    const progress: number[] = [];
    const result = await bridge.call('long', {}, { timeoutMs: 5_000, onProgress: (p) => progress.push(p.progress), taskOptions: { onStatus: (t) => statuses.push(t.status) } });
    expect(result.content[0]?.text).toBe('finished: {"ok":true}');
    expect(statuses).toEqual(['working', 'working', 'input_required', 'completed']);
    expect(progress).toEqual([1]);
    const updates = requests().filter((r) => r.method === 'tasks/update');
    expect(updates).toHaveLength(1); // each input key answered once
    const meta = requests().find((r) => r.method === 'tools/call')!.params!._meta as Record<string, unknown>;
    expect(meta['io.modelcontextprotocol/clientCapabilities']).toMatchObject({ extensions: { 'io.modelcontextprotocol/tasks': {} } });
  });

  it('cancels a task with tasks/cancel when the caller aborts', async () => {
    const { bridge, requests } = fake('modern');
    await bridge.start();
    const controller = new AbortController();
    const call = bridge.call('stuck', {}, { signal: controller.signal, taskOptions: { onStatus: () => controller.abort('enough') } });
    await expect(call).rejects.toBeInstanceOf(CancelledError);
    expect(requests().filter((r) => r.method === 'tasks/cancel')).toHaveLength(1);
  });

  it('fails with the server error of a failed task, and times out at the task deadline', async () => {
    const { bridge, requests } = fake('modern');
    await bridge.start();
    await expect(bridge.call('broken')).rejects.toMatchObject({ code: 'ServerError', rpcCode: -32000, message: 'exploded' });
    await expect(bridge.call('stuck', {}, { taskOptions: { taskTimeoutMs: 100 } })).rejects.toBeInstanceOf(TimeoutError);
    expect(requests().filter((r) => r.method === 'tasks/cancel')).toHaveLength(1);
  });
});

describe('fake server: version negotiation', () => {
  // The typed UnsupportedProtocolVersionError itself is checked in test/unit/mcp-session.test.ts;
  // here: the start fails at once, saying which versions the server named.
  it('fails at once when a modern-only server shares no version', async () => {
    const { bridge } = fake('modern-only');
    const error = await bridge.start().catch((e: unknown) => e);
    expect(String(error)).toMatch(/protocol version.*2099-01-01/i);
    expect(bridge.state).toBe('failed');
  });

  it('fails at once when initialize answers an unknown version', async () => {
    const { bridge } = fake('legacy-bad');
    const error = await bridge.start().catch((e: unknown) => e);
    expect(String(error)).toMatch(/protocol version.*1999-01-01/i);
  });

  it('skips the probe when only legacy versions are enabled', async () => {
    const { bridge, requests } = fake('legacy', { protocolVersions: ['2025-11-25', '2025-06-18'] });
    await bridge.start();
    expect(requests()[0]!.method).toBe('initialize');
  });

  it('refuses an input_required round for which no handler is registered', async () => {
    const { bridge } = fake('modern');
    await bridge.start();
    await expect(bridge.call('ask')).rejects.toBeInstanceOf(ProtocolError);
  });
});
