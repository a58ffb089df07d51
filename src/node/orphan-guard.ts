/**
 * No orphans, even when the host dies without running any cleanup (SIGKILL, OOM killer).
 *
 * Every server runs in its own process group. For each one a tiny watchdog (`sh`) is started in
 * yet another group, holding the read end of a pipe whose write end only the host holds. When the
 * host dies for any reason the kernel closes that pipe, `read` returns, and the watchdog sends
 * SIGTERM, then SIGKILL, to the server's whole group. When the host stops the server itself, it
 * dismisses the watchdog first. A synchronous `exit` hook covers ordinary exits too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

const WATCHDOG = 'read _; kill -TERM -"$1" 2>/dev/null; sleep "$2"; kill -KILL -"$1" 2>/dev/null';

export interface OrphanGuard {
  /** Stop watching (the group was cleaned up by the host). */
  dismiss(): void;
}

const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort on a normal exit (process.exit, end of event loop, uncaught exception): only sync work here.
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  });
}

/** Watches a process group for as long as the host lives. `graceSeconds` between SIGTERM and SIGKILL. */
export function guardProcessGroup(pgid: number, graceSeconds = 2): OrphanGuard {
  installExitHook();
  liveGroups.add(pgid);
  let watchdog: ChildProcess | undefined;
  try {
    watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'mcp-ipc-guard', String(pgid), String(graceSeconds)], {
      detached: true, // its own group: a Ctrl-C to the host's terminal group must not kill it first
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.on('error', () => undefined); // no /bin/sh: the exit hook still covers normal exits
    watchdog.unref();
    // The pipe is a net.Socket: unref it too, so an idle host can still exit on its own.
    (watchdog.stdin as Socket | null)?.unref();
  } catch {
    watchdog = undefined;
  }
  return {
    dismiss() {
      liveGroups.delete(pgid);
      if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
    },
  };
}

/** Sends a signal to a whole process group; false when the group no longer exists. */
export function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * State and process group of a process, from /proc/PID/stat (Linux); undefined when it is gone or
 * there is no /proc. The fields after the command name (which may hold spaces and parentheses)
 * are: state ppid pgrp …
 */
export function procStat(pid: number | string): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, pgrp: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped: common under container init processes that never reap) is
  // not alive. No /proc (not Linux): signal 0 succeeded, so it is.
  return procStat(pid)?.state !== 'Z';
}

/** Pids of the live (non-zombie) members of a process group, from /proc (Linux); [] elsewhere. */
export function listProcessGroup(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry); // undefined: the process ended while we looked
    if (stat && stat.state !== 'Z' && stat.pgrp === pgid) pids.push(Number(entry));
  }
  return pids;
}
