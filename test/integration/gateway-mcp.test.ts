/**
 * The whole MCP surface through the gateway, from McpIpcClient over a real WebSocket, against
 * real servers: the Python SDK fixture in both eras and server-everything. Resources and their
 * subscription updates, prompts and completion, elicitation / sampling / roots answered by the
 * client's handlers (routed to the calling connection, -32601 when nobody answers, nothing left
 * waiting when the answering browser goes), logs forwarded, a task followed to completion, and a
 * streamed `[text, image, text]` result that keeps its order.
 */
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { McpIpcClient } from '../../src/client/index.js';
import type { ServerRequestHandler } from '../../src/client/index.js';
import { type Gateway, startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';
import { PYTHON_SDK_ERROR_VARIABLE, PYTHON_SDK_VARIABLE } from '../python-sdk.js';

const fixture = resolve(import.meta.dirname, '../fixtures/py_sdk_server.py');
const everything = join(resolve(import.meta.dirname, '../../node_modules/@modelcontextprotocol'), 'server-everything/dist/index.js');

function python(): string {
  const path = process.env[PYTHON_SDK_VARIABLE];
  if (!path) throw new Error(`The Python MCP SDK is not available: ${process.env[PYTHON_SDK_ERROR_VARIABLE] ?? 'global setup did not run'}`);
  return path;
}

let host: McpHost;
let gateway: Gateway;
const clients: McpIpcClient[] = [];

async function client(): Promise<McpIpcClient> {
  const c = new McpIpcClient({ url: gateway.wsUrl, WebSocket, reconnect: false, timeoutMs: 20_000 });
  clients.push(c);
  const r = await c.connect();
  expect(r.ok).toBe(true);
  return c;
}

const textOf = (r: { ok: boolean; data?: { content: Array<{ text?: string }> } }) => r.data?.content.map((c) => c.text ?? '').join('');

beforeAll(async () => {
  host = new McpHost({
    mcpServers: {
      'py-modern': { command: python(), args: [fixture], process: { healthCheckIntervalMs: 0 } },
      'py-legacy': { command: python(), args: [fixture, '--legacy-only'], process: { healthCheckIntervalMs: 0 } },
      everything: { command: process.execPath, args: [everything, 'stdio'], process: { healthCheckIntervalMs: 0 } },
    },
  });
  // The gateway first: legacy servers learn the client's capabilities (sampling, elicitation, roots) in `initialize`.
  gateway = await startGateway({ host, port: 0, heartbeatMs: 0, serverRequestTimeoutMs: 30_000 });
  await host.startAll();
  for (const b of host.list()) expect(b.state, b.name).toBe('running');
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await gateway?.close();
  await host?.stopAll();
});

for (const server of ['py-modern', 'py-legacy'] as const) {
  describe(`${server} through the gateway`, () => {
    it('lists and reads resources; a subscription update arrives in the client', async () => {
      const c = await client();
      const listed = await c.listResources(server);
      expect(listed.ok && listed.data.map((r) => r.uri)).toEqual(expect.arrayContaining(['fixture://readme']));
      const templates = await c.listResourceTemplates(server);
      expect(templates.ok && templates.data.map((t) => t.uriTemplate)).toEqual(['fixture://items/{item_id}']);
      const read = await c.readResource(server, 'fixture://readme');
      expect(read.ok && read.data.contents[0]?.text).toBe('read me');

      const updates: string[] = [];
      let updated!: () => void;
      const arrived = new Promise<void>((r) => (updated = r));
      const sub = await c.subscribeResource(server, 'fixture://readme', (u) => {
        updates.push(String(u.uri));
        updated();
      });
      expect(sub.ok).toBe(true);
      const touched = await c.call(server, 'touch', { uri: 'fixture://readme' });
      expect(textOf(touched)).toBe('touched');
      await arrived;
      expect(updates).toEqual(['fixture://readme']);
      if (sub.ok) await sub.data();
    });

    it('gets a prompt and completes its argument', async () => {
      const c = await client();
      const prompts = await c.listPrompts(server);
      expect(prompts.ok && prompts.data.map((p) => p.name)).toContain('greet');
      const prompt = await c.getPrompt(server, 'greet', { name: 'Ada', style: 'pirate' });
      expect(prompt.ok && JSON.stringify(prompt.data.messages)).toContain('Greet Ada in a pirate style.');
      const done = await c.complete(server, { type: 'ref/prompt', name: 'greet' }, { name: 'style', value: 'p' });
      expect(done.ok && done.data.completion.values).toEqual(['plain', 'pirate', 'poem']);
    });

    it('answers elicitation, sampling and roots from client handlers and returns the tools\' results', async () => {
      const c = await client();
      const asked: unknown[] = [];
      c.setRequestHandler('elicitation/create', (params, { server: from }) => {
        asked.push({ from, message: params.message });
        return { action: 'accept', content: { name: 'Ada' } };
      });
      c.setRequestHandler('sampling/createMessage', () => ({ role: 'assistant', model: 'page-model', content: { type: 'text', text: 'short' } }));
      c.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///from/the/page', name: 'page' }] }));
      try {
        // The schema's default greeting is filled in by the host.
        expect(textOf(await c.call(server, 'ask_name'))).toBe('hello Ada');
        expect(asked).toEqual([{ from: server, message: 'Your name?' }]);
        expect(textOf(await c.call(server, 'summarize', { text: 'a long text' }))).toBe('model said: short');
        expect(textOf(await c.call(server, 'count_roots'))).toBe('file:///from/the/page');
      } finally {
        for (const m of ['elicitation/create', 'sampling/createMessage', 'roots/list']) c.removeRequestHandler(m);
      }
    });

    it('sends a server request to the connection whose call caused it, even when another registered later', async () => {
      const a = await client();
      const b = await client();
      const answer = (name: string): ServerRequestHandler => () => ({ action: 'accept', content: { name } });
      a.setRequestHandler('elicitation/create', answer('A'));
      b.setRequestHandler('elicitation/create', answer('B'));
      // b registered last; a's own call still goes to a, b's to b.
      await Promise.all([a.synced(), b.synced()]);
      expect(textOf(await a.call(server, 'ask_name'))).toBe('hello A');
      expect(textOf(await b.call(server, 'ask_name'))).toBe('hello B');
      a.disconnect();
      b.disconnect();
    });

    it('forwards log messages (at the level set from the client) tagged with the server', async () => {
      const c = await client();
      const logs: Array<{ server: string; level: unknown; data: unknown }> = [];
      const off = c.onServerNotification(server, 'notifications/message', (params, ctx) => logs.push({ server: ctx.server, level: params.level, data: params.data }));
      await c.synced();
      expect((await c.setLogLevel(server, 'debug')).ok).toBe(true);
      expect(textOf(await c.call(server, 'log_something'))).toBe('logged');
      await waitFor(() => logs.length >= 2, 'two log messages');
      expect(logs).toEqual([
        { server, level: 'debug', data: 'a debug line' },
        { server, level: 'warning', data: { disk: 'almost full' } },
      ]);
      off();
    });
  });
}

describe('what the gateway offers', () => {
  it('is known to the client from hello', async () => {
    const c = await client();
    expect(c.offers.get()).toMatchObject({ hostControl: true, serverRequests: ['sampling/createMessage', 'elicitation/create', 'roots/list'] });
    expect(c.offers.get()?.methods).toContain('resources/subscribe');
  });
});

describe('server→client requests nobody answers', () => {
  it('gets -32601 when no connection registered a handler (modern: the call fails saying so)', async () => {
    const c = await client();
    const r = await c.call('py-modern', 'ask_name');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toContain('no browser answers it');
  });

  it('leaves nothing waiting when the answering browser disconnects', async () => {
    const caller = await client();
    const answerer = await client();
    let asked!: () => void;
    const reached = new Promise<void>((r) => (asked = r));
    answerer.setRequestHandler('elicitation/create', () => {
      asked();
      return new Promise(() => undefined); // a person who never answers
    });
    await answerer.synced();
    const started = Date.now();
    const call = caller.call('py-legacy', 'ask_name');
    await reached;
    answerer.disconnect();
    const r = await call;
    // The elicitation failed at once (not after the 30 s timeout); the legacy tool reports it.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(!r.ok || r.data.isError === true).toBe(true);
  });
});

describe('server-everything through the gateway', () => {
  it('streams [text, image, text] back in that order and with those types', async () => {
    const c = await client();
    const whole = await c.call('everything', 'get-tiny-image');
    expect(whole.ok && whole.data.content.map((b) => b.type)).toEqual(['text', 'image', 'text']);
    const chunks: number[] = [];
    const streamed = await c.call('everything', 'get-tiny-image', {}, { stream: true });
    expect(streamed.ok).toBe(true);
    if (!streamed.ok || !whole.ok) return;
    expect(streamed.data.content.map((b) => b.type)).toEqual(['text', 'image', 'text']);
    expect(streamed.data.content).toEqual(whole.data.content);
    // With onChunk the caller gets the pieces and the marked blocks.
    await c.call('everything', 'get-tiny-image', {}, { onChunk: (chunk) => chunks.push(chunk.seq) });
    expect(chunks).toEqual([0, 1]);
  });

  it('follows a task to completion (simulate-research-query)', async () => {
    const c = await client();
    const r = await c.call('everything', 'simulate-research-query', { topic: 'otters' }, { timeoutMs: 30_000 });
    expect(r.ok).toBe(true);
    expect(textOf(r)).toContain('Research Report');
    const entry = c.requests.get().at(-1)!;
    expect(entry).toMatchObject({ method: 'tools/call', tool: 'simulate-research-query', status: 'done' });
  });
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
