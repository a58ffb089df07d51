/**
 * InFlightTable: the requests on the wire, found by id — without a `Map` that churns.
 *
 * Why not a `Map`: a `Map` with one insert and one delete per call rehashes into a fresh table
 * every few hundred calls, and V8 links each obsolete table to its successor. Once one table has
 * been promoted to the old generation (any full collection while requests are in flight does it),
 * the dead table keeps its successor alive through every scavenge, that one the next, and with
 * them the requests and answers they held: every scavenge then promotes most of what the calls
 * allocated ("GC nepotism"), until the next full collection. Measured on the engine bench: ~25 B
 * promoted per call normally, ~700 B per call in that state, scavenges 20–40× longer.
 *
 * Ids are increasing integers (RequestIds), so the requests in flight are a sliding window of
 * ids: a ring of slots indexed by the id's low bits holds them, and nothing is allocated per call.
 * A request still waiting when its slot comes round again (a long call among many short ones) is
 * moved to a side `Map`, which only such stragglers touch; the ring doubles instead when it is
 * more than half full, so it stays within ~4× the requests in flight.
 */
import type { RequestId } from './jsonrpc.js';

export interface InFlightItem {
  /** The id the item is filed under (set before `set`, unchanged while filed). */
  id: number | undefined;
}

const INITIAL_SLOTS = 64;

export class InFlightTable<T extends InFlightItem> {
  private slots: Array<T | undefined> = new Array<T | undefined>(INITIAL_SLOTS).fill(undefined);
  private mask = INITIAL_SLOTS - 1;
  /** In the ring (the side map's are counted by its own size). */
  private inRing = 0;
  /** Requests whose ring slot was needed by a newer id while they still waited. */
  private readonly stragglers = new Map<number, T>();

  get size(): number {
    return this.inRing + this.stragglers.size;
  }

  /** Files `item` under `id` (an id issued by RequestIds, not filed already). */
  set(id: number, item: T): void {
    const i = id & this.mask;
    const occupant = this.slots[i];
    if (occupant !== undefined) {
      if (this.inRing * 2 >= this.slots.length) {
        this.grow();
        return this.set(id, item);
      }
      // A sparse ring and an old request in the way: set it aside rather than grow for it.
      this.stragglers.set(occupant.id!, occupant);
      this.inRing--;
    }
    this.slots[i] = item;
    this.inRing++;
  }

  get(id: RequestId): T | undefined {
    if (typeof id !== 'number') return undefined; // we issue numbers only
    const item = this.slots[id & this.mask];
    if (item !== undefined && item.id === id) return item;
    return this.stragglers.size === 0 ? undefined : this.stragglers.get(id);
  }

  has(id: RequestId): boolean {
    return this.get(id) !== undefined;
  }

  delete(id: RequestId): boolean {
    if (typeof id !== 'number') return false;
    const i = id & this.mask;
    const item = this.slots[i];
    if (item !== undefined && item.id === id) {
      this.slots[i] = undefined;
      this.inRing--;
      return true;
    }
    return this.stragglers.size !== 0 && this.stragglers.delete(id);
  }

  /** A snapshot of the filed items (safe to settle them while iterating it). */
  values(): T[] {
    const out: T[] = [];
    for (const item of this.slots) if (item !== undefined) out.push(item);
    for (const item of this.stragglers.values()) out.push(item);
    return out;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    this.mask = this.slots.length - 1;
    // Distinct low bits stay distinct with one more bit: no two items meet in the new ring.
    for (const item of old) if (item !== undefined) this.slots[item.id! & this.mask] = item;
  }
}
