/**
 * The result cache of one server (opt-in, its config's `cache` section): an LRU map bounded by
 * entries and by bytes, with a time-to-live per entry, coalescing of concurrent identical requests
 * and invalidation by tag (a tool's name, a resource's URI).
 *
 * Values are kept as their JSON text: the size bound counts real bytes, and every hit hands out a
 * fresh copy, so a caller that edits its result cannot change what the next caller gets.
 *
 * The race it guards against (as ListCache does for lists): an invalidation that arrives while a
 * request is in flight. The server may have built that answer before the change, so it is handed
 * to its callers but never stored, and later callers do not join it.
 */
import { DEFAULTS } from '../core/defaults.js';
import { CancelledError } from '../core/errors.js';
import type { CacheStats } from '../core/gateway-protocol.js';

export type { CacheStats };

/** A server's `cache` section. */
export interface CacheConfig {
  /** Names of the tools whose results are cached, or `"readOnly"`: every tool annotated `readOnlyHint`. */
  tools?: string[] | 'readOnly';
  /** How long a tool result is served from the cache. @default 60000 (DEFAULTS.cache.ttlMs) */
  ttlMs?: number;
  /** Entries kept, least recently used evicted first. @default 1000 */
  maxEntries?: number;
  /** Bytes (JSON text) kept; a larger single result is not cached. @default 33554432 (32 MiB) */
  maxBytes?: number;
}

/** How an answer was obtained, as marked in a result's `_meta` under CACHE_META_KEY. */
export interface CacheMark {
  hit: boolean;
  /** Age of the cached answer, ms (hits only). */
  ageMs?: number;
  /** The answer was shared with an identical request in flight. */
  coalesced?: true;
}

/** The `_meta` key that marks an answer served by the cache. */
export const CACHE_META_KEY = 'io.mcp-ipc/cache';

export interface ResultCacheOptions {
  maxEntries?: number;
  maxBytes?: number;
  /** Epoch ms. @default Date.now */
  now?: () => number;
}

interface Entry {
  json: string;
  bytes: number;
  storedAt: number;
  expiresAt: number;
  tags: readonly string[];
}

interface Flight {
  promise: Promise<unknown>;
  generation: number;
  waiters: number;
  controller: AbortController;
}

/** What `run()` needs to know about one request. */
export interface CacheableRequest<T> {
  /** The key identical requests share (coalescing), and where the answer is looked up and stored unless told otherwise. */
  key: string;
  /** Keys to look the answer up under instead of `key` (first found wins). */
  lookupKeys?: readonly string[];
  /** The key to store the answer under (e.g. by its cacheScope) instead of `key`. */
  storeKey?: (value: T) => string;
  /** Labels to invalidate it by (e.g. `tool:search`, `uri:file:///a`). */
  tags: readonly string[];
  /** Sends the request (once for every identical request in flight). `signal` aborts when every waiter left. */
  fetch: (signal: AbortSignal) => Promise<T>;
  /** How long the answer may be served, ms; 0 or less (or undefined) means not stored. Called with the answer. */
  ttlMs: (value: T) => number | undefined;
  /** This caller's signal: leaving early rejects with CancelledError without failing the others. */
  signal?: AbortSignal;
}

export class ResultCache {
  /** Map order is recency: the first key is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new Map<string, Flight>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly now: () => number;
  private generation = 0;
  private bytes = 0;
  private counters = { hits: 0, misses: 0, evictions: 0, coalesced: 0 };

  /** @throws TypeError for a bound that is not a positive number */
  constructor(options: ResultCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULTS.cache.maxEntries;
    this.maxBytes = options.maxBytes ?? DEFAULTS.cache.maxBytes;
    for (const [name, value] of [['maxEntries', this.maxEntries], ['maxBytes', this.maxBytes]] as const) {
      if (!(value > 0) || !Number.isFinite(value)) throw new TypeError(`ResultCache: ${name} must be a positive number (got ${String(value)})`);
    }
    this.now = options.now ?? Date.now;
  }

  stats(): CacheStats {
    return { ...this.counters, entries: this.entries.size, bytes: this.bytes };
  }

