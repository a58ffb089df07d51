/**
 * A cached MCP list (tools, resources, resource templates, prompts), fetched page by page and
 * invalidated by the matching `notifications/…/list_changed`.
 *
 * The race it exists for: a change notification that arrives while a fetch is in flight. The
 * server may have built that answer before the change, so it must not become the cached value —
 * every invalidation bumps a generation, and a fetch started under an older generation is thrown
 * away: its callers are handed the list fetched after the change.
 */
import { ProtocolError } from './errors.js';
import { previewValue } from './jsonrpc.js';

/** Fetches one page: the items and the cursor of the next page, if any. */
export type PageFetcher<T> = (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string }>;

/** Pages a server walks through at most, so that a server repeating a cursor cannot loop us forever. */
const MAX_PAGES = 10_000;

/** Follows `nextCursor` until the last page; a repeated cursor is a ProtocolError. */
export async function fetchAllPages<T>(fetchPage: PageFetcher<T>, what: string): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await fetchPage(cursor);
    items.push(...result.items);
    cursor = result.nextCursor;
    if (cursor === undefined) return items;
    if (seen.has(cursor)) throw new ProtocolError(`${what}: the server repeated cursor ${previewValue(cursor)}`, { cursor });
    seen.add(cursor);
  }
  throw new ProtocolError(`${what}: more than ${MAX_PAGES} pages`);
}

/** A fetched list with the server's freshness hint (2026-07-28 `ttlMs`): stale after that many ms. */
export interface HintedList<T> {
  items: T[];
  ttlMs?: number;
}

export class ListCache<T> {
  private value: T[] | undefined;
  /** When the cached value goes stale (epoch ms per `now`); undefined: until invalidated. */
  private expiresAt: number | undefined;
  private loading: { generation: number; promise: Promise<T[]> } | undefined;
  private generation = 0;

  /**
   * @param fetchAll fetches the whole list (all pages); a HintedList with `ttlMs` makes the value
   *   stale after that long (as well as on invalidate), a plain array keeps it until invalidated
   * @param onFresh called with each list that becomes the cached value
   * @param now the clock of `ttlMs` (epoch ms) @default Date.now
   */
  constructor(
    private readonly fetchAll: () => Promise<T[] | HintedList<T>>,
    private readonly onFresh: (items: T[]) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached list, if it is current (possibly past its `ttlMs`: see `get` for a fresh one). */
  get current(): T[] | undefined {
    return this.value;
  }

  /** The list: cached, joined to a fetch in flight of the current generation, or fetched (never one a change overtook). */
  get(options: { refresh?: boolean } = {}): Promise<T[]> {
    if (options.refresh || (this.expiresAt !== undefined && this.now() >= this.expiresAt)) this.invalidate();
    if (this.value) return Promise.resolve(this.value);
    if (this.loading?.generation === this.generation) return this.loading.promise;
    const generation = this.generation;
    const promise = this.fetchAll().then((fetched): T[] | Promise<T[]> => {
      // Invalidated meanwhile: this answer may predate the change. It is neither cached nor
      // handed out: its callers get the list fetched after the change instead.
      if (generation !== this.generation) return this.get();
      const items = Array.isArray(fetched) ? fetched : fetched.items;
      const ttlMs = Array.isArray(fetched) ? undefined : fetched.ttlMs;
      this.value = items;
      this.expiresAt = ttlMs === undefined ? undefined : this.now() + Math.max(0, ttlMs);
      this.onFresh(items);
      return items;
    });
    const loading = { generation, promise };
    this.loading = loading;
    const clear = () => {
      if (this.loading === loading) this.loading = undefined;
    };
    promise.then(clear, clear);
    return promise;
  }

  /** The list changed (or the server restarted): the cached value and any fetch in flight are stale. */
  invalidate(): void {
    this.generation++;
    this.value = undefined;
    this.expiresAt = undefined;
  }
}
