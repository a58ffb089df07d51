import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { applyElicitationDefaults } from '../../src/core/elicitation.js';
import { ListCache, fetchAllPages } from '../../src/core/list-cache.js';

/** A fetch the test resolves by hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ListCache', () => {
  it('caches, and joins concurrent gets to one fetch', async () => {
    let fetches = 0;
    const cache = new ListCache(async () => [++fetches]);
    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    expect([a, b, await cache.get()]).toEqual([[1], [1], [1]]);
    expect(fetches).toBe(1);
  });

  it('never caches or hands out a fetch that an invalidation overtook', async () => {
    const pending = [deferred<string[]>(), deferred<string[]>()];
    let call = 0;
    const fresh: string[][] = [];
    const cache = new ListCache(() => pending[call++]!.promise, (items) => fresh.push(items));
    const stale = cache.get();
    cache.invalidate(); // list_changed while the fetch is in flight
    const next = cache.get();
    pending[0]!.resolve(['old']);
    pending[1]!.resolve(['new']);
    expect(await stale).toEqual(['new']); // the overtaken answer is never handed out
    expect(await next).toEqual(['new']);
    expect(await cache.get()).toEqual(['new']);
    expect(fresh).toEqual([['new']]);
  });
});

describe('fetchAllPages', () => {
  it('follows nextCursor and refuses a repeated cursor', async () => {
    const pages: Record<string, { items: number[]; nextCursor?: string }> = { '': { items: [1], nextCursor: 'a' }, a: { items: [2], nextCursor: 'b' }, b: { items: [3] } };
    await expect(fetchAllPages(async (c) => pages[c ?? '']!, 'x')).resolves.toEqual([1, 2, 3]);
    await expect(fetchAllPages(async () => ({ items: [1], nextCursor: 'same' }), 'x')).rejects.toBeInstanceOf(ProtocolError);
  });
});

describe('applyElicitationDefaults', () => {
  const params = { mode: 'form', message: 'm', requestedSchema: { type: 'object', properties: { a: { type: 'string', default: 'x' }, b: { type: 'number' } } } };
  it('fills fields an accepted form left out, and nothing else', () => {
    expect(applyElicitationDefaults(params, { action: 'accept', content: { b: 1 } })).toEqual({ action: 'accept', content: { a: 'x', b: 1 } });
    expect(applyElicitationDefaults(params, { action: 'accept', content: { a: 'mine' } })).toEqual({ action: 'accept', content: { a: 'mine' } });
    expect(applyElicitationDefaults(params, { action: 'decline' })).toEqual({ action: 'decline' });
    expect(applyElicitationDefaults({ mode: 'url', url: 'https://x' }, { action: 'accept' })).toEqual({ action: 'accept' });
  });
});

describe('ListCache freshness hints (ttlMs)', () => {
  it('a hinted list goes stale after its ttlMs; a plain one stays until invalidated', async () => {
    let now = 0;
    let fetches = 0;
    const hinted = new ListCache<number>(async () => ({ items: [++fetches], ttlMs: 100 }), undefined, () => now);
    expect(await hinted.get()).toEqual([1]);
    now = 99;
    expect(await hinted.get()).toEqual([1]);
    now = 100;
    expect(await hinted.get()).toEqual([2]);
    let plainFetches = 0;
    const plain = new ListCache<number>(async () => [++plainFetches], undefined, () => now);
    await plain.get();
    now = 1e9;
    expect(await plain.get()).toEqual([1]);
  });

  it('ttlMs 0 means refetch on every get, yet `current` keeps the last list', async () => {
    let fetches = 0;
    const cache = new ListCache<number>(async () => ({ items: [++fetches], ttlMs: 0 }), undefined, () => 5);
    await cache.get();
    expect(cache.current).toEqual([1]);
    expect(await cache.get()).toEqual([2]);
  });
});
