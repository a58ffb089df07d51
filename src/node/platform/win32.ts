/**
 * Windows: no process groups, no signals (`process.kill` is TerminateProcess on one process), no
 * way to read another process's environment. So:
 * - spawn through `cross-spawn` (runs `.cmd`/`.bat` shims such as `npx` and `uvx` correctly,
 *   quoting arguments for cmd.exe), with `windowsHide`;
 * - the tree is the server and its descendants by parent links, listed with PowerShell (CIM), or
 *   `wmic` where PowerShell fails. Members seen once are remembered, so a descendant whose parent
 *   died is still found while its recorded parent id still matches;
 * - SIGTERM is `taskkill /T /PID` (asks windowed programs to close; console programs refuse it),
 *   SIGKILL is `taskkill /T /F /PID`; when `taskkill` itself fails, the process is terminated directly;
 * - host death: the server itself is in Node's kill-on-close job object (libuv puts every
 *   non-detached child there), so it dies with the host; its descendants break away from that job.
 *   One small Node watchdog per host (no `/bin/sh` here) holds a pipe from the host; the host
 *   registers each server and every descendant it has seen; when the pipe closes the watchdog
 *   lists the processes once more and runs `taskkill /T /F` on the registered pids and everything
 *   descending from them by parent links (the parent id of an orphan still names its dead parent).
 * Not reachable: a descendant whose parent chain to the server broke before it was ever listed.
 * A pid reused by an unrelated process in the moment between a listing and a kill could be hit.
 */
