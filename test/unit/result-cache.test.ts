import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/core/errors.js';
import { CACHE_META_KEY, ResultCache, markCached } from '../../src/node/result-cache.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(options: { maxEntries?: number; maxBytes?: number } = {}) {
  let now = 1_000;
  const cache = new ResultCache({ ...options, now: () => now });
  let sent = 0;
  const get = (key: string, value: unknown = { key }, ttlMs = 100, tags: string[] = [key]) =>
    cache.run({
      key,
      tags,
      fetch: async () => {
        sent++;
        return value;
      },
      ttlMs: () => ttlMs,
    });
  return { cache, get, sent: () => sent, advance: (ms: number) => (now += ms) };
}

describe('ResultCache', () => {
  it('serves a stored answer until its TTL, as a fresh copy with its age', async () => {
    const { get, sent, advance } = setup();
    const first = await get('a');
    expect(first.mark).toBeUndefined();
    advance(40);
    const second = await get('a');
    expect(second.mark).toEqual({ hit: true, ageMs: 40 });
    expect(second.value).toEqual(first.value);
    expect(second.value).not.toBe(first.value);
    (second.value as Record<string, unknown>).key = 'edited';
    expect((await get('a')).value).toEqual({ key: 'a' }); // a caller's edit does not leak
    advance(60);
    await get('a'); // expired at 100 ms
    expect(sent()).toBe(2);
  });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const { cache, get, sent } = setup({ maxEntries: 2 });
    await get('a');
    await get('b');
    await get('a'); // a is now the most recent
    await get('c'); // evicts b
    expect(cache.stats()).toMatchObject({ entries: 2, evictions: 1 });
    await get('a');
    expect(sent()).toBe(3);
    await get('b');
    expect(sent()).toBe(4);
  });

  it('is bounded by bytes, and never stores an answer larger than maxBytes', async () => {
    const { cache, get } = setup({ maxBytes: 100 });
    await get('big', { text: 'x'.repeat(200) });
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
    await get('a', { text: 'a'.repeat(40) }); // {"text":"aaa…"} = 51 bytes
    await get('b', { text: 'b'.repeat(40) });
    const stats = cache.stats();
    expect(stats.entries).toBe(1);
    expect(stats.bytes).toBe(51);
    expect(stats.evictions).toBe(1);
  });

  it('coalesces identical requests in flight into one, each caller with its own copy', async () => {
    const cache = new ResultCache();
    const answer = deferred<{ n: number }>();
    let sent = 0;
    const request = () => ({ key: 'k', tags: [], fetch: () => (sent++, answer.promise), ttlMs: () => 1000 });
    const calls = [cache.run(request()), cache.run(request()), cache.run(request())];
    answer.resolve({ n: 1 });
    const results = await Promise.all(calls);
    expect(sent).toBe(1);
    expect(results.map((r) => r.mark)).toEqual([undefined, { hit: false, coalesced: true }, { hit: false, coalesced: true }]);
    expect(results[1]!.value).not.toBe(results[0]!.value);
    expect(cache.stats()).toMatchObject({ misses: 1, coalesced: 2, hits: 0 });
  });

  it('never stores errors or answers whose ttl says no; every waiter gets the error', async () => {
    const cache = new ResultCache();
    const answer = deferred<unknown>();
    const request = { key: 'k', tags: [], fetch: () => answer.promise, ttlMs: () => 1000 };
    const a = cache.run(request);
    const b = cache.run(request);
    answer.reject(new Error('boom'));
    await expect(a).rejects.toThrow('boom');
    await expect(b).rejects.toThrow('boom');
    expect(cache.stats().entries).toBe(0);
    await cache.run({ key: 'k', tags: [], fetch: async () => ({ isError: true }), ttlMs: () => undefined });
    expect(cache.stats().entries).toBe(0);
  });

  it('an invalidation while a request is in flight: the answer is handed out, not stored, and not joined later', async () => {
    const cache = new ResultCache();
    const old = deferred<string>();
    let sent = 0;
    const first = cache.run({ key: 'k', tags: ['t'], fetch: () => (sent++, old.promise), ttlMs: () => 1000 });
    cache.invalidate(['t']);
    const second = cache.run({ key: 'k', tags: ['t'], fetch: async () => (sent++, 'new'), ttlMs: () => 1000 });
    old.resolve('old');
    expect((await first).value).toBe('old');
    expect((await second).value).toBe('new');
    expect(sent).toBe(2);
    expect((await cache.run({ key: 'k', tags: ['t'], fetch: async () => 'x', ttlMs: () => 1000 })).value).toBe('new');
  });

  it('invalidates by tag or entirely', async () => {
    const { cache, get } = setup();
    await get('a', 1, 100, ['tool:a', 'tools']);
    await get('b', 2, 100, ['tool:b', 'tools']);
    await get('r', 3, 100, ['uri:x']);
    expect(cache.invalidate(['tool:a'])).toBe(1);
    expect(cache.invalidate(['tools'])).toBe(1);
    expect(cache.stats().entries).toBe(1);
    expect(cache.invalidate()).toBe(1);
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('a caller that leaves early gets CancelledError; the others still get the answer; the last one leaving aborts the request', async () => {
    const cache = new ResultCache();
    const answer = deferred<string>();
    let shared: AbortSignal | undefined;
    const request = (signal?: AbortSignal) => ({
      key: 'k',
      tags: [],
      fetch: (s: AbortSignal) => ((shared = s), answer.promise),
      ttlMs: () => 1000,
      signal,
    });
    const leaving = new AbortController();
    const a = cache.run(request(leaving.signal));
    const b = cache.run(request());
    leaving.abort();
    await expect(a).rejects.toBeInstanceOf(CancelledError);
    expect(shared!.aborted).toBe(false);
    answer.resolve('v');
    expect((await b).value).toBe('v');

    const gone = new AbortController();
    const pending = deferred<string>();
    let signal: AbortSignal | undefined;
    const c = cache.run({ key: 'other', tags: [], fetch: (s) => ((signal = s), pending.promise), ttlMs: () => 1000, signal: gone.signal });
    gone.abort();
    await expect(c).rejects.toBeInstanceOf(CancelledError);
    expect(signal!.aborted).toBe(true);
  });

  it('an identical call made while an abandoned request is being cancelled starts its own, never joining it', async () => {
    const cache = new ResultCache();
    const fetches: Array<{ signal: AbortSignal; answer: ReturnType<typeof deferred<string>> }> = [];
    const request = (signal?: AbortSignal) => ({
      key: 'k',
      tags: [],
      fetch: (s: AbortSignal) => {
        const answer = deferred<string>();
        fetches.push({ signal: s, answer });
        return answer.promise;
      },
      ttlMs: () => 1000,
      signal,
    });
    const leaving = new AbortController();
    const a = cache.run(request(leaving.signal));
    leaving.abort();
    await expect(a).rejects.toBeInstanceOf(CancelledError);
    expect(fetches[0]!.signal.aborted).toBe(true);
    // The aborted request has not settled yet (its cancellation is still on its way).
    const b = cache.run(request());
    fetches[0]!.answer.reject(new CancelledError('Request cancelled'));
    expect(fetches).toHaveLength(2);
    fetches[1]!.answer.resolve('fresh');
    expect(await b).toEqual({ value: 'fresh' });
    expect(cache.stats()).toMatchObject({ misses: 2, coalesced: 0 });
  });

  it('looks up and stores under the keys it is told (cache scopes)', async () => {
    const cache = new ResultCache();
    const read = (client: string, scope: string) =>
      cache.run({
        key: `flight:${client}`,
        lookupKeys: ['public', `private:${client}`],
        storeKey: (v: { scope: string }) => (v.scope === 'public' ? 'public' : `private:${client}`),
        tags: [],
        fetch: async () => ({ scope, client }),
        ttlMs: () => 1000,
      });
    await read('alice', 'private');
    expect((await read('alice', 'private')).mark?.hit).toBe(true);
    expect((await read('bob', 'private')).mark).toBeUndefined(); // alice's private answer is not bob's
    cache.invalidate();
    await read('alice', 'public');
    expect((await read('bob', 'public')).value).toEqual({ scope: 'public', client: 'alice' });
  });

  it('refuses bounds that would stall it', () => {
    expect(() => new ResultCache({ maxEntries: 0 })).toThrow(TypeError);
    expect(() => new ResultCache({ maxBytes: -1 })).toThrow(TypeError);
  });

  it('markCached adds the mark to _meta without touching the original', () => {
    const original = { content: [], _meta: { other: 1 } };
    const marked = markCached(original, { hit: true, ageMs: 5 });
    expect(marked._meta).toEqual({ other: 1, [CACHE_META_KEY]: { hit: true, ageMs: 5 } });
    expect(original._meta).toEqual({ other: 1 });
  });
});
