/**
 * The tool policy, the cache and the audit log through the built CLI (dist/src/node/cli.js):
 * `call` refuses a denied tool, `serve --audit FILE` writes a line per call and keeps every line it
 * wrote when it is killed (SIGKILL, no shutdown), `cache clear` empties a running serve's cache.
 * Needs `npm run build` first (the test script does it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AuditRecord } from '../../src/node/audit-log.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/node/cli.js');
const FIXTURE = join(ROOT, 'test/fixtures/ops-server.mjs');
const TOKEN = 'policy-test-token';

const children = new Set<ChildProcess>();
let dir: string;
let config: string;
beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before these tests`);
  dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-cli-policy-'));
  config = join(dir, 'servers.json');
  const ops = { command: process.execPath, args: [FIXTURE], cache: { tools: ['slow'] }, tools: { deny: ['delete_*'] } };
  writeFileSync(config, JSON.stringify({ mcpServers: { ops } }));
});
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      resolveRun({ code, stdout, stderr });
    });
  });
}

describe('mcp-ipc call / tools with a tool policy', () => {
  it('refuses a denied tool with ToolDenied (exit 1) and does not list it', async () => {
    const denied = await run(['call', 'delete_all', '--config', config, '--server', 'ops']);
    expect(denied.code).toBe(1);
    expect(denied.stderr.trim()).toBe('mcp-ipc: ToolDenied: Tool "delete_all" on server "ops" is denied by the pattern "delete_*"');
    expect(denied.stdout).toBe('');
    const raw = await run(['request', 'tools/call', '{"name":"delete_all"}', '--config', config, '--server', 'ops']);
    expect(raw.code).toBe(1);
    expect(raw.stderr).toContain('ToolDenied');
    const tools = await run(['tools', '--config', config, '--server', 'ops']);
    expect(tools.code, tools.stderr).toBe(0);
    const names = (JSON.parse(tools.stdout) as Array<{ name: string }>).map((t) => t.name);
    expect(names).toContain('slow');
    expect(names).not.toContain('delete_all');
  });
});

describe('mcp-ipc serve --audit, cache clear', () => {
  it('audits WebSocket calls, keeps every line when killed, and clears the cache on demand', async () => {
    const audit = join(dir, 'audit.log');
    const env = { ...process.env, MCP_IPC_TOKEN: TOKEN };
    const serve = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--config', config, '--audit', audit], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(serve);
    let stdout = '';
    let stderr = '';
    serve.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    serve.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | null>((r) => serve.on('close', (_code, signal) => r(signal)));
    await new Promise<void>((r, j) => {
      const check = () => /mcp-ipc server ops: running/.test(stdout) && r();
      serve.stdout.on('data', check);
      serve.on('close', () => j(new Error(`serve exited: ${stderr}`)));
      check();
    });
    const dashboard = /^mcp-ipc dashboard: (\S+)$/m.exec(stdout)![1]!;
    const ws = new WebSocket(`${dashboard.replace(/^http/, 'ws').replace(/\/\?.*$/, '')}/ws`, [`mcp-ipc.token.${TOKEN}`]);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const answers = new Map<number, { result?: { content: Array<{ text: string }> }; error?: { data?: { code?: string } } }>();
    const waiters = new Map<number, () => void>();
    ws.on('message', (data) => {
      // The gateway batches what it sends in one tick: a frame is one message or an array of them.
      const frame = JSON.parse(String(data)) as unknown;
      for (const m of (Array.isArray(frame) ? frame : [frame]) as Array<{ id?: number }>) {
        if (typeof m.id === 'number') {
          answers.set(m.id, m as never);
          waiters.get(m.id)?.();
        }
      }
    });
    const call = (id: number, tool: string, args: Record<string, unknown>) =>
      new Promise<NonNullable<ReturnType<typeof answers.get>>>((r) => {
        waiters.set(id, () => r(answers.get(id)!));
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { server: 'ops', tool, arguments: args } }));
      });

    // 30 at once: under the gateway's 32 calls in flight per connection.
    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i + 1, 'count', { password: `pw-${i}` })));
    expect(many.filter((a) => a.result === undefined)).toEqual([]);
    expect((await call(100, 'delete_all', {})).error?.data?.code).toBe('ToolDenied');
    expect((await call(101, 'slow', { q: 'c' })).result?.content[0]?.text).toBe('slow #1 c');
    expect((await call(102, 'slow', { q: 'c' })).result?.content[0]?.text).toBe('slow #1 c');

    const cleared = await run(['cache', 'clear', '--url', dashboard, '--server', 'ops']);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(JSON.parse(cleared.stdout)).toEqual({ dropped: 1 });
    expect((await call(103, 'slow', { q: 'c' })).result?.content[0]?.text).toBe('slow #2 c');
    const noToken = await run(['cache', 'clear', '--url', dashboard.replace(/\?.*$/, '')], { ...process.env, MCP_IPC_TOKEN: '' });
    expect(noToken.code).toBe(2);

    // A crash: no shutdown, no flush. Every line recorded so far must already be in the file.
    serve.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    ws.terminate();
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    expect(lines).toHaveLength(34);
    expect(lines.filter((l) => l.tool === 'count' && l.door === 'websocket' && l.outcome === 'ok')).toHaveLength(30);
    expect(lines.find((l) => l.tool === 'delete_all')?.outcome).toBe('ToolDenied');
    expect(lines.filter((l) => l.tool === 'slow').map((l) => l.cached ?? false)).toEqual([false, true, false]);
    expect(readFileSync(audit, 'utf8')).not.toContain('pw-');
    expect(readFileSync(audit, 'utf8')).not.toContain(TOKEN);
  });
});
