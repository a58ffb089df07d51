/**
 * Supervision with real child processes: the misbehaving servers in test/fixtures end well —
 * typed errors, restarts as configured, no orphans, no lost queued requests.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageTooLargeError, NotConnectedError, ServerCrashedError, StartupFailedError } from '../../src/core/errors.js';
import type { ServerState } from '../../src/core/gateway-protocol.js';
import { McpBridge, type McpServerConfig } from '../../src/node/mcp-bridge.js';
import { isAlive, listProcessGroup } from '../../src/node/orphan-guard.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const fixture = (name: string, ...args: string[]) => ({ command: 'python3', args: [join(FIXTURES, name), ...args] });
const FAST = { healthCheckIntervalMs: 0, usageIntervalMs: 0, restartDelayMs: 50, restartMaxDelayMs: 200, shutdownTimeoutMs: 1500 };

const bridges: McpBridge[] = [];
function bridge(name: string, config: McpServerConfig): McpBridge {
  const b = new McpBridge(name, { ...config, process: { ...FAST, ...config.process } });
  bridges.push(b);
  return b;
}
const tempDirs: string[] = [];
/** A fresh CRASH_STATE_FILE for crash_after.py (its call count survives restarts); removed after the test. */
function crashState(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-crash-'));
  tempDirs.push(dir);
  return join(dir, 'count');
}
afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.stop()));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function states(b: McpBridge): ServerState[] {
  const seen: ServerState[] = [];
  b.on('state', ({ state }) => seen.push(state));
  return seen;
}

async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const text = (r: { content: Array<{ text?: string }> }) => r.content[0]?.text;

