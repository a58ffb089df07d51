/**
 * `serve` with OTEL_EXPORTER_OTLP_ENDPOINT set (the built CLI): a request through the gateway
 * carrying a W3C `traceparent` in `_meta` is traced — the gateway's span continues it, the server
 * receives the bridge's span as its parent — and the spans reach a local OTLP/HTTP receiver, the
 * last ones flushed at shutdown. Needs `npm run build` first (the test script does it).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import WebSocket from 'ws';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/node/cli.js');
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
}

it('serve exports the spans of a traced request over OTLP/HTTP, flushing at shutdown', async () => {
  const spans: OtlpSpan[] = [];
  const resources: string[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const payload = JSON.parse(body || '{}') as { resourceSpans?: Array<{ resource?: unknown; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> };
      for (const rs of payload.resourceSpans ?? []) {
        resources.push(JSON.stringify(rs.resource));
        for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
  const env = {
    ...process.env,
    MCP_IPC_TOKEN: 'serve-tracing-token',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    // Nothing is exported on a timer during the test: what arrives was flushed by the shutdown.
    OTEL_BSP_SCHEDULE_DELAY: '600000',
  };
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--', process.execPath, join(ROOT, 'test/fixtures/trace-echo-server.mjs')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    const port = await new Promise<number>((res, rej) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const m = /mcp-ipc dashboard: http:\/\/127\.0\.0\.1:(\d+)\/[\s\S]*mcp-ipc server node: running/.exec(stdout);
        if (m) res(Number(m[1]));
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      void exited.then(() => rej(new Error(`serve exited early: ${stdout}${stderr}`)));
    });

    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['mcp-ipc.token.serve-tracing-token']);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const reply = await new Promise<{ result?: { structuredContent?: { traceparent?: string } } }>((res) => {
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as { id?: number };
        if (msg.id === 1) res(msg as never);
      });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { server: 'node', name: 'traceparent', arguments: {}, _meta: { traceparent: `00-${TRACE}-${PARENT}-01` } } }));
    });
    ws.close();
    const received = reply.result?.structuredContent?.traceparent;
    expect(received).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(received).not.toContain(PARENT); // the bridge's own span, not the caller's
    expect(spans).toEqual([]); // still buffered

    child.kill('SIGINT');
    expect(await exited, stderr).toBe(0);
    const ofTrace = spans.filter((s) => s.traceId === TRACE);
    const gateway = ofTrace.find((s) => s.kind === 2);
    const bridge = ofTrace.find((s) => s.kind === 3);
    expect(gateway?.parentSpanId).toBe(PARENT);
    expect(bridge?.parentSpanId).toBe(gateway?.spanId);
    expect(received).toBe(`00-${TRACE}-${bridge?.spanId}-01`);
    expect(resources.join('')).toContain('"mcp-ipc"');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await new Promise((r) => receiver.close(r));
  }
}, 30_000);
