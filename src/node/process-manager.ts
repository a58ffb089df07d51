/**
 * ProcessManager: the life of one server process. Spawns it (StdioTransport), runs the owner's
 * start-up hook (the MCP handshake), watches it with health pings and CPU/RSS sampling, restarts it
 * after a crash or failed health checks (exponential backoff with jitter, a bounded number of
 * attempts per window, reset after stable uptime), and stops it gracefully. Every state change
 * and notable happening is an event, kept in a bounded history.
 *
 * States: stopped → starting → running → (crashed → restarting → starting → running)* → stopping → stopped;
 * `failed` when it gives up (restart budget spent, or auto-restart off), or at once when a server
 * that was never ready cannot start.
 *
 * Never ready vs. had been running: a server that dies, fails its start-up hook or times out before
 * it ever reached `running` since start() fails that start at once with a StartupFailedError (exit
 * code, signal, stderr tail): a missing module or an unsupported protocol version fails the same
 * way on every attempt, and walking through the restart backoff only hides the reason from the user
 * for a minute. Restarts with backoff are for servers that had been running. A server that was
 * running only very briefly counts as having run: unlike PM2, which has no readiness signal and so
 * judges by wall-clock `min_uptime`, we know the server completed its handshake, and a crash right
 * after it may well depend on the request it got. Crash loops of such servers are bounded by the
 * restart budget (`maxRestarts` within `restartWindowMs`, reset after `stableUptimeMs`).
 */
import pidusage from 'pidusage';
import { backoffDelay } from '../core/backoff.js';
import { DEFAULTS } from '../core/defaults.js';
import { Emitter } from '../core/emitter.js';
import { type IpcError, NotConnectedError, StartupFailedError, type StartupFailedData, toIpcError, TimeoutError } from '../core/errors.js';
import type { ExitInfo, ServerEvent, ServerSnapshot, ServerState } from '../core/gateway-protocol.js';
import type { Transport } from '../core/transport.js';
import type { Platform } from './platform/index.js';
import type { ResourceHandle, ResourceManager } from './resource-manager.js';
import { tellingLine } from './stderr-summary.js';
import { detached } from './detached.js';
import { type StdioServerParams, StdioTransport, type StdioTransportOptions } from './stdio-transport.js';
import { PROCESS_MANAGER_OPTIONS } from './options.js';
import { checkOptions } from '../core/options.js';

const PERMANENT_SPAWN_ERRORS = new Set(['ENOENT', 'EACCES', 'ENOTDIR', 'EISDIR', 'ENOEXEC']);
/** The first usage sample after a (re)start waits this long (or the interval, when shorter). */
const FIRST_USAGE_SAMPLE_MS = 1_000;

/** What a ProcessManager needs from the transport of one server process (StdioTransport is the real one). */
export interface ProcessTransport extends Transport {
  readonly pid: number | null;
  /** Resolves once the process exited and its output was read to the end (bounded). */
  readonly exited: Promise<ExitInfo>;
  readonly exit: ExitInfo | undefined;
  onstderr?: (line: string) => void;
  /** Graceful stop; pending requests fail with NotConnected. */
  close(reason?: string): Promise<void>;
  /** Stop of a broken server; pending requests fail with ServerCrashed. */
  terminate(reason: string, timeoutMs?: number): Promise<void>;
  stderrTail(n?: number): string[];
  /** Live pids of the server's whole tree, for usage sampling (StdioTransport: group + cookie carriers). */
  treePids?(): Promise<number[]>;
  /**
   * Why a connection-like transport (a remote server: `pid` null) ended when no exit code can say
   * it — a TlsError, an UnauthorizedError, an unreachable host. The reason of the crash, and the
   * cause of a StartupFailedError.
   */
  readonly exitError?: IpcError;
  /** What the ResourceManager counts it as. @default 'process' */
  readonly resourceType?: 'process' | 'connection';
}

