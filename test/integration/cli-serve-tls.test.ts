/**
 * `serve` beyond loopback: refused without TLS (and says why), started with a certificate the test
 * makes with openssl. It binds 0.0.0.0 only for the few seconds of the test and is talked to via
 * 127.0.0.1 only: the dashboard over https, the WebSocket over wss and /mcp/NAME, all trusting the
 * test's certificate and nothing else.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/node/cli.js');
const FIXTURE = join(ROOT, 'test/fixtures/ops-server.mjs');

let dir: string;
let config: string;
let cert: Buffer;
const children = new Set<ChildProcess>();

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before these tests`);
  dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-tls-'));
  config = join(dir, 'servers.json');
  writeFileSync(config, JSON.stringify({ mcpServers: { ops: { command: process.execPath, args: [FIXTURE] } } }));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
});
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function serve(args: string[]): { child: ChildProcess; output: () => { stdout: string; stderr: string }; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--config', config, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) =>
    child.on('close', (code) => {
      children.delete(child);
      r(code);
    }),
  );
  return { child, output: () => ({ stdout, stderr }), exited };
}

function httpsRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolveRequest, reject) => {
    // The certificate names localhost / 127.0.0.1, whatever Host header a test sends.
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, ca: cert, servername: 'localhost' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolveRequest({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('mcp-ipc serve --host beyond loopback', () => {
  it('refuses to start without TLS, says why, and binds nothing', async () => {
    const s = serve(['--host', '0.0.0.0']);
    expect(await s.exited).toBe(2);
    expect(s.output().stderr).toMatch(/without TLS.*clear text.*--tls-cert FILE --tls-key FILE.*--insecure/s);
    expect(s.output().stdout).not.toMatch(/dashboard/);
  });

  it('refuses a certificate without its key', async () => {
    const s = serve(['--host', '0.0.0.0', '--tls-cert', join(dir, 'cert.pem')]);
    expect(await s.exited).toBe(2);
    expect(s.output().stderr).toMatch(/--tls-cert and --tls-key go together/);
  });

  it('serves the dashboard, the WebSocket and /mcp/NAME over TLS', async () => {
    const s = serve(['--host', '0.0.0.0', '--allow-host', 'mcp.test', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]);
    await new Promise<void>((r, j) => {
      const check = () => /mcp-ipc server ops: running/.test(s.output().stdout) && r();
      s.child.stdout!.on('data', check);
      void s.exited.then(() => j(new Error(`serve exited: ${s.output().stderr}`)));
    });
    const dashboard = /^mcp-ipc dashboard: (https:\/\/127\.0\.0\.1:(\d+)\/\?token=(\S+))$/m.exec(s.output().stdout);
    expect(dashboard).not.toBeNull();
    const [, , port, token] = dashboard!;
    const origin = `https://127.0.0.1:${port}`;

    const health = await httpsRequest(`${origin}/health`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });

    // A name given with --allow-host passes the Host check (a gateway in front reaches the host by it); others do not.
    expect((await httpsRequest(`${origin}/health`, { headers: { Host: `mcp.test:${port}` } })).status).toBe(200);
    expect((await httpsRequest(`${origin}/health`, { headers: { Host: `other.test:${port}` } })).status).toBe(403);

    const init = await httpsRequest(`${origin}/mcp/ops`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    expect(init.status).toBe(200);
    expect(init.headers['mcp-session-id']).toBeTruthy();
    expect(JSON.parse(init.body)).toMatchObject({ result: { protocolVersion: '2025-11-25', serverInfo: { name: 'ops' } } });

    const hello = await new Promise<{ method: string }>((r, j) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/ws?token=${token}`, { ca: cert });
      ws.on('message', (data) => {
        r(JSON.parse(String(data)) as { method: string });
        ws.close();
      });
      ws.on('error', j);
    });
    expect(hello.method).toBe('hello');

    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 30_000);
});
