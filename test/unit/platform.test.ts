/**
 * The platform layer through injected fakes: a fake /proc for Linux, a fake command runner for
 * macOS (`ps`) and Windows (`taskkill`, PowerShell, wmic). Asserts the commands issued, which
 * processes are signalled (never one outside the tree), fallbacks when a command fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  childEnvironment,
  type CommandResult,
  type CommandRunner,
  createDarwinPlatform,
  createLinuxPlatform,
  createWin32Platform,
  defaultEnvironment,
  inTree,
  newTreeCookie,
  TREE_VARIABLE,
} from '../../src/node/platform/index.js';
import { parsePsCarriers, parsePsTable, PS_ENV_ARGS, PS_TABLE_ARGS } from '../../src/node/platform/darwin.js';
import { parseWindowsTable, POWERSHELL_ARGS, WATCHDOG_SCRIPT } from '../../src/node/platform/win32.js';

const OK = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: '' });
const FAIL: CommandResult = { code: 1, stdout: '', stderr: 'failed' };

/** Records every command; answers from `answer` (by command line). */
function fakeRunner(answer: (cmd: string) => CommandResult): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  const respond = (file: string, args: readonly string[]) => {
    const cmd = [file, ...args].join(' ');
    calls.push(cmd);
    return answer(cmd);
  };
  return { calls, run: async (file, args) => respond(file, args), runSync: (file, args) => respond(file, args) };
}

/** Records signals; `alive` pids answer signal 0, others throw ESRCH. */
function fakeKill(alive: Set<number>) {
  const sent: Array<[number, string | number]> = [];
  const kill = (pid: number, signal: NodeJS.Signals | 0) => {
    if (signal !== 0) sent.push([pid, signal]);
    if (!alive.has(Math.abs(pid))) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
  };
  return { kill, sent };
}

const tree = { leader: 100, cookie: 'run/abc' };

describe('environment', () => {
  it('keeps only the allow-list (POSIX), locale and temp dirs; skips exported shell functions', () => {
    const env = defaultEnvironment(
      { PATH: '/bin', HOME: '/h', LANG: 'C', LC_ALL: 'C.UTF-8', TMPDIR: '/t', MCP_IPC_TOKEN: 't', AWS_SECRET_ACCESS_KEY: 's', SHELL: '() { evil; }' },
      'linux',
    );
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', LANG: 'C', LC_ALL: 'C.UTF-8', TMPDIR: '/t' });
  });

  it('matches Windows names case-insensitively, keeping what cmd.exe needs for .cmd shims', () => {
    const env = defaultEnvironment({ Path: 'C:\\bin', SystemRoot: 'C:\\Windows', PATHEXT: '.COM;.CMD', ComSpec: 'cmd.exe', SECRET: 'x' }, 'win32');
    expect(env).toEqual({ Path: 'C:\\bin', SystemRoot: 'C:\\Windows', PATHEXT: '.COM;.CMD', ComSpec: 'cmd.exe' });
  });

  it('withholds the token even with inheritEnv, unless the config names it; the cookie always wins', () => {
    const host = { PATH: '/bin', MCP_IPC_TOKEN: 'tok', SECRET: 's' };
    expect(childEnvironment({}, 'c', host, 'linux')).toEqual({ PATH: '/bin', [TREE_VARIABLE]: 'c' });
    expect(childEnvironment({ inheritEnv: true }, 'c', host, 'linux')).toEqual({ PATH: '/bin', SECRET: 's', [TREE_VARIABLE]: 'c' });
    expect(childEnvironment({ env: { MCP_IPC_TOKEN: 'tok', [TREE_VARIABLE]: 'forged' } }, 'c', host, 'linux')).toEqual({
      PATH: '/bin',
      MCP_IPC_TOKEN: 'tok',
      [TREE_VARIABLE]: 'c',
    });
    // Windows: `Path` from the config replaces the host's `PATH` instead of sitting next to it.
    expect(childEnvironment({ env: { Path: 'D:\\x' } }, 'c', { PATH: 'C:\\bin', Mcp_Ipc_Token: 't' }, 'win32')).toEqual({ Path: 'D:\\x', [TREE_VARIABLE]: 'c' });
    expect(childEnvironment({ inheritEnv: true }, 'c', { PATH: 'C:\\bin', Mcp_Ipc_Token: 't' }, 'win32')).toEqual({ PATH: 'C:\\bin', [TREE_VARIABLE]: 'c' });
  });

  it('nests cookies under the host tree and matches a tree exactly or by "/" prefix', () => {
    expect(newTreeCookie({}, 'abc')).toBe('abc');
    expect(newTreeCookie({ [TREE_VARIABLE]: 'run/x' }, 'abc')).toBe('run/x/abc');
    expect(newTreeCookie({ [TREE_VARIABLE]: 'bad value; rm -rf /' }, 'abc')).toBe('abc');
    expect(newTreeCookie({}).length).toBeGreaterThanOrEqual(16);
    expect(inTree('run/abc', 'run/abc')).toBe(true);
    expect(inTree('run/abc/def', 'run/abc')).toBe(true);
    expect(inTree('run/abcd', 'run/abc')).toBe(false);
    expect(inTree('run', 'run/abc')).toBe(false);
    expect(inTree(undefined, 'run/abc')).toBe(false);
  });
});