  /**
   * The answer to `request`: from the cache (a fresh copy, marked `hit`), shared with an identical
   * request in flight (marked `coalesced`), or fetched — and stored when `ttlMs(answer)` is positive.
   * A failed fetch is never stored; every waiter gets its error.
   */
  async run<T>(request: CacheableRequest<T>): Promise<{ value: T; mark?: CacheMark }> {
    let cached: Entry | undefined;
    for (const key of request.lookupKeys ?? [request.key]) if ((cached = this.lookup(key))) break;
    if (cached) {
      this.counters.hits++;
      return { value: JSON.parse(cached.json) as T, mark: { hit: true, ageMs: Math.max(0, this.now() - cached.storedAt) } };
    }
    let flight = this.flights.get(request.key);
    const joined = flight !== undefined && flight.generation === this.generation;
    if (joined) this.counters.coalesced++;
    else {
      this.counters.misses++;
      flight = this.start(request);
    }
    const shared = flight!;
    shared.waiters++;
    try {
      const value = (await waitFor(shared.promise, request.signal)) as T;
      // Each joiner gets its own copy; the one who started the flight keeps the original.
      return joined ? { value: structuredClone(value), mark: { hit: false, coalesced: true } } : { value };
    } finally {
      // The last caller gone: stop the request if it is still running (a no-op once it settled),
      // and forget it at once — an identical call made before the aborted fetch settles must start
      // a request of its own, not join one that is being cancelled.
      if (--shared.waiters === 0) {
        if (this.flights.get(request.key) === shared) this.flights.delete(request.key);
        shared.controller.abort('every caller left');
      }
    }
  }

  private start<T>(request: CacheableRequest<T>): Flight {
    const generation = this.generation;
    const controller = new AbortController();
    const flight: Flight = { promise: undefined as never, generation, waiters: 0, controller };
    flight.promise = request.fetch(controller.signal).then((value) => {
      // Invalidated meanwhile: the answer may predate the change. Handed out, never stored.
      if (generation === this.generation) this.store(request.storeKey ? request.storeKey(value) : request.key, value, request.ttlMs(value), request.tags);
      return value;
    });
    const clear = () => {
      if (this.flights.get(request.key) === flight) this.flights.delete(request.key);
    };
    flight.promise.then(clear, clear);
    this.flights.set(request.key, flight);
    return flight;
  }

  private lookup(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() >= entry.expiresAt) {
      this.remove(key, entry);
      return undefined;
    }
    // Most recently used goes last.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  private store(key: string, value: unknown, ttlMs: number | undefined, tags: readonly string[]): void {
    if (ttlMs === undefined || !(ttlMs > 0)) return;
    let json: string;
    try {
      json = JSON.stringify(value);
    } catch {
      return; // not JSON (cannot happen for wire results); simply not cached
    }
    if (json === undefined) return;
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > this.maxBytes) return;
    const previous = this.entries.get(key);
    if (previous) this.remove(key, previous);
    const now = this.now();
    this.entries.set(key, { json, bytes, storedAt: now, expiresAt: now + ttlMs, tags });
    this.bytes += bytes;
    // Least recently used first. Dropping an entry that had expired anyway is not counted as an eviction.
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      this.remove(oldestKey, oldest);
      if (now < oldest.expiresAt) this.counters.evictions++;
    }
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  /**
   * Drops the entries carrying any of `tags` (every entry when none is given) and keeps answers to
   * requests in flight from being stored. Returns how many entries were dropped.
   */
  invalidate(tags?: readonly string[]): number {
    this.generation++;
    this.flights.clear(); // later identical requests must not join an answer that may predate the change
    let dropped = 0;
    for (const [key, entry] of [...this.entries]) {
      if (tags === undefined || entry.tags.some((t) => tags.includes(t))) {
        this.remove(key, entry);
        dropped++;
      }
    }
    return dropped;
  }
}

/** `promise`, or a CancelledError as soon as `signal` aborts (the promise goes on for the others). */
function waitFor<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  const cancelled = () => new CancelledError('Request cancelled', { reason: String(signal.reason ?? 'cancelled'), phase: 'in-flight' });
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Marks an answer in its `_meta` (a new object; the answer itself is not changed). */
export function markCached<T extends object>(value: T, mark: CacheMark | undefined): T {
  if (!mark) return value;
  const meta = (value as { _meta?: Record<string, unknown> })._meta;
  return { ...value, _meta: { ...meta, [CACHE_META_KEY]: mark } };
}
