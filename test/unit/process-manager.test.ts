/**
 * ProcessManager's start-up policy on scripted transports (no processes): a server that was never
 * ready fails its first start at once with StartupFailed; one that had been running is restarted.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NotConnectedError, ProtocolError, StartupFailedError, TimeoutError } from '../../src/core/errors.js';
import type { ExitInfo, ServerState } from '../../src/core/gateway-protocol.js';
import type { JsonRpcMessage } from '../../src/core/jsonrpc.js';
import { SENT } from '../../src/core/transport.js';
import { ProcessManager, type ProcessHooks, type ProcessManagerOptions, type ProcessTransport } from '../../src/node/process-manager.js';

/** One scripted server process: the test decides when it writes to stderr and how it exits. */
class FakeProcess implements ProcessTransport {
  static nextPid = 1000;
  readonly pid = FakeProcess.nextPid++;
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onstderr?: (line: string) => void;
  exit: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  readonly terminated: string[] = [];
  /** How the process ends when terminated or closed: at once by default, or when the test says. */
  onTerminate: (reason: string) => void = () => this.die({ code: null, signal: 'SIGTERM' });
  private resolveExited!: (info: ExitInfo) => void;
  private readonly stderr: string[] = [];

  constructor(private readonly spawnError?: Error) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  start(): Promise<void> {
    return this.spawnError ? Promise.reject(this.spawnError) : Promise.resolve();
  }
  send(): Promise<void> {
    return SENT;
  }
  close(): Promise<void> {
    if (!this.exit) this.die({ code: 0, signal: null });
    return this.exited.then(() => undefined);
  }
  terminate(reason: string): Promise<void> {
    this.terminated.push(reason);
    if (!this.exit) this.onTerminate(reason);
    return this.exited.then(() => undefined);
  }
  stderrTail(n = 500): string[] {
    return this.stderr.slice(-n);
  }
  writeStderr(...lines: string[]): void {
    for (const line of lines) {
      this.stderr.push(line);
      this.onstderr?.(line);
    }
  }
  die(exit: { code: number | null; signal: string | null }, ...stderr: string[]): void {
    if (this.exit) return;
    this.writeStderr(...stderr);
    this.exit = { ...exit, at: Date.now() };
    this.resolveExited(this.exit);
    this.onclose?.();
  }
}

const QUIET = { healthCheckIntervalMs: 0, usageIntervalMs: 0, restartDelayMs: 5, restartMaxDelayMs: 20, shutdownTimeoutMs: 300 };
const managers: Array<ProcessManager<FakeProcess>> = [];

function manager(hooks: ProcessHooks<FakeProcess>, options: ProcessManagerOptions<FakeProcess> = {}, make: () => FakeProcess = () => new FakeProcess()) {
  const spawned: FakeProcess[] = [];
  const pm = new ProcessManager<FakeProcess>('srv', { command: 'server' }, hooks, {
    ...QUIET,
    ...options,
    createTransport: () => {
      const p = make();
      spawned.push(p);
      return p;
    },
  });
  managers.push(pm);
  const states: ServerState[] = [];
  pm.on('state', ({ state }) => states.push(state));
  return { pm, spawned, states };
}

