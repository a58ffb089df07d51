/**
 * Routing for server pools: which replica takes a call. Pure helpers used by PoolDispatcher.
 */

/** What routing needs to know of a replica. */
export interface RouteCandidate {
  readonly id: number;
  /** Pool calls running on it plus calls waiting in the pool for it (sticky ones). */
  readonly load: number;
}

/**
 * The least-busy candidate; among equally busy ones the first after `after` in id order (round
 * robin), so that an idle pool spreads calls instead of always waking the same process.
 */
export function leastBusy<T extends RouteCandidate>(candidates: readonly T[], after = -1): T | undefined {
  let best: T | undefined;
  let bestRank = Infinity;
  for (const c of candidates) {
    // Rank ties by distance past `after` (wrapping), so the next id in turn wins.
    const turn = c.id > after ? c.id - after : c.id - after + 1e9;
    const rank = c.load * 2e9 + turn;
    if (rank < bestRank) {
      best = c;
      bestRank = rank;
    }
  }
  return best;
}

/**
 * Sticky keys → replica ids, bounded: the least recently used key is forgotten first (a Map keeps
 * insertion order; a hit re-inserts). A forgotten key is simply routed afresh.
 */
export class StickyTable {
  private readonly keys = new Map<string, number>();

  constructor(private readonly maxKeys: number) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new TypeError(`maxStickyKeys must be an integer ≥ 1 (got ${String(maxKeys)})`);
  }

  get size(): number {
    return this.keys.size;
  }

  get(key: string): number | undefined {
    const id = this.keys.get(key);
    if (id === undefined) return undefined;
    this.keys.delete(key);
    this.keys.set(key, id);
    return id;
  }

  set(key: string, id: number): void {
    this.keys.delete(key);
    this.keys.set(key, id);
    if (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
  }

  /** Forgets every key held by replica `id` (it left the pool). */
  dropReplica(id: number): void {
    for (const [key, holder] of this.keys) if (holder === id) this.keys.delete(key);
  }
}
