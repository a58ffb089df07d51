/**
 * OpenTelemetry end to end: a headless Chromium page using the browser client (with a tracer
 * provider registered in the page) calls a tool through a real gateway whose host exports over
 * OTLP/HTTP (`startOtlpTracing`, as `serve` does) to a receiver this test runs, on a real server
 * that echoes the `_meta.traceparent` it received. One trace: browser span → gateway span → bridge
 * span (+ queue wait) → the server, each the parent of the next.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/node/gateway.js';
import { McpHost } from '../../src/node/mcp-host.js';
import { type OtlpTracing, startOtlpTracing } from '../../src/node/tracing.js';
import type { PageSpan } from '../fixtures/tracing-page.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'e2e-tracing-token-0123456789abcdef';
const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

/** A local OTLP/HTTP (JSON) trace receiver: records every span, and says when some have come. */
class OtlpReceiver {
  readonly spans: OtlpSpan[] = [];
  readonly resources: Array<Record<string, unknown>> = [];
  private readonly waiters = new Set<() => void>();
  readonly server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const payload = JSON.parse(body) as { resourceSpans?: Array<{ resource?: Record<string, unknown>; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> };
        for (const rs of payload.resourceSpans ?? []) {
          this.resources.push(rs.resource ?? {});
          for (const ss of rs.scopeSpans ?? []) this.spans.push(...(ss.spans ?? []));
        }
        for (const w of [...this.waiters]) w();
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const address = this.server.address() as { port: number };
    return `http://127.0.0.1:${address.port}`;
  }

  waitFor(check: (spans: OtlpSpan[]) => boolean, timeoutMs = 15_000): Promise<void> {
    return new Promise((res, rej) => {
      const run = () => {
        if (!check(this.spans)) return;
        this.waiters.delete(run);
        clearTimeout(timer);
        res();
      };
      const timer = setTimeout(() => rej(new Error(`the receiver did not get the spans; it has: ${this.spans.map((s) => s.name).join(', ')}`)), timeoutMs);
      this.waiters.add(run);
      run();
    });
  }
}

const attr = (span: OtlpSpan, key: string): unknown => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
};

type Win = Window & {
  mcp: typeof import('../../src/client/index.js');
  client: InstanceType<typeof import('../../src/client/index.js').McpIpcClient>;
  spans: () => PageSpan[];
};

let dir: string;
let receiver: OtlpReceiver;
let tracing: OtlpTracing | undefined;
let host: McpHost;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-tracing-e2e-'));
  await build({
    configFile: false,
    logLevel: 'warn',
    root: ROOT,
    build: {
      outDir: dir,
      emptyOutDir: false,
      target: 'es2022',
      minify: false,
      lib: { entry: join(ROOT, 'test/fixtures/tracing-page.ts'), formats: ['es'], fileName: () => 'page.js' },
    },
  });
  writeFileSync(join(dir, 'index.html'), `<!doctype html><meta charset="utf-8"><title>tracing e2e</title><script type="module" src="./page.js"></script>`);
  receiver = new OtlpReceiver();
  const endpoint = await receiver.listen();
  tracing = await startOtlpTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'mcp-ipc-e2e' } });
  host = new McpHost({ mcpServers: { tracer: { command: process.execPath, args: [join(ROOT, 'test/fixtures/trace-echo-server.mjs')] } } });
  await host.startAll();
  gateway = await startGateway({ host, port: 0, staticDir: dir, token: TOKEN });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
  await page.goto(gateway.url);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  const connected = await page.evaluate(async (url) => {
    const w = window as unknown as Win;
    w.client = new w.mcp.McpIpcClient({ url });
    return w.client.connect();
  }, `ws://127.0.0.1:${gateway.port}/ws?token=${TOKEN}`);
  expect(connected.ok).toBe(true);
}, 90_000);

afterAll(async () => {
  await page?.evaluate(() => (window as unknown as Win).client.disconnect()).catch(() => undefined);
  await browser?.close();
  await gateway?.close();
  await host?.stopAll();
  await tracing?.shutdown();
  await new Promise((r) => receiver?.server.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Calls the echo tool from the page: the traceparent the server received, and the page's spans. */
async function callFromPage(): Promise<{ received: { traceparent: string | null; tracestate: string | null }; spans: PageSpan[] }> {
  return page.evaluate(async () => {
    const w = window as unknown as Win;
    const r = await w.client.call('tracer', 'traceparent', {});
    if (!r.ok) throw new Error(r.error.message);
    return { received: r.data.structuredContent as { traceparent: string | null; tracestate: string | null }, spans: w.spans() };
  });
}

describe('tracing: browser → gateway → bridge → server', () => {
  it('is one trace, each span the parent of the next, with MCP attributes, exported over OTLP', async () => {
    const { received, spans } = await callFromPage();
    const client = spans.find((s) => s.name === 'tools/call traceparent');
    expect(client, JSON.stringify(spans)).toBeDefined();
    const trace = client!.traceId;
    expect(client).toMatchObject({ kind: 2 /* api SpanKind.CLIENT */, attributes: { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'traceparent', 'mcp_ipc.server': 'tracer', 'mcp_ipc.outcome': 'ok' } });

    await tracing!.forceFlush();
    const ofTrace = (all: OtlpSpan[]) => all.filter((s) => s.traceId === trace);
    await receiver.waitFor((all) => ofTrace(all).length >= 3);
    const host = ofTrace(receiver.spans);
    const gatewaySpan = host.find((s) => s.kind === SPAN_KIND.server);
    const bridgeSpan = host.find((s) => s.kind === SPAN_KIND.client);
    const queueSpan = host.find((s) => s.name === 'queue wait');
    expect(gatewaySpan, JSON.stringify(host)).toBeDefined();
    expect(bridgeSpan).toBeDefined();
    expect(queueSpan).toBeDefined();

    // browser → gateway → bridge → queue wait, and → the server.
    expect(gatewaySpan!.parentSpanId).toBe(client!.spanId);
    expect(bridgeSpan!.parentSpanId).toBe(gatewaySpan!.spanId);
    expect(queueSpan!.parentSpanId).toBe(bridgeSpan!.spanId);
    expect(received.traceparent).toBe(`00-${trace}-${bridgeSpan!.spanId}-01`);

    expect(gatewaySpan!.name).toBe('tools/call traceparent');
    expect(attr(gatewaySpan!, 'mcp_ipc.server')).toBe('tracer');
    expect(bridgeSpan!.name).toBe('tools/call traceparent');
    for (const [key, value] of Object.entries({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'traceparent', 'gen_ai.operation.name': 'execute_tool', 'mcp_ipc.server': 'tracer', 'mcp_ipc.era': 'legacy', 'mcp.protocol.version': '2025-06-18', 'mcp_ipc.outcome': 'ok' })) {
      expect(attr(bridgeSpan!, key), key).toBe(value);
    }
    expect(JSON.stringify(receiver.resources)).toContain('mcp-ipc-e2e');
  }, 30_000);

  it('without a tracer on the host, the browser\'s trace context still reaches the server', async () => {
    await tracing!.shutdown();
    tracing = undefined;
    const { received, spans } = await callFromPage();
    const last = spans.filter((s) => s.name === 'tools/call traceparent').at(-1)!;
    expect(received.traceparent).toBe(`00-${last.traceId}-${last.spanId}-01`);
  }, 30_000);
});
