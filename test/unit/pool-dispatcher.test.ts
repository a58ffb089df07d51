/**
 * PoolDispatcher with fake replicas (each attempt is a promise the test settles by hand) and an
 * injected clock: routing to the least busy replica, free slots, sticky lanes, calls moved off a
 * lost replica, timeouts and cancellation while waiting, QueueFull.
 */
import { describe, expect, it } from 'vitest';
import { CancelledError, type IpcError, NotConnectedError, QueueFullError, ServerCrashedError, TimeoutError } from '../../src/core/errors.js';
import type { Priority } from '../../src/core/queue.js';
import { type DispatchTarget, PoolDispatcher, type PoolJob } from '../../src/node/pool/dispatcher.js';
import { StickyTable, leastBusy } from '../../src/node/pool/routing.js';

interface Attempt {
  replica: number;
  label: string;
  hardTimeoutMs: number;
  resolve: (v: unknown) => void;
  reject: (e: IpcError) => void;
}

function setup(options: { replicas?: number; capacity?: number; sticky?: boolean; maxQueueSize?: number; maxReroutes?: number } = {}) {
  let now = 1_000;
  const targets: Array<DispatchTarget & { available: boolean }> = [];
  for (let i = 0; i < (options.replicas ?? 2); i++) targets.push({ id: i, available: true, capacity: options.capacity ?? 1 });
  const attempts: Attempt[] = [];
  let changes = 0;
  const d = new PoolDispatcher({
    targets: () => targets,
    maxQueueSize: options.maxQueueSize ?? 100,
    sticky: options.sticky ?? false,
    maxStickyKeys: 100,
    maxReroutes: options.maxReroutes ?? 3,
    now: () => now,
    onChange: () => changes++,
  });
  const submit = (label: string, extra: Partial<PoolJob> & { retryable?: boolean; priority?: Priority } = {}) =>
    d.submit({
      label,
      hardTimeoutMs: 10_000,
      run: (replica, hardTimeoutMs) => new Promise((resolve, reject) => attempts.push({ replica, label, hardTimeoutMs, resolve, reject })),
      reroutable: (error) => extra.retryable === true && (error.code === 'ServerCrashed' || error.code === 'NotConnected'),
      ...extra,
    });
  const running = (label: string) => attempts.filter((a) => a.label === label);
  return {
    d,
    targets,
    attempts,
    submit,
    running,
    advance: (ms: number) => (now += ms),
    changes: () => changes,
  };
}

const crash = () => new ServerCrashedError('Server exited unexpectedly (signal SIGKILL)', { exitCode: null, signal: 'SIGKILL', stderrTail: [], outcomeUnknown: true });
const tick = () => new Promise((r) => setImmediate(r));

describe('leastBusy', () => {
  it('picks the least loaded candidate, and among equals the next id after the last pick', () => {
    const c = [
      { id: 0, load: 2 },
      { id: 1, load: 1 },
      { id: 2, load: 1 },
    ];
    expect(leastBusy(c)?.id).toBe(1);
    expect(leastBusy(c, 1)?.id).toBe(2);
    expect(leastBusy(c, 2)?.id).toBe(1); // wraps around
    expect(leastBusy([])).toBeUndefined();
  });
});

describe('StickyTable', () => {
  it('forgets the least recently used key beyond its size, and the keys of a replica that left', () => {
    const t = new StickyTable(2);
    t.set('a', 0);
    t.set('b', 1);
    expect(t.get('a')).toBe(0); // a is now the most recent
    t.set('c', 1);
    expect(t.get('b')).toBeUndefined();
    expect(t.get('a')).toBe(0);
    t.dropReplica(1);
    expect(t.get('c')).toBeUndefined();
    expect(t.size).toBe(1);
    expect(() => new StickyTable(0)).toThrow(TypeError);
  });
});

