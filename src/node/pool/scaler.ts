/**
 * PoolScaler: when a server pool with `replicas: {min, max}` adds or retires a replica. Pure
 * decisions on what the pool reports (no timers, no processes): the pool asks after every change of
 * its queue or replicas, and again at `recheckAt` when a condition may have held long enough.
 *
 * Rules (each condition must hold *continuously* for its own time, measured on the injected clock):
 * - **up**: at least `scaleUpQueueDepth` calls wait in the pool for a free replica slot, for
 *   `scaleUpAfterMs`, while fewer than `max` replicas exist and none is still starting.
 * - **down**: nothing waits and the calls in flight would fit in one replica fewer at
 *   `scaleDownUtilization` of its capacity, for `scaleDownAfterMs`, while more than `min` exist.
 * - after any step, nothing for `cooldownMs` (counted from when the step's new replica runs).
 *
 * Hysteresis: the two conditions cannot hold at once (up needs a backlog, down needs none and spare
 * capacity), down waits far longer than up, and the cooldown stops a step from being undone at once
 * by the dip or burst it caused — so a load that hovers at a threshold does not flap the pool.
 */
import { DEFAULTS } from '../../core/defaults.js';

/** `replicas: {min, max, …}` of a server's config. */
export interface ReplicasConfig {
  /** Replicas always kept (started with the pool). */
  min: number;
  /** Replicas the pool may grow to under queue pressure. */
  max: number;
  /** Waiting calls that count as a backlog. @default 1 */
  scaleUpQueueDepth?: number;
  /** How long the backlog must last before a replica is added. @default 1000 */
  scaleUpAfterMs?: number;
  /** Share (0..1] of one replica fewer's capacity the in-flight calls must fit in to scale down. @default 0.5 */
  scaleDownUtilization?: number;
  /** How long the pool must be that idle before a replica is retired. @default 30000 */
  scaleDownAfterMs?: number;
  /** Quiet time after each step. @default 5000 */
  cooldownMs?: number;
}

/** What the pool tells the scaler. */
export interface PoolLoad {
  /** Replicas that exist and are not retiring (starting ones included). */
  replicas: number;
  /** Of those, replicas not yet running (starting, restarting). */
  starting: number;
  /** Calls waiting in the pool for a slot. */
  queued: number;
  /** Pool calls running on replicas. */
  inFlight: number;
  /** Calls one replica takes at once (its maxConcurrent). */
  capacity: number;
}

export interface ScaleDecision {
  action: 'up' | 'down' | undefined;
  /** When to ask again even if nothing changes (a condition may mature then); undefined: only on change. */
  recheckAt: number | undefined;
}

type Settings = Required<ReplicasConfig>;

/** Validates `replicas` (a count or `{min, max, …}`); throws a TypeError naming the bad value. */
export function replicaSettings(replicas: number | ReplicasConfig): Settings {
  const config: ReplicasConfig = typeof replicas === 'number' ? { min: replicas, max: replicas } : replicas;
  const d = DEFAULTS.pool;
  const s: Settings = {
    min: config.min,
    max: config.max,
    scaleUpQueueDepth: config.scaleUpQueueDepth ?? d.scaleUpQueueDepth,
    scaleUpAfterMs: config.scaleUpAfterMs ?? d.scaleUpAfterMs,
    scaleDownUtilization: config.scaleDownUtilization ?? d.scaleDownUtilization,
    scaleDownAfterMs: config.scaleDownAfterMs ?? d.scaleDownAfterMs,
    cooldownMs: config.cooldownMs ?? d.cooldownMs,
  };
  const int = (v: number) => Number.isInteger(v) && v >= 1;
  if (!int(s.min)) throw new TypeError(`replicas: min must be an integer ≥ 1 (got ${String(s.min)})`);
  if (!int(s.max) || s.max < s.min) throw new TypeError(`replicas: max must be an integer ≥ min (got ${String(s.max)})`);
  if (!int(s.scaleUpQueueDepth)) throw new TypeError(`replicas: scaleUpQueueDepth must be an integer ≥ 1 (got ${String(s.scaleUpQueueDepth)})`);
  if (!(s.scaleDownUtilization > 0 && s.scaleDownUtilization <= 1)) {
    throw new TypeError(`replicas: scaleDownUtilization must be in (0, 1] (got ${String(s.scaleDownUtilization)})`);
  }
  for (const key of ['scaleUpAfterMs', 'scaleDownAfterMs', 'cooldownMs'] as const) {
    if (!(s[key] >= 0) || !Number.isFinite(s[key])) throw new TypeError(`replicas: ${key} must be a non-negative number (got ${String(s[key])})`);
  }
  return s;
}

export class PoolScaler {
  readonly settings: Settings;
  private upSince: number | undefined;
  private downSince: number | undefined;
  /** No step before this time (cooldown). */
  private quietUntil = -Infinity;
  private waitingForStart = false;

  constructor(replicas: number | ReplicasConfig) {
    this.settings = replicaSettings(replicas);
  }

  /** The pool took a step (added or retired a replica) at `now`. */
  stepped(now: number): void {
    this.quietUntil = now + this.settings.cooldownMs;
    this.upSince = undefined;
    this.downSince = undefined;
    this.waitingForStart = true;
  }

  decide(load: PoolLoad, now: number): ScaleDecision {
    const s = this.settings;
    // The cooldown runs from when the step's replica is up: a slow start must not count as quiet time.
    if (this.waitingForStart) {
      if (load.starting > 0) return { action: undefined, recheckAt: undefined };
      this.waitingForStart = false;
      this.quietUntil = Math.max(this.quietUntil, now + s.cooldownMs);
    }
    const backlog = load.queued >= s.scaleUpQueueDepth;
    const spare = load.queued === 0 && load.inFlight <= (load.replicas - 1) * load.capacity * s.scaleDownUtilization;
    this.upSince = backlog ? (this.upSince ?? now) : undefined;
    this.downSince = spare ? (this.downSince ?? now) : undefined;

    if (load.starting > 0) return { action: undefined, recheckAt: undefined };
    const canUp = backlog && load.replicas < s.max;
    const canDown = spare && load.replicas > s.min;
    if (!canUp && !canDown) return { action: undefined, recheckAt: undefined };
    const since = canUp ? this.upSince! : this.downSince!;
    const due = Math.max(since + (canUp ? s.scaleUpAfterMs : s.scaleDownAfterMs), this.quietUntil);
    if (now >= due) return { action: canUp ? 'up' : 'down', recheckAt: undefined };
    return { action: undefined, recheckAt: due };
  }
}