function nextState(pm: ProcessManager<FakeProcess>, wanted: ServerState): Promise<void> {
  return new Promise((resolve) => {
    const off = pm.on('state', ({ state }) => {
      if (state !== wanted) return;
      off();
      resolve();
    });
  });
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

interface Handshake {
  transport: FakeProcess;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * A handshake that waits for the test and fails when the process goes away (like McpBridge's).
 * `next()` resolves with each handshake as it begins, i.e. once per spawn.
 */
function handshake() {
  const begun: Handshake[] = [];
  const waiting: Array<(h: Handshake) => void> = [];
  const hooks: ProcessHooks<FakeProcess> = {
    onSpawn: (transport) =>
      new Promise<void>((resolve, reject) => {
        const h = { transport, resolve, reject };
        const waiter = waiting.shift();
        if (waiter) waiter(h);
        else begun.push(h);
        void transport.exited.then(() => reject(new NotConnectedError('Server exited during initialize')));
      }),
  };
  const next = (): Promise<Handshake> => {
    const h = begun.shift();
    return h ? Promise.resolve(h) : new Promise((resolve) => waiting.push(resolve));
  };
  return { hooks, next };
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(managers.splice(0).map((pm) => pm.stop()));
});

describe('a server that was never ready', () => {
  it('dying during the start-up fails the first start at once with StartupFailed (exit code, stderr, no restart)', async () => {
    const { pm, spawned, states } = manager(handshake().hooks);
    const started = failure(pm.start());
    spawned[0]!.die({ code: 1, signal: null }, 'Traceback (most recent call last):', '  File "<string>", line 1, in <module>', "ModuleNotFoundError: No module named 'missing_module'");
    const error = (await started) as StartupFailedError;
    expect(error).toBeInstanceOf(StartupFailedError);
    expect(error.code).toBe('StartupFailed');
    expect(error.message).toBe(`Server "srv" failed to start: exited with exit code 1 — ModuleNotFoundError: No module named 'missing_module'`);
    expect(error.data).toMatchObject({ server: 'srv', phase: 'exit', exitCode: 1, signal: null });
    expect(error.data.stderrTail).toContain("ModuleNotFoundError: No module named 'missing_module'");
    expect(pm.state).toBe('failed');
    expect(pm.reason).toContain('ModuleNotFoundError');
    expect(pm.failure).toBe(error);
    expect(states).toEqual(['starting', 'failed']);
    expect(spawned).toHaveLength(1);
    expect(pm.restarts).toBe(0);
    expect(pm.history().some((e) => e.type === 'state' && e.level === 'error' && e.message === error.message)).toBe(true);
  });

  it('an exit the start-up hook does not notice still ends the start-up', async () => {
    const { pm, spawned } = manager({ onSpawn: () => new Promise<void>(() => undefined) });
    const started = failure(pm.start());
    spawned[0]!.die({ code: null, signal: 'SIGSEGV' });
    const error = (await started) as StartupFailedError;
    expect(error).toBeInstanceOf(StartupFailedError);
    expect(error.data).toMatchObject({ phase: 'exit', exitCode: null, signal: 'SIGSEGV', stderrTail: [] });
    expect(error.message).toBe('Server "srv" failed to start: exited with signal SIGSEGV');
    expect(spawned).toHaveLength(1);
  });

  it('a failed handshake ends the process and fails at once, after its exit and last stderr line are in', async () => {
    const hs = handshake();
    const { pm, spawned } = manager(hs.hooks);
    const started = failure(pm.start());
    const proc = spawned[0]!;
    // The process takes its time to exit once told to, and says why on the way out.
    const terminated = new Promise<void>((resolve) => (proc.onTerminate = () => resolve()));
    (await hs.next()).reject(new ProtocolError('Server "srv" answered initialize with unsupported protocol version "1999-01-01"'));
    await terminated;
    expect(pm.state).toBe('starting'); // not reported before the exit
    proc.die({ code: 0, signal: null }, 'error: client too old, bye');
    const error = (await started) as StartupFailedError;
    expect(error).toBeInstanceOf(StartupFailedError);
    expect(error.data.phase).toBe('handshake');
    expect(error.data.exitCode).toBe(0);
    expect(error.data.stderrTail).toEqual(['error: client too old, bye']);
    expect(error.data.cause).toMatchObject({ code: 'ProtocolError' });
    expect(error.cause).toBeInstanceOf(ProtocolError);
    expect(error.message).toContain('unsupported protocol version "1999-01-01"');
    expect(error.message).toContain('error: client too old, bye');
    expect(spawned).toHaveLength(1);
    expect(pm.state).toBe('failed');
  });

  it('a start-up that times out fails at once with StartupFailed (phase timeout)', async () => {
    vi.useFakeTimers();
    const { pm, spawned } = manager({ onSpawn: () => new Promise<void>(() => undefined) }, { startupTimeoutMs: 1_000 });
    const started = failure(pm.start());
    await vi.advanceTimersByTimeAsync(1_000);
    const error = (await started) as StartupFailedError;
    expect(error).toBeInstanceOf(StartupFailedError);
    expect(error.data.phase).toBe('timeout');
    expect(error.data.signal).toBe('SIGTERM');
    expect(error.data.cause).toMatchObject({ code: 'Timeout' });
    expect(error.cause).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe('Server "srv" failed to start: start-up timed out after 1000 ms');
    expect(spawned).toHaveLength(1);
  });

  it('a command that cannot be spawned fails with StartupFailed (phase spawn), its cause kept', async () => {
    const enoent = Object.assign(new Error('spawn server ENOENT'), { code: 'ENOENT' });
    const { pm, spawned } = manager({}, {}, () => new FakeProcess(new NotConnectedError('Cannot start server: spawn server ENOENT', { cause: enoent })));
    const error = (await failure(pm.start())) as StartupFailedError;
    expect(error).toBeInstanceOf(StartupFailedError);
    expect(error.data).toMatchObject({ phase: 'spawn', exitCode: null, signal: null, cause: { code: 'NotConnected' } });
    expect(error.message).toContain('ENOENT');
    expect(spawned).toHaveLength(1);
  });

  it('is tried afresh by the next start()', async () => {
    const hs = handshake();
    const { pm } = manager(hs.hooks);
    const first = failure(pm.start());
    (await hs.next()).transport.die({ code: 1, signal: null });
    expect(await first).toBeInstanceOf(StartupFailedError);
    const second = pm.start();
    (await hs.next()).resolve();
    await second;
    expect(pm.state).toBe('running');
    expect(pm.failure).toBeNull();
  });
});

describe('a server that had been running', () => {
  it('is restarted after a crash, even right after it became ready; a restart that fails its start-up is retried within the budget', async () => {
    const hs = handshake();
    const { pm, states } = manager(hs.hooks, { maxRestarts: 2 });
    const started = pm.start();
    const first = await hs.next();
    first.resolve();
    await started;
    const restarting = nextState(pm, 'restarting');
    first.transport.die({ code: 3, signal: null }, 'crashing now');
    await restarting;
    expect(pm.reason).toBe('exited with exit code 3 — crashing now');
    // The restarted process dies during its start-up: a crash of a server that had run, so retried.
    const second = await hs.next();
    const again = nextState(pm, 'restarting');
    second.transport.die({ code: 1, signal: null }, 'fatal: port in use');
    await again;
    expect(pm.reason).toBe('exited with exit code 1 — fatal: port in use');
    const running = nextState(pm, 'running');
    (await hs.next()).resolve();
    await running;
    expect(states.filter((s) => s === 'failed')).toEqual([]);
    expect(pm.restarts).toBe(2);
  });

  it('gives up with NotConnected once the restart budget is spent', async () => {
    const hs = handshake();
    const { pm } = manager(hs.hooks, { maxRestarts: 1 });
    const started = pm.start();
    const first = await hs.next();
    first.resolve();
    await started;
    first.transport.die({ code: 3, signal: null });
    const second = await hs.next();
    const failed = nextState(pm, 'failed');
    second.transport.die({ code: 1, signal: null });
    await failed;
    expect(pm.reason).toContain('gave up after 1 restarts');
    expect(pm.failure).toBeInstanceOf(NotConnectedError);
  });
});

describe('ProcessManager usage sampling', () => {
  afterEach(() => vi.useRealTimers());

  it('takes the first sample a moment after the start, not in the way of the first call', async () => {
    vi.useFakeTimers();
    const listed: number[] = [];
    class Sampled extends FakeProcess {
      treePids(): Promise<number[]> {
        listed.push(Date.now());
        return Promise.reject(new Error('no tree here')); // sampleUsage gives up quietly
      }
    }
    const { pm } = manager({}, { usageIntervalMs: 5_000 }, () => new Sampled());
    await pm.start();
    expect(pm.state).toBe('running');
    expect(listed).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(999);
    expect(listed).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(listed).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(listed).toHaveLength(2);
    await pm.stop();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(listed).toHaveLength(2);
  });
});