describe('PoolDispatcher', () => {
  it('sends each call to the least busy replica, holds the rest until a slot frees, then hands them on in order', async () => {
    const t = setup({ replicas: 2, capacity: 1 });
    const results = ['a', 'b', 'c', 'd'].map((l) => t.submit(l));
    expect(t.attempts.map((a) => [a.label, a.replica])).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
    expect(t.d.queued).toBe(2);
    expect(t.d.load(0)).toEqual({ inFlight: 1, queued: 0 });
    t.attempts[1]!.resolve('B'); // replica 1 frees first: it takes the next waiting call
    await tick();
    expect(t.attempts.map((a) => [a.label, a.replica])).toContainEqual(['c', 1]);
    t.attempts[0]!.resolve('A');
    await tick();
    expect(t.attempts.map((a) => [a.label, a.replica])).toContainEqual(['d', 0]);
    for (const a of t.attempts.slice(2)) a.resolve(a.label.toUpperCase());
    expect(await Promise.all(results)).toEqual(['A', 'B', 'C', 'D']);
    expect(t.d.inFlight).toBe(0);
    expect(t.d.stats().queueWait.count).toBe(4);
  });

  it('spreads an idle pool round robin and prefers the replica with fewer calls running', () => {
    const t = setup({ replicas: 3, capacity: 4 });
    for (const l of ['a', 'b', 'c', 'd']) void t.submit(l);
    expect(t.attempts.map((a) => a.replica)).toEqual([0, 1, 2, 0]);
    t.targets[1]!.available = false;
    void t.submit('e');
    expect(t.attempts.at(-1)!.replica).toBe(2); // 0 runs two, 2 runs one, 1 is unavailable
  });

  it('prefers higher priority when a slot frees', async () => {
    const t = setup({ replicas: 1, capacity: 1 });
    void t.submit('first');
    void t.submit('low', { priority: 'low' });
    void t.submit('high', { priority: 'high' });
    t.attempts[0]!.resolve(1);
    await tick();
    expect(t.attempts[1]!.label).toBe('high');
  });

  it('moves a call lost with its replica to another one when it is safe to resend, and fails it as outcome unknown when not', async () => {
    const t = setup({ replicas: 2, capacity: 1 });
    const safe = t.submit('safe', { retryable: true });
    const unsafe = t.submit('unsafe', { retryable: false });
    expect(t.attempts.map((a) => a.replica)).toEqual([0, 1]);
    // Replica 0 crashes: it is no longer available, its call comes back.
    t.targets[0]!.available = false;
    t.attempts[0]!.reject(crash());
    await tick();
    // Replica 1 is busy: the safe call waits at the front of the queue, then runs there.
    expect(t.d.queued).toBe(1);
    t.targets[1]!.available = false;
    t.attempts[1]!.reject(crash());
    await expect(unsafe).rejects.toMatchObject({ code: 'ServerCrashed', data: { outcomeUnknown: true } });
    expect(t.attempts).toHaveLength(2); // nothing is available: the safe call waits
    t.targets[0]!.available = true; // replica 0 restarted
    t.d.targetsChanged();
    expect(t.attempts).toHaveLength(3);
    expect(t.attempts[2]).toMatchObject({ label: 'safe', replica: 0 });
    t.attempts[2]!.resolve('ok');
    expect(await safe).toBe('ok');
    expect(t.d.stats().rerouted).toBe(1);
  });

  it('gives up moving a call after maxReroutes attempts', async () => {
    const t = setup({ replicas: 1, capacity: 1, maxReroutes: 1 });
    const p = t.submit('x', { retryable: true });
    t.attempts[0]!.reject(crash());
    await tick();
    t.attempts[1]!.reject(crash());
    await expect(p).rejects.toBeInstanceOf(ServerCrashedError);
    expect(t.attempts).toHaveLength(2);
  });

  it('keeps a sticky key on its replica even when another is idle, and routes it afresh once that replica is gone', async () => {
    const t = setup({ replicas: 2, capacity: 1, sticky: true });
    void t.submit('k1', { stickyKey: 'alice' });
    expect(t.attempts[0]!.replica).toBe(0);
    void t.submit('k2', { stickyKey: 'alice' });
    // Replica 1 is idle, but alice's call waits in replica 0's lane.
    expect(t.attempts).toHaveLength(1);
    expect(t.d.load(0)).toEqual({ inFlight: 1, queued: 1 });
    void t.submit('other');
    expect(t.attempts.at(-1)).toMatchObject({ label: 'other', replica: 1 });
    t.attempts[0]!.resolve(1);
    await tick();
    expect(t.attempts.at(-1)).toMatchObject({ label: 'k2', replica: 0 });
    expect(t.d.stickyReplica('alice')).toBe(0);
    // Replica 0 leaves: alice's next call goes to replica 1 and stays there.
    t.attempts.at(-1)!.resolve(2);
    await tick();
    t.targets[0]!.available = false;
    t.d.forget(0);
    t.attempts.find((a) => a.label === 'other')!.resolve(3);
    await tick();
    void t.submit('k3', { stickyKey: 'alice' });
    expect(t.attempts.at(-1)).toMatchObject({ label: 'k3', replica: 1 });
    expect(t.d.stickyReplica('alice')).toBe(1);
  });

  it('moves the calls waiting in a lost replica\'s sticky lane to the main queue, keeping their order', async () => {
    const t = setup({ replicas: 2, capacity: 1, sticky: true });
    void t.submit('a1', { stickyKey: 'a' });
    void t.submit('b1');
    void t.submit('a2', { stickyKey: 'a' });
    void t.submit('a3', { stickyKey: 'a' });
    expect(t.d.load(0).queued).toBe(2);
    t.targets[0]!.available = false;
    t.d.targetsChanged();
    expect(t.d.load(0).queued).toBe(0);
    t.attempts.find((a) => a.label === 'b1')!.resolve(0);
    await tick();
    expect(t.attempts.at(-1)).toMatchObject({ label: 'a2', replica: 1 });
    t.attempts.at(-1)!.resolve(0);
    await tick();
    expect(t.attempts.at(-1)).toMatchObject({ label: 'a3', replica: 1 });
  });

  it('ignores sticky keys when sticky is off', () => {
    const t = setup({ replicas: 2, capacity: 1, sticky: false });
    void t.submit('k1', { stickyKey: 'alice' });
    void t.submit('k2', { stickyKey: 'alice' });
    expect(t.attempts.map((a) => a.replica)).toEqual([0, 1]);
  });

  it('fails a waiting call at its hard cap, and gives a dispatched one what is left of it', async () => {
    const t = setup({ replicas: 1, capacity: 1 });
    void t.submit('first');
    const late = t.submit('late', { hardTimeoutMs: 50 });
    const later = t.submit('later', { hardTimeoutMs: 5_000 });
    t.advance(60);
    await expect(late).rejects.toBeInstanceOf(TimeoutError); // the Deadlines timer fires on the fake clock's schedule
    await expect(late).rejects.toMatchObject({ data: { phase: 'queued', kind: 'hard' } });
    t.attempts[0]!.resolve(1);
    await tick();
    expect(t.attempts[1]).toMatchObject({ label: 'later', hardTimeoutMs: 5_000 - 60 });
    t.attempts[1]!.resolve(2);
    expect(await later).toBe(2);
    expect(t.d.stats().timeouts).toBe(1);
  });

  it('cancels a waiting call at once; a running one is left to its replica', async () => {
    const t = setup({ replicas: 1, capacity: 1 });
    const running = new AbortController();
    const waiting = new AbortController();
    const a = t.submit('a', { signal: running.signal });
    const b = t.submit('b', { signal: waiting.signal });
    waiting.abort('changed my mind');
    await expect(b).rejects.toBeInstanceOf(CancelledError);
    await expect(b).rejects.toMatchObject({ data: { phase: 'queued', reason: 'changed my mind' } });
    running.abort();
    expect(t.d.queued).toBe(0);
    // The replica answers the abort with Cancelled; it is not moved even if "reroutable".
    t.attempts[0]!.reject(new CancelledError('cancelled', { phase: 'in-flight' }));
    await expect(a).rejects.toBeInstanceOf(CancelledError);
    const c = new AbortController();
    c.abort();
    await expect(t.submit('c', { signal: c.signal })).rejects.toBeInstanceOf(CancelledError);
  });

  it('refuses a call with QueueFull when the pool queue is full', async () => {
    const t = setup({ replicas: 1, capacity: 1, maxQueueSize: 1 });
    void t.submit('a');
    void t.submit('b').catch(() => undefined);
    await expect(t.submit('c')).rejects.toBeInstanceOf(QueueFullError);
    expect(t.d.stats().refused).toBe(1);
  });

  it('with maxQueueSize 0, a call that finds a free slot still runs; one that would wait is refused', async () => {
    const t = setup({ replicas: 1, capacity: 1, maxQueueSize: 0 });
    const a = t.submit('a');
    expect(t.attempts).toHaveLength(1);
    await expect(t.submit('b')).rejects.toBeInstanceOf(QueueFullError);
    t.attempts[0]!.resolve('A');
    expect(await a).toBe('A');
    expect(t.d.queued).toBe(0);
  });

  it('failQueued fails every waiting call, sticky lanes included', async () => {
    const t = setup({ replicas: 1, capacity: 1, sticky: true });
    void t.submit('a', { stickyKey: 'k' });
    const b = t.submit('b', { stickyKey: 'k' });
    const c = t.submit('c');
    t.d.failQueued(new NotConnectedError('stopped'));
    await expect(b).rejects.toBeInstanceOf(NotConnectedError);
    await expect(c).rejects.toBeInstanceOf(NotConnectedError);
    expect(t.d.queued).toBe(0);
  });

  it('a run that throws synchronously fails its call without stalling the queue', async () => {
    const t = setup({ replicas: 1, capacity: 1 });
    const bad = t.d.submit({
      label: 'bad',
      hardTimeoutMs: 1_000,
      run: () => {
        throw new NotConnectedError('gone');
      },
      reroutable: () => false,
    });
    await expect(bad).rejects.toBeInstanceOf(NotConnectedError);
    const good = t.submit('good');
    t.attempts[0]!.resolve('fine');
    expect(await good).toBe('fine');
    expect(t.changes()).toBeGreaterThan(0);
  });
});
