/** Spawning and reaping server children, and a registry of live ones (reaped at the end of a run). */
import { type ChildProcess, spawn } from 'node:child_process';
import { isAlive } from '../../src/node/orphan-guard.js';
import type { ClientOptions } from './types.js';

const live = new Set<ChildProcess>();
/** Children spawned by someone else (the SDK, McpBridge), known by pid only. */
const livePids = new Set<number>();

export function trackPid(pid: number | undefined | null): void {
  if (typeof pid === 'number') livePids.add(pid);
}

export function untrackPid(pid: number | undefined | null): void {
  if (typeof pid === 'number') livePids.delete(pid);
}

/** After a client's own stop(): waits up to 2 s for its server to exit, then SIGKILL; forgets the pid. */
export async function ensureGone(pid: number): Promise<void> {
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  untrackPid(pid);
}

/** Spawns a server for the clients that bring no transport of their own (floor, vscode-jsonrpc). */
export function spawnServer(options: ClientOptions): ChildProcess {
  const child = spawn(options.server.command, options.server.args, { stdio: ['pipe', 'pipe', 'ignore'], env: options.env });
  track(child);
  return child;
}

/** Remembers a child until it exits, so killAllChildren() can reap it. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Ends stdin, waits up to `graceMs`, then SIGKILL; resolves when the child has exited. */
export function reap(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      child.stdin?.end();
    } catch {
      child.kill('SIGKILL');
    }
  });
}

/** Kills every child still running (last resort at the end of a run). */
export function killAllChildren(): number {
  let n = 0;
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      n++;
    }
  }
  live.clear();
  for (const pid of livePids) {
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
        n++;
      } catch {
        // already gone
      }
    }
  }
  livePids.clear();
  return n;
}
