/**
 * The browser client (src/client) in headless Chromium against a real gateway hosting the Python
 * demo server: call, progress, cancel, a server restart while connected, and a gateway restart
 * the client recovers from by itself. The client is bundled for the browser by Vite (lib mode).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoServerConfig } from '../../src/node/config.js';
import { startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'e2e-client-token-0123456789abcdef';

let dir: string;
let host: McpHost;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let port: number;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

type Win = Window & { mcp: typeof import('../../src/client/index.js'); client: InstanceType<typeof import('../../src/client/index.js').McpIpcClient>; log: unknown[] };

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
      lib: { entry: join(ROOT, 'src/client/index.ts'), formats: ['es'], fileName: () => 'client.js' },
    },
  });
  writeFileSync(
    join(dir, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>client e2e</title><script type="module">import * as mcp from './client.js'; window.mcp = mcp; window.ready = true;</script>`,
  );
  host = new McpHost({ mcpServers: { demo: demoServerConfig() } });
  await host.startAll();
  gateway = await startGateway({ host, port: 0, staticDir: dir, token: TOKEN });
  port = Number(new URL(gateway.url).port);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
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
      return w.client.search('advantage', { limit: 3 });
    });
    expect(result.ok).toBe(true);
    if (result.ok) expect(JSON.stringify(result.data.content).toLowerCase()).toContain('advantage');
  });

  it('reports progress of processDocument', async () => {
    const out = await page.evaluate(async () => {
      const w = window as unknown as Win;
      const seen: number[] = [];
      const result = await w.client.processDocument('adventure.md', (p) => seen.push(p.progress), { timeoutMs: 30_000 });
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
    const after = await page.evaluate(async () => (window as unknown as Win).client.search('cover'));
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
    gateway = await startGateway({ host, port, staticDir: dir, token: TOKEN });
    await page.waitForFunction(() => {
      let current = '';
      (window as unknown as Win).client.connection.subscribe((s) => (current = s))();
      return current === 'open';
    }, undefined, { timeout: 15_000 });
    expect(states).toContain('reconnecting');
    const result = await page.evaluate(async () => (window as unknown as Win).client.search('grapple'));
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

  it('raised no uncaught page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