/** Makes the transport of each (re)spawn; the default spawns the command with StdioTransport. */
export type ProcessTransportFactory<T extends ProcessTransport> = (params: StdioServerParams, options: StdioTransportOptions) => T;

export interface ProcessManagerOptions<T extends ProcessTransport = StdioTransport> {
  /** The transport of each spawn; tests inject scripted ones. @default a StdioTransport */
  createTransport?: ProcessTransportFactory<T>;
  /** Restart after a crash or failed health checks. @default true */
  autoRestart?: boolean;
  /** Restart attempts allowed within `restartWindowMs` before giving up (0: never restart). @default 5 */
  maxRestarts?: number;
  /** First restart delay; doubles per attempt with jitter, capped at `restartMaxDelayMs`. @default 2000 */
  restartDelayMs?: number;
  /** Longest restart delay. @default 60000 */
  restartMaxDelayMs?: number;
  /** Window in which restart attempts are counted (`Infinity`: every attempt counts). @default 300000 */
  restartWindowMs?: number;
  /** Running this long without a crash resets the attempt count. @default 60000 */
  stableUptimeMs?: number;
  /** Health probe (MCP `ping`, or `server/discover` in the modern era) every interval; 0 = off. @default 15000 */
  healthCheckIntervalMs?: number;
  /** A probe not answered within this fails. @default 5000 */
  healthCheckTimeoutMs?: number;
  /** Restart after this many failed probes in a row. @default 3 */
  healthCheckFailures?: number;
  /** Spawn to handshake done. @default 30000 */
  startupTimeoutMs?: number;
  /** stdin close → SIGTERM → SIGKILL, in thirds of this budget (0: kill at once). @default 10000 */
  shutdownTimeoutMs?: number;
  /** stderr lines kept in the ring (snapshots, crash reports), at least 1. @default 500 */
  stderrLines?: number;
  /** Lifecycle events kept in the history. @default 1000 */
  eventHistory?: number;
  /** CPU/RSS sampling over the whole process group (0 = off; default 5 000 ms). The first sample is taken 1 s after a (re)start (or after the interval, when shorter), out of the way of the first calls. @default 5000 */
  usageIntervalMs?: number;
  /** CPU alert threshold in percent of one core (a multi-threaded server may exceed 100). @default 90 */
  cpuAlertPercent?: number;
  /** Memory alert threshold (MB). @default the ResourceManager's memoryMb, else 2048 */
  memoryLimitMb?: number;
  /** Restart (draining in-flight calls first) when over the memory limit. @default false */
  restartOnMemoryLimit?: boolean;
  /** Largest stdout line in bytes. @default 16 MiB */
  maxMessageBytes?: number;
  /** Process-count limit and tracking. */
  resources?: ResourceManager;
  /** Randomness for restart jitter (injectable for tests). @default Math.random */
  random?: () => number;
  /** The OS specifics, passed to each StdioTransport. @default currentPlatform() */
  platform?: Platform;
}

export interface ProcessHooks<T extends ProcessTransport = StdioTransport> {
  /**
   * After every spawn: e.g. the MCP handshake. A rejection (or the process's exit, or the start-up
   * timeout) counts as a failed start: a StartupFailedError when the server was never ready, else
   * a crash (restart with backoff).
   */
  onSpawn?: (transport: T) => Promise<void>;
  /** One health check; resolves when the server answered. */
  ping?: (timeoutMs: number) => Promise<unknown>;
  /** Before a planned restart: wait (bounded) for in-flight work to finish. */
  drain?: (timeoutMs: number) => Promise<void>;
}

export interface Usage {
  cpuPercent: number;
  memoryBytes: number;
  at: number;
  pids: number[];
}

export interface ProcessManagerEvents extends Record<string, unknown> {
  state: { state: ServerState; previous: ServerState | null; reason: string | null };
  event: ServerEvent;
  stderr: string;
  usage: Usage;
  exit: ExitInfo;
}

