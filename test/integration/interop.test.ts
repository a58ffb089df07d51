/**
 * Interop: McpBridge against real third-party MCP servers over real stdio.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, InvalidParamsError, QueueFullError } from '../../src/core/errors.js';
import { McpBridge } from '../../src/node/mcp-bridge.js';

const modules = resolve(import.meta.dirname, '../../node_modules/@modelcontextprotocol');
const fast = { healthCheckIntervalMs: 500, restartDelayMs: 50 };

describe('server-everything', () => {
  let bridge: McpBridge;
  beforeAll(async () => {
    bridge = new McpBridge('everything', {
      command: process.execPath,
      args: [join(modules, 'server-everything/dist/index.js'), 'stdio'],
      roots: [{ uri: 'file:///tmp/project', name: 'project' }],
      capabilities: { sampling: {} },
      process: fast,
    });
    bridge.setRequestHandler('sampling/createMessage', (params) => ({
      role: 'assistant',
      model: 'test-model',
      content: { type: 'text', text: `sampled: ${JSON.stringify((params as { messages: unknown[] }).messages.length)} message(s)` },
    }));
    await bridge.start();
  });
  afterAll(() => bridge?.stop());

  it('completes the handshake and lists tools', async () => {
    expect(bridge.state).toBe('running');
    expect(bridge.server.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(bridge.server.info?.name).toBeTruthy();
    const names = (await bridge.listTools()).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation']));
  });

  it('calls echo and get-sum', async () => {
    const echo = await bridge.call('echo', { message: 'héllo 🌍' });
    expect(echo.content[0]).toEqual({ type: 'text', text: 'Echo: héllo 🌍' });
    const sum = await bridge.call('get-sum', { a: 2, b: 40 });
    expect(JSON.stringify(sum.content)).toContain('42');
  });

  it('checks arguments against the tool schema before sending', async () => {
    await expect(bridge.call('echo', { message: 42 })).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(bridge.call('no-such-tool', {})).rejects.toThrow(/Unknown tool "no-such-tool"/);
  });

  it('routes progress from the long-running operation', async () => {
    const progress: number[] = [];
    const result = await bridge.call('trigger-long-running-operation', { duration: 0.5, steps: 5 }, { onProgress: (p) => progress.push(p.progress) });
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(result.content[0]?.text).toContain('completed');
  });

  it('cancels a long-running operation', async () => {
    const controller = new AbortController();
    const call = bridge.call('trigger-long-running-operation', { duration: 30, steps: 30 }, { signal: controller.signal, onProgress: () => controller.abort('enough') });
    await expect(call).rejects.toBeInstanceOf(CancelledError);
    // the server keeps working fine afterwards
    await expect(bridge.call('echo', { message: 'still here' })).resolves.toBeTruthy();
  });

  it('answers the server’s own requests (roots/list, sampling/createMessage)', async () => {
    const roots = await bridge.call('get-roots-list', {});
    expect(JSON.stringify(roots)).toContain('file:///tmp/project');
    const sampled = await bridge.call('trigger-sampling-request', { prompt: 'hi', maxTokens: 5 });
    expect(JSON.stringify(sampled)).toContain('sampled: 1 message(s)');
  });

  it('reads resources through raw JSON-RPC requests', async () => {
    const list = await bridge.request<{ resources: Array<{ uri: string }> }>('resources/list');
    expect(list.resources.length).toBeGreaterThan(0);
    const first = list.resources[0]!;
    const read = await bridge.request<{ contents: Array<{ uri: string }> }>('resources/read', { uri: first.uri });
    expect(read.contents[0]?.uri).toBe(first.uri);
  });

  it('runs 200 concurrent calls: 110 fit (10 in flight + 100 queued), the rest fail at once with QueueFull', async () => {
    const settled = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => bridge.call('echo', { message: `m${i}` }, { priority: i % 3 === 0 ? 'high' : 'normal' })),
    );
    const ok = settled.flatMap((r, i) => (r.status === 'fulfilled' ? [[i, r.value] as const] : []));
    const rejected = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(ok).toHaveLength(110);
    for (const [i, r] of ok) expect(r.content[0]?.text).toBe(`Echo: m${i}`);
    expect(rejected).toHaveLength(90);
    for (const e of rejected) expect(e).toBeInstanceOf(QueueFullError);
    expect(bridge.snapshot().metrics.queueDepth).toBe(0);
  });
});

describe('server-memory', () => {
  let bridge: McpBridge;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-memory-'));
    bridge = new McpBridge('memory', {
      command: process.execPath,
      args: [join(modules, 'server-memory/dist/index.js')],
      env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') },
      process: fast,
    });
    await bridge.start();
  });
  afterAll(async () => {
    await bridge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates entities and reads them back, also after a restart', async () => {
    await bridge.call('create_entities', {
      entities: [{ name: 'Aria', entityType: 'character', observations: ['ranger', 'carries a longbow'] }],
    });
    await bridge.call('create_relations', { relations: [{ from: 'Aria', to: 'Aria', relationType: 'trusts' }] });
    await bridge.restart('test');
    expect(bridge.state).toBe('running');
    const found = await bridge.call('search_nodes', { query: 'longbow' });
    expect(JSON.stringify(found)).toContain('Aria');
    expect(bridge.snapshot().restarts).toBe(1);
  });
});
