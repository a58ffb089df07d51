/**
 * The demo Python server (examples/python-server): its own self-test (selftest.py: every tool and
 * method over real stdio, including the searches a newcomer tries first), and the bridge's typed
 * MCP API against it — resources, templates, subscriptions, prompts, completion, log level, roots,
 * and elicitation and sampling answered by handlers.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpcError } from '../../src/core/errors.js';
import type { LogMessage } from '../../src/core/mcp-types.js';
import { McpBridge, type ResourceUpdate } from '../../src/node/mcp-bridge.js';

const selftest = fileURLToPath(new URL('../../examples/python-server/selftest.py', import.meta.url));
const serverPy = fileURLToPath(new URL('../../examples/python-server/server.py', import.meta.url));
const documents = fileURLToPath(new URL('../../examples/python-server/documents', import.meta.url));

describe('demo Python server', () => {
  it('passes its self-test', async () => {
    const run = await promisify(execFile)('python3', [selftest], { timeout: 25_000 }).catch((e: { stdout?: string; stderr?: string }) => e);
    expect(run.stdout).toContain('all passed');
  });
});

/** Resolves with the first value `subscribe` delivers (event-driven: no polling, no sleeps). */
function next<T>(subscribe: (deliver: (value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve) => subscribe(resolve));
}

