import { describe, expect, it } from 'vitest';
import { ResourceLimitError } from '../../src/core/errors.js';
import { ResourceManager } from '../../src/node/resource-manager.js';

describe('ResourceManager', () => {
  it('tracks resources with id, type and owner, and counts them', async () => {
    const rm = new ResourceManager({}, { sweepIntervalMs: 0 });
    const a = rm.acquire('process', 'demo', () => undefined);
    const b = rm.acquire('connection', 'gateway', () => undefined, { meta: { remote: '127.0.0.1' } });
    expect(a.id).not.toBe(b.id);
    expect(rm.counts()).toMatchObject({ process: 1, connection: 1, file: 0 });
    expect(rm.list({ owner: 'gateway' })).toEqual([expect.objectContaining({ type: 'connection', meta: { remote: '127.0.0.1' } })]);
    await b.release();
    await b.release(); // twice is harmless
    expect(rm.count()).toBe(1);
  });

  it('refuses a resource over its limit with ResourceLimit, and frees the slot on release', async () => {
    const rm = new ResourceManager({ processes: 2 }, { sweepIntervalMs: 0 });
    const first = rm.acquire('process', 'a', () => undefined);
    rm.acquire('process', 'b', () => undefined);
    expect(() => rm.acquire('process', 'c', () => undefined)).toThrow(ResourceLimitError);
    try {
      rm.acquire('process', 'c', () => undefined);
    } catch (e) {
      expect((e as ResourceLimitError).code).toBe('ResourceLimit');
      expect((e as ResourceLimitError).data).toEqual({ resource: 'processes', limit: 2 });
    }
    await first.release();
    expect(() => rm.acquire('process', 'c', () => undefined)).not.toThrow();
    // Streams and timers are tracked, not capped.
    for (let i = 0; i < 50; i++) rm.acquire('timer', 't', () => undefined);
    expect(rm.count('timer')).toBe(50);
  });

  it('enforces each limit of DESIGN by type', () => {
    const rm = new ResourceManager({ connections: 1, fileHandles: 1, concurrentTasks: 1 }, { sweepIntervalMs: 0 });
    for (const type of ['connection', 'file', 'task'] as const) {
      rm.acquire(type, 'x', () => undefined);
      expect(() => rm.acquire(type, 'x', () => undefined)).toThrow(ResourceLimitError);
    }
  });

  it('sweeps stale resources: too old, or reported stale by their owner', async () => {
    let now = 1000;
    const rm = new ResourceManager({}, { sweepIntervalMs: 0, now: () => now });
    const released: string[] = [];
    rm.acquire('stream', 'old', () => void released.push('old'), { maxAgeMs: 500 });
    let dead = false;
    rm.acquire('connection', 'sock', () => void released.push('sock'), { isStale: () => dead });
    rm.acquire('timer', 'keep', () => void released.push('keep'));
    expect(await rm.sweep()).toBe(0);
    now += 600;
    dead = true;
    expect(await rm.sweep()).toBe(2);
    expect(released.sort()).toEqual(['old', 'sock']);
    expect(rm.count()).toBe(1);
  });

  it('shuts down in reverse order of acquisition and refuses new resources meanwhile', async () => {
    const rm = new ResourceManager({}, { sweepIntervalMs: 0 });
    const order: number[] = [];
    for (let i = 1; i <= 5; i++) rm.acquire('task', `t${i}`, async () => void order.push(i));
    const result = await rm.shutdown();
    expect(order).toEqual([5, 4, 3, 2, 1]);
    expect(result).toEqual({ released: 5, timedOut: 0 });
    expect(() => rm.acquire('task', 'late', () => undefined)).toThrow(ResourceLimitError);
  });

  it('finishes shutdown within the cleanup timeout even if a release hangs', async () => {
    const rm = new ResourceManager({ cleanupTimeoutMs: 200 }, { sweepIntervalMs: 0 });
    const errors: unknown[] = [];
    rm.on('error', (e) => errors.push(e));
    rm.acquire('process', 'ok', () => undefined);
    rm.acquire('process', 'hangs', () => new Promise(() => undefined));
    const started = Date.now();
    const result = await rm.shutdown();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.timedOut).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it('a release that throws is reported and the resource forgotten', async () => {
    const rm = new ResourceManager({}, { sweepIntervalMs: 0 });
    const errors: unknown[] = [];
    rm.on('error', (e) => errors.push(e));
    const h = rm.acquire('file', 'f', () => {
      throw new Error('boom');
    });
    await h.release();
    expect(errors).toHaveLength(1);
    expect(rm.count()).toBe(0);
  });

  it('take()/give(): counted units share the limit with entries, without being listed', () => {
    const rm = new ResourceManager({ concurrentTasks: 2 }, { sweepIntervalMs: 0 });
    rm.take('task', 'gateway:1');
    const entry = rm.acquire('task', 'other', () => undefined);
    expect(rm.count('task')).toBe(2);
    expect(rm.counts().task).toBe(2);
    expect(rm.list({ type: 'task' })).toHaveLength(1);
    expect(() => rm.take('task', 'gateway:1')).toThrow(expect.objectContaining({ code: 'ResourceLimit', data: { resource: 'concurrentTasks', limit: 2 } }));
    expect(() => rm.acquire('task', 'x', () => undefined)).toThrow(/limits\.concurrentTasks/);
    rm.give('task');
    rm.forget(entry.id);
    expect(rm.count('task')).toBe(0);
    rm.give('task'); // an extra give never goes below zero
    expect(rm.count()).toBe(0);
  });
});
