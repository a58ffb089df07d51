/**
 * The whole surface against server-everything (the reference server, legacy era over stdio):
 * every tool it offers — tasks (`simulate-research-query`), elicitation, sampling, roots —
 * resources with subscription updates, prompts and completion.
 */
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/core/errors.js';
import type { TaskInfo } from '../../src/core/mcp-tasks.js';
import { McpBridge } from '../../src/node/mcp-bridge.js';

const modules = resolve(import.meta.dirname, '../../node_modules/@modelcontextprotocol');

describe('server-everything: the whole client surface', () => {
  let bridge: McpBridge;
  const elicitations: Array<{ mode?: string; message?: string }> = [];
  beforeAll(async () => {
    bridge = new McpBridge('everything-all', {
      command: process.execPath,
      args: [join(modules, 'server-everything/dist/index.js'), 'stdio'],
      roots: [{ uri: 'file:///tmp/project', name: 'project' }],
      process: { healthCheckIntervalMs: 0 },
    });
    bridge.setRequestHandler('sampling/createMessage', () => ({ role: 'assistant', model: 'test-model', content: { type: 'text', text: 'sampled answer' } }));
    bridge.setRequestHandler('elicitation/create', (params) => {
      const p = params as { mode?: string; message?: string; requestedSchema?: { properties?: Record<string, { oneOf?: Array<{ const: string }> }> } };
      elicitations.push({ mode: p.mode, message: p.message });
      if (p.mode === 'url') return { action: 'accept' };
      const choice = p.requestedSchema?.properties?.interpretation?.oneOf?.[0]?.const;
      return { action: 'accept', content: choice ? { interpretation: choice } : { name: 'Ada', color: 'red', email: 'ada@example.com' } };
    });
    await bridge.start();
  });
  afterAll(() => bridge?.stop());

  it('declares only the capabilities it has handlers for, and the server offers the matching tools', async () => {
    const names = (await bridge.listTools()).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['get-roots-list', 'trigger-elicitation-request', 'trigger-url-elicitation', 'trigger-sampling-request', 'simulate-research-query']));
    // Bidirectional tasks need the client to run tasks itself; mcp-ipc does not declare that.
    expect(names).not.toContain('trigger-sampling-request-async');
  });

  it('calls every tool it offers', async () => {
    const args: Record<string, Record<string, unknown>> = {
      echo: { message: 'hi' },
      'get-annotated-message': { messageType: 'success', includeImage: false },
      'get-resource-links': { count: 2 },
      'get-structured-content': { location: 'Chicago' },
      'get-sum': { a: 1, b: 2 },
      'gzip-file-as-resource': { data: 'data:text/plain;base64,aGVsbG8gd29ybGQ=', outputType: 'resource' },
      'trigger-long-running-operation': { duration: 0.2, steps: 2 },
      'trigger-sampling-request': { prompt: 'Say hi', maxTokens: 10 },
      'trigger-url-elicitation': { url: 'https://example.com/consent' },
      'simulate-research-query': { topic: 'otters' },
    };
    const tools = await bridge.listTools();
    for (const tool of tools) {
      const result = await bridge.call(tool.name, args[tool.name] ?? {});
      expect(result.isError ?? false, `${tool.name}: ${JSON.stringify(result.content).slice(0, 200)}`).toBe(false);
      // toggles are left as found
      if (tool.name.startsWith('toggle-')) await bridge.call(tool.name, {});
    }
  });

  it('checks structured content against the declared outputSchema', async () => {
    const result = await bridge.call('get-structured-content', { location: 'Los Angeles' });
    expect(result.structuredContent).toEqual({ temperature: 73, conditions: 'Sunny / Clear', humidity: 48 });
  });

  it('answers roots, sampling, and form and URL elicitation', async () => {
    expect(JSON.stringify((await bridge.call('get-roots-list')).content)).toContain('file:///tmp/project');
    expect(JSON.stringify((await bridge.call('trigger-sampling-request', { prompt: 'Say hi', maxTokens: 10 })).content)).toContain('sampled answer');
    elicitations.length = 0;
    expect(JSON.stringify((await bridge.call('trigger-elicitation-request')).content)).toContain('Ada');
    await bridge.call('trigger-url-elicitation', { url: 'https://example.com/consent' });
    expect(elicitations.map((e) => e.mode ?? 'form')).toEqual(['form', 'url']);
  });

  it('runs simulate-research-query as a task, with status updates, through an input_required stage', async () => {
    const statuses: TaskInfo['status'][] = [];
    const result = await bridge.call('simulate-research-query', { topic: 'python', ambiguous: true }, { timeoutMs: 1_000, taskOptions: { onStatus: (t) => statuses.push(t.status) } });
    const text = result.content[0]?.text ?? '';
    expect(text).toContain('Research Report');
    expect(text).toContain('Clarification');
    expect(statuses[0]).toBe('working');
    expect(statuses).toContain('input_required');
  });

  it('streams a task-required tool as a task: the result comes whole, no chunks', async () => {
    const request = bridge.callStreaming('simulate-research-query', { topic: 'seals' });
    const chunks: unknown[] = [];
    for await (const chunk of request.chunks) chunks.push(chunk);
    expect((await request.result).content[0]?.text).toContain('Research Report');
    expect(chunks).toEqual([]);
  });

  it('cancels a task (tasks/cancel)', async () => {
    const controller = new AbortController();
    const call = bridge.call('simulate-research-query', { topic: 'otters' }, { signal: controller.signal, taskOptions: { onStatus: () => controller.abort('enough') } });
    await expect(call).rejects.toBeInstanceOf(CancelledError);
  });

  it('lists and reads resources and templates, and delivers subscription updates', async () => {
    const resources = await bridge.listResources();
    expect(resources.length).toBeGreaterThan(0);
    expect((await bridge.listResourceTemplates()).length).toBeGreaterThan(0);
    const uri = resources[0]!.uri;
    expect((await bridge.readResource(uri)).contents[0]?.uri).toBe(uri);
    let updated!: (uri: string) => void;
    const update = new Promise<string>((r) => (updated = r));
    const unsubscribe = await bridge.subscribeResource(uri, (u) => updated(u.uri));
    await bridge.call('toggle-subscriber-updates'); // sends one update at once, then every 5 s
    expect(await update).toBe(uri);
    await bridge.call('toggle-subscriber-updates');
    await unsubscribe();
  });

  it('gets prompts and completes their arguments (with context)', async () => {
    const prompts = (await bridge.listPrompts()).map((p) => p.name);
    expect(prompts).toEqual(expect.arrayContaining(['completable-prompt']));
    const completion = await bridge.complete({ type: 'ref/prompt', name: 'completable-prompt' }, { name: 'name', value: '' }, { arguments: { department: 'Sales' } });
    expect(completion.completion.values).toEqual(['David', 'Eve', 'Frank']);
    const prompt = await bridge.getPrompt('completable-prompt', { department: 'Sales', name: 'Eve' });
    expect(JSON.stringify(prompt.messages)).toContain('Eve');
  });
});
