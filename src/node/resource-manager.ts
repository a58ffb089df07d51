/**
 * ResourceManager: every resource the host opens (processes, connections, streams, timers, file
 * handles, tasks) is tracked with an id, a type and an owner. Limits are enforced at acquisition
 * (ResourceLimit), stale resources are released in the background, and shutdown releases all of
 * them in reverse order of acquisition within the cleanup timeout.
 */
import { DEFAULTS } from '../core/defaults.js';
import { Emitter } from '../core/emitter.js';
import { ResourceLimitError } from '../core/errors.js';
import { checkOptions } from '../core/options.js';
import { RESOURCE_LIMITS, RESOURCE_MANAGER_OPTIONS } from './options.js';

export type ResourceType = 'process' | 'connection' | 'stream' | 'timer' | 'file' | 'task';

export interface ResourceLimits {
  /** Memory per server process (MB): the ProcessManager alerts (and optionally restarts) above it. @default 2048 */
  memoryMb: number;
  /** Server processes at once (0: none allowed; `Infinity`: no limit). @default 10 */
  processes: number;
  /** Gateway connections at once (0: none allowed; `Infinity`: no limit). @default 100 */
  connections: number;
  /** Open files (e.g. static files being served) at once (0: none allowed; `Infinity`: no limit). @default 1000 */
  fileHandles: number;
  /** Calls in flight through the gateway at once (0: none allowed; `Infinity`: no limit). @default 50 */
  concurrentTasks: number;
  /** How long `shutdown()` waits for release functions. @default 10000 */
  cleanupTimeoutMs: number;
}

/** Which limit caps which type; streams and timers are tracked but not capped. */
const LIMIT_OF: Partial<Record<ResourceType, keyof ResourceLimits>> = {
  process: 'processes',
  connection: 'connections',
  file: 'fileHandles',
  task: 'concurrentTasks',
};

export interface AcquireOptions {
  /** Released by the background sweep when older than this (ms). */
  maxAgeMs?: number;
  /** Released by the background sweep when this returns true (e.g. a socket already destroyed). */
  isStale?: () => boolean;
  meta?: Record<string, unknown>;
}

export interface ResourceInfo {
  id: number;
  type: ResourceType;
  owner: string;
  createdAt: number;
  meta?: Record<string, unknown>;
}

export interface ResourceHandle extends ResourceInfo {
  /** Runs the release function once and forgets the resource. Safe to call twice. */
  release(): Promise<void>;
}

interface Entry extends ResourceInfo {
  dispose: () => void | Promise<void>;
  options: AcquireOptions;
  handle: ResourceHandle;
}

export interface ResourceManagerEvents extends Record<string, unknown> {
  acquired: ResourceInfo;
  released: ResourceInfo & { reason: string };
  /** A release function threw or timed out; the resource is forgotten anyway. */
  error: { resource: ResourceInfo; error: unknown };
}

export interface ResourceManagerOptions {
  /** Background sweep interval for stale resources; 0 = off. @default 30000 */
  sweepIntervalMs?: number;
  /** Clock in ms (injectable for tests). @default Date.now */
  now?: () => number;
}

export class ResourceManager extends Emitter<ResourceManagerEvents> {
  readonly limits: ResourceLimits;
  private readonly entries = new Map<number, Entry>();
  /** Entries by type, kept as counts so a limit check is not a scan of every entry. */
  private readonly tracked: Record<ResourceType, number> = { process: 0, connection: 0, stream: 0, timer: 0, file: 0, task: 0 };
  /** Units held through `take()`: counted against their type's limit, with no entry. */
  private readonly held: Record<ResourceType, number> = { process: 0, connection: 0, stream: 0, timer: 0, file: 0, task: 0 };
  private nextId = 1;
  private readonly now: () => number;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private shuttingDown = false;

  /** @throws TypeError when a limit or option is out of range (the message names it and its value). */
  constructor(limits: Partial<ResourceLimits> = {}, options: ResourceManagerOptions = {}) {
    super();
    checkOptions(limits, RESOURCE_LIMITS, 'limits.');
    checkOptions(options, RESOURCE_MANAGER_OPTIONS);
    // A key present but undefined takes its default too (a spread alone would copy the undefined).
    const given = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
    this.limits = { ...DEFAULTS.limits, ...given };
    this.now = options.now ?? Date.now;
    const every = options.sweepIntervalMs ?? 30_000;
    if (every > 0) {
      this.sweepTimer = setInterval(() => void this.sweep(), every);
      this.sweepTimer.unref();
    }
  }

