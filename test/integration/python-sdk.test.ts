/**
 * Interop with the official Python MCP SDK (MCPServer, a dual-era server) over real stdio: the
 * modern era is chosen when the server answers `server/discover`; with `--legacy-only` (discover
 * answers -32601) the bridge falls back to `initialize`, and the whole surface works in both.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/core/errors.js';
import type { LogMessage } from '../../src/core/mcp-types.js';
import { McpBridge } from '../../src/node/mcp-bridge.js';
import { PYTHON_SDK_ERROR_VARIABLE, PYTHON_SDK_VARIABLE } from '../python-sdk.js';

const fixture = resolve(import.meta.dirname, '../fixtures/py_sdk_server.py');

function python(): string {
  const path = process.env[PYTHON_SDK_VARIABLE];
  if (!path) throw new Error(`The Python MCP SDK is not available: ${process.env[PYTHON_SDK_ERROR_VARIABLE] ?? 'global setup did not run'}`);
  return path;
}

const cases = [
  { era: 'modern', args: [], protocolVersions: undefined },
  { era: 'legacy', args: ['--legacy-only'], protocolVersions: undefined },
] as const;

for (const { era, args, protocolVersions } of cases) {
  describe(`Python SDK server, ${era} era`, () => {
    let bridge: McpBridge;
    const logs: LogMessage[] = [];
    beforeAll(async () => {
      bridge = new McpBridge(`py-${era}`, {
        command: python(),
        args: [fixture, ...args],
        roots: [{ uri: 'file:///tmp/project', name: 'project' }],
        protocolVersions,
        process: { healthCheckIntervalMs: 0 },
      });
      bridge.setRequestHandler('sampling/createMessage', () => ({ role: 'assistant', model: 'test-model', content: { type: 'text', text: 'short' } }));
      bridge.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { name: 'Ada' } }));
      bridge.on('log', (m) => logs.push(m));
      await bridge.start();
    });
    afterAll(() => bridge?.stop());

    it(`speaks the ${era} era`, () => {
      expect(bridge.snapshot()).toMatchObject({
        era,
        protocolVersion: era === 'modern' ? '2026-07-28' : '2025-11-25',
        serverInfo: { name: 'py-fixture', version: '2.3.0-fixture' },
        capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} },
      });
      expect(bridge.server.instructions).toBe('A test fixture.');
    });

    it('calls a tool with structured output, checked against its outputSchema', async () => {
      const tools = await bridge.listTools();
      expect(tools.find((t) => t.name === 'weather')?.outputSchema).toBeDefined();
      const result = await bridge.call('weather', { city: 'Oslo' });
      expect(result.structuredContent).toEqual({ city: 'Oslo', celsius: 21.5 });
    });

    it('lists and reads resources and templates', async () => {
      expect((await bridge.listResources()).map((r) => r.uri)).toEqual(['fixture://readme']);
      expect((await bridge.listResourceTemplates()).map((t) => t.uriTemplate)).toEqual(['fixture://items/{item_id}']);
      expect((await bridge.readResource('fixture://readme')).contents[0]).toMatchObject({ uri: 'fixture://readme', text: 'read me' });
      expect((await bridge.readResource('fixture://items/7')).contents[0]?.text).toBe('item 7');
    });

    it('lists and gets prompts, and completes their arguments', async () => {
      expect((await bridge.listPrompts()).map((p) => p.name)).toEqual(['greet']);
      const prompt = await bridge.getPrompt('greet', { name: 'Ada', style: 'pirate' });
      expect(prompt.messages[0]?.content).toMatchObject({ type: 'text', text: 'Greet Ada in a pirate style.' });
      const completion = await bridge.complete({ type: 'ref/prompt', name: 'greet' }, { name: 'style', value: 'p' }, { arguments: { name: 'Ada' } });
      expect(completion.completion.values).toEqual(['plain', 'pirate', 'poem']);
    });

    it('delivers resource updates to a subscriber until it unsubscribes', async () => {
      const updates: string[] = [];
      let seen!: () => void;
      const first = new Promise<void>((r) => (seen = r));
      const unsubscribe = await bridge.subscribeResource('fixture://readme', (u) => {
        updates.push(u.uri);
        seen();
      });
      expect(bridge.snapshot().metrics.inFlight).toBe(0); // an open subscription stream is not load
      await bridge.call('touch', { uri: 'fixture://readme' });
      await first;
      expect(updates).toEqual(['fixture://readme']);
      await unsubscribe();
    });

    it('refetches the resource list after resources/list_changed (modern: on the subscriptions/listen stream)', async () => {
      const before = await bridge.listResources();
      let changed!: () => void;
      const notified = new Promise<void>((r) => (changed = r));
      const off = bridge.ipc.onNotification('notifications/resources/list_changed', () => changed());
      await bridge.call('add_note', { name: `n-${era}` });
      await notified;
      off();
      const after = await bridge.listResources();
      expect(after.map((r) => r.uri)).toEqual([...before.map((r) => r.uri), `fixture://notes/n-${era}`]);
    });

    it('turns notifications/message into log events and history entries', async () => {
      await bridge.setLogLevel('debug');
      await bridge.call('log_something');
      expect(logs).toEqual(
        expect.arrayContaining([
          { server: `py-${era}`, level: 'debug', logger: 'fixture', data: 'a debug line' },
          { server: `py-${era}`, level: 'warning', logger: 'fixture', data: { disk: 'almost full' } },
        ]),
      );
      expect(bridge.history().filter((e) => e.type === 'log' && e.message.includes('almost full'))).toHaveLength(1);
    });

    it('streams a call through the session: envelope, input rounds and structured output as for call()', async () => {
      const plain = bridge.callStreaming('weather', { city: 'Lima' });
      const chunks: string[] = [];
      for await (const chunk of plain.chunks) chunks.push(chunk.data);
      await expect(plain.result).resolves.toMatchObject({ structuredContent: { city: 'Lima', celsius: 21.5 } });
      // ask_name needs an elicitation (a modern input_required round, or a legacy elicitation/create).
      await expect(bridge.callStreaming('ask_name').result).resolves.toMatchObject({ content: [{ type: 'text', text: 'hello Ada' }] });
    });

    it('routes progress, and cancels', async () => {
      const progress: number[] = [];
      await bridge.call('slow', { steps: 3 }, { onProgress: (p) => progress.push(p.progress) });
      expect(progress).toEqual([1, 2, 3]);
      const controller = new AbortController();
      const call = bridge.call('slow', { steps: 200 }, { signal: controller.signal, onProgress: () => controller.abort('enough') });
      await expect(call).rejects.toBeInstanceOf(CancelledError);
      await expect(bridge.call('weather', { city: 'Rome' })).resolves.toMatchObject({ structuredContent: { city: 'Rome' } });
    });

    it('re-establishes resource subscriptions after a restart', async () => {
      const updates: string[] = [];
      let seen!: () => void;
      let next = new Promise<void>((r) => (seen = r));
      const unsubscribe = await bridge.subscribeResource('fixture://readme', (u) => {
        updates.push(u.uri);
        seen();
      });
      await bridge.restart('test');
      await bridge.listTools();
      next = new Promise<void>((r) => (seen = r));
      await bridge.call('touch', { uri: 'fixture://readme' });
      await next;
      expect(updates).toEqual(['fixture://readme']);
      expect(bridge.snapshot()).toMatchObject({ era, restarts: 1 });
      await unsubscribe();
    });

    it('answers sampling, elicitation (schema defaults applied) and roots through the handlers', async () => {
      expect((await bridge.call('summarize', { text: 'a long text' })).content[0]?.text).toBe('model said: short');
      expect((await bridge.call('ask_name')).content[0]?.text).toBe('hello Ada');
      expect((await bridge.call('count_roots')).content[0]?.text).toBe('file:///tmp/project');
    });
  });
}

describe('Python SDK server with only legacy versions enabled on our side', () => {
  it('uses initialize without probing, although the server speaks both eras', async () => {
    const bridge = new McpBridge('py-legacy-offer', {
      command: python(),
      args: [fixture],
      protocolVersions: ['2025-11-25', '2025-06-18'],
      process: { healthCheckIntervalMs: 0 },
    });
    try {
      await bridge.start();
      expect(bridge.snapshot()).toMatchObject({ era: 'legacy', protocolVersion: '2025-11-25' });
      expect((await bridge.call('weather', { city: 'Oslo' })).structuredContent).toEqual({ city: 'Oslo', celsius: 21.5 });
    } finally {
      await bridge.stop();
    }
  });
});