import type { ChildProcess, ChildProcessWithoutNullStreams, SpawnOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import crossSpawn from 'cross-spawn';
import { defaultEnvironment } from './environment.js';
import type { Platform, ServerTree, TreeSignal, Watchdog } from './index.js';
import { type Kill, nodeKill, signallable } from './posix.js';
import { type CommandRunner, nodeCommandRunner } from './runner.js';

type Spawn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

export interface Win32Deps {
  /** Runs `taskkill`, PowerShell, `wmic`. @default nodeCommandRunner */
  runner?: CommandRunner;
  /** Spawns servers (cross-spawn) and the watchdog. @default cross-spawn */
  spawn?: Spawn;
  /** @default process.kill */
  kill?: Kill;
  /** The Node binary the watchdog runs on. @default process.execPath */
  nodePath?: string;
  /** @default process.pid */
  selfPid?: number;
  /** Longest a helper command may run. @default 10000 (PowerShell starts slowly) */
  commandTimeoutMs?: number;
}

export const POWERSHELL_ARGS = [
  '-NoProfile',
  '-NonInteractive',
  '-Command',
  'Get-CimInstance Win32_Process | ForEach-Object { "$($_.ProcessId) $($_.ParentProcessId)" }',
] as const;
export const WMIC_ARGS = ['process', 'get', 'ProcessId,ParentProcessId', '/format:csv'] as const;

/** pid → parent pid, from PowerShell's "pid ppid" lines or wmic's CSV (Node,ParentProcessId,ProcessId). */
export function parseWindowsTable(text: string, csv: boolean): Map<number, number> {
  const table = new Map<number, number>();
  for (const line of text.split(/\r?\n/)) {
    const fields = csv ? line.trim().split(',').slice(1) : line.trim().split(/\s+/);
    if (fields.length !== 2 || !fields.every((f) => /^\d+$/.test(f))) continue;
    const [a, b] = fields.map(Number) as [number, number];
    if (csv) table.set(b, a); // wmic orders columns alphabetically: ParentProcessId, ProcessId
    else table.set(a, b);
  }
  return table;
}

/**
 * The watchdog (CommonJS, for `node -e`). Arguments: the listing command and the kill command, each
 * as a JSON array. Reads `+PID` / `-PID` lines; when stdin ends (the host is gone) runs the listing
 * (lines "pid ppid"), adds every descendant of a registered pid, and runs the kill command with the
 * pid appended for each. A failed listing still kills the registered pids.
 */
export const WATCHDOG_SCRIPT = [
  "const { execFileSync } = require('node:child_process');",
  'const [list, kill] = process.argv.slice(1).map((a) => JSON.parse(a)); const pids = new Set(); let buf = "";',
  "const run = (cmd, extra) => execFileSync(cmd[0], [...cmd.slice(1), ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], windowsHide: true, timeout: 15000 });",
  "process.stdin.setEncoding('utf8');",
  "process.stdin.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { const l = buf.slice(0, i).trim(); buf = buf.slice(i + 1);",
  "  if (l[0] === '+') pids.add(l.slice(1)); else if (l[0] === '-') pids.delete(l.slice(1)); } });",
  'const end = () => {',
  '  try {',
  '    const parent = new Map(); for (const line of run(list, []).split(/\\r?\\n/)) { const [p, pp] = line.trim().split(/\\s+/); if (/^\\d+$/.test(p) && /^\\d+$/.test(pp)) parent.set(p, pp); }',
  '    for (let grew = true; grew; ) { grew = false; for (const [p, pp] of parent) if (!pids.has(p) && pids.has(pp)) { pids.add(p); grew = true; } }',
  '  } catch {}',
  '  for (const p of pids) { try { run(kill, [p]); } catch {} }',
  '  process.exit(0);',
  '};',
  "process.stdin.on('end', end); process.stdin.on('error', end);",
].join('\n');
export const WATCHDOG_KILL = ['taskkill', '/T', '/F', '/PID'] as const;

export function createWin32Platform(deps: Win32Deps = {}): Platform {
  const runner = deps.runner ?? nodeCommandRunner;
  const spawn: Spawn = deps.spawn ?? ((command, args, options) => crossSpawn(command, [...args], options));
  const kill = deps.kill ?? nodeKill;
  const nodePath = deps.nodePath ?? process.execPath;
  const self = deps.selfPid ?? process.pid;
  const timeoutMs = deps.commandTimeoutMs ?? 10_000;
  /** Per tree (by leader): descendants seen so far, with the parent they had. */
  const known = new Map<number, Map<number, number>>();

  async function table(): Promise<Map<number, number> | undefined> {
    const ps = await runner.run('powershell.exe', POWERSHELL_ARGS, timeoutMs);
    if (ps.code === 0) return parseWindowsTable(ps.stdout, false);
    const wmic = await runner.run('wmic', WMIC_ARGS, timeoutMs);
    if (wmic.code === 0) return parseWindowsTable(wmic.stdout, true);
    return undefined;
  }

  function isAlive(pid: number): boolean {
    try {
      kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  /** The leader (if alive) and its descendants; remembered ones too while their recorded parent still matches. */
  async function members(tree: ServerTree): Promise<number[]> {
    const parents = await table();
    if (!parents) return isAlive(tree.leader) ? [tree.leader] : [];
    const seen = known.get(tree.leader) ?? new Map<number, number>();
    const found = new Set<number>();
    if (parents.has(tree.leader)) found.add(tree.leader);
    for (const [pid, ppid] of seen) if (parents.get(pid) === ppid) found.add(pid);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, ppid] of parents) {
        if (pid === self || found.has(pid)) continue;
        if (ppid === tree.leader || found.has(ppid)) {
          found.add(pid);
          grew = true;
        }
      }
    }
    const next = new Map<number, number>();
    for (const pid of found) if (pid !== tree.leader) next.set(pid, parents.get(pid)!);
    known.set(tree.leader, next);
    // The watchdog learns each descendant once: after the host's death it starts from these.
    const watched = registered.get(tree.leader);
    if (watched) for (const pid of found) if (!watched.has(pid) && register(`+${pid}`)) watched.add(pid);
    return [...found];
  }

  /** taskkill on the leader's tree and on remembered orphans; a failed taskkill falls back to TerminateProcess. */
  async function signal(tree: ServerTree, sig: TreeSignal): Promise<number[]> {
    const roots = [tree.leader, ...(known.get(tree.leader)?.keys() ?? [])];
    const reached: number[] = [];
    for (const pid of roots) {
      if (!signallable(pid) || (pid !== tree.leader && !isAlive(pid))) continue;
      const args = sig === 'SIGKILL' ? ['/T', '/F', '/PID', String(pid)] : ['/T', '/PID', String(pid)];
      const r = await runner.run('taskkill', args, timeoutMs);
      if (r.code === 0) reached.push(pid);
      else if (sig === 'SIGKILL') {
        try {
          kill(pid, 'SIGKILL');
          reached.push(pid);
        } catch {
          // gone
        }
      }
    }
    return reached;
  }

  let watchdog: ChildProcess | undefined;
  /** Per watched tree (by leader): the pids registered with the watchdog. */
  const registered = new Map<number, Set<number>>();
  function register(line: string): boolean {
    const stdin = watchdog?.stdin;
    if (!stdin?.writable) return false;
    stdin.write(`${line}\n`);
    return true;
  }

  return {
    os: 'win32',
    spawn: (command, args, options): ChildProcessWithoutNullStreams =>
      // No `detached`: on Windows it only opens a new console. The tree is found by parent links instead.
      spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'], shell: false, windowsHide: true }) as ChildProcessWithoutNullStreams,
    defaultEnvironment: (hostEnv) => defaultEnvironment(hostEnv, 'win32'),
    treeMembers: (tree) => members(tree),
    signalTree: (tree, sig) => signal(tree, sig),
    killTreeSync(tree) {
      for (const pid of [tree.leader, ...(known.get(tree.leader)?.keys() ?? [])]) {
        if (!signallable(pid)) continue;
        const r = runner.runSync('taskkill', ['/T', '/F', '/PID', String(pid)], timeoutMs);
        if (r.code !== 0) {
          try {
            kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    },
    isAlive,
    watchdog(tree): Watchdog {
      if (!watchdog || watchdog.exitCode !== null || watchdog.signalCode !== null) {
        try {
          const child = spawn(nodePath, ['-e', WATCHDOG_SCRIPT, JSON.stringify(['powershell.exe', ...POWERSHELL_ARGS]), JSON.stringify(WATCHDOG_KILL)], {
            detached: true, // outlives the host's console
            windowsHide: true,
            stdio: ['pipe', 'ignore', 'ignore'],
            env: defaultEnvironment(process.env, 'win32'), // no NODE_OPTIONS, no secrets
          });
          child.on('error', () => undefined);
          child.unref();
          (child.stdin as Partial<Socket> | null)?.unref?.();
          watchdog = child;
        } catch {
          watchdog = undefined;
        }
      }
      if (signallable(tree.leader) && register(`+${tree.leader}`)) registered.set(tree.leader, new Set([tree.leader]));
      return {
        dismiss() {
          const pids = registered.get(tree.leader);
          registered.delete(tree.leader);
          known.delete(tree.leader);
          for (const pid of pids ?? []) register(`-${pid}`);
        },
      };
    },
  };
}