type Resolved = Required<Omit<ProcessManagerOptions, 'resources' | 'memoryLimitMb' | 'random' | 'platform' | 'createTransport'>> & { memoryLimitMb: number; random: () => number; platform?: Platform };

export class ProcessManager<T extends ProcessTransport = StdioTransport> extends Emitter<ProcessManagerEvents> {
  readonly name: string;
  readonly opts: Resolved;
  private readonly params: StdioServerParams;
  private readonly hooks: ProcessHooks<T>;
  private readonly resources: ResourceManager | undefined;
  private readonly createTransport: ProcessTransportFactory<T>;

  private _state: ServerState = 'stopped';
  private _reason: string | null = null;
  private transport: T | undefined;
  private resource: ResourceHandle | undefined;
  private startedAt = 0;
  private _restarts = 0;
  private attempts: number[] = [];
  private _lastExit: ExitInfo | null = null;
  private _health: ServerSnapshot['health'] = { rttMs: null, consecutiveFailures: 0, lastCheckAt: null };
  private _usage: Usage | null = null;
  private readonly events: ServerEvent[] = [];
  private eventsStart = 0;
  /** The restart under way, shared by concurrent restart() calls. */
  private restarting: Promise<void> | undefined;
  private waiters: Array<{ resolve: () => void; reject: (e: IpcError) => void }> = [];
  private timers: { health?: NodeJS.Timeout; usage?: NodeJS.Timeout; stable?: NodeJS.Timeout; restart?: NodeJS.Timeout } = {};
  private checking = false;
  private sampling = false;
  /** Why the current process is being killed by us (health, memory, planned restart, stop). */
  private killReason: { reason: string; planned: boolean } | undefined;
  private alerts = { cpu: false, memory: false };
  /** Bumped on every spawn and stop, so stale async continuations can tell they are stale. */
  private generation = 0;
  /** Reached `running` since the last start() from stopped/failed: decides between StartupFailed and restart. */
  private everRunning = false;
  /** The transport whose start-up is under way: spawnCycle, not the exit handler, reports its end. */
  private booting: T | undefined;
  private _failure: IpcError | null = null;

  /** @throws TypeError when an option is out of range (the message names it and its value). */
  constructor(name: string, params: StdioServerParams, hooks: ProcessHooks<T> = {}, options: ProcessManagerOptions<T> = {}) {
    super();
    checkOptions(options, PROCESS_MANAGER_OPTIONS);
    this.name = name;
    this.params = params;
    this.hooks = hooks;
    this.resources = options.resources;
    // Without a factory T is StdioTransport (the default type argument).
    this.createTransport = options.createTransport ?? ((p, o) => (new StdioTransport(p, o) satisfies ProcessTransport) as unknown as T);
    const d = DEFAULTS.process;
    this.opts = {
      autoRestart: options.autoRestart ?? d.autoRestart,
      maxRestarts: options.maxRestarts ?? d.maxRestarts,
      restartDelayMs: options.restartDelayMs ?? d.restartDelayMs,
      restartMaxDelayMs: options.restartMaxDelayMs ?? d.restartMaxDelayMs,
      restartWindowMs: options.restartWindowMs ?? d.restartWindowMs,
      stableUptimeMs: options.stableUptimeMs ?? d.stableUptimeMs,
      healthCheckIntervalMs: options.healthCheckIntervalMs ?? d.healthCheckIntervalMs,
      healthCheckTimeoutMs: options.healthCheckTimeoutMs ?? d.healthCheckTimeoutMs,
      healthCheckFailures: options.healthCheckFailures ?? d.healthCheckFailures,
      startupTimeoutMs: options.startupTimeoutMs ?? d.startupTimeoutMs,
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? d.shutdownTimeoutMs,
      stderrLines: options.stderrLines ?? d.stderrLines,
      eventHistory: options.eventHistory ?? d.eventHistory,
      usageIntervalMs: options.usageIntervalMs ?? d.usageIntervalMs,
      cpuAlertPercent: options.cpuAlertPercent ?? d.cpuAlertPercent,
      memoryLimitMb: options.memoryLimitMb ?? options.resources?.limits.memoryMb ?? DEFAULTS.limits.memoryMb,
      restartOnMemoryLimit: options.restartOnMemoryLimit ?? d.restartOnMemoryLimit,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULTS.transport.maxMessageBytes,
      random: options.random ?? Math.random,
      platform: options.platform,
    };
  }