describe('demo Python server through the typed McpBridge API', () => {
  let bridge: McpBridge;
  const logs: LogMessage[] = [];
  const asked: Array<{ method: string; params: unknown }> = [];

  beforeAll(async () => {
    bridge = new McpBridge('demo', {
      command: 'python3',
      args: [serverPy],
      roots: [{ uri: pathToFileURL(documents).href, name: 'documents' }],
      process: { healthCheckIntervalMs: 0 },
    });
    bridge.setRequestHandler('sampling/createMessage', (params) => {
      asked.push({ method: 'sampling/createMessage', params });
      return { role: 'assistant', model: 'stand-in', content: { type: 'text', text: 'The crypt breathes out cold air.' } };
    });
    // No class in the answer: the bridge fills in the schema's default ("fighter").
    bridge.setRequestHandler('elicitation/create', (params) => {
      asked.push({ method: 'elicitation/create', params });
      return { action: 'accept', content: { name: 'Ada' } };
    });
    bridge.on('log', (m) => logs.push(m));
    await bridge.start();
  });
  afterAll(() => bridge?.stop());

  it('is a legacy-era server declaring resources, prompts, completions and logging', () => {
    expect(bridge.snapshot()).toMatchObject({
      era: 'legacy',
      protocolVersion: '2025-11-25',
      serverInfo: { name: 'tabletop-assistant' },
      capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true }, prompts: { listChanged: true }, completions: {}, logging: {} },
    });
  });

  it('lists and reads resources: markdown documents, a PNG blob, and rules through the template', async () => {
    const resources = await bridge.listResources();
    expect(resources.map((r) => r.uri)).toEqual(['demo://documents/adventure.md', 'demo://documents/house-rules.md', 'demo://images/dungeon-map.png']);
    expect(resources[2]).toMatchObject({ name: 'dungeon-map.png', mimeType: 'image/png' });
    const [doc] = (await bridge.readResource('demo://documents/house-rules.md')).contents;
    expect(doc).toMatchObject({ uri: 'demo://documents/house-rules.md', mimeType: 'text/markdown' });
    expect(doc?.text).toMatch(/^# /);
    const [image] = (await bridge.readResource('demo://images/dungeon-map.png')).contents;
    expect(Buffer.from(image?.blob ?? '', 'base64').subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect((await bridge.listResourceTemplates()).map((t) => t.uriTemplate)).toEqual(['demo://rules/{topic}']);
    expect((await bridge.readResource('demo://rules/death-saves')).contents[0]?.text).toMatch(/^# Death Saving Throws/);
    const missing = await bridge.readResource('demo://rules/nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(IpcError);
    expect(missing).toMatchObject({ code: 'ServerError', rpcCode: -32002, data: { uri: 'demo://rules/nope' } });
  });

  it('completes template variables and prompt arguments from the corpus', async () => {
    const topics = await bridge.complete({ type: 'ref/resource', uri: 'demo://rules/{topic}' }, { name: 'topic', value: 'de' });
    expect(topics.completion.values).toEqual(['death-saves']);
    const styles = await bridge.complete({ type: 'ref/prompt', name: 'explain_rule' }, { name: 'style', value: 'd' }, { arguments: { topic: 'grappling' } });
    expect(styles.completion).toEqual({ values: ['detailed'], total: 1, hasMore: false });
  });

  it('lists and gets prompts with their arguments, the entry embedded as a resource', async () => {
    const prompts = await bridge.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(['explain_rule', 'summarize_document']);
    expect(prompts[0]?.arguments?.map((a) => [a.name, a.required ?? false])).toEqual([['topic', true], ['style', false]]);
    const prompt = await bridge.getPrompt('explain_rule', { topic: 'grappling', style: 'detailed' });
    expect(prompt.messages[0]?.content).toMatchObject({ type: 'text', text: expect.stringContaining('in detail') });
    expect(prompt.messages[1]?.content).toMatchObject({ type: 'resource', resource: { uri: 'demo://rules/grappling', mimeType: 'text/markdown' } });
    await expect(bridge.getPrompt('explain_rule', {})).rejects.toMatchObject({ code: 'InvalidParams' });
  });

  it('delivers resource updates to a subscriber until it unsubscribes, and refetches the list after list_changed', async () => {
    const before = await bridge.listResources();
    const updates: ResourceUpdate[] = [];
    const unsubscribe = await bridge.subscribeResource('demo://documents/adventure.md', (u) => updates.push(u));
    const listChanged = next<unknown>((deliver) => {
      const off = bridge.ipc.onNotification('notifications/resources/list_changed', (p) => {
        off();
        deliver(p);
      });
    });
    await bridge.call('add_note', { document: 'adventure.md', text: 'The lantern is cursed.' });
    // The server sends the update before its response, and messages are handled in order.
    expect(updates.map((u) => u.uri)).toEqual(['demo://documents/adventure.md']);
    await listChanged;
    expect((await bridge.listResources()).map((r) => r.uri)).toEqual([...before.map((r) => r.uri), 'demo://notes']);
    expect((await bridge.readResource('demo://documents/adventure.md')).contents[0]?.text).toMatch(/## Notes\n\n- The lantern is cursed\.\n$/);
    await unsubscribe();
    await bridge.call('add_note', { document: 'adventure.md', text: 'Unseen.' });
    expect(updates).toHaveLength(1);
  });

  it('sets the log level (logging/setLevel): notifications/message arrive on `log` and in the history', async () => {
    await bridge.setLogLevel('debug');
    logs.length = 0;
    await bridge.call('process_document', { file_path: 'house-rules.md', delay_ms: 0 });
    expect(logs.map((m) => m.level)).toEqual([...Array<string>(10).fill('debug'), 'info']);
    expect(logs.at(-1)).toMatchObject({ server: 'demo', logger: 'process_document', data: expect.stringMatching(/^Processed house-rules\.md: \d+ words/) });
    expect(bridge.history().some((e) => e.type === 'log' && e.message.startsWith('[process_document] Processed house-rules.md'))).toBe(true);
    await bridge.setLogLevel('warning');
    logs.length = 0;
    await bridge.call('process_document', { file_path: 'house-rules.md', delay_ms: 0 });
    expect(logs).toEqual([]);
  });

  it('answers roots/list from the configured roots, and again after setRoots (roots/list_changed)', async () => {
    const first = await bridge.call('list_roots');
    expect(first.structuredContent).toEqual({ roots: [{ uri: pathToFileURL(documents).href, name: 'documents', exists: true, files: 2 }] });
    await bridge.setRoots([{ uri: 'file:///no/such/folder', name: 'gone' }]);
    const second = await bridge.call('list_roots');
    expect(second.structuredContent).toEqual({ roots: [{ uri: 'file:///no/such/folder', name: 'gone', exists: false }] });
  });

  it('answers elicitation (form mode, schema defaults filled in) and sampling through the handlers', async () => {
    asked.length = 0;
    const hero = await bridge.call('roll_character');
    expect(hero.structuredContent).toMatchObject({ name: 'Ada', class: 'fighter' });
    expect(hero.content[0]?.text).toMatch(/^Ada the fighter: STR \d+, DEX \d+, CON \d+, INT \d+, WIS \d+, CHA \d+$/);
    expect(asked[0]).toMatchObject({ method: 'elicitation/create', params: { mode: 'form', requestedSchema: { type: 'object', required: ['name'] } } });
    const scene = await bridge.call('narrate', { scene: 'the party opens the crypt' });
    expect(scene.content[0]?.text).toBe('The crypt breathes out cold air.');
    expect(asked[1]).toMatchObject({ method: 'sampling/createMessage', params: { maxTokens: 200, messages: [{ role: 'user', content: { type: 'text' } }] } });
  });

  it('re-subscribes after a restart', async () => {
    const updates: string[] = [];
    const unsubscribe = await bridge.subscribeResource('demo://documents/house-rules.md', (u) => updates.push(u.uri));
    await bridge.restart('test');
    await bridge.call('add_note', { document: 'house-rules.md', text: 'After the restart.' });
    expect(updates).toEqual(['demo://documents/house-rules.md']);
    await unsubscribe();
  });
});

describe('demo Python server with a client that declares no roots, sampling or elicitation', () => {
  it('says so in the tool result instead of asking', async () => {
    const bridge = new McpBridge('bare', { command: 'python3', args: [serverPy], process: { healthCheckIntervalMs: 0 } });
    try {
      await bridge.start();
      for (const [tool, capability] of [['list_roots', 'roots'], ['roll_character', 'elicitation'], ['narrate', 'sampling']] as const) {
        const result = await bridge.call(tool, tool === 'narrate' ? { scene: 'x' } : {});
        expect(result.isError, tool).toBe(true);
        expect(result.content[0]?.text).toContain(`did not declare the '${capability}' capability`);
      }
    } finally {
      await bridge.stop();
    }
  });
});
