/**
 * StdioTransport and ProcessManager on an injected platform where a kill cannot be seen to work
 * (Windows without taskkill, a process stuck in the kernel): every wait is bounded — close(),
 * stop(), and the restart after failed health checks end anyway, reporting the unconfirmed exit.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ServerState } from '../../src/core/gateway-protocol.js';
import { type Platform, TREE_VARIABLE, type TreeSignal } from '../../src/node/platform/index.js';
import { ProcessManager } from '../../src/node/process-manager.js';
import { StdioTransport } from '../../src/node/stdio-transport.js';

/** A child that never exits, whatever it is sent. */
function immortalChild(pid: number): ChildProcessWithoutNullStreams {
  const child = Object.assign(new EventEmitter(), { pid, stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), exitCode: null, signalCode: null });
  child.stdin.resume(); // reads what is written, like a live server
  process.nextTick(() => child.emit('spawn'));
  return child as unknown as ChildProcessWithoutNullStreams;
}

function fakePlatform() {
  const signals: Array<{ leader: number; signal: TreeSignal }> = [];
  const spawned: Array<{ command: string; env: NodeJS.ProcessEnv | undefined }> = [];
  let nextPid = 4000;
  const platform: Platform = {
    os: 'win32',
    spawn(command, _args, options) {
      spawned.push({ command, env: options.env });
      return immortalChild(++nextPid);
    },
    defaultEnvironment: (hostEnv): Record<string, string> => (hostEnv.PATH ? { PATH: hostEnv.PATH } : {}),
    treeMembers: async (tree) => [tree.leader],
    signalTree: async (tree, signal) => {
      signals.push({ leader: tree.leader, signal });
      return [];
    },
    killTreeSync: () => undefined,
    isAlive: () => true,
    watchdog: () => ({ dismiss: () => undefined }),
  };
  return { platform, signals, spawned };
}

describe('bounded waits on a platform where the kill does not take', () => {
  it('close() escalates SIGTERM → SIGKILL, then resolves after its budget reporting the unconfirmed exit', async () => {
    const { platform, signals } = fakePlatform();
    const t = new StdioTransport({ command: 'server' }, { platform, shutdownTimeoutMs: 150 });
    const errors: Error[] = [];
    t.onerror = (e) => errors.push(e);
    let closed = 0;
    t.onclose = () => closed++;
    await t.start();
    await t.close('test');
    expect(signals.map((s) => s.signal)).toEqual(['SIGTERM', 'SIGKILL']);
    expect(t.exit).toMatchObject({ code: null, signal: null, unconfirmed: true });
    expect(errors[0]?.message).toContain('did not confirm its exit');
    expect(closed).toBe(1);
  });

  it('stop() ends, and a restart after failed health checks goes ahead', async () => {
    const { platform, signals } = fakePlatform();
    const pm = new ProcessManager(
      'immortal',
      { command: 'server' },
      { ping: () => Promise.reject(new Error('no answer')) },
      { platform, shutdownTimeoutMs: 150, healthCheckIntervalMs: 0, usageIntervalMs: 0, healthCheckFailures: 1, restartDelayMs: 1, restartMaxDelayMs: 1 },
    );
    await pm.start();
    const first = pm.pid;
    const seen: ServerState[] = [];
    const restarted = new Promise<void>((resolve) =>
      pm.on('state', ({ state }) => {
        seen.push(state);
        if (state === 'running') resolve();
      }),
    );
    await pm.checkHealth();
    await restarted;
    expect(seen).toEqual(['crashed', 'restarting', 'starting', 'running']);
    expect(pm.pid).not.toBe(first);
    expect(pm.history().some((e) => e.type === 'exit' && e.message.includes('exit not confirmed'))).toBe(true);
    await pm.stop();
    expect(pm.state).toBe('stopped');
    expect(signals.filter((s) => s.leader === first).map((s) => s.signal)).toEqual(['SIGTERM', 'SIGKILL']);
  });

  it('spawns with the allow-listed environment and a tree cookie under the host tree', async () => {
    const { platform, spawned } = fakePlatform();
    const hostEnv = { PATH: '/bin', MCP_IPC_TOKEN: 'secret', [TREE_VARIABLE]: 'outer' };
    const t = new StdioTransport({ command: 'server', env: { OWN: '1' } }, { platform, hostEnv, shutdownTimeoutMs: 60 });
    await t.start();
    expect(spawned[0]!.env).toEqual({ PATH: '/bin', OWN: '1', [TREE_VARIABLE]: t.tree!.cookie });
    expect(t.tree!.cookie).toMatch(/^outer\/[0-9a-f]{16}$/);
    await t.close();
  });
});