describe('misbehaving servers', () => {
  it('crash after N calls: in-flight fails with ServerCrashed (exit code, stderr tail), queued calls survive the restart', async () => {
    const b = bridge('crashy', {
      ...fixture('crash_after.py', '3'),
      env: { CRASH_STATE_FILE: crashState() },
      queue: { maxConcurrent: 1 },
    });
    const seen = states(b);
    await b.start();
    // With one call in flight at a time, call 3 crashes the server; calls 4 and 5 are still queued.
    const calls = [1, 2, 3, 4, 5].map((i) => b.call('echo', { text: `m${i}` }).then(text, (e: unknown) => e));
    const [r1, r2, r3, r4, r5] = await Promise.all(calls);
    expect([r1, r2]).toEqual(['m1', 'm2']);
    expect(r3).toBeInstanceOf(ServerCrashedError);
    const crash = r3 as ServerCrashedError;
    expect(crash.data.exitCode).toBe(3);
    expect(crash.data.outcomeUnknown).toBe(true);
    expect(crash.data.stderrTail.join('\n')).toContain('crashing now');
    expect([r4, r5]).toEqual(['m4', 'm5']); // sent to the restarted server
    expect(b.process.restarts).toBe(1);
    expect(seen).toEqual(expect.arrayContaining(['running', 'crashed', 'restarting', 'starting']));
    expect(b.state).toBe('running');
  });

  it('retries an in-flight call marked retryable after the restart', async () => {
    const b = bridge('crashy-retry', { ...fixture('crash_after.py', '1'), env: { CRASH_STATE_FILE: crashState() }, queue: { retryDelayMs: 10 } });
    await b.start();
    // Call 1 crashes the server; being retryable it is resent and answered by the new process.
    expect(text(await b.call('echo', { text: 'again' }, { retryable: true }))).toBe('again');
    expect(b.process.restarts).toBe(1);
  });

  it('retries an in-flight call to a readOnlyHint tool after the restart, without being asked', async () => {
    const b = bridge('crashy-annotated', { ...fixture('crash_after.py', '1'), env: { CRASH_STATE_FILE: crashState() }, queue: { retryDelayMs: 10 } });
    await b.start();
    expect(text(await b.call('lookup', { text: 'safe' }))).toBe('safe');
    expect(b.process.restarts).toBe(1);
  });

  it('a server busy with long calls but answering pings stays healthy', async () => {
    const b = bridge('busy', {
      command: 'python3',
      args: [resolve(import.meta.dirname, '../../examples/python-server/server.py')],
      process: { healthCheckIntervalMs: 100, healthCheckTimeoutMs: 300, healthCheckFailures: 2 },
    });
    await b.start();
    const calls = [1, 2, 3].map(() => b.call('sleep', { ms: 1200 }));
    const results = await Promise.all(calls);
    expect(results.every((r) => !r.isError)).toBe(true);
    expect(b.process.restarts).toBe(0);
    expect(b.process.health.rttMs).not.toBeNull();
    expect(b.history().filter((e) => e.type === 'health' && e.level === 'debug').length).toBeGreaterThanOrEqual(5);
    expect(b.history().some((e) => e.type === 'health' && e.level === 'warn')).toBe(false);
  });

  it('a hung server fails its health checks and is restarted', async () => {
    const b = bridge('hung', { ...fixture('hang.py'), process: { healthCheckIntervalMs: 150, healthCheckTimeoutMs: 150, healthCheckFailures: 2 } });
    const seen = states(b);
    await b.start();
    const firstPid = b.process.pid;
    await waitFor(() => b.process.restarts >= 1 && b.state === 'running', 10_000, 'a restart after failed health checks');
    expect(seen).toContain('crashed');
    expect(b.process.pid).not.toBe(firstPid);
    expect(b.history().some((e) => e.type === 'health' && e.level === 'warn')).toBe(true);
    expect(b.process.reason ?? b.history().map((e) => e.message).join('\n')).toBeTruthy();
    expect(isAlive(firstPid!)).toBe(false);
  });

  it('a server logging to stdout still works; each log line is a diagnostic', async () => {
    const b = bridge('chatty', fixture('stdout_logger.py'));
    await b.start();
    for (let i = 0; i < 5; i++) expect(text(await b.call('echo', { text: `x${i}` }))).toBe(`x${i}`);
    const snap = b.snapshot().metrics;
    expect(snap.diagnostics).toBeGreaterThanOrEqual(5);
    expect(b.history().some((e) => e.type === 'diagnostic' && e.message.includes('non-JSON'))).toBe(true);
  });

  it('a server flooding stderr does not block: stderr is drained into a bounded ring', async () => {
    const b = bridge('flood', { ...fixture('stderr_flood.py', '--mb', '20'), process: { stderrLines: 100 } });
    await b.start();
    expect(text(await b.call('echo', { text: 'still here' }, { timeoutMs: 20_000 }))).toBe('still here');
    const tail = b.stderrTail();
    expect(tail.length).toBeLessThanOrEqual(100);
    expect(tail.length).toBeGreaterThan(0);
  });

  it('an oversized response fails only its own request with MessageTooLarge', async () => {
    const b = bridge('big', { ...fixture('oversized.py'), process: { maxMessageBytes: 1024 * 1024 } });
    await b.start();
    const [big, small] = await Promise.allSettled([b.call('big', { bytes: 3 * 1024 * 1024 }), b.call('echo', { text: 'ok' })]);
    expect(big.status === 'rejected' && big.reason).toBeInstanceOf(MessageTooLargeError);
    expect(small.status === 'fulfilled' && text(small.value)).toBe('ok');
    expect(text(await b.call('echo', { text: 'after' }))).toBe('after');
    expect(b.state).toBe('running');
    expect(b.process.restarts).toBe(0);
  });

  it('a server exiting during initialize fails its start at once with StartupFailed: exit code and stderr, no restarts', async () => {
    const b = bridge('broken', { ...fixture('exit_during_init.py'), process: { maxRestarts: 2 } });
    const seen = states(b);
    const error = await b.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StartupFailedError);
    const failure = error as StartupFailedError;
    expect(failure.data).toMatchObject({ server: 'broken', phase: 'exit', exitCode: 2, signal: null });
    expect(failure.data.stderrTail).toContain('fatal: config missing (set TABLETOP_CONFIG)');
    expect(failure.message).toContain('fatal: config missing');
    expect(b.state).toBe('failed');
    expect(b.process.reason).toContain('fatal: config missing');
    expect(b.process.lastExit?.code).toBe(2);
    expect(b.process.restarts).toBe(0);
    expect(seen).toEqual(['starting', 'failed']);
    // Calls to a failed server fail at once.
    await expect(b.call('echo', { text: 'x' })).rejects.toBeInstanceOf(NotConnectedError);
  });

  it('a server that cannot import its module fails start() at once with StartupFailed naming the error', async () => {
    // The default restart delay (2 s, doubling): walking through restarts would take far longer.
    const b = bridge('missing-module', { command: 'python3', args: ['-c', 'import missing_module'], process: { restartDelayMs: 2_000, restartMaxDelayMs: 60_000 } });
    const started = Date.now();
    const error = await b.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StartupFailedError);
    const failure = error as StartupFailedError;
    expect(failure.data.exitCode).toBe(1);
    expect(failure.data.phase).toBe('exit');
    expect(failure.message).toMatch(/exited with exit code 1 — ModuleNotFoundError: No module named 'missing_module'$/);
    expect(failure.data.stderrTail.at(-1)).toBe("ModuleNotFoundError: No module named 'missing_module'");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(b.process.restarts).toBe(0);
    expect(b.state).toBe('failed');
    expect(b.history().some((e) => e.type === 'state' && e.level === 'error' && e.message.includes('ModuleNotFoundError'))).toBe(true);
  });

  it('the stderr tail is read to its end before the start-up failure is reported', async () => {
    // The leader exits at once; a child it forked (ignoring the SIGTERM its group gets) writes the
    // last word 200 ms later, without a newline: it reaches us only after the exit, at stderr's EOF.
    const script = [
      'import os, signal, sys, time',
      'signal.signal(signal.SIGTERM, signal.SIG_IGN)', // before the fork: the child is born ignoring it
      'if os.fork() == 0:',
      '    time.sleep(0.2)',
      "    sys.stderr.write('fatal: the last word')",
      '    sys.stderr.flush()',
      '    os._exit(0)',
      'os._exit(4)',
    ].join('\n');
    const b = bridge('last-word', { command: 'python3', args: ['-c', script], process: { restartDelayMs: 2_000 } });
    const error = await b.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StartupFailedError);
    const failure = error as StartupFailedError;
    expect(failure.data.exitCode).toBe(4);
    expect(failure.data.stderrTail).toEqual(['fatal: the last word']);
    expect(failure.message).toMatch(/exited with exit code 4 — fatal: the last word$/);
  });

  it('a server answering initialize with an unsupported protocol version fails start() at once and is ended', async () => {
    const b = bridge('old-protocol', { ...fixture('old_protocol.py'), process: { restartDelayMs: 2_000 } });
    const error = await b.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StartupFailedError);
    const failure = error as StartupFailedError;
    expect(failure.data.phase).toBe('handshake');
    expect(failure.message).toContain('1999-01-01');
    expect(failure.data.stderrTail).toContain('speaking protocol 1999-01-01 only');
    expect(failure.data.cause?.message).toContain('1999-01-01');
    expect(b.process.restarts).toBe(0);
    expect(b.state).toBe('failed');
    expect(b.process.lastExit).not.toBeNull(); // the process was ended, not left running
  });

  it('a server that had been running and then crashes is restarted, not failed', async () => {
    // Without a state file every process crashes on its first call: it ran, then crashed.
    const b = bridge('crash-once-running', fixture('crash_after.py', '1'));
    await b.start();
    const running = new Promise<void>((resolveState) => b.on('state', ({ state }) => state === 'running' && resolveState()));
    await expect(b.call('echo', { text: 'boom' })).rejects.toBeInstanceOf(ServerCrashedError);
    await running;
    expect(b.process.restarts).toBe(1);
  });
  it('a server that closes its stdin but lives on is ended like a crash, not left to time out', async () => {
    // The fixture closes its stdin when the call reaches it, without answering: the call was written
    // for certain, and no later write (whose EPIPE used to be the only signal) ever comes.
    const b = bridge('deaf', { ...fixture('close_stdin.py'), process: { restartDelayMs: 5_000 } });
    await b.start();
    const restarting = new Promise<void>((resolveState) => b.on('state', ({ state }) => state === 'restarting' && resolveState()));
    const started = Date.now();
    const error = await b.call('echo', { text: 'anyone?' }, { timeoutMs: 20_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServerCrashedError);
    expect((error as ServerCrashedError).data.outcomeUnknown).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    await restarting;
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a command that does not exist fails at once, without restart attempts', async () => {
    const b = bridge('missing', { command: '/nonexistent/mcp-server', args: [] });
    const started = Date.now();
    await expect(b.start()).rejects.toBeInstanceOf(StartupFailedError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(b.state).toBe('failed');
    expect(b.process.reason).toContain('ENOENT');
    expect(b.process.restarts).toBe(0);
  });
});

