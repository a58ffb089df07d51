/**
 * What Linux and macOS share: a process group per server, signals, and a `/bin/sh` watchdog that
 * holds the read end of a pipe only the host writes to. When the host dies for any reason the
 * kernel closes the pipe, `read` returns, and the watchdog runs the tree's kill script (SIGTERM,
 * a grace period, SIGKILL — to the group and to every process carrying the tree cookie).
 */
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn as nodeSpawn, type SpawnOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import type { ServerTree, Watchdog } from './index.js';

export type Kill = (pid: number, signal: NodeJS.Signals | 0) => void;
export type Spawn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

export const nodeKill: Kill = (pid, signal) => void process.kill(pid, signal);
export const nodeSpawnFn: Spawn = (command, args, options) => nodeSpawn(command, args, options);

/**
 * A pid or group id we may signal: a positive integer above 1. `kill(-1)` would reach every process
 * of the user, `kill(0)` the host's own group, `kill(1)` init: never, whatever a caller passes.
 */
export function signallable(id: number): boolean {
  return Number.isSafeInteger(id) && id > 1;
}

/** Signals a whole process group; false when it no longer exists (or is not ours to signal). */
export function signalGroup(kill: Kill, pgid: number, signal: NodeJS.Signals | 0): boolean {
  if (!signallable(pgid)) return false;
  try {
    kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Signals one process; false when it is gone. */
export function signalPid(kill: Kill, pid: number, signal: NodeJS.Signals | 0): boolean {
  if (!signallable(pid)) return false;
  try {
    kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Spawns a server in its own process group: signals then reach wrappers (npx, sh -c) and their children. */
export function spawnInGroup(spawn: Spawn, command: string, args: readonly string[], options: Pick<SpawnOptions, 'cwd' | 'env'>): ChildProcessWithoutNullStreams {
  return spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'], detached: true, shell: false, windowsHide: true }) as ChildProcessWithoutNullStreams;
}

/**
 * Starts `/bin/sh -c script mcp-ipc-guard <pgid> <cookie> <graceSeconds>`: the script's first line
 * must be `read _` (it returns when the host is gone). The watchdog runs in a group of its own, so a
 * Ctrl-C to the host's terminal group does not kill it first, and is unref'd with its pipe, so an
 * idle host can still exit on its own.
 */
export function shellWatchdog(spawn: Spawn, shell: string, script: string, tree: ServerTree, graceMs: number): Watchdog {
  let watchdog: ChildProcess | undefined;
  try {
    watchdog = spawn(shell, ['-c', script, 'mcp-ipc-guard', String(tree.leader), tree.cookie, String(Math.max(1, Math.ceil(graceMs / 1000)))], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.on('error', () => undefined); // no shell: the exit hook still covers ordinary exits
    watchdog.unref();
    (watchdog.stdin as Partial<Socket> | null)?.unref?.();
  } catch {
    watchdog = undefined;
  }
  return {
    dismiss() {
      if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
    },
  };
}
