/**
 * The `requests` store without a client: the list in the order requests were made, the finished
 * ones bounded (the one finished longest ago goes first), entries replaced rather than changed (a
 * list read earlier stays as it was), no list made and nothing scheduled while nobody reads or
 * listens, and one notification per task for subscribers (injected scheduler).
 */
import { get } from 'svelte/store';
import { describe, expect, it } from 'vitest';
import { CancelledError, TimeoutError } from '../../src/core/errors.js';
import { err, ok } from '../../src/core/result.js';
import { type LogEntry, type RequestInfo, RequestLog } from '../../src/client/request-log.js';

function entry(key: string, status: 'running' | 'waiting' = 'running'): LogEntry {
  return { id: undefined, info: { key, server: 's', method: 'tools/call', tool: key, startedAt: 1, status } };
}

function setup(maxFinished = 3) {
  const runs: Array<() => void> = [];
  const log = new RequestLog(maxFinished, (run) => runs.push(run));
  const flush = () => runs.splice(0).forEach((run) => run());
  return { log, runs, flush };
}

const keys = (list: RequestInfo[]) => list.map((r) => `${r.key}:${r.status}`);

describe('RequestLog', () => {
  it('lists requests in the order they were made, with their status as it changes', () => {
    const { log } = setup();
    const [a, b, c] = [entry('a'), entry('b', 'waiting'), entry('c')];
    log.add(a);
    log.add(b);
    log.add(c);
    log.setStatus(b, 'running');
    log.patch(c, { progress: { progress: 1, total: 2 } });
    log.finish(a, ok(1));
    log.finish(c, err(new CancelledError('stop')));
    expect(keys(log.store.get())).toEqual(['a:done', 'b:running', 'c:cancelled']);
    expect(log.store.get()[2]).toMatchObject({ progress: { progress: 1, total: 2 }, error: 'Cancelled', finishedAt: expect.any(Number) });
    log.finish(b, err(new TimeoutError('slow', { method: 'tools/call', kind: 'idle', phase: 'in-flight', timeoutMs: 5, queuedMs: 0, inFlightMs: 5 })));
    expect(log.store.get()[1]).toMatchObject({ status: 'error', error: 'Timeout' });
    expect(get(log.store)).toBe(log.store.get());
  });

  it('keeps the last maxFinished finished requests: the one finished longest ago goes first', () => {
    const { log } = setup(2);
    const e = ['a', 'b', 'c', 'd'].map((k) => entry(k));
    for (const x of e) log.add(x);
    // Finished out of order: c, a, d — then b.
    log.finish(e[2]!, ok(1));
    log.finish(e[0]!, ok(1));
    log.finish(e[3]!, ok(1));
    expect(keys(log.store.get())).toEqual(['a:done', 'b:running', 'd:done']);
    log.finish(e[1]!, ok(1));
    expect(keys(log.store.get())).toEqual(['b:done', 'd:done']);
    for (const k of ['f', 'g', 'h']) {
      const x = entry(k);
      log.add(x);
      log.finish(x, ok(1));
    }
    expect(keys(log.store.get())).toEqual(['g:done', 'h:done']);

    const none = setup(0).log;
    const x = entry('x');
    none.add(x);
    none.add(entry('y'));
    none.finish(x, ok(1));
    expect(keys(none.store.get())).toEqual(['y:running']);
  });

  it('replaces entries instead of changing them: a list read earlier stays as it was', () => {
    const { log } = setup();
    const a = entry('a');
    log.add(a);
    const before = log.store.get();
    const info = before[0]!;
    log.patch(a, { chunks: 3 });
    log.finish(a, ok(1));
    expect(before).toEqual([{ ...info }]);
    expect(info.status).toBe('running');
    expect(info.chunks).toBeUndefined();
    expect(log.store.get()).not.toBe(before);
    expect(log.store.get()[0]).toMatchObject({ status: 'done', chunks: 3 });
  });

  it('ignores changes to a finished request, and lets a key come again once its request finished', () => {
    const { log } = setup();
    const first = entry('k');
    log.add(first);
    log.finish(first, ok(1));
    log.patch(first, { status: 'running' });
    log.finish(first, err(new CancelledError('late')));
    expect(keys(log.store.get())).toEqual(['k:done']);
    const again = entry('k');
    log.add(again);
    expect(keys(log.store.get())).toEqual(['k:done', 'k:running']);
    expect(log.find('k')).toBe(again);
  });

  it('makes the list only when read, and keeps it until the next change', () => {
    const { log, runs } = setup();
    const a = entry('a');
    log.add(a);
    log.patch(a, { chunks: 1 });
    expect(runs).toHaveLength(0); // nobody listens: nothing scheduled
    const list = log.store.get();
    expect(log.store.get()).toBe(list);
    log.setStatus(a, 'running'); // no change: the same list
    expect(log.store.get()).toBe(list);
    log.patch(a, { chunks: 2 });
    expect(log.store.get()).not.toBe(list);
  });

  it('tells subscribers once per task, after it, with the list as it is then', () => {
    const { log, runs, flush } = setup();
    const seen: string[][] = [];
    const off = log.store.subscribe((list) => seen.push(keys(list)));
    expect(seen).toEqual([[]]); // the Svelte contract: called at once
    const a = entry('a');
    const b = entry('b');
    log.add(a);
    log.add(b);
    log.finish(a, ok(1));
    expect(runs).toHaveLength(1);
    expect(seen).toHaveLength(1);
    flush();
    expect(seen).toEqual([[], ['a:done', 'b:running']]);
    off();
    log.finish(b, ok(1));
    expect(runs).toHaveLength(0);
    expect(seen).toHaveLength(2);
  });

  it('keeps notifying the others when a subscriber throws or unsubscribes while notified', () => {
    const { log, flush } = setup();
    const seen: number[] = [];
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      let off: () => void = () => undefined;
      off = log.store.subscribe((list) => {
        if (list.length > 0) off();
      });
      log.store.subscribe((list) => {
        if (list.length > 0) throw new Error('boom');
      });
      log.store.subscribe((list) => seen.push(list.length));
      log.add(entry('a'));
      flush();
      log.add(entry('b'));
      flush();
    } finally {
      console.error = original;
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(errors).toHaveLength(2);
  });
});