  get state(): ServerState {
    return this._state;
  }
  /** Why the server is failed / crashed / restarting, when known. */
  get reason(): string | null {
    return this._reason;
  }
  /** The live process's pid; null once it has exited (also while a crash restart waits). */
  get pid(): number | null {
    if (this._state === 'stopped' || this._state === 'failed' || !this.transport || this.transport.exit) return null;
    return this.transport.pid ?? null;
  }
  /** Restarts done so far (crash, health and planned ones). */
  get restarts(): number {
    return this._restarts;
  }
  get uptimeMs(): number {
    return this._state === 'running' ? Date.now() - this.startedAt : 0;
  }
  get lastExit(): ExitInfo | null {
    return this._lastExit;
  }
  /** Why the server is `failed` (e.g. a StartupFailedError), else null. */
  get failure(): IpcError | null {
    return this._state === 'failed' ? this._failure : null;
  }
  /** The last health check; its RTT only while running (a stopped server has none, not a stale one). */
  get health(): ServerSnapshot['health'] {
    return this._state === 'running' ? { ...this._health } : { ...this._health, rttMs: null };
  }
  /** CPU and memory of the running process group; null when no process runs. */
  get usage(): ServerSnapshot['usage'] {
    if (this._state !== 'running' || !this._usage) return null;
    return { cpuPercent: this._usage.cpuPercent, memoryBytes: this._usage.memoryBytes, at: this._usage.at };
  }
  /** The live transport (for tests and advanced use). */
  get current(): T | undefined {
    return this.transport;
  }

  /**
   * Starts the server; resolves once it runs. Rejects with a StartupFailedError when it dies, fails
   * its start-up hook or times out before it was ever ready (at once, no restarts), and with
   * NotConnected when it is stopped first or given up on.
   */
  start(): Promise<void> {
    if (this._state === 'running') return Promise.resolve();
    const promise = this.waitRunning();
    if (this._state === 'stopped' || this._state === 'failed') {
      this.attempts = [];
      this._reason = null;
      this._failure = null;
      this.everRunning = false;
      // Spawned outside the caller's context: the process outlives the request that started it.
      void detached(() => this.spawnCycle('starting'));
    }
    return promise;
  }

  /** Graceful stop of the whole process group; pending restarts are cancelled. */
  async stop(reason = 'stop requested'): Promise<void> {
    if (this._state === 'stopped' || this._state === 'failed') {
      this.clearTimers();
      return;
    }
    this.generation++;
    this.clearTimers();
    const transport = this.transport;
    this.setState('stopping', reason);
    if (transport) {
      this.killReason = { reason, planned: true };
      await transport.close(reason);
    }
    this.setState('stopped', reason);
    this.rejectWaiters(new NotConnectedError(`Server "${this.name}" stopped before it was running`));
  }

  /**
   * Planned restart: drain in-flight calls (bounded), stop gracefully, start again. Restarts asked
   * for while one is under way share it; a stop() meanwhile wins (the restart then rejects).
   */
  restart(reason = 'restart requested'): Promise<void> {
    if (this._state === 'stopped' || this._state === 'failed') return this.start();
    if (this.restarting) return this.restarting;
    const generation = ++this.generation;
    this.clearTimers();
    const transport = this.transport;
    this.setState('restarting', reason);
    this.record('restart', 'info', `Restarting: ${reason}`);
    const run = (async () => {
      if (transport && !transport.exit) {
        if (this.hooks.drain) await this.hooks.drain(Math.floor(this.opts.shutdownTimeoutMs / 2)).catch(() => undefined);
        if (generation === this.generation) {
          this.killReason = { reason, planned: true };
          await transport.close(reason);
        }
      }
      // Something else (stop(), a newer start) took over while we waited: it owns the process now.
      if (generation !== this.generation) throw new NotConnectedError(`Restart of "${this.name}" superseded (${this._state})`);
      this._restarts++;
      const running = this.waitRunning();
      void detached(() => this.spawnCycle('starting'));
      await running;
    })();
    this.restarting = run;
    const done = () => {
      if (this.restarting === run) this.restarting = undefined;
    };
    run.then(done, done);
    return run;
  }