  /**
   * Tracks a resource. Throws ResourceLimitError (and tracks nothing) when its type is at its limit
   * or the manager is shutting down.
   */
  acquire(type: ResourceType, owner: string, dispose: () => void | Promise<void>, options: AcquireOptions = {}): ResourceHandle {
    this.checkLimit(type, owner);
    const id = this.nextId++;
    const info: ResourceInfo = { id, type, owner, createdAt: this.now() };
    if (options.meta) info.meta = options.meta;
    const handle: ResourceHandle = { ...info, release: () => this.release(id).then(() => undefined) };
    this.entries.set(id, { ...info, dispose, options, handle });
    this.tracked[type]++;
    this.emit('acquired', info);
    return handle;
  }

  /** Releases one resource (runs its release function); false when it was not tracked. */
  async release(id: number, reason = 'released'): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.entries.delete(id);
    this.tracked[entry.type]--;
    try {
      await entry.dispose();
    } catch (error) {
      this.emit('error', { resource: strip(entry), error });
    }
    this.emit('released', { ...strip(entry), reason });
    return true;
  }

  /** Forgets a resource that ended on its own (e.g. a process that exited), without calling its release. */
  forget(id: number): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.tracked[entry.type]--;
    this.emit('released', { ...strip(entry), reason: 'ended' });
  }

  /**
   * Takes one unit of `type` without an entry: for short and numerous things (a gateway call) where
   * a counter does — no id, no release function, no events, not in `list()`, not released by
   * `shutdown()` (their owner ends them). Counted against the type's limit like `acquire`, and
   * throws the same ResourceLimitError (naming the limit) when it is reached. Give it back once
   * with `give(type)`.
   */
  take(type: ResourceType, owner: string): void {
    this.checkLimit(type, owner);
    this.held[type]++;
  }

  /** Gives back one unit taken with `take(type)`. */
  give(type: ResourceType): void {
    if (this.held[type] > 0) this.held[type]--;
  }

  /** Resources in use (of one type): tracked entries plus units taken. */
  count(type?: ResourceType): number {
    if (type) return this.tracked[type] + this.held[type];
    let n = this.entries.size;
    for (const t of Object.keys(this.held) as ResourceType[]) n += this.held[t];
    return n;
  }

  counts(): Record<ResourceType, number> {
    const out = { ...this.tracked };
    for (const t of Object.keys(out) as ResourceType[]) out[t] += this.held[t];
    return out;
  }

  private checkLimit(type: ResourceType, owner: string): void {
    if (this.shuttingDown) throw new ResourceLimitError(type, 0, `Cannot open a ${type} for ${owner}: shutting down`);
    const limitKey = LIMIT_OF[type];
    if (!limitKey) return;
    const limit = this.limits[limitKey];
    if (this.count(type) >= limit) {
      throw new ResourceLimitError(limitKey, limit, `Cannot open a ${type} for ${owner}: the host's limit of ${limit} ${limitKey} is reached (limits.${limitKey})`);
    }
  }

  list(filter: { type?: ResourceType; owner?: string } = {}): ResourceInfo[] {
    return [...this.entries.values()].filter((e) => (!filter.type || e.type === filter.type) && (!filter.owner || e.owner === filter.owner)).map(strip);
  }

  /** Releases resources that are stale (too old, or reported stale by their owner). Returns how many. */
  async sweep(): Promise<number> {
    const now = this.now();
    const stale = [...this.entries.values()].filter((e) => {
      if (e.options.maxAgeMs !== undefined && now - e.createdAt > e.options.maxAgeMs) return true;
      try {
        return e.options.isStale?.() === true;
      } catch {
        return true;
      }
    });
    for (const e of stale) await this.release(e.id, 'stale');
    return stale.length;
  }

  /** Releases everything of one owner, newest first. */
  async releaseOwner(owner: string): Promise<void> {
    const mine = [...this.entries.values()].filter((e) => e.owner === owner).reverse();
    for (const e of mine) await this.release(e.id, 'owner released');
  }

  /**
   * Releases every resource in reverse order of acquisition. Each release gets what is left of the
   * cleanup timeout; one that overruns is abandoned (reported) so shutdown always finishes in time.
   */
  async shutdown(timeoutMs = this.limits.cleanupTimeoutMs): Promise<{ released: number; timedOut: number }> {
    this.shuttingDown = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const deadline = this.now() + timeoutMs;
    const order = [...this.entries.values()].sort((a, b) => b.id - a.id);
    let released = 0;
    let timedOut = 0;
    for (const e of order) {
      const left = deadline - this.now();
      const done = this.release(e.id, 'shutdown');
      const finished = await Promise.race([done.then(() => true), delay(Math.max(0, left)).then(() => false)]);
      if (finished) released++;
      else {
        timedOut++;
        this.emit('error', { resource: strip(e), error: new Error(`release timed out after the ${timeoutMs} ms cleanup timeout`) });
      }
    }
    return { released, timedOut };
  }
}

function strip(e: Entry): ResourceInfo {
  const info: ResourceInfo = { id: e.id, type: e.type, owner: e.owner, createdAt: e.createdAt };
  if (e.meta) info.meta = e.meta;
  return info;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
