/**
 * No orphans, even when the host dies without running any cleanup (SIGKILL, OOM killer).
 *
 * Each server tree is registered with the platform's watchdog, which kills the trees still
 * registered once the host is gone (one process per host holding a pipe only the host writes to: a
 * tiny `/bin/sh` on POSIX, a small Node process on Windows — see `src/node/platform/`). When the
 * host cleans a tree up itself, it unregisters it. A synchronous `exit` hook covers ordinary exits
 * (process.exit, the end of the event loop, an uncaught exception) too, and the moment before a
 * fresh host's watchdog runs.
 */
import { readdirSync } from 'node:fs';
import { currentPlatform, type Platform, type ServerTree } from './platform/index.js';
import { procStat } from './platform/linux.js';

export { procStat } from './platform/linux.js';

export interface OrphanGuard {
  /** Stop watching (the tree was cleaned up by the host). */
  dismiss(): void;
}

const liveTrees = new Map<ServerTree, Platform>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Only synchronous work is possible here.
  process.on('exit', () => {
    for (const [tree, platform] of liveTrees) platform.killTreeSync(tree);
  });
}

/** Watches a server's tree for as long as the host lives. `graceMs` between the polite and the forced kill. */
export function guardTree(tree: ServerTree, graceMs = 2_000, platform: Platform = currentPlatform()): OrphanGuard {
  installExitHook();
  liveTrees.set(tree, platform);
  const watchdog = platform.watchdog(tree, graceMs);
  return {
    dismiss() {
      liveTrees.delete(tree);
      watchdog.dismiss();
    },
  };
}

/** Sends a signal to a whole process group (POSIX); false when the group no longer exists. */
export function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process lives; a zombie (exited, not yet reaped) does not. */
export function isAlive(pid: number): boolean {
  return currentPlatform().isAlive(pid);
}

/**
 * Pids of the live (non-zombie) members of a process group, from /proc (Linux); [] elsewhere.
 * A server's whole tree, beyond its group, is `currentPlatform().treeMembers(tree)`.
 */
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
