/**
 * The browser client (src/client) in headless Chromium against a real gateway hosting the Python
 * demo server and server-everything: call, progress, cancel, a server restart while connected, a
 * gateway restart the client recovers from by itself, the MCP surface (resources and their
 * updates, prompts, an elicitation answered by the page, logs, a streamed [text, image, text]),
 * and compression (permessage-deflate negotiated by Chromium, gzip/br HTTP responses). The client
 * is bundled for the browser by Vite (lib mode).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Demo from '../../src/client/demo.js';
import { demoServerConfig } from '../../src/node/config.js';
import { startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'e2e-client-token-0123456789abcdef';
const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

let dir: string;
let host: McpHost;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let port: number;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const handshakes: Array<Record<string, string>> = [];
/** Every WebSocket frame the page sent, as text. */
const framesSent: string[] = [];

type Win = Window & {
  mcp: typeof import('../../src/client/index.js');
  demo: typeof Demo;
  client: InstanceType<typeof import('../../src/client/index.js').McpIpcClient>;
  log: unknown[];
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-client-e2e-'));
  await build({
    configFile: false,
    logLevel: 'warn',
    root: ROOT,
    build: {
      outDir: dir,
      emptyOutDir: false,
      target: 'es2022',
      minify: false,
      lib: { entry: { client: join(ROOT, 'src/client/index.ts'), demo: join(ROOT, 'src/client/demo.ts') }, formats: ['es'], fileName: (_format, name) => `${name}.js` },
    },
  });
  writeFileSync(
    join(dir, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>client e2e</title><script type="module">import * as mcp from './client.js'; import * as demo from './demo.js'; window.mcp = mcp; window.demo = demo; window.ready = true;</script>`,
  );
  host = new McpHost({
    mcpServers: { demo: demoServerConfig(), everything: { command: process.execPath, args: [EVERYTHING, 'stdio'], process: { healthCheckIntervalMs: 0 } } },
  });
  // The gateway first, so that the (legacy) servers learn the page can answer elicitation and sampling.
  // Compression forced on: the browser is on this machine, where the gateway compresses nothing by default.
  gateway = await startGateway({ host, port: 0, staticDir: dir, token: TOKEN, compression: { loopback: true } });
  await host.startAll();
  port = Number(new URL(gateway.url).port);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // The WebSocket handshake as Chromium saw it (the extensions the gateway accepted).
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketHandshakeResponseReceived', (e: { response: { headers: Record<string, string> } }) => handshakes.push(e.response.headers));
  cdp.on('Network.webSocketFrameSent', (e: { response: { payloadData: string } }) => framesSent.push(e.response.payloadData));
  await page.goto(gateway.url);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  const connected = await page.evaluate(async (url) => {
    const w = window as unknown as Win;
    w.log = [];
    w.client = new w.mcp.McpIpcClient({ url, reconnectDelayMs: 100, reconnectMaxDelayMs: 500 });
    return w.client.connect();
  }, `ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
  expect(connected.ok).toBe(true);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await host?.stopAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('McpIpcClient in Chromium', () => {
  it('calls search and gets results as a Result value', async () => {
    const result = await page.evaluate(async () => {
      const w = window as unknown as Win;
      return w.demo.search(w.client, 'advantage', { limit: 3 });
    });
    expect(result.ok).toBe(true);
    if (result.ok) expect(JSON.stringify(result.data.content).toLowerCase()).toContain('advantage');
  });

  it('reports progress of processDocument', async () => {
    const out = await page.evaluate(async () => {
      const w = window as unknown as Win;
      const seen: number[] = [];
      const result = await w.demo.processDocument(w.client, 'adventure.md', (p) => seen.push(p.progress), { timeoutMs: 30_000 });
      return { ok: result.ok, seen };
    });
    expect(out.ok).toBe(true);
    expect(out.seen.length).toBeGreaterThanOrEqual(3);
    expect(out.seen).toEqual([...out.seen].sort((a, b) => a - b));
  });

  it('returns an error value for a bad call instead of throwing', async () => {
    // Error instances lose their own properties crossing page.evaluate: compare the JSON form.
    const result = await page.evaluate(async () => {
      const r = await (window as unknown as Win).client.call('demo', 'search', { limit: 3 });
      return r.ok ? { ok: true as const } : { ok: false as const, error: r.error.toJSON(), isError: r.error instanceof Error };
    });
    expect(result).toMatchObject({ ok: false, isError: true, error: { code: 'InvalidParams' } });
  });

  it('cancels a running call', async () => {
    const out = await page.evaluate(async () => {
      const w = window as unknown as Win;
      const pending = w.client.call('demo', 'sleep', { ms: 10_000 }, { key: 'long-sleep' });
      await new Promise((r) => setTimeout(r, 300));
      const started = performance.now();
      const cancelled = w.client.cancel('long-sleep');
      const r = await pending;
      const result = r.ok ? { ok: true as const } : { ok: false as const, error: r.error.toJSON() };
      return { cancelled, result, ms: performance.now() - started };
    });
    expect(out.cancelled).toBe(true);
    expect(out.result.ok).toBe(false);
    if (!out.result.ok) expect(out.result.error.code).toBe('Cancelled');
    expect(out.ms).toBeLessThan(2000);
  });

  it('sees a server restart through its stores while connected', async () => {
    await page.evaluate(() => {
      const w = window as unknown as Win;
      w.log = [];
      w.client.servers.subscribe((servers) => {
        const demo = servers.find((s) => s.name === 'demo');
        if (demo) w.log.push(demo.state);
      });
    });
    const restarted = await page.evaluate(async () => (window as unknown as Win).client.restartServer('demo'));
    expect(restarted.ok).toBe(true);
    await page.waitForFunction(() => {
      const log = (window as unknown as Win).log as string[];
      return log.some((s) => s !== 'running') && log[log.length - 1] === 'running';
    });
    const after = await page.evaluate(async () => {
      const w = window as unknown as Win;
      return w.demo.search(w.client, 'cover', { server: 'demo' });
    });
    expect(after.ok).toBe(true);
  });

  it('reconnects by itself after the gateway restarts, and catches up on missed events', async () => {
    const states: string[] = [];
    await page.exposeFunction('recordConnection', (s: string) => states.push(s));
    await page.evaluate(() => {
      const w = window as unknown as Win & { recordConnection: (s: string) => void };
      w.client.connection.subscribe((s) => w.recordConnection(s));
    });
    await gateway.close();
    gateway = await startGateway({ host, port, staticDir: dir, token: TOKEN, compression: { loopback: true } });
    await page.waitForFunction(() => {
      let current = '';
      (window as unknown as Win).client.connection.subscribe((s) => (current = s))();
      return current === 'open';
    }, undefined, { timeout: 15_000 });
    expect(states).toContain('reconnecting');
    const result = await page.evaluate(async () => {
      const w = window as unknown as Win;
      return w.demo.search(w.client, 'grapple', { server: 'demo' });
    });
    expect(result.ok).toBe(true);
  });

  it('decodes frames nested 10^4 and 10^5 deep into diagnostics, in the browser, and keeps delivering', async () => {
    const out = await page.evaluate(async () => {
      const w = window as unknown as Win;
      // A scripted WebSocket: the deep frames are fed straight into the transport's message listener.
      const listeners: Record<string, Array<(event: unknown) => void>> = {};
      class ScriptedSocket {
        readyState = 1;
        bufferedAmount = 0;
        binaryType = 'arraybuffer';
        constructor() {
          queueMicrotask(() => listeners.open?.forEach((l) => l({})));
        }
        send(): void {}
        close(): void {}
        addEventListener(type: string, listener: (event: unknown) => void): void {
          (listeners[type] ??= []).push(listener);
        }
      }
      const transport = new w.mcp.WebSocketTransport('ws://scripted.invalid/ws', { WebSocket: ScriptedSocket });
      const diagnostics: Array<{ kind: string; preview?: string }> = [];
      const messages: unknown[] = [];
      transport.ondiagnostic = (d) => diagnostics.push(d);
      transport.onmessage = (m) => messages.push(m);
      await transport.start();
      const deliver = (data: string) => listeners.message?.forEach((l) => l({ data }));
      for (const depth of [10_000, 100_000]) {
        deliver(`${'['.repeat(depth)}0${']'.repeat(depth)}`);
        deliver(`${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`);
        deliver(`{"jsonrpc":"2.0","id":1,"result":${'['.repeat(depth)}${']'.repeat(depth)}}`);
      }
      deliver('{"jsonrpc":"2.0","method":"hello","params":{}}');
      return { kinds: diagnostics.map((d) => d.kind), longest: Math.max(...diagnostics.map((d) => d.preview?.length ?? 0)), messages };
    });
    expect(out.kinds).toEqual(Array.from({ length: 6 }, () => 'invalid-message'));
    expect(out.longest).toBeLessThanOrEqual(201);
    expect(out.messages).toEqual([{ jsonrpc: '2.0', method: 'hello', params: {} }]);
  });

  it('reads a resource and gets its subscription update, gets a prompt', async () => {
    const out = await page.evaluate(async () => {
      const c = (window as unknown as Win).client;
      const resources = await c.listResources('everything');
      if (!resources.ok) return { error: resources.error.message };
      const uri = resources.data[0]!.uri;
      const read = await c.readResource('everything', uri);
      let updated!: (uri: string) => void;
      const update = new Promise<string>((r) => (updated = r));
      const sub = await c.subscribeResource('everything', uri, (u) => updated(String(u.uri)));
      await c.call('everything', 'toggle-subscriber-updates'); // one update at once, then every 5 s
      const got = await update;
      await c.call('everything', 'toggle-subscriber-updates');
      if (sub.ok) await sub.data();
      const prompt = await c.getPrompt('everything', 'completable-prompt', { department: 'Sales', name: 'Eve' });
      return { uri, readUri: read.ok ? read.data.contents[0]?.uri : null, got, prompt: prompt.ok ? JSON.stringify(prompt.data.messages) : prompt.error.message };
    });
    expect(out).toMatchObject({ readUri: out.uri, got: out.uri });
    expect(out.prompt).toContain('Eve');
  });

  it('answers an elicitation from the page and sees the tool\'s result; logs arrive tagged with the server', async () => {
    const out = await page.evaluate(async () => {
      const c = (window as unknown as Win).client;
      const asked: string[] = [];
      c.setRequestHandler('elicitation/create', (params, { server }) => {
        asked.push(`${server}: ${String(params.message)}`);
        return { action: 'accept', content: { name: 'Ada', color: 'red', email: 'ada@example.com' } };
      });
      const logs: string[] = [];
      const off = c.onServerNotification('*', 'notifications/message', (params, { server }) => logs.push(`${server}:${String(params.level)}`));
      await c.synced();
      const result = await c.call('everything', 'trigger-elicitation-request');
      await c.setLogLevel('everything', 'debug');
      await c.call('everything', 'toggle-simulated-logging'); // logs at once, then every few seconds
      await new Promise<void>((resolve) => {
        const check = () => (logs.length > 0 ? resolve() : setTimeout(check, 20));
        check();
      });
      await c.call('everything', 'toggle-simulated-logging');
      off();
      c.removeRequestHandler('elicitation/create');
      return { asked, text: result.ok ? JSON.stringify(result.data.content) : result.error.message, logs };
    });
    expect(out.asked).toHaveLength(1);
    expect(out.asked[0]).toMatch(/^everything: /);
    expect(out.text).toContain('Ada');
    expect(out.logs[0]).toMatch(/^everything:/);
  });

  it('streams [text, image, text] and gets it back in that order', async () => {
    const out = await page.evaluate(async () => {
      const c = (window as unknown as Win).client;
      const whole = await c.call('everything', 'get-tiny-image');
      const streamed = await c.call('everything', 'get-tiny-image', {}, { stream: true });
      return { whole: whole.ok ? whole.data.content : null, streamed: streamed.ok ? streamed.data.content : null };
    });
    expect(out.streamed?.map((b) => b.type)).toEqual(['text', 'image', 'text']);
    expect(out.streamed).toEqual(out.whole);
  });

  it('agrees on independent batches with the gateway, and sends the calls of one task as one frame', async () => {
    const selected = handshakes.map((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))['sec-websocket-protocol']);
    expect(selected.at(-1)).toBe('mcp-ipc.batch');
    const mark = framesSent.length;
    const results = await page.evaluate(async () => {
      const w = window as unknown as Win;
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => w.client.call('demo', 'echo', { text: `batched ${i}` })));
      return rs.map((r) => (r.ok ? (r.data.content[0] as { text?: string }).text : r.error.message));
    });
    expect(results).toEqual(Array.from({ length: 8 }, (_, i) => `batched ${i}`));
    const calls = framesSent
      .slice(mark)
      .map((f) => JSON.parse(f) as unknown)
      .filter((v) => (Array.isArray(v) ? v : [v]).some((m) => (m as { method?: string }).method === 'tools/call'));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(8);
  });

  it('negotiates permessage-deflate with Chromium, and gets gzip/br-encoded HTTP responses', async () => {
    const accepted = handshakes.map((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))['sec-websocket-extensions']);
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted[0]).toMatch(/^permessage-deflate/);
    expect(accepted[0]).toContain('server_max_window_bits=13');
    const http = await page.evaluate(async (token) => {
      const script = await fetch('./client.js', { cache: 'no-store' });
      const metrics = await fetch('/metrics', { headers: { Authorization: `Bearer ${token}` } });
      const body = await metrics.text();
      return { script: script.headers.get('content-encoding'), metrics: metrics.headers.get('content-encoding'), metricsOk: body.includes('mcp_ipc_requests_total') };
    }, TOKEN);
    expect(http).toEqual({ script: 'br', metrics: 'br', metricsOk: true });
  });

  it('raised no uncaught page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
