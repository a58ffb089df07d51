/**
 * The operating-system specifics of hosting a server process, behind one interface: how a server
 * is spawned, which processes belong to its tree, how the tree is signalled, and how it is killed
 * when the host itself dies. `currentPlatform()` picks the implementation for this OS; tests inject
 * an implementation built over fakes (a fake command runner, a fake `/proc`).
 *
 * What each OS gets:
 * - Linux: own process group per server; the tree is that group plus every process whose
 *   environment (`/proc/PID/environ`) carries the server's tree cookie, so descendants that left the
 *   group (`setsid`, `setpgid`, double fork) are found too; one `/bin/sh` watchdog per host, on
 *   which each server's tree is registered.
 * - macOS: the same, listed with `ps` (no `/proc`); cookie carriers from `ps -E` (best effort).
 * - Windows: no process groups or signals: `taskkill /T` (graceful) and `taskkill /T /F` (forced)
 *   on the server's process tree (parent links), tree listing through PowerShell (CIM), one small
 *   Node watchdog per host instead of `/bin/sh`; environments of other processes are not readable,
 *   so a descendant whose parent chain to the server is broken cannot be found.
 */
import type { ChildProcessWithoutNullStreams, SpawnOptionsWithoutStdio } from 'node:child_process';
import { createDarwinPlatform } from './darwin.js';
import { createLinuxPlatform } from './linux.js';
import { createWin32Platform } from './win32.js';

export { defaultEnvironment, childEnvironment, newTreeCookie, inTree, TREE_VARIABLE, TOKEN_VARIABLE } from './environment.js';
export { type CommandResult, type CommandRunner, nodeCommandRunner } from './runner.js';

/** A server's process tree: its leader (the spawned process) and the cookie its environment carries. */
export interface ServerTree {
  /** Pid of the spawned server process (on POSIX also the id of its own process group). */
  readonly leader: number;
  /** The value of `MCP_IPC_TREE` given to the server (inherited by every descendant that keeps its environment). */
  readonly cookie: string;
}

/** Signals as the tree operations understand them: SIGTERM asks, SIGKILL forces. */
export type TreeSignal = 'SIGTERM' | 'SIGKILL';

/** Stops watching a tree (the host cleaned it up itself). */
export interface Watchdog {
  dismiss(): void;
}

export interface Platform {
  /** Which implementation this is. */
  readonly os: 'linux' | 'darwin' | 'win32';
  /**
   * Spawns a server with piped stdio: in its own process group where there is one, without a
   * console window on Windows, resolving `.cmd` shims (`npx`, `uvx`) there.
   */
  spawn(command: string, args: readonly string[], options: Pick<SpawnOptionsWithoutStdio, 'cwd' | 'env'>): ChildProcessWithoutNullStreams;
  /** The allow-listed part of `hostEnv` a server gets by default (see `defaultEnvironment`). */
  defaultEnvironment(hostEnv: NodeJS.ProcessEnv): Record<string, string>;
  /** Live (non-zombie) pids of the tree, leader included while it lives. Never throws. */
  treeMembers(tree: ServerTree): Promise<number[]>;
  /**
   * Sends `signal` to every member of the tree; resolves with the pids it reached. Bounded: a
   * helper command that hangs is abandoned after its own timeout. Never throws.
   */
  signalTree(tree: ServerTree, signal: TreeSignal): Promise<number[]>;
  /** SIGKILL (or its equivalent) to the tree, synchronously: for the host's `exit` hook. Never throws. */
  killTreeSync(tree: ServerTree): void;
  /** Whether the process lives (a zombie does not). */
  isAlive(pid: number): boolean;
  /**
   * Has a watchdog kill the tree if the host dies without cleaning up (SIGKILL, OOM killer).
   * `graceMs` between the polite and the forced kill. One watchdog process serves every tree of
   * the host; a fresh host may start it a moment later (see `shellWatchdogs`).
   */
  watchdog(tree: ServerTree, graceMs: number): Watchdog;
}

let current: Platform | undefined;

/** The platform of this process (created once). Unknown POSIX systems get the macOS (`ps`) implementation. */
export function currentPlatform(): Platform {
  current ??= platformFor(process.platform);
  return current;
}

/** The implementation for a given OS, with real I/O. */
export function platformFor(os: NodeJS.Platform): Platform {
  if (os === 'linux') return createLinuxPlatform();
  if (os === 'win32') return createWin32Platform();
  return createDarwinPlatform();
}

export { createDarwinPlatform, type DarwinDeps } from './darwin.js';
export { createLinuxPlatform, type LinuxDeps } from './linux.js';
export { createWin32Platform, type Win32Deps } from './win32.js';