describe('linux (fake /proc)', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  function proc(pid: number, state: string, ppid: number, pgrp: number, env: Record<string, string> = {}) {
    mkdirSync(join(root, String(pid)));
    writeFileSync(join(root, String(pid), 'stat'), `${pid} (odd) name) ${state} ${ppid} ${pgrp} 0 0`);
    writeFileSync(join(root, String(pid), 'environ'), Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(''));
  }

  it('a tree is the group plus cookie carriers; only those are signalled, the outside ones one by one', async () => {
    root = mkdtempSync(join(tmpdir(), 'fake-proc-'));
    proc(100, 'S', 1, 100, { [TREE_VARIABLE]: 'run/abc' }); // leader
    proc(101, 'S', 100, 100); // in the group, environment scrubbed
    proc(102, 'S', 1, 102, { [TREE_VARIABLE]: 'run/abc' }); // setsid daemon
    proc(103, 'S', 1, 103, { [TREE_VARIABLE]: 'run/abc/nested' }); // a nested host's server
    proc(104, 'Z', 1, 104, { [TREE_VARIABLE]: 'run/abc' }); // zombie
    proc(200, 'S', 1, 200, { [TREE_VARIABLE]: 'run/abcd' }); // lookalike
    proc(201, 'S', 1, 201, { [TREE_VARIABLE]: 'run' }); // the outer tree
    proc(202, 'S', 1, 202); // a stranger
    proc(300, 'S', 1, 300, { [TREE_VARIABLE]: 'run/abc' }); // the host itself (cannot happen, but never)
    const { kill, sent } = fakeKill(new Set([100, 101, 102, 103, 200, 201, 202, 300]));
    const linux = createLinuxPlatform({ procRoot: root, kill, selfPid: 300 });
    expect((await linux.treeMembers(tree)).sort()).toEqual([100, 101, 102, 103]);
    await linux.signalTree(tree, 'SIGTERM');
    expect(sent.sort()).toEqual([
      [-100, 'SIGTERM'],
      [102, 'SIGTERM'],
      [103, 'SIGTERM'],
    ]);
    sent.length = 0;
    linux.killTreeSync(tree);
    expect(sent.map(([p]) => p).sort()).toEqual([-100, 102, 103]);
    expect(sent.every(([, s]) => s === 'SIGKILL')).toBe(true);
  });

  it('never signals -1, 0 or 1 (everything, the own group, init), whatever the tree says', async () => {
    root = mkdtempSync(join(tmpdir(), 'fake-proc-'));
    const { kill, sent } = fakeKill(new Set([1]));
    const platforms = [
      createLinuxPlatform({ procRoot: root, kill }),
      createDarwinPlatform({ runner: fakeRunner(() => FAIL), kill }),
      createWin32Platform({ runner: fakeRunner(() => FAIL), kill }),
    ];
    for (const platform of platforms) {
      for (const leader of [-1, 0, 1, 1.5]) {
        await platform.signalTree({ leader, cookie: '' }, 'SIGKILL');
        platform.killTreeSync({ leader, cookie: '' });
      }
    }
    expect(sent).toEqual([]);
    expect(inTree('/x', '')).toBe(false);
  });

  it('a zombie is not alive', () => {
    root = mkdtempSync(join(tmpdir(), 'fake-proc-'));
    proc(5, 'Z', 1, 5);
    proc(6, 'S', 1, 6);
    const linux = createLinuxPlatform({ procRoot: root, kill: fakeKill(new Set([5, 6])).kill });
    expect(linux.isAlive(5)).toBe(false);
    expect(linux.isAlive(6)).toBe(true);
    expect(linux.isAlive(7)).toBe(false);
  });
});

