/** McpHost.apply / reload with real servers (the echo fixture): only what changed is touched; shutdown wins over a reload. */
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostReload } from '../../src/core/gateway-protocol.js';
import { McpHost } from '../../src/node/mcp-host.js';

const ECHO = join(resolve(import.meta.dirname, '../..'), 'test/fixtures/echo-server.mjs');
const echo = (env?: Record<string, string>) => ({ command: process.execPath, args: [ECHO], ...(env ? { env } : {}) });
const hosts: McpHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stopAll()));
});

function alive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('McpHost.apply', () => {
  it('leaves an unchanged config alone, restarts a changed one, and reports through `reload`', async () => {
    const host = new McpHost({ mcpServers: { a: echo(), b: echo() } });
    hosts.push(host);
    await host.startAll();
    const pidA = host.get('a')!.snapshot().pid;
    const pidB = host.get('b')!.snapshot().pid;
    const seen: HostReload[] = [];
    host.on('reload', (r) => seen.push(r));

    // Same servers, keys in another order: nothing happens.
    expect(await host.apply({ mcpServers: { b: { args: [ECHO], command: process.execPath }, a: echo() } })).toMatchObject({ added: [], removed: [], changed: [], unchanged: ['b', 'a'] });
    expect(host.get('a')!.snapshot().pid).toBe(pidA);

    const result = await host.apply({ mcpServers: { a: echo(), b: echo({ MODE: 'x' }) }, limits: { processes: 3 } });
    expect(result).toMatchObject({ changed: ['b'], unchanged: ['a'], errors: [] });
    expect(result.notes[0]).toMatch(/"limits" changed/);
    expect(host.get('a')!.snapshot().pid).toBe(pidA);
    expect(host.get('b')!.state).toBe('running');
    expect(host.get('b')!.snapshot().pid).not.toBe(pidB);
    expect(alive(pidB)).toBe(false);
    expect(seen).toHaveLength(2);
  });

  it('a failing load keeps the running set; a reload racing shutdown starts nothing that outlives it', async () => {
    const host = new McpHost({ mcpServers: { a: echo() } });
    hosts.push(host);
    await host.startAll();
    const rejected = await host.reload(() => Promise.reject(new Error('Config file x.json is not valid JSON')), 'x.json');
    expect(rejected).toEqual({ source: 'x.json', added: [], removed: [], changed: [], unchanged: ['a'], errors: ['Config file x.json is not valid JSON'], notes: [] });

    // Shutdown begins while the reload is under way (stopping the changed `a`, `late` not added yet):
    // it waits for the reload, so the server the reload then starts is stopped too.
    const applying = host.apply({ mcpServers: { a: echo({ MODE: 'y' }), late: echo() } });
    await new Promise<void>((r) => host.on('state', (s) => s.server === 'a' && s.state === 'stopping' && r()));
    expect(host.get('late')).toBeUndefined();
    const stopped = host.stopAll();
    expect(await applying).toMatchObject({ added: ['late'], changed: ['a'] });
    await stopped;
    const late = host.get('late')!;
    expect(late.state).toBe('stopped');
    for (const bridge of host.list()) expect(alive(bridge.snapshot().pid), bridge.name).toBe(false);
    // Once stopping, a reload changes nothing.
    expect((await host.apply({ mcpServers: { other: echo() } })).errors).toEqual(['the host is stopping']);
    expect(host.names()).toEqual(['a', 'late']);
  });
});
