/**
 * RequestIds: issues request ids and tells what a response to an id nobody waits for is — `late`
 * (its request timed out, was cancelled or abandoned for a resend: dropped as designed),
 * `duplicate` (already answered) or `unknown` (never sent).
 *
 * Ids are increasing integers, so "was it sent" is a watermark test and costs no memory per
 * request. Only abandoned ids — rare: timeouts, cancels, resends — are remembered, the last
 * `capacity` of them in a ring (forgetting the oldest is O(1)); an older abandoned id reads as
 * `duplicate`, which is still true: it was sent and is settled.
 */
import type { RequestId } from './jsonrpc.js';

export type SettledReason = 'late' | 'duplicate' | 'unknown';

export class RequestIds {
  private next = 1;
  private readonly late = new Set<RequestId>();
  private readonly ring: Array<RequestId | undefined>;
  private pos = 0;

  /** @param capacity abandoned ids remembered as `late`. */
  constructor(private readonly capacity = 4096) {
    this.ring = new Array<RequestId | undefined>(capacity);
  }

  /** A fresh id, never issued before by this instance. */
  issue(): number {
    return this.next++;
  }

  /** Whether `id` was issued here (a settled or pending request's id, not a stranger's). */
  issued(id: unknown): id is number {
    return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id < this.next;
  }

  /** The request with `id` was given up on while the peer may still answer it. */
  abandon(id: RequestId): void {
    if (this.late.has(id)) return;
    const evicted = this.ring[this.pos];
    if (evicted !== undefined) this.late.delete(evicted);
    this.ring[this.pos] = id;
    this.pos = (this.pos + 1) % this.capacity;
    this.late.add(id);
  }

  /** Why a response to `id` matches no pending request (call only for ids not pending). */
  classify(id: RequestId | null): SettledReason {
    if (id === null) return 'unknown';
    if (this.late.has(id)) return 'late';
    return this.issued(id) ? 'duplicate' : 'unknown';
  }
}