describe('the POSIX watchdog: one /bin/sh per host, trees registered over its pipe', () => {
  /** A spawn that records its calls and hands out fake watchdogs whose stdin is recorded. */
  function fakeShell() {
    const spawned: Array<{ command: string; args: readonly string[]; written: string[]; child: ChildProcess }> = [];
    const spawn = (command: string, args: readonly string[]) => {
      const stdin = new PassThrough();
      const written: string[] = [];
      stdin.on('data', (d: Buffer) => written.push(d.toString()));
      const child = Object.assign(new EventEmitter(), { stdin, exitCode: null as number | null, signalCode: null, unref() {} }) as unknown as ChildProcess;
      spawned.push({ command, args, written, child });
      return child;
    };
    return { spawned, spawn };
  }
  const tick = () => new Promise((r) => setImmediate(r));

  for (const [os, create] of [
    ['linux', (spawn: ReturnType<typeof fakeShell>['spawn']) => createLinuxPlatform({ spawn, shell: '/bin/sh' })],
    ['darwin', (spawn: ReturnType<typeof fakeShell>['spawn']) => createDarwinPlatform({ spawn, shell: '/bin/sh', runner: fakeRunner(() => FAIL) })],
  ] as const) {
    it(`${os}: the first tree starts it a moment later (setImmediate); later trees and dismissals are lines`, async () => {
      const { spawned, spawn } = fakeShell();
      const platform = create(spawn);
      const a = platform.watchdog({ leader: 100, cookie: 'run/a' }, 1000);
      const b = platform.watchdog({ leader: 200, cookie: 'run/b' }, 4500);
      expect(spawned).toHaveLength(0); // not in the spawn's own tick: the server's first request goes first
      await tick();
      expect(spawned).toHaveLength(1);
      expect(spawned[0]!.command).toBe('/bin/sh');
      expect(spawned[0]!.args[0]).toBe('-c');
      expect(spawned[0]!.args[2]).toBe('mcp-ipc-guard');
      platform.watchdog({ leader: 300, cookie: 'run/c' }, 0).dismiss();
      a.dismiss();
      a.dismiss();
      await tick();
      expect(spawned).toHaveLength(1);
      expect(spawned[0]!.written.join('')).toBe('+ 100 run/a 1\n+ 200 run/b 5\n+ 300 run/c 1\n- 300\n- 100\n');
      b.dismiss();
    });
  }

  it('a watchdog that died is started again by the next registration, with every tree still registered', async () => {
    const { spawned, spawn } = fakeShell();
    const linux = createLinuxPlatform({ spawn });
    const a = linux.watchdog({ leader: 100, cookie: 'run/a' }, 1000);
    await tick();
    (spawned[0]!.child as unknown as { exitCode: number }).exitCode = 137;
    linux.watchdog({ leader: 200, cookie: 'run/b' }, 1000);
    await tick();
    expect(spawned).toHaveLength(2);
    expect(spawned[1]!.written.join('')).toBe('+ 100 run/a 1\n+ 200 run/b 1\n');
    a.dismiss();
    expect(spawned[1]!.written.join('')).toContain('- 100\n');
  });

  it('a watchdog killed after it ran a while is started again at once; one that died at once is tried again after 1 s, 2 s, … or by the next registration', async () => {
    const { spawned, spawn } = fakeShell();
    const linux = createLinuxPlatform({ spawn });
    let now = 1_000;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const dieAtOnce = (i: number) => {
      (spawned[i]!.child as unknown as { exitCode: number }).exitCode = 127; // no shell?
      spawned[i]!.child.emit('exit', 127, null);
    };
    try {
      linux.watchdog({ leader: 100, cookie: 'run/a' }, 1000);
      await tick();
      now += 5_000; // it ran a while, then someone killed it
      (spawned[0]!.child as unknown as { signalCode: string }).signalCode = 'SIGKILL';
      spawned[0]!.child.emit('exit', null, 'SIGKILL');
      await tick();
      expect(spawned).toHaveLength(2);
      expect(spawned[1]!.written.join('')).toBe('+ 100 run/a 1\n');
      dieAtOnce(1);
      await tick();
      expect(spawned).toHaveLength(2); // not in a loop
      vi.advanceTimersByTime(999);
      await tick();
      expect(spawned).toHaveLength(2);
      vi.advanceTimersByTime(1);
      await tick();
      expect(spawned).toHaveLength(3); // a second later
      expect(spawned[2]!.written.join('')).toBe('+ 100 run/a 1\n');
      dieAtOnce(2);
      vi.advanceTimersByTime(1_999);
      await tick();
      expect(spawned).toHaveLength(3);
      linux.watchdog({ leader: 200, cookie: 'run/b' }, 1000); // a registration does not wait
      await tick();
      expect(spawned).toHaveLength(4);
      expect(spawned[3]!.written.join('')).toBe('+ 100 run/a 1\n+ 200 run/b 1\n');
      vi.advanceTimersByTime(1);
      await tick();
      expect(spawned).toHaveLength(4); // the pending try finds it running
    } finally {
      vi.useRealTimers();
      clock.mockRestore();
    }
  });

  it('a tree dismissed before the watchdog started does not start one; a reused leader keeps its new registration', async () => {
    const { spawned, spawn } = fakeShell();
    const linux = createLinuxPlatform({ spawn });
    linux.watchdog({ leader: 100, cookie: 'run/a' }, 1000).dismiss();
    await tick();
    expect(spawned).toHaveLength(0);
    const old = linux.watchdog({ leader: 100, cookie: 'run/a' }, 1000);
    const reused = linux.watchdog({ leader: 100, cookie: 'run/b' }, 1000); // pid 100 again, a new server
    await tick();
    old.dismiss(); // the old tree's late cleanup must not unregister the new one
    expect(spawned[0]!.written.join('')).toBe('+ 100 run/b 1\n');
    reused.dismiss();
    expect(spawned[0]!.written.join('')).toBe('+ 100 run/b 1\n- 100\n');
  });

  it('registers only what the script can take literally: a signallable leader and a well-formed cookie', async () => {
    const { spawned, spawn } = fakeShell();
    const linux = createLinuxPlatform({ spawn });
    for (const tree of [{ leader: 1, cookie: 'run/a' }, { leader: 100, cookie: 'run/a\n+ 1 x 1' }, { leader: 100, cookie: '' }, { leader: 100, cookie: 'a b' }]) {
      linux.watchdog(tree, 1000).dismiss();
    }
    await tick();
    expect(spawned).toHaveLength(0);
  });
});

