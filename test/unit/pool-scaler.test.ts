/**
 * PoolScaler on an injected clock: scale up after a lasting backlog, down after lasting spare
 * capacity, never past min/max, never while a replica starts, a cooldown after each step.
 */
import { describe, expect, it } from 'vitest';
import { type PoolLoad, PoolScaler, replicaSettings } from '../../src/node/pool/scaler.js';

const settings = { min: 1, max: 3, scaleUpQueueDepth: 2, scaleUpAfterMs: 1_000, scaleDownAfterMs: 10_000, scaleDownUtilization: 0.5, cooldownMs: 2_000 };
const load = (over: Partial<PoolLoad> = {}): PoolLoad => ({ replicas: 1, starting: 0, queued: 0, inFlight: 0, capacity: 4, ...over });

describe('PoolScaler', () => {
  it('scales up only after the backlog lasted scaleUpAfterMs, and says when to look again', () => {
    const s = new PoolScaler(settings);
    expect(s.decide(load({ queued: 1, inFlight: 4 }), 0)).toEqual({ action: undefined, recheckAt: undefined }); // below the depth
    expect(s.decide(load({ queued: 2, inFlight: 4 }), 100)).toEqual({ action: undefined, recheckAt: 1_100 });
    expect(s.decide(load({ queued: 5, inFlight: 4 }), 600).action).toBeUndefined();
    expect(s.decide(load({ queued: 5, inFlight: 4 }), 1_100).action).toBe('up');
  });

  it('a backlog that drains in between starts the clock over', () => {
    const s = new PoolScaler(settings);
    s.decide(load({ queued: 3, inFlight: 4 }), 0);
    s.decide(load({ queued: 0, inFlight: 4 }), 900);
    expect(s.decide(load({ queued: 3, inFlight: 4 }), 1_000)).toEqual({ action: undefined, recheckAt: 2_000 });
  });

  it('never grows past max, never shrinks below min', () => {
    const s = new PoolScaler(settings);
    s.decide(load({ replicas: 3, queued: 10, inFlight: 12 }), 0);
    expect(s.decide(load({ replicas: 3, queued: 10, inFlight: 12 }), 60_000)).toEqual({ action: undefined, recheckAt: undefined });
    s.decide(load({ replicas: 1 }), 0);
    expect(s.decide(load({ replicas: 1 }), 60_000).action).toBeUndefined();
  });

  it('waits while a replica starts, then keeps quiet for the cooldown', () => {
    const s = new PoolScaler(settings);
    s.decide(load({ queued: 3, inFlight: 4 }), 0);
    expect(s.decide(load({ queued: 3, inFlight: 4 }), 1_000).action).toBe('up');
    s.stepped(1_000);
    // The new replica takes 5 s to start: the backlog lasts, but nothing happens.
    expect(s.decide(load({ replicas: 2, starting: 1, queued: 3, inFlight: 4 }), 6_000).action).toBeUndefined();
    // It runs at 6 s; the cooldown counts from then, not from the step.
    expect(s.decide(load({ replicas: 2, queued: 3, inFlight: 8 }), 6_000)).toEqual({ action: undefined, recheckAt: 8_000 });
    expect(s.decide(load({ replicas: 2, queued: 3, inFlight: 8 }), 8_000).action).toBe('up');
  });

  it('scales down after lasting spare capacity, with hysteresis: a load that fits in one replica fewer only at over the utilization does not', () => {
    const s = new PoolScaler(settings);
    // 2 replicas × capacity 4: spare means ≤ 1 × 4 × 0.5 = 2 in flight and nothing waiting.
    expect(s.decide(load({ replicas: 2, inFlight: 3 }), 0).action).toBeUndefined();
    expect(s.decide(load({ replicas: 2, inFlight: 3 }), 60_000)).toEqual({ action: undefined, recheckAt: undefined });
    expect(s.decide(load({ replicas: 2, inFlight: 2 }), 60_000)).toEqual({ action: undefined, recheckAt: 70_000 });
    expect(s.decide(load({ replicas: 2, inFlight: 1 }), 69_999).action).toBeUndefined();
    expect(s.decide(load({ replicas: 2, inFlight: 1 }), 70_000).action).toBe('down');
  });

  it('after scaling down, waits the cooldown before scaling up again', () => {
    const s = new PoolScaler({ ...settings, scaleUpAfterMs: 0 });
    s.stepped(0);
    expect(s.decide(load({ queued: 5, inFlight: 4 }), 100)).toEqual({ action: undefined, recheckAt: 2_100 });
    expect(s.decide(load({ queued: 5, inFlight: 4 }), 2_100).action).toBe('up');
  });

  it('validates its settings with TypeErrors naming the value', () => {
    expect(replicaSettings(3)).toMatchObject({ min: 3, max: 3 });
    expect(() => replicaSettings(0)).toThrow(/min must be an integer ≥ 1 \(got 0\)/);
    expect(() => replicaSettings({ min: 2, max: 1 })).toThrow(/max must be an integer ≥ min/);
    expect(() => replicaSettings({ min: 1, max: 2, scaleDownUtilization: 0 })).toThrow(TypeError);
    expect(() => replicaSettings({ min: 1, max: 2, cooldownMs: -1 })).toThrow(/cooldownMs/);
  });
});

describe('aggregateState', () => {
  it('is running while any replica runs, failed only when every one failed', async () => {
    const { aggregateState } = await import('../../src/node/server-pool.js');
    expect(aggregateState([])).toBe('stopped');
    expect(aggregateState(['crashed', 'running', 'failed'])).toBe('running');
    expect(aggregateState(['restarting', 'failed'])).toBe('restarting');
    expect(aggregateState(['starting', 'restarting'])).toBe('starting');
    expect(aggregateState(['failed', 'failed'])).toBe('failed');
    expect(aggregateState(['failed', 'stopped'])).toBe('stopped');
  });
});