describe('usage sampling', () => {
  const ECHO = join(FIXTURES, 'echo-server.mjs');

  it('samples CPU and RSS of the process group and alerts over the memory limit', async () => {
    const b = bridge('sampled', { command: process.execPath, args: [ECHO], process: { usageIntervalMs: 100, memoryLimitMb: 1 } });
    await b.start();
    await waitFor(() => b.snapshot().usage !== null, 5000, 'a usage sample');
    expect(b.snapshot().usage!.memoryBytes).toBeGreaterThan(1024 * 1024);
    await waitFor(() => b.history().some((e) => e.type === 'alert'), 5000, 'a memory alert');
    expect(b.history().find((e) => e.type === 'alert')?.message).toContain('over the 1 MB limit');
    expect(b.process.restarts).toBe(0); // restartOnMemoryLimit is off by default
  });

  it('restarts over the memory limit when asked to, draining in-flight calls first', async () => {
    const b = bridge('bloated', { command: process.execPath, args: [ECHO], process: { usageIntervalMs: 100, memoryLimitMb: 1, restartOnMemoryLimit: true } });
    await b.start();
    const call = b.call('echo', { text: 'before' });
    await waitFor(() => b.process.restarts >= 1, 8000, 'a memory-limit restart');
    expect(text(await call)).toBe('before');
    expect(b.history().some((e) => e.type === 'restart' && e.message.includes('memory'))).toBe(true);
  });
});