describe('the Linux watchdog script (run for real)', () => {
  it('on the end of its pipe, ends every registered tree (group, cookie carriers; SIGKILL after the grace) and nothing else', async () => {
    const outer = process.env[TREE_VARIABLE] ?? 'platform-test';
    const started: ChildProcess[] = [];
    const start = (script: string, cookie: string) => {
      const c = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore', env: { ...process.env, [TREE_VARIABLE]: cookie } });
      started.push(c);
      return c;
    };
    const gone = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)));
    let watchdog: ChildProcess | undefined;
    try {
      const stubborn = start('trap "" TERM; sleep 30 & wait; sleep 30', `${outer}/a`); // ignores SIGTERM
      const escaped = start('exec sleep 30', `${outer}/a/helper`); // its own group, carries a's cookie
      const polite = start('exec sleep 30', `${outer}/b`);
      const dismissed = start('exec sleep 30', `${outer}/c`);
      const stranger = start('exec sleep 30', `${outer}/ab`); // a lookalike cookie
      await new Promise((r) => setTimeout(r, 100)); // the shells have applied their traps
      const linux = createLinuxPlatform({ spawn: (command, args, options) => (watchdog = spawn(command, args, options)) });
      const watched = [linux.watchdog({ leader: stubborn.pid!, cookie: `${outer}/a` }, 1000), linux.watchdog({ leader: polite.pid!, cookie: `${outer}/b` }, 1000)];
      linux.watchdog({ leader: dismissed.pid!, cookie: `${outer}/c` }, 1000).dismiss();
      await new Promise((r) => setImmediate(r));
      expect(watchdog).toBeDefined();
      watchdog!.stdin!.end(); // the host is gone
      await Promise.all([gone(polite), gone(escaped), gone(stubborn), gone(watchdog!)]);
      for (const w of watched) w.dismiss(); // (this host lives on: no new watchdog for trees that are gone)
      expect([polite.signalCode, escaped.signalCode]).toEqual(['SIGTERM', 'SIGTERM']); // SIGTERM first…
      expect(stubborn.signalCode).toBe('SIGKILL'); // …SIGKILL after the grace
      expect(isAliveNow(dismissed.pid!)).toBe(true);
      expect(isAliveNow(stranger.pid!)).toBe(true);
    } finally {
      for (const c of started) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL');
      if (watchdog && watchdog.exitCode === null) watchdog.kill('SIGKILL');
    }
  });
});

