/**
 * The built CLI (dist/src/node/cli.js) as a user runs it: exit codes, stdout/stderr contract,
 * progress lines, a third-party server, and `serve` start-up and graceful shutdown.
 * Needs `npm run build` first (the test script does it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/node/cli.js');
const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const EVERYTHING_CMD = ['--', process.execPath, EVERYTHING, 'stdio'];
const DOCUMENTS = join(ROOT, 'examples/python-server/documents');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

function cli(args: string[], timeoutMs = 25_000): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mcp-ipc ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before these tests`);
});

afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

describe('mcp-ipc help and usage errors', () => {
  it('--help, COMMAND --help and --version exit 0', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('mcp-ipc serve');
    expect(top.stdout).toContain('mcp-ipc call TOOL');
    for (const command of ['serve', 'call', 'tools', 'bench']) {
      const help = await cli([command, '-h']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: mcp-ipc ${command}`));
    }
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    ['bad JSON args', ['call', 'search', '{oops']],
    ['JSON args that are not an object', ['call', 'search', '[1,2]']],
    ['an unknown flag', ['call', 'search', '--bogus']],
    ['a missing tool name', ['call']],
    ['--server without --config', ['tools', '--server', 'demo']],
    ['--config and a command together', ['tools', '--config', 'x.json', '--', 'node']],
    ['a bad --timeout', ['call', 'search', '--timeout', 'soon']],
    ['an unknown command', ['frobnicate']],
    ['an unreadable config file', ['tools', '--config', '/nonexistent/mcp.json']],
    ['a bad bench --rounds', ['bench', '--rounds', '0']],
    ['an unknown bench contender', ['bench', '--contenders', 'raw']],
  ])('%s → exit 2 with a one-line error', async (_name, args) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^mcp-ipc: /);
  });
});

describe('mcp-ipc call / tools against the demo server', () => {
  it('call search prints the CallToolResult as JSON, exit 0', async () => {
    const run = await cli(['call', 'search', '{"query":"initiative"}']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { content: Array<{ type: string; text?: string }>; isError?: boolean };
    expect(result.isError ?? false).toBe(false);
    expect(result.content.length).toBeGreaterThan(0);
    expect(JSON.stringify(result).toLowerCase()).toContain('initiative');
  });

  it('call process_document prints progress lines on stderr (not a TTY)', async () => {
    const doc = readdirSync(DOCUMENTS).sort()[0] as string;
    const run = await cli(['call', 'process_document', JSON.stringify({ file_path: join(DOCUMENTS, doc), delay_ms: 10 })]);
    expect(run.code, run.stderr).toBe(0);
    const progress = lines(run.stderr).filter((l) => /^progress \d+(\.\d+)?\/\d+/.test(l));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(lines(run.stderr).every((l) => l.startsWith('progress '))).toBe(true);
    expect(run.stderr).not.toContain('\r');
    expect(JSON.parse(run.stdout)).toHaveProperty('content');
  });

  it('tools lists the tools as JSON', async () => {
    const run = await cli(['tools']);
    expect(run.code, run.stderr).toBe(0);
    const tools = JSON.parse(run.stdout) as Array<{ name: string; inputSchema: unknown }>;
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['search', 'process_document']));
    expect(tools[0]?.inputSchema).toBeTypeOf('object');
  });

  it('an unknown tool → exit 1 with one InvalidParams line', async () => {
    const run = await cli(['call', 'no_such_tool', '{}']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^mcp-ipc: InvalidParams: .*no_such_tool/);
  });

  it('arguments that fail the schema → exit 1 with one InvalidParams line', async () => {
    const run = await cli(['call', 'search', '{"query": 42}']);
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^mcp-ipc: InvalidParams: /);
  });

  it('a server command that does not exist → exit 1 with one line', async () => {
    const run = await cli(['tools', '--', '/nonexistent/mcp-server']);
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^mcp-ipc: /);
  });

  it('a server that cannot start → exit 1 at once, one line naming its error (no restarts)', async () => {
    const started = Date.now();
    const run = await cli(['call', 'echo', '{}', '--', 'python3', '-c', 'import missing_module']);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^mcp-ipc: StartupFailed: Server "python3" failed to start: exited with exit code 1 — ModuleNotFoundError: No module named 'missing_module'\n$/);
    expect(run.stdout).toBe('');
  });
});

describe('mcp-ipc against a third-party server (server-everything)', () => {
  it('call echo → exit 0', async () => {
    const run = await cli(['call', 'echo', '{"message":"hello from the cli"}', ...EVERYTHING_CMD]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { content: Array<{ text?: string }> };
    expect(result.content[0]?.text).toContain('hello from the cli');
  });

  it('tools lists echo', async () => {
    const run = await cli(['tools', ...EVERYTHING_CMD]);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as Array<{ name: string }>).map((t) => t.name)).toContain('echo');
  });
});

describe('mcp-ipc serve', () => {
  it('prints the dashboard URL (token from MCP_IPC_TOKEN), serves /health, and shuts down cleanly on SIGINT', async () => {
    const env = { ...process.env, MCP_IPC_TOKEN: 'fixed-token-for-test' };
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));

    await waitFor(() => /mcp-ipc server demo: \w+/.test(stdout), 20_000, `the server line (stdout: ${stdout}, stderr: ${stderr})`);
    const url = /^mcp-ipc dashboard: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=\S+)$/m.exec(stdout);
    expect(url, stdout).not.toBeNull();
    const base = new URL((url as RegExpExecArray)[1] as string);
    expect(Number(base.port)).toBeGreaterThan(0);
    expect(base.searchParams.get('token')).toBe('fixed-token-for-test');
    const metrics = await fetch(new URL('/metrics', base.origin), { headers: { Authorization: 'Bearer fixed-token-for-test', 'Accept-Encoding': 'gzip' } });
    expect(metrics.status).toBe(200);
    // This client is on the same machine: nothing compressed (without --compress-loopback).
    expect(metrics.headers.get('content-encoding')).toBeNull();
    expect(stdout).toMatch(/mcp-ipc server demo: running \(pid \d+/);
    const pid = Number(/mcp-ipc server demo: running \(pid (\d+)/.exec(stdout)?.[1]);
    expect(alive(pid)).toBe(true);

    const health = await fetch(new URL('/health', base));
    expect(health.status).toBe(200);
    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app">');

    child.kill('SIGINT');
    const { code } = await exited;
    children.delete(child);
    expect(code, stderr).toBe(0);
    expect(alive(pid)).toBe(false);
  });

  it('compresses for clients on this machine with --compress-loopback', async () => {
    const env = { ...process.env, MCP_IPC_TOKEN: 'fixed-token-for-test' };
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--compress-loopback', '--', process.execPath, join(ROOT, 'test/fixtures/echo-server.mjs')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    await waitFor(() => /^mcp-ipc dashboard: /m.test(stdout), 20_000, `the dashboard line (stdout: ${stdout}, stderr: ${stderr})`);
    const base = new URL(/^mcp-ipc dashboard: (\S+)$/m.exec(stdout)![1]!);
    const metrics = await fetch(new URL('/metrics', base.origin), { headers: { Authorization: 'Bearer fixed-token-for-test', 'Accept-Encoding': 'gzip' } });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-encoding')).toBe('gzip');
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(0);
    children.delete(child);
  });

  it('shows a server that cannot start as failed with its reason, and serves the others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-cli-'));
    try {
      const config = join(dir, 'servers.json');
      const demo = { command: 'python3', args: [join(ROOT, 'examples/python-server/server.py')] };
      writeFileSync(config, JSON.stringify({ mcpServers: { demo, broken: { command: 'python3', args: ['-c', 'import missing_module'] } } }));
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      // The server lines come once every server is running or failed: walking through restarts, not for a minute.
      await waitFor(() => /mcp-ipc server broken: /.test(stdout) && /mcp-ipc server demo: /.test(stdout), 20_000, `the server lines (stdout: ${stdout}, stderr: ${stderr})`);
      expect(stdout).toMatch(/^mcp-ipc server broken: failed \(exited with exit code 1 — ModuleNotFoundError: No module named 'missing_module'\)$/m);
      expect(stdout).toMatch(/^mcp-ipc server demo: running \(pid \d+/m);
      child.kill('SIGINT');
      expect(await exited, stderr).toBe(0);
      children.delete(child);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
