/**
 * An append-only log bounded by entry count and, optionally, by total size: the oldest entries are
 * dropped first, and the newest always stays (one entry over the byte budget is still kept, alone).
 * The gateway's event log, the browser client's event and request stores use it. Browser-safe.
 */
export interface BoundedLogOptions {
  /** Entries kept at most (≥ 1). */
  maxItems: number;
  /** Total size kept at most, in the unit `push` is given (e.g. bytes of JSON). @default Infinity */
  maxSize?: number;
}

export class BoundedLog<T> {
  private readonly entries: T[] = [];
  private readonly sizes: number[] = [];
  private total = 0;
  private readonly maxItems: number;
  private readonly maxSize: number;

  constructor(options: BoundedLogOptions) {
    if (!(options.maxItems >= 1)) throw new TypeError(`BoundedLog maxItems must be >= 1, got ${options.maxItems}`);
    if (options.maxSize !== undefined && !(options.maxSize > 0)) throw new TypeError(`BoundedLog maxSize must be > 0, got ${options.maxSize}`);
    this.maxItems = Math.floor(options.maxItems);
    this.maxSize = options.maxSize ?? Number.POSITIVE_INFINITY;
  }

  /** Appends one entry of `size` (default 0) and returns the entries dropped to make room, oldest first. */
  push(entry: T, size = 0): T[] {
    this.entries.push(entry);
    this.sizes.push(size);
    this.total += size;
    const dropped: T[] = [];
    while (this.entries.length > 1 && (this.entries.length > this.maxItems || this.total > this.maxSize)) {
      dropped.push(this.entries.shift()!);
      this.total -= this.sizes.shift()!;
    }
    return dropped;
  }

  /** The entries, oldest first (read-only view; do not keep it across pushes). */
  get items(): readonly T[] {
    return this.entries;
  }

  get length(): number {
    return this.entries.length;
  }

  /** Sum of the kept entries' sizes. */
  get size(): number {
    return this.total;
  }

  /** The index of the first entry for which `after` is false, given entries ordered by it (binary search). */
  firstIndexWhere(after: (entry: T) => boolean): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (after(this.entries[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
