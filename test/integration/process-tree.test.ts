/**
 * A server's whole tree ends with it — also descendants that left its process group (setpgid,
 * double fork + setsid), found by the tree cookie in their environment — on stop(), when the
 * server crashes, and when the host itself is SIGKILLed. Nothing outside the tree is touched.
 * And a server gets an allow-listed environment, never the host's secrets.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { McpBridge, type McpServerConfig } from '../../src/node/mcp-bridge.js';
import { isAlive } from '../../src/node/orphan-guard.js';
import { parseConfig } from '../../src/node/config.js';
import { TREE_VARIABLE } from '../../src/node/platform/index.js';
import type { StdioTransport } from '../../src/node/stdio-transport.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const fixture = (name: string, ...args: string[]) => ({ command: 'python3', args: [join(FIXTURES, name), ...args] });
const FAST = { healthCheckIntervalMs: 0, usageIntervalMs: 0, restartDelayMs: 50, restartMaxDelayMs: 200, shutdownTimeoutMs: 1500 };

const bridges: McpBridge[] = [];
const strays = new Set<number>();
const others: ChildProcess[] = [];
const tempDirs: string[] = [];
function bridge(name: string, config: McpServerConfig): McpBridge {
  const b = new McpBridge(name, { ...config, process: { ...FAST, ...config.process } });
  bridges.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.stop()));
  // Whatever a failing test left, leave nothing running (only pids this test recorded).
  for (const pid of strays) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  strays.clear();
  for (const c of others.splice(0)) c.kill('SIGKILL');
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
const text = (r: { content: Array<{ text?: string }> }) => r.content[0]?.text ?? '';

async function escapees(b: McpBridge): Promise<{ pid: number; escaped: number[] }> {
  const report = JSON.parse(text(await b.call('pids', {}))) as { pid: number; escaped: number[] };
  for (const p of [report.pid, ...report.escaped]) strays.add(p);
  expect(report.escaped).toHaveLength(2);
  expect(report.escaped.every(isAlive)).toBe(true);
  return report;
}

describe.runIf(process.platform === 'linux')('descendants that left the process group', () => {
  it('stop() ends a setpgid helper and a double-forked setsid daemon', async () => {
    const b = bridge('escapee', fixture('escapee.py'));
    await b.start();
    const { pid, escaped } = await escapees(b);
    await b.stop();
    expect(isAlive(pid)).toBe(false);
    await waitFor(() => escaped.every((p) => !isAlive(p)), 5_000, 'the escaped helpers to end');
  });

  it('stop() resolves only once helpers that ignore SIGTERM were SIGKILLed', async () => {
    const b = bridge('escapee-stubborn', fixture('escapee.py', '--ignore-sigterm'));
    await b.start();
    const { escaped } = await escapees(b);
    await b.stop();
    await waitFor(() => escaped.every((p) => !isAlive(p)), 2_000, 'the stubborn helpers to end');
  });

  it('a crash of the server ends its escaped helpers too', async () => {
    const b = bridge('escapee-crash', { ...fixture('escapee.py', '--ignore-sigterm'), process: { autoRestart: false } });
    await b.start();
    const { pid, escaped } = await escapees(b);
    await b.call('crash', {}).catch(() => undefined);
    await waitFor(() => !isAlive(pid), 5_000, 'the server to exit');
    await waitFor(() => escaped.every((p) => !isAlive(p)), 5_000, 'the escaped helpers to end after the crash');
  });

  it('CPU/RSS sampling covers the helpers that left the group', async () => {
    const b = bridge('escapee-sampled', fixture('escapee.py'));
    await b.start();
    const { pid, escaped } = await escapees(b);
    const usage = await b.process.sampleUsage();
    expect(usage?.pids.sort()).toEqual([pid, ...escaped].sort());
  });

  it('processes outside the tree are never signalled, even with a lookalike or parent cookie', async () => {
    const b = bridge('escapee-neighbours', fixture('escapee.py'));
    await b.start();
    await escapees(b);
    const cookie = (b.process.current as StdioTransport).tree!.cookie;
    const outer = process.env[TREE_VARIABLE]!; // the test run's tree: this server's parent
    expect(cookie.startsWith(`${outer}/`)).toBe(true);
    const neighbour = (value: string) => {
      const c = spawn('/bin/sh', ['-c', 'exec sleep 30'], { env: { ...process.env, [TREE_VARIABLE]: value }, stdio: 'ignore', detached: true });
      others.push(c);
      return c;
    };
    const lookalike = neighbour(`${cookie}x`);
    const sibling = neighbour(`${outer}/not-this-server`);
    const parent = neighbour(outer);
    await Promise.all(others.map((c) => new Promise((r) => c.once('spawn', r))));
    await b.stop();
    for (const c of [lookalike, sibling, parent]) expect(isAlive(c.pid!)).toBe(true);
  });

  it('leaves no escaped helper when the host itself is killed with SIGKILL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-escapee-'));
    tempDirs.push(dir);
    const pidsFile = join(dir, 'pids.json');
    const host = spawn(process.execPath, [join(FIXTURES, 'host.mjs'), '--', 'python3', join(FIXTURES, 'escapee.py'), '--ignore-sigterm', '--pids-file', pidsFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    others.push(host);
    await new Promise<void>((resolveLine, reject) => {
      host.stdout!.once('data', () => resolveLine());
      host.once('exit', (code) => reject(new Error(`host exited early (${code}); is dist/ built? run npm run build`)));
    });
    await waitFor(() => existsSync(pidsFile), 10_000, 'the server to report its helpers');
    const { pid, escaped } = JSON.parse(readFileSync(pidsFile, 'utf8')) as { pid: number; escaped: number[] };
    for (const p of [pid, ...escaped]) strays.add(p);
    expect(escaped.every(isAlive)).toBe(true);
    host.kill('SIGKILL');
    await waitFor(() => [pid, ...escaped].every((p) => !isAlive(p)), 10_000, 'the watchdog to end the whole tree');
  });
});

describe('the environment a server gets', () => {
  const SECRET = 'MCP_IPC_TEST_SECRET';
  async function serverEnv(config: Partial<McpServerConfig> = {}): Promise<Record<string, string>> {
    const b = bridge(`env-${bridges.length}`, { ...fixture('print_env.py'), ...config });
    await b.start();
    const env = JSON.parse(text(await b.call('env', {}))) as Record<string, string>;
    await b.stop();
    return env;
  }
  function withHostEnv(vars: Record<string, string>): () => void {
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    Object.assign(process.env, vars);
    return () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    };
  }

  it('is an allow-list plus the config env: neither the gateway token nor other host variables reach it', async () => {
    const restore = withHostEnv({ MCP_IPC_TOKEN: 'gateway-token', [SECRET]: 'hunter2' });
    try {
      const env = await serverEnv({ env: { OWN: 'mine' } });
      expect(env.MCP_IPC_TOKEN).toBeUndefined();
      expect(env[SECRET]).toBeUndefined();
      expect(env.OWN).toBe('mine');
      expect(env.PATH).toContain(process.env.PATH); // a pyenv shim may prepend its own
      expect(env[TREE_VARIABLE]).toMatch(new RegExp(`^${process.env[TREE_VARIABLE]}/[0-9a-f]+$`));
    } finally {
      restore();
    }
  });

  it('inheritEnv brings the host environment back, still without the token unless the config names it', async () => {
    const restore = withHostEnv({ MCP_IPC_TOKEN: 'gateway-token', [SECRET]: 'hunter2' });
    try {
      const inherited = await serverEnv({ inheritEnv: true });
      expect(inherited[SECRET]).toBe('hunter2');
      expect(inherited.MCP_IPC_TOKEN).toBeUndefined();
      const named = await serverEnv({ env: { MCP_IPC_TOKEN: 'gateway-token' } });
      expect(named.MCP_IPC_TOKEN).toBe('gateway-token');
    } finally {
      restore();
    }
  });

  it('a config hands a host variable to a server with ${env:NAME}', async () => {
    const restore = withHostEnv({ [SECRET]: 'hunter2' });
    try {
      const config = parseConfig({ mcpServers: { s: { ...fixture('print_env.py'), env: { API_KEY: `\${env:${SECRET}}` } } } });
      const env = await serverEnv(config.mcpServers.s);
      expect(env.API_KEY).toBe('hunter2');
      expect(env[SECRET]).toBeUndefined();
    } finally {
      restore();
    }
  });
});
