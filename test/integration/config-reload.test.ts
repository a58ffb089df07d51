/**
 * Config hot reload with a real `serve --config FILE` (the built CLI): the file is edited while it
 * runs — a server added, one removed, one changed (restarted with a new pid), a broken edit and an
 * invalid one rejected with the running set kept, an atomic save (write + rename) in VS Code's
 * `servers` format — and each reload reaches a browser connection as a `host/reload` event.
 * Needs `npm run build` first (the test script does it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/node/cli.js');
const ECHO = join(ROOT, 'test/fixtures/echo-server.mjs');
const echo = (env?: Record<string, string>) => ({ command: process.execPath, args: [ECHO], ...(env ? { env } : {}) });

interface Note {
  method: string;
  params: { seq: number; data: Record<string, unknown> };
}

/** The serve process's output, awaited line by line (no polling). */
class Output {
  text = '';
  private readonly waiters = new Set<() => void>();
  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      this.text += d;
      for (const w of [...this.waiters]) w();
    });
  }
  /** Resolves with the first match of `pattern` in what came after `from` (a character offset). */
  waitFor(pattern: RegExp, from = 0, timeoutMs = 20_000): Promise<RegExpExecArray> {
    return new Promise((resolveMatch, reject) => {
      const check = () => {
        const m = pattern.exec(this.text.slice(from));
        if (!m) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolveMatch(m);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${pattern} within ${timeoutMs} ms; output so far:\n${this.text}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

/** A gateway connection: requests, and the broadcast notifications awaited by predicate. */
class Browser {
  readonly notes: Note[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, (r: { result?: unknown; error?: unknown }) => void>();
  private readonly waiters = new Set<() => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; method?: string; params?: Note['params']; result?: unknown; error?: unknown };
      if (typeof msg.method === 'string') this.notes.push({ method: msg.method, params: msg.params as Note['params'] });
      else if (typeof msg.id === 'number') this.pending.get(msg.id)?.(msg);
      for (const w of [...this.waiters]) w();
    });
  }
  static open(port: number, token: string): Promise<Browser> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, [`mcp-ipc.token.${token}`]);
    return new Promise((res, rej) => {
      const browser = new Browser(ws);
      ws.once('open', () => res(browser));
      ws.once('error', rej);
    });
  }
  request<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise((res, rej) => {
      this.pending.set(id, (r) => {
        this.pending.delete(id);
        if (r.error) rej(new Error(JSON.stringify(r.error)));
        else res(r.result as T);
      });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }
  /** The next `host/reload` after the `count` already seen. */
  reload(count: number, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    return new Promise((res, rej) => {
      const check = () => {
        const reloads = this.notes.filter((n) => n.method === 'host/reload');
        const next = reloads[count];
        if (!next) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        res(next.params.data);
      };
      const timer = setTimeout(() => rej(new Error(`no host/reload #${count + 1} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('serve --config FILE: hot reload', () => {
  let dir: string;
  let config: string;
  let child: ChildProcess;
  let stdout: Output;
  let stderr: Output;
  let exited: Promise<number | null>;
  let browser: Browser;

  const pids = async (): Promise<Record<string, number | null>> => {
    const servers = await browser.request<Array<{ name: string; pid: number | null; state: string }>>('servers/list');
    return Object.fromEntries(servers.map((s) => [s.name, s.state === 'running' ? s.pid : null]));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-reload-'));
    config = join(dir, 'mcp.json');
    writeFileSync(config, JSON.stringify({ mcpServers: { a: echo(), b: echo() } }, null, 2));
    const env = { ...process.env, MCP_IPC_TOKEN: 'reload-test-token' };
    child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--config', config], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    stdout = new Output(child.stdout!);
    stderr = new Output(child.stderr!);
    exited = new Promise((r) => child.on('close', (code) => r(code)));
    const url = await stdout.waitFor(/^mcp-ipc dashboard: http:\/\/127\.0\.0\.1:(\d+)\//m);
    await stdout.waitFor(/mcp-ipc server a: running[\s\S]*mcp-ipc server b: running/);
    browser = await Browser.open(Number(url[1]), 'reload-test-token');
  }, 30_000);

  afterAll(async () => {
    browser?.ws.close();
    if (child && child.exitCode === null) {
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies edits to only the servers they touch, rejects broken ones, and accepts VS Code\'s format', async () => {
    const before = await pids();
    expect(before.a).toBeGreaterThan(0);
    expect(before.b).toBeGreaterThan(0);

    // 1. add c, remove b, change a (its env): exactly those three are touched.
    let mark = stdout.text.length;
    writeFileSync(config, JSON.stringify({ mcpServers: { a: echo({ FLAVOUR: 'new' }), c: echo() } }, null, 2));
    expect(await browser.reload(0)).toMatchObject({ added: ['c'], removed: ['b'], changed: ['a'], unchanged: [], errors: [] });
    await stdout.waitFor(/^mcp-ipc: config reloaded from .*: added c; removed b; restarted a$/m, mark);
    const afterEdit = await pids();
    expect(Object.keys(afterEdit).sort()).toEqual(['a', 'c']);
    expect(afterEdit.a).toBeGreaterThan(0);
    expect(afterEdit.a).not.toBe(before.a);
    expect(afterEdit.c).toBeGreaterThan(0);
    expect(alive(before.a as number)).toBe(false);
    expect(alive(before.b as number)).toBe(false);
    const called = await browser.request<{ content: Array<{ text: string }> }>('tools/call', { server: 'c', name: 'echo', arguments: { text: 'hi' } });
    expect(called.content[0]?.text).toBe('hi');

    // 2. a file that is not JSON: rejected, the running set kept (same pids).
    mark = stderr.text.length;
    writeFileSync(config, '{ "mcpServers": { "a": ');
    const broken = await browser.reload(1);
    expect(broken).toMatchObject({ added: [], removed: [], changed: [] });
    expect((broken.errors as string[])[0]).toMatch(/is not valid JSON/);
    await stderr.waitFor(/^mcp-ipc: config reload rejected \(the running servers are kept\): Config file .* is not valid JSON/m, mark);
    expect(await pids()).toEqual(afterEdit);

    // 3. valid JSON that does not validate: rejected with the path named.
    writeFileSync(config, JSON.stringify({ mcpServers: { a: { command: 5 } } }));
    const invalid = await browser.reload(2);
    expect(invalid.errors).toEqual(['mcpServers.a.command must be a non-empty string (or give "url" for a remote server)']);
    expect(await pids()).toEqual(afterEdit);

    // 4. VS Code's format, saved atomically (a temporary file renamed over the config): a and c are
    //    the same servers as before (untouched), d is new.
    mark = stdout.text.length;
    const vscode = {
      inputs: [],
      servers: { a: { type: 'stdio', ...echo({ FLAVOUR: 'new' }) }, c: { type: 'stdio', ...echo() }, d: { type: 'stdio', ...echo() } },
    };
    const temporary = join(dir, '.mcp.json.tmp');
    writeFileSync(temporary, JSON.stringify(vscode, null, 2));
    renameSync(temporary, config);
    expect(await browser.reload(3)).toMatchObject({ added: ['d'], removed: [], changed: [], unchanged: ['a', 'c'], errors: [] });
    await stdout.waitFor(/^mcp-ipc: config reloaded from .*: added d$/m, mark);
    const final = await pids();
    expect(final).toMatchObject({ a: afterEdit.a, c: afterEdit.c });
    expect(final.d).toBeGreaterThan(0);

    // Shutdown stops the servers that came and went at run time too.
    child.kill('SIGINT');
    expect(await exited, stderr.text).toBe(0);
    for (const pid of Object.values(final)) expect(alive(pid as number)).toBe(false);
  }, 60_000);
});
