/**
 * What Linux and macOS share: a process group per server, signals, and one `/bin/sh` watchdog per
 * host that holds the read end of a pipe only the host writes to. The host registers each server's
 * tree on it and unregisters the tree once it cleaned it up itself. When the host dies for any
 * reason the kernel closes the pipe, `read` sees the end, and the watchdog runs the kill script on
 * every tree still registered (SIGTERM, a grace period, SIGKILL — to each group and to every
 * process carrying one of the tree cookies).
 */
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn as nodeSpawn, type SpawnOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import { isCookie } from './environment.js';
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
 * The part of the watchdog script both POSIX platforms share: it reads registrations from stdin,
 * `+ PGID COOKIE GRACE` (grace in whole seconds) and `- PGID`, until the end of the pipe — the
 * host is gone — and then leaves `$t` holding the trees still registered (` PGID:COOKIE:GRACE`
 * each), `$r` their cookies as an extended-regex alternation and `$g` the longest grace. With
 * nothing registered it exits at once. The platform's script appends `sweep()` and its call.
 */
export const WATCHDOG_REGISTRY = [
  't=',
  'while read -r o p c s; do',
  '  case $o in',
  '    +) t="$t $p:$c:$s" ;;',
  '    -) n=; for e in $t; do [ "${e%%:*}" = "$p" ] || n="$n $e"; done; t=$n ;;',
  '  esac',
  'done',
  '[ -n "$t" ] || exit 0',
  'g=1; r=',
  'for e in $t; do s=${e##*:}; [ "$s" -gt "$g" ] && g=$s; e=${e%:*}; r="$r|${e#*:}"; done',
  'r=${r#|}',
].join('\n');

/**
 * One watchdog (`/bin/sh -c script mcp-ipc-guard`) for every server tree of this host: a server
 * costs a line on its pipe instead of a process (a `fork` of the host takes 1–2 ms of its thread,
 * which would otherwise delay every server's start). It runs in a group of its own, so a Ctrl-C to
 * the host's terminal group does not kill it first, and is unref'd with its pipe, so an idle host
 * can still exit on its own.
 *
 * The first spawn waits for `setImmediate`: by then the server's first request (the MCP probe or
 * handshake, written in the same tick as the spawn) is on its way, and the `fork` overlaps the
 * server's own start-up instead of preceding it. Until then the tree is covered by the host's
 * `exit` hook (see orphan-guard.ts). A watchdog that died (killed by someone) is started again at
 * once while trees are registered, with all of them; one that lived less than a second (a shell
 * that cannot run must not be started in a loop) is tried again after 1 s, 2 s, 4 s … up to 30 s
 * between tries, and at once by the next registration.
 */
export function shellWatchdogs(spawn: Spawn, shell: string, script: string): (tree: ServerTree, graceMs: number) => Watchdog {
  let watchdog: ChildProcess | undefined;
  let scheduled = false;
  /** The wait before the next try after a watchdog that died at once (0: it did not). */
  let backoffMs = 0;
  /** Registered trees by leader: their registration line. */
  const trees = new Map<number, string>();
  const running = () => watchdog !== undefined && watchdog.exitCode === null && watchdog.signalCode === null && watchdog.stdin?.writable === true;
  const write = (text: string) => {
    if (text !== '' && running()) watchdog!.stdin!.write(text);
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(start);
  };
  const start = () => {
    scheduled = false;
    if (running() || trees.size === 0) return;
    try {
      const child = spawn(shell, ['-c', script, 'mcp-ipc-guard'], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
      const startedAt = performance.now();
      child.on('error', () => undefined); // no shell: the exit hook still covers ordinary exits
      child.stdin?.on('error', () => undefined); // EPIPE: it died (see 'exit')
      child.once('exit', () => {
        if (watchdog !== child || trees.size === 0) return;
        if (performance.now() - startedAt >= 1_000) {
          backoffMs = 0;
          schedule();
          return;
        }
        backoffMs = Math.min(30_000, backoffMs === 0 ? 1_000 : backoffMs * 2);
        setTimeout(schedule, backoffMs).unref();
      });
      child.unref();
      (child.stdin as Partial<Socket> | null)?.unref?.();
      watchdog = child;
      write([...trees.values()].join(''));
    } catch {
      watchdog = undefined;
    }
  };
  return (tree, graceMs) => {
    // Only what the script can take literally: a real group id and a well-formed cookie.
    if (!signallable(tree.leader) || !isCookie(tree.cookie)) return { dismiss: () => undefined };
    const line = `+ ${tree.leader} ${tree.cookie} ${Math.max(1, Math.ceil(graceMs / 1000))}\n`;
    trees.set(tree.leader, line);
    if (running()) write(line);
    else schedule();
    let dismissed = false;
    return {
      dismiss() {
        // A later tree with the same leader (a reused pid) keeps its registration.
        if (dismissed || trees.get(tree.leader) !== line) return;
        dismissed = true;
        trees.delete(tree.leader);
        write(`- ${tree.leader}\n`);
      },
    };
  };
}