  history(): ServerEvent[] {
    return this.events.length < this.opts.eventHistory ? [...this.events] : [...this.events.slice(this.eventsStart), ...this.events.slice(0, this.eventsStart)];
  }

  stderrTail(n?: number): string[] {
    return this.transport?.stderrTail(n) ?? [];
  }

  // ---------------------------------------------------------------- lifecycle

  private async spawnCycle(state: 'starting'): Promise<void> {
    const generation = ++this.generation;
    this.setState(state, this._reason);
    const transport = this.createTransport(this.params, {
      maxMessageBytes: this.opts.maxMessageBytes,
      stderrLines: this.opts.stderrLines,
      shutdownTimeoutMs: this.opts.shutdownTimeoutMs,
      platform: this.opts.platform,
    });
    this.transport = transport;
    this.killReason = undefined;
    transport.onstderr = (line) => this.emit('stderr', line);
    try {
      this.resource = this.resources?.acquire(transport.resourceType ?? 'process', this.name, () => transport.close('resource released'), { meta: { command: this.params.command } });
    } catch (error) {
      return this.failed(`cannot spawn: ${(error as Error).message}`);
    }
    try {
      await transport.start();
    } catch (error) {
      this.releaseResource();
      if (generation !== this.generation) return;
      // A missing or non-executable command (or cwd) will not appear by retrying: give up at once.
      const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code && PERMANENT_SPAWN_ERRORS.has(code)) {
        if (!this.everRunning) return this.startupFailed(transport, 'spawn', (error as Error).message, error);
        return this.failed((error as Error).message);
      }
      return this.crashed(`spawn failed: ${(error as Error).message}`);
    }
    this.record('spawn', 'info', transport.pid === null ? `Connecting to ${this.params.command}` : `Spawned ${this.params.command} (pid ${transport.pid})`, { pid: transport.pid });
    this.booting = transport;
    void transport.exited.then((info) => this.onExit(transport, info));
    // The hook may not notice the exit (a custom one), so the exit ends the start-up as well.
    const exited = transport.exited.then(() => Promise.reject(new ExitedDuringStartup()));
    exited.catch(() => undefined);
    let failure: unknown;
    try {
      await withTimeout(this.hooks.onSpawn ? Promise.race([this.hooks.onSpawn(transport), exited]) : undefined, this.opts.startupTimeoutMs, 'start-up (initialize)');
    } catch (error) {
      failure = error;
    }
    if (failure === undefined && generation === this.generation && !transport.exit) {
      this.booting = undefined;
      this.startedAt = Date.now();
      this.everRunning = true;
      this._health = { rttMs: null, consecutiveFailures: 0, lastCheckAt: null };
      this.setState('running', null);
      this.armTimers();
      this.resolveWaiters();
      return;
    }
    if (generation !== this.generation) {
      // Stopped or restarted meanwhile: they own what happens next. A transport nobody tracks any
      // more must not live on.
      if (this.booting === transport) this.booting = undefined;
      if (!transport.exit && transport !== this.transport) void transport.close('superseded');
      return;
    }
    // The start-up failed. Whatever ended it, the process must be gone and its stderr read to the
    // end before we report: the exit arrives asynchronously to a failed handshake (and the other
    // way round), and the stderr tail is often the whole explanation.
    const byExit = failure === undefined || failure instanceof ExitedDuringStartup || transport.exit !== undefined;
    const phase: StartupFailedData['phase'] = byExit ? 'exit' : failure instanceof TimeoutError ? 'timeout' : 'handshake';
    const cause = byExit ? transport.exitError : failure;
    if (!transport.exit) {
      const reason = phase === 'timeout' ? `start-up timed out after ${this.opts.startupTimeoutMs} ms` : `start-up failed: ${toIpcError(failure).message}`;
      this.killReason = { reason, planned: false };
      await transport.terminate(reason, Math.min(this.opts.shutdownTimeoutMs, 3_000));
    }
    await transport.exited; // resolves once stdout and stderr ended (bounded), see StdioTransport
    if (this.booting === transport) this.booting = undefined;
    if (generation !== this.generation) return; // stopped while we were ending it
    const reason = byExit ? describeExit(transport) : this.killReason!.reason;
    if (!this.everRunning) return this.startupFailed(transport, phase, reason, cause);
    this.crashed(reason);
  }

  /** A server that was never ready cannot start: fail at once, with everything the user needs to fix it. */
  private startupFailed(transport: T, phase: StartupFailedData['phase'], reason: string, cause?: unknown): void {
    const tail = transport.stderrTail(20);
    const exit = transport.exit;
    // The exit's own reason names the telling line already; a handshake's may still be explained by one.
    const hint = phase === 'exit' ? undefined : tellingLine(tail, { errorsOnly: true });
    const data: StartupFailedData = {
      server: this.name,
      phase,
      reason,
      exitCode: exit?.code ?? null,
      signal: exit?.signal ?? null,
      stderrTail: tail,
    };
    if (cause !== undefined) data.cause = toIpcError(cause).toJSON();
    const error = new StartupFailedError(`Server "${this.name}" failed to start: ${reason}${hint ? ` — ${hint}` : ''}`, data, { cause });
    this.failed(reason, error);
  }

  private onExit(transport: T, info: ExitInfo): void {
    this.releaseResource(transport);
    if (transport !== this.transport) return;
    this._lastExit = info;
    this.emit('exit', info);
    const how = info.unconfirmed ? 'exit not confirmed, the process may still run' : info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
    const kill = this.killReason;
    const what = transport.pid === null ? `Connection ended${transport.exitError ? ` (${transport.exitError.message})` : ''}` : `Process exited (${how})`;
    this.record('exit', kill?.planned ? 'info' : 'warn', `${what}${kill ? `: ${kill.reason}` : ''}`, info);
    if (kill?.planned) return; // stop() / restart() carry on from here
    if (transport === this.booting) return; // spawnCycle reports a failed start-up
    this.clearTimers();
    this.crashed(kill?.reason ?? describeExit(transport));
  }

  /** Unexpected end of a process: restart within the budget, else give up. */
  private crashed(reason: string): void {
    this.setState('crashed', reason);
    if (!this.opts.autoRestart) return this.failed(`${reason} (auto-restart off)`);
    const now = Date.now();
    this.attempts = this.attempts.filter((t) => now - t < this.opts.restartWindowMs);
    if (this.attempts.length >= this.opts.maxRestarts) {
      return this.failed(`gave up after ${this.attempts.length} restarts within ${Math.round(this.opts.restartWindowMs / 1000)} s; last: ${reason}`);
    }
    const delay = backoffDelay(this.attempts.length, { initialMs: this.opts.restartDelayMs, maxMs: this.opts.restartMaxDelayMs }, this.opts.random);
    this.attempts.push(now);
    this.setState('restarting', reason);
    this.record('restart', 'warn', `Restart ${this.attempts.length}/${this.opts.maxRestarts} in ${delay} ms`, { attempt: this.attempts.length, delayMs: delay });
    const generation = this.generation;
    this.timers.restart = setTimeout(() => {
      this.timers.restart = undefined;
      if (generation !== this.generation || this._state !== 'restarting') return;
      this._restarts++;
      void this.spawnCycle('starting');
    }, delay);
  }

  private failed(reason: string, error?: IpcError): void {
    this.clearTimers();
    this._failure = error ?? new NotConnectedError(`Server "${this.name}" failed: ${reason}`);
    this.setState('failed', reason);
    if (error instanceof StartupFailedError) this.record('state', 'error', error.message, error.toJSON());
    else this.record('state', 'error', `Gave up: ${reason}`);
    this.rejectWaiters(this._failure);
  }

  // ---------------------------------------------------------------- health and usage

  private armTimers(): void {
    const o = this.opts;
    if (o.healthCheckIntervalMs > 0 && this.hooks.ping) {
      this.timers.health = setInterval(() => void this.checkHealth(), o.healthCheckIntervalMs);
      this.timers.health.unref();
    }
    if (o.usageIntervalMs > 0) {
      // The first sample waits a moment: listing the tree and reading its /proc entries takes
      // ~15 ms of this thread, which right after the handshake would delay the first call.
      this.timers.usage = setTimeout(() => {
        this.timers.usage = setInterval(() => void this.sampleUsage(), o.usageIntervalMs);
        this.timers.usage.unref();
        void this.sampleUsage();
      }, Math.min(FIRST_USAGE_SAMPLE_MS, o.usageIntervalMs));
      this.timers.usage.unref();
    }
    this.timers.stable = setTimeout(() => {
      if (this._state === 'running' && this.attempts.length > 0) {
        this.attempts = [];
        this.record('state', 'info', `Stable for ${o.stableUptimeMs} ms: restart budget reset`);
      }
    }, o.stableUptimeMs);
    this.timers.stable.unref();
  }

  /** One health check: an MCP ping. A server busy with long calls still answers it (pings bypass the queue). */
  async checkHealth(): Promise<void> {
    if (this.checking || this._state !== 'running' || !this.hooks.ping) return;
    this.checking = true;
    const generation = this.generation;
    const started = performance.now();
    try {
      await this.hooks.ping(this.opts.healthCheckTimeoutMs);
      if (generation !== this.generation) return;
      const rtt = performance.now() - started;
      this._health = { rttMs: Math.round(rtt * 100) / 100, consecutiveFailures: 0, lastCheckAt: Date.now() };
      this.record('health', 'debug', `ping ${this._health.rttMs} ms`, { rttMs: this._health.rttMs });
    } catch (error) {
      if (generation !== this.generation || this._state !== 'running') return;
      const failures = this._health.consecutiveFailures + 1;
      this._health = { rttMs: null, consecutiveFailures: failures, lastCheckAt: Date.now() };
      this.record('health', 'warn', `Health check ${failures}/${this.opts.healthCheckFailures} failed: ${toIpcError(error).message}`);
      if (failures >= this.opts.healthCheckFailures) {
        const reason = `health check failed ${failures} times in a row`;
        this.killReason = { reason, planned: false };
        void this.transport?.terminate(reason, Math.min(this.opts.shutdownTimeoutMs, 3_000));
      }
    } finally {
      this.checking = false;
    }
  }

  /** CPU % and RSS summed over the server's tree (wrappers, their children and daemonized helpers included). */
  async sampleUsage(): Promise<Usage | null> {
    const transport = this.transport;
    const pid = transport?.pid;
    if (this.sampling || !transport || !pid || this._state !== 'running') return null;
    this.sampling = true;
    try {
      const tree = (await transport.treePids?.()) ?? [];
      const pids = tree.length > 0 ? tree : [pid];
      const stats = await pidusage(pids, { maxage: this.opts.usageIntervalMs * 3 || 15_000 });
      let cpu = 0;
      let memory = 0;
      for (const s of Object.values(stats)) {
        if (!s) continue;
        cpu += s.cpu;
        memory += s.memory;
      }
      const usage: Usage = { cpuPercent: Math.round(cpu * 10) / 10, memoryBytes: memory, at: Date.now(), pids };
      this._usage = usage;
      this.emit('usage', usage);
      this.checkAlerts(usage);
      return usage;
    } catch {
      return null; // the process ended between listing and sampling
    } finally {
      this.sampling = false;
    }
  }

  private checkAlerts(u: Usage): void {
    const cpuOver = u.cpuPercent > this.opts.cpuAlertPercent;
    if (cpuOver !== this.alerts.cpu) {
      this.alerts.cpu = cpuOver;
      this.record('alert', cpuOver ? 'warn' : 'info', cpuOver ? `CPU ${u.cpuPercent}% over ${this.opts.cpuAlertPercent}%` : `CPU back to ${u.cpuPercent}%`, { cpuPercent: u.cpuPercent });
    }
    const limit = this.opts.memoryLimitMb * 1024 * 1024;
    const memOver = u.memoryBytes > limit;
    if (memOver !== this.alerts.memory) {
      this.alerts.memory = memOver;
      const mb = Math.round(u.memoryBytes / 1048576);
      this.record('alert', memOver ? 'error' : 'info', memOver ? `Memory ${mb} MB over the ${this.opts.memoryLimitMb} MB limit` : `Memory back to ${mb} MB`, { memoryBytes: u.memoryBytes });
      if (memOver && this.opts.restartOnMemoryLimit) {
        this.alerts.memory = false;
        void this.restart(`memory ${mb} MB over the ${this.opts.memoryLimitMb} MB limit`).catch(() => undefined);
      }
    }
  }

  // ---------------------------------------------------------------- bookkeeping

  private setState(state: ServerState, reason: string | null): void {
    const previous = this._state;
    this._reason = reason;
    if (previous === state) return;
    this._state = state;
    this.record('state', state === 'failed' || state === 'crashed' ? 'error' : 'info', `${previous} → ${state}${reason ? `: ${reason}` : ''}`, { state, previous });
    this.emit('state', { state, previous, reason });
  }

  /** Adds an event to the bounded history and emits it (layers above, like McpBridge, report through here). */
  record(type: ServerEvent['type'], level: ServerEvent['level'], message: string, data?: unknown): void {
    const event: ServerEvent = { time: Date.now(), server: this.name, type, level, message };
    if (data !== undefined) event.data = data;
    if (this.events.length < this.opts.eventHistory) this.events.push(event);
    else {
      this.events[this.eventsStart] = event;
      this.eventsStart = (this.eventsStart + 1) % this.opts.eventHistory;
    }
    this.emit('event', event);
  }

  private clearTimers(): void {
    for (const key of ['health', 'usage', 'stable', 'restart'] as const) {
      const t = this.timers[key];
      if (t) {
        clearTimeout(t);
        clearInterval(t);
      }
      this.timers[key] = undefined;
    }
  }

  private releaseResource(transport?: T): void {
    if (transport && transport !== this.transport) return;
    if (this.resource) this.resources?.forget(this.resource.id);
    this.resource = undefined;
  }

  private waitRunning(): Promise<void> {
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private resolveWaiters(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve();
  }

  private rejectWaiters(error: IpcError): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(error);
  }
}

/** The start-up ended because the process exited (its exit code and stderr tell why). */
class ExitedDuringStartup extends Error {}

/** "exited with exit code 1 — ModuleNotFoundError: No module named 'x'": the exit and its most telling stderr line. */
function describeExit(transport: ProcessTransport): string {
  if (transport.exitError) return `connection failed: ${transport.exitError.message}`;
  const exit = transport.exit;
  const how = exit?.signal ? `signal ${exit.signal}` : `exit code ${exit?.code ?? null}`;
  const line = tellingLine(transport.stderrTail(50));
  return `exited with ${how}${line ? ` — ${line}` : ''}`;
}

async function withTimeout(promise: Promise<void> | undefined, ms: number, what: string): Promise<void> {
  if (!promise) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${ms} ms`, { method: what, kind: 'hard', phase: 'in-flight', timeoutMs: ms, queuedMs: 0, inFlightMs: ms })), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
