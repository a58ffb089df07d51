/**
 * macOS (and other POSIX systems without `/proc`): process groups and signals as on Linux; the
 * process table comes from `ps`. Cookie carriers are found with `ps -E`, which appends a process's
 * environment (as it was at exec) to its command line for the user's own processes: best effort —
 * a value can only be recognised when it is followed by a space or the end of the line, and
 * processes of other users or protected by SIP are not shown.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { defaultEnvironment, inTree, TREE_VARIABLE } from './environment.js';
import type { Platform, ServerTree, TreeSignal, Watchdog } from './index.js';
import { type Kill, nodeKill, nodeSpawnFn, shellWatchdogs, signalGroup, signalPid, type Spawn, spawnInGroup, WATCHDOG_REGISTRY } from './posix.js';
import { type CommandRunner, nodeCommandRunner } from './runner.js';

export interface DarwinDeps {
  /** Runs `ps`. @default nodeCommandRunner */
  runner?: CommandRunner;
  /** @default process.kill */
  kill?: Kill;
  /** @default child_process.spawn */
  spawn?: Spawn;
  /** @default '/bin/sh' */
  shell?: string;
  /** @default process.pid */
  selfPid?: number;
  /** Longest a `ps` may run. @default 5000 */
  commandTimeoutMs?: number;
}

export interface PsEntry {
  pid: number;
  ppid: number;
  pgid: number;
  /** `ps` STAT: first letter Z = zombie. */
  stat: string;
}

export const PS_TABLE_ARGS = ['-axo', 'pid=,ppid=,pgid=,stat='] as const;
export const PS_ENV_ARGS = ['-axEww', '-o', 'pid=,command='] as const;

/** Parses `ps -axo pid=,ppid=,pgid=,stat=`; lines that are not four fields with three numbers are skipped. */
export function parsePsTable(text: string): PsEntry[] {
  const entries: PsEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const [pid, ppid, pgid] = fields.slice(0, 3).map((f) => (/^\d+$/.test(f) ? Number(f) : NaN));
    if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(ppid) || !Number.isSafeInteger(pgid)) continue;
    entries.push({ pid: pid!, ppid: ppid!, pgid: pgid!, stat: fields[3]! });
  }
  return entries;
}

const COOKIE_IN_ENV = new RegExp(`(?:^|\\s)${TREE_VARIABLE}=([A-Za-z0-9_/-]+)(?=\\s|$)`, 'g');

/** Pids from `ps -axEww -o pid=,command=` whose environment carries a value in `cookie`'s tree. */
export function parsePsCarriers(text: string, cookie: string): number[] {
  const pids: number[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*(\d+)\s(.*)$/.exec(line);
    if (!match) continue;
    for (const m of match[2]!.matchAll(COOKIE_IN_ENV)) {
      if (inTree(m[1], cookie)) {
        pids.push(Number(match[1]));
        break;
      }
    }
  }
  return pids;
}

/**
 * The watchdog's kill script (after the shared registry, see posix.ts): each group, then the
 * carriers of the cookies as `ps -E` shows them; the grep pattern cannot match grep's own command
 * line (there a `(` follows the `=`).
 */
const WATCHDOG = [
  WATCHDOG_REGISTRY,
  'sweep() {',
  '  for e in $t; do kill -"$1" -"${e%%:*}" 2>/dev/null; done',
  '  ps -axEww -o pid= -o command= 2>/dev/null | grep -E "[[:space:]]MCP_IPC_TREE=($r)(/[^[:space:]]*)?([[:space:]]|\\$)" |',
  '    while read -r q _; do kill -"$1" "$q" 2>/dev/null; done',
  '}',
  'sweep TERM; sleep "$g"; sweep KILL',
].join('\n');

export function createDarwinPlatform(deps: DarwinDeps = {}): Platform {
  const runner = deps.runner ?? nodeCommandRunner;
  const kill = deps.kill ?? nodeKill;
  const spawn = deps.spawn ?? nodeSpawnFn;
  const shell = deps.shell ?? '/bin/sh';
  const self = deps.selfPid ?? process.pid;
  const timeoutMs = deps.commandTimeoutMs ?? 5_000;
  const watchdog = shellWatchdogs(spawn, shell, WATCHDOG);

  /** Live members, and those outside the group; undefined when `ps` failed. */
  async function members(tree: ServerTree): Promise<{ all: number[]; outside: number[] } | undefined> {
    const [table, env] = await Promise.all([runner.run('ps', PS_TABLE_ARGS, timeoutMs), runner.run('ps', PS_ENV_ARGS, timeoutMs)]);
    if (table.code !== 0) return undefined;
    const live = new Map(parsePsTable(table.stdout).filter((e) => !e.stat.startsWith('Z') && e.pid !== self).map((e) => [e.pid, e]));
    const carriers = env.code === 0 ? parsePsCarriers(env.stdout, tree.cookie) : []; // no -E: the group alone
    const all = [...live.values()].filter((e) => e.pgid === tree.leader).map((e) => e.pid);
    const outside = carriers.filter((pid) => live.has(pid) && live.get(pid)!.pgid !== tree.leader);
    return { all: [...all, ...outside], outside };
  }

  function isAlive(pid: number): boolean {
    try {
      kill(pid, 0);
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
    const r = runner.runSync('ps', ['-o', 'stat=', '-p', String(pid)], timeoutMs);
    return !(r.code === 0 && r.stdout.trim().startsWith('Z'));
  }

  return {
    os: 'darwin',
    spawn: (command, args, options): ChildProcessWithoutNullStreams => spawnInGroup(spawn, command, args, options),
    defaultEnvironment: (hostEnv) => defaultEnvironment(hostEnv, 'darwin'),
    async treeMembers(tree) {
      // `ps` unavailable: the group cannot be listed, but its leader can still be probed.
      return (await members(tree))?.all ?? (isAlive(tree.leader) ? [tree.leader] : []);
    },
    async signalTree(tree, sig: TreeSignal) {
      // The group needs no listing: signal it first, whatever `ps` says.
      signalGroup(kill, tree.leader, sig);
      const found = await members(tree);
      for (const pid of found?.outside ?? []) signalPid(kill, pid, sig);
      return found?.all ?? [];
    },
    killTreeSync(tree) {
      signalGroup(kill, tree.leader, 'SIGKILL');
      const env = runner.runSync('ps', PS_ENV_ARGS, timeoutMs);
      if (env.code === 0) for (const pid of parsePsCarriers(env.stdout, tree.cookie)) if (pid !== self) signalPid(kill, pid, 'SIGKILL');
    },
    isAlive,
    watchdog: (tree, graceMs): Watchdog => watchdog(tree, graceMs),
  };
}