function isAliveNow(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('darwin (fake ps)', () => {
  const TABLE = [
    '  PID  PPID  PGID STAT', // a header, should ps print one
    '    1     0     1 Ss',
    '  100     1   100 S',
    '  101   100   100 S+',
    '  102     1   102 Ss',
    '  103     1   103 Z',
    '  200     1   200 S',
    'garbage line',
    '  300     1   300 S',
    '',
  ].join('\n');
  const ENV = [
    '  100 python3 server.py PATH=/bin MCP_IPC_TREE=run/abc',
    '  102 python3 -c daemon MCP_IPC_TREE=run/abc/x HOME=/h',
    '  103 zombie MCP_IPC_TREE=run/abc',
    '  200 sleep 30 MCP_IPC_TREE=run/abcd',
    '  201 echo MCP_IPC_TREE=run/abc-ish',
    '  300 node host.js MCP_IPC_TREE=run/abc',
  ].join('\n');

  it('parses ps robustly', () => {
    expect(parsePsTable(TABLE).map((e) => e.pid)).toEqual([1, 100, 101, 102, 103, 200, 300]);
    expect(parsePsTable(TABLE)[2]).toEqual({ pid: 101, ppid: 100, pgid: 100, stat: 'S+' });
    expect(parsePsCarriers(ENV, 'run/abc')).toEqual([100, 102, 103, 300]);
  });

  it('lists the group and cookie carriers with ps; signals the group and the carriers outside it', async () => {
    const runner = fakeRunner((cmd) => OK(cmd.includes('E') ? ENV : TABLE));
    const { kill, sent } = fakeKill(new Set([100, 101, 102, 200, 300]));
    const mac = createDarwinPlatform({ runner, kill, selfPid: 300 });
    expect((await mac.treeMembers(tree)).sort()).toEqual([100, 101, 102]);
    expect(runner.calls).toEqual([['ps', ...PS_TABLE_ARGS].join(' '), ['ps', ...PS_ENV_ARGS].join(' ')]);
    await mac.signalTree(tree, 'SIGKILL');
    expect(sent).toEqual([
      [-100, 'SIGKILL'],
      [102, 'SIGKILL'],
    ]);
  });

  it('when ps fails: the group is still signalled, and the tree is the leader while it lives', async () => {
    const runner = fakeRunner(() => FAIL);
    const { kill, sent } = fakeKill(new Set([100]));
    const mac = createDarwinPlatform({ runner, kill });
    expect(await mac.treeMembers(tree)).toEqual([100]);
    await mac.signalTree(tree, 'SIGTERM');
    expect(sent).toEqual([[-100, 'SIGTERM']]);
  });

  it('when only ps -E fails: the group alone', async () => {
    const runner = fakeRunner((cmd) => (cmd.includes('E') ? FAIL : OK(TABLE)));
    const mac = createDarwinPlatform({ runner, kill: fakeKill(new Set([100, 101])).kill });
    expect((await mac.treeMembers(tree)).sort()).toEqual([100, 101]);
  });

  it('a zombie reported by ps is not alive', () => {
    const runner = fakeRunner((cmd) => OK(cmd.endsWith('-p 103') ? 'Z\n' : 'S\n'));
    const mac = createDarwinPlatform({ runner, kill: fakeKill(new Set([102, 103])).kill });
    expect(mac.isAlive(103)).toBe(false);
    expect(mac.isAlive(102)).toBe(true);
    expect(mac.isAlive(104)).toBe(false);
  });
});

describe('win32 (fake taskkill, PowerShell, wmic)', () => {
  const PS = ['100 50', '101 100', '102 101', '200 1', '300 1', ''].join('\r\n');
  const WMIC = ['', 'Node,ParentProcessId,ProcessId', 'HOST,50,100', 'HOST,100,101', 'HOST,1,200', ''].join('\r\n');

  it('parses PowerShell lines and wmic CSV', () => {
    expect([...parseWindowsTable(PS, false)]).toEqual([
      [100, 50],
      [101, 100],
      [102, 101],
      [200, 1],
      [300, 1],
    ]);
    expect([...parseWindowsTable(WMIC, true)]).toEqual([
      [100, 50],
      [101, 100],
      [200, 1],
    ]);
  });

  it('SIGTERM is taskkill /T, SIGKILL is taskkill /T /F, on the leader', async () => {
    const runner = fakeRunner(() => OK(''));
    const win = createWin32Platform({ runner, kill: fakeKill(new Set([100])).kill });
    await win.signalTree(tree, 'SIGTERM');
    await win.signalTree(tree, 'SIGKILL');
    expect(runner.calls).toEqual(['taskkill /T /PID 100', 'taskkill /T /F /PID 100']);
  });

  it('a failing taskkill falls back to terminating the process directly', async () => {
    const runner = fakeRunner(() => FAIL);
    const { kill, sent } = fakeKill(new Set([100]));
    const win = createWin32Platform({ runner, kill });
    expect(await win.signalTree(tree, 'SIGKILL')).toEqual([100]);
    expect(sent).toEqual([[100, 'SIGKILL']]);
    win.killTreeSync(tree);
    expect(sent).toEqual([
      [100, 'SIGKILL'],
      [100, 'SIGKILL'],
    ]);
  });

  it('lists the tree by parent links (PowerShell, else wmic); remembers descendants whose parent died', async () => {
    let table = PS;
    const runner = fakeRunner((cmd) => (cmd.startsWith('powershell.exe') ? OK(table) : OK('')));
    const alive = new Set([100, 101, 102]);
    const win = createWin32Platform({ runner, kill: fakeKill(alive).kill, selfPid: 300 });
    expect((await win.treeMembers(tree)).sort()).toEqual([100, 101, 102]);
    expect(runner.calls[0]).toBe(['powershell.exe', ...POWERSHELL_ARGS].join(' '));
    // The leader and 101 are gone; 102 still records 101 as its parent: still ours.
    table = ['102 101', '200 1', ''].join('\r\n');
    alive.delete(100);
    alive.delete(101);
    expect(await win.treeMembers(tree)).toEqual([102]);
    runner.calls.length = 0;
    await win.signalTree(tree, 'SIGKILL');
    expect(runner.calls).toEqual(['taskkill /T /F /PID 100', 'taskkill /T /F /PID 102']);
    // A pid reused by an unrelated process (another parent) is not ours.
    table = ['102 999', ''].join('\r\n');
    expect(await win.treeMembers(tree)).toEqual([]);

    const wmicOnly = fakeRunner((cmd) => (cmd.startsWith('wmic') ? OK(WMIC) : FAIL));
    const win2 = createWin32Platform({ runner: wmicOnly, kill: fakeKill(new Set([100, 101])).kill });
    expect((await win2.treeMembers(tree)).sort()).toEqual([100, 101]);
    const none = createWin32Platform({ runner: fakeRunner(() => FAIL), kill: fakeKill(new Set([100])).kill });
    expect(await none.treeMembers(tree)).toEqual([100]);
  });

  it('spawns through cross-spawn semantics: hidden window, no detached console, piped stdio', () => {
    const calls: Array<{ command: string; args: readonly string[]; options: Record<string, unknown> }> = [];
    const fake = (command: string, args: readonly string[], options: object) => {
      calls.push({ command, args, options: options as Record<string, unknown> });
      return new EventEmitter() as ChildProcess;
    };
    const win = createWin32Platform({ spawn: fake });
    win.spawn('npx', ['-y', 'server'], { cwd: 'C:\\w', env: { PATH: 'x' } });
    expect(calls[0]).toMatchObject({ command: 'npx', args: ['-y', 'server'], options: { windowsHide: true, shell: false, cwd: 'C:\\w', env: { PATH: 'x' } } });
    expect(calls[0]!.options.detached).toBeUndefined();
  });

  it('one Node watchdog per host: servers, and the descendants seen, register and unregister over its pipe', async () => {
    const stdin = new PassThrough();
    const written: string[] = [];
    stdin.on('data', (d: Buffer) => written.push(d.toString()));
    const spawned: Array<{ command: string; args: readonly string[] }> = [];
    const fake = (command: string, args: readonly string[]) => {
      spawned.push({ command, args });
      return Object.assign(new EventEmitter(), { stdin, exitCode: null, signalCode: null, unref() {} }) as unknown as ChildProcess;
    };
    const runner = fakeRunner(() => OK('100 50\n101 100\n102 101\n200 1\n'));
    const win = createWin32Platform({ spawn: fake, nodePath: 'node.exe', runner, kill: fakeKill(new Set([100, 101, 102, 200])).kill });
    const a = win.watchdog({ leader: 100, cookie: 'a' }, 1000);
    const b = win.watchdog({ leader: 200, cookie: 'b' }, 1000);
    await win.treeMembers({ leader: 100, cookie: 'a' });
    await win.treeMembers({ leader: 100, cookie: 'a' }); // each pid is registered once
    a.dismiss();
    a.dismiss();
    expect(spawned).toHaveLength(1);
    expect(spawned[0]!.command).toBe('node.exe');
    expect(spawned[0]!.args.slice(-2).map((a) => JSON.parse(a) as string[])).toEqual([['powershell.exe', ...POWERSHELL_ARGS], ['taskkill', '/T', '/F', '/PID']]);
    expect(written.join('')).toBe('+100\n+200\n+101\n+102\n-100\n-101\n-102\n');
    b.dismiss();
  });
});

describe('the Windows watchdog script (run for real with a stand-in kill command)', () => {
  it('on the end of its pipe, kills every registered pid and its descendants by parent links', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'watchdog-'));
    try {
      const log = join(dir, 'killed');
      const recorder = join(dir, 'record.cjs');
      writeFileSync(recorder, `require('node:fs').appendFileSync(${JSON.stringify(log)}, process.argv.slice(2).join(' ') + '\\n');`);
      // The leader 100 is already gone (it died with the host's job); 101 is its orphan, 102 the orphan's child.
      const table = ['101 100', '102 101', '103 999', '200 1', '201 200', 'garbage'].join('\r\n');
      const list = [process.execPath, '-e', `process.stdout.write(${JSON.stringify(table)})`];
      const kill = [process.execPath, recorder, '/T', '/F', '/PID'];
      const child = spawn(process.execPath, ['-e', WATCHDOG_SCRIPT, JSON.stringify(list), JSON.stringify(kill)], { stdio: ['pipe', 'ignore', 'inherit'] });
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.write('+100\n+200\n');
      child.stdin.write('-200\n+300');
      child.stdin.end('\n'); // the host is gone
      await exited;
      expect(readFileSync(log, 'utf8').split('\n').filter(Boolean).sort()).toEqual(['/T /F /PID 100', '/T /F /PID 101', '/T /F /PID 102', '/T /F /PID 300']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
