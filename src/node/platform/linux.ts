/**
 * Linux: everything from `/proc`. A server's tree is its process group plus every live process
 * whose environment (`/proc/PID/environ`, readable for the user's own processes) carries the
 * server's tree cookie — so a helper that called `setsid()` or `setpgid()`, or double-forked away
 * from its parent, is still found, and nothing else ever is.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { defaultEnvironment, inTree, TREE_VARIABLE } from './environment.js';
import type { Platform, ServerTree, TreeSignal, Watchdog } from './index.js';
import { type Kill, nodeKill, nodeSpawnFn, shellWatchdogs, signalGroup, signalPid, type Spawn, spawnInGroup, WATCHDOG_REGISTRY } from './posix.js';

export interface LinuxDeps {
  /** Where procfs is mounted (tests point it at a fake tree). @default '/proc' */
  procRoot?: string;
  /** @default process.kill */
  kill?: Kill;
  /** @default child_process.spawn */
  spawn?: Spawn;
  /** @default '/bin/sh' */
  shell?: string;
  /** This process (never part of a tree it hosts). @default process.pid */
  selfPid?: number;
}

export interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
}

/**
 * State, parent and process group from `<procRoot>/PID/stat`; undefined when the process is gone.
 * The fields after the command name (which may hold spaces and parentheses) are: state ppid pgrp …
 */
export function procStat(pid: number | string, procRoot = '/proc'): ProcStat | undefined {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

/** The `MCP_IPC_TREE` value a process was started with (what `getenv` would return: the first one). */
export function procTreeValue(pid: number | string, procRoot = '/proc'): string | undefined {
  let environ: string;
  try {
    environ = readFileSync(`${procRoot}/${pid}/environ`, 'utf8');
  } catch {
    return undefined; // gone, or not ours to read
  }
  const prefix = `${TREE_VARIABLE}=`;
  for (const entry of environ.split('\0')) if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  return undefined;
}

/**
 * The watchdog's kill script (after the shared registry, see posix.ts): each group, then every
 * process whose environment carries one of the cookies. `tr | grep` is POSIX (no `grep -z`).
 */
const WATCHDOG = [
  WATCHDOG_REGISTRY,
  'sweep() {',
  '  for e in $t; do kill -"$1" -"${e%%:*}" 2>/dev/null; done',
  '  for f in /proc/[0-9]*/environ; do',
  '    tr "\\000" "\\n" <"$f" 2>/dev/null | grep -qE "^MCP_IPC_TREE=($r)(/|\\$)" || continue',
  '    q=${f#/proc/}; kill -"$1" "${q%/environ}" 2>/dev/null',
  '  done',
  '}',
  'sweep TERM; sleep "$g"; sweep KILL',
].join('\n');

export function createLinuxPlatform(deps: LinuxDeps = {}): Platform {
  const root = deps.procRoot ?? '/proc';
  const kill = deps.kill ?? nodeKill;
  const spawn = deps.spawn ?? nodeSpawnFn;
  const shell = deps.shell ?? '/bin/sh';
  const self = deps.selfPid ?? process.pid;
  const watchdog = shellWatchdogs(spawn, shell, WATCHDOG);

  /** Live members: in the leader's group, or carrying the cookie. `outside`: those not in the group. */
  function members(tree: ServerTree): { all: number[]; outside: number[] } {
    const all: number[] = [];
    const outside: number[] = [];
    let entries: string[];
    try {
      entries = readdirSync(root);
    } catch {
      return { all, outside };
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry) || Number(entry) === self) continue;
      const stat = procStat(entry, root); // undefined: ended while we looked
      if (!stat || stat.state === 'Z') continue;
      if (stat.pgrp === tree.leader) all.push(Number(entry));
      else if (inTree(procTreeValue(entry, root), tree.cookie)) {
        all.push(Number(entry));
        outside.push(Number(entry));
      }
    }
    return { all, outside };
  }

  function signal(tree: ServerTree, sig: TreeSignal): number[] {
    const { all, outside } = members(tree);
    signalGroup(kill, tree.leader, sig);
    for (const pid of outside) signalPid(kill, pid, sig);
    return all;
  }

  return {
    os: 'linux',
    spawn: (command, args, options): ChildProcessWithoutNullStreams => spawnInGroup(spawn, command, args, options),
    defaultEnvironment: (hostEnv) => defaultEnvironment(hostEnv, 'linux'),
    treeMembers: (tree) => Promise.resolve(members(tree).all),
    signalTree: (tree, sig) => Promise.resolve(signal(tree, sig)),
    killTreeSync: (tree) => void signal(tree, 'SIGKILL'),
    isAlive(pid) {
      try {
        kill(pid, 0);
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'EPERM';
      }
      // A zombie (exited, not yet reaped: common under container init processes that never reap) is not alive.
      return procStat(pid, root)?.state !== 'Z';
    },
    watchdog: (tree, graceMs): Watchdog => watchdog(tree, graceMs),
  };
}