describe('lifecycle races', () => {
  const ECHO = join(FIXTURES, 'echo-server.mjs');

  it('concurrent restarts share one restart: one new process, nothing left untracked', async () => {
    const b = bridge('double-restart', { command: process.execPath, args: [ECHO] });
    await b.start();
    const first = b.process.pid!;
    await Promise.all([b.restart('one'), b.restart('two')]);
    expect(b.state).toBe('running');
    expect(b.process.restarts).toBe(1);
    expect(isAlive(first)).toBe(false);
    expect(text(await b.call('echo', { text: 'after' }))).toBe('after');
    await b.restart('three'); // and a later one still works
    expect(b.process.restarts).toBe(2);
  });

  it('stop() during a restart wins: the restart rejects and nothing is left running', async () => {
    const b = bridge('stop-during-restart', { command: process.execPath, args: [ECHO] });
    await b.start();
    const first = b.process.pid!;
    const restarting = b.restart('about to be stopped').then(
      () => null,
      (e: unknown) => e,
    );
    await b.stop();
    expect(await restarting).toBeInstanceOf(NotConnectedError);
    expect(b.state).toBe('stopped');
    expect(b.process.pid).toBeNull();
    await waitFor(() => !isAlive(first), 3000, 'the first process to exit');
    await new Promise((r) => setTimeout(r, 200));
    expect(b.state).toBe('stopped'); // no late spawn
  });
});

describe('process groups and shutdown', () => {
  async function pidsOf(b: McpBridge): Promise<{ pid: number; children: number[] }> {
    return JSON.parse(text(await b.call('pids', {}))!) as { pid: number; children: number[] };
  }

  it('stop() takes down the server and its grandchild', async () => {
    const b = bridge('parent', fixture('grandchild.py'));
    await b.start();
    const { pid, children } = await pidsOf(b);
    expect(children).toHaveLength(1);
    await b.stop();
    expect(isAlive(pid)).toBe(false);
    await waitFor(() => !isAlive(children[0]!), 3000, 'the grandchild to exit');
  });

  it('escalates to SIGKILL when the group ignores SIGTERM, within the shutdown timeout', async () => {
    const b = bridge('stubborn', { ...fixture('grandchild.py', '--ignore-sigterm'), process: { shutdownTimeoutMs: 900 } });
    await b.start();
    const { pid, children } = await pidsOf(b);
    const started = Date.now();
    await b.stop();
    expect(Date.now() - started).toBeLessThan(3000);
    await waitFor(() => !isAlive(pid) && !isAlive(children[0]!), 3000, 'the group to die');
  });

  it('cleans up servers started through a wrapper (sh -c)', async () => {
    const b = bridge('wrapped', { command: 'sh', args: ['-c', `python3 ${join(FIXTURES, 'grandchild.py')}`] });
    await b.start();
    const { pid, children } = await pidsOf(b);
    await b.stop();
    await waitFor(() => !isAlive(pid) && !isAlive(children[0]!), 3000, 'the wrapped group to die');
  });

  it('leaves no orphans when the host itself is killed with SIGKILL', async () => {
    const host = spawn(process.execPath, [join(FIXTURES, 'host.mjs'), '--', 'python3', join(FIXTURES, 'grandchild.py'), '--ignore-sigterm'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, EXPECT_CHILD: 'time.sleep' }, // grandchild.py's child
    });
    let group: number[] = [];
    try {
      const line = await new Promise<string>((resolveLine, reject) => {
        let buf = '';
        host.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolveLine(buf.slice(0, buf.indexOf('\n')));
        });
        host.once('exit', (code) => reject(new Error(`host exited early (${code}); is dist/ built? run npm run build`)));
      });
      const report = JSON.parse(line) as { pid: number; group: number[] };
      group = report.group;
      expect(group.length).toBeGreaterThanOrEqual(2); // the server and its grandchild
      host.kill('SIGKILL');
      await waitFor(() => group.every((p) => !isAlive(p)), 8000, 'the orphaned group to be killed by the watchdog');
      expect(listProcessGroup(report.pid)).toEqual([]);
    } finally {
      // Whatever happened above, leave nothing running.
      host.kill('SIGKILL');
      for (const p of group) if (isAlive(p)) process.kill(p, 'SIGKILL');
    }
  });
});
