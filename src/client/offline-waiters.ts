/**
 * Requests made while the client is (re)connecting wait for the connection — bounded in time
 * (`offlineWaitMs`) and in number (`maxOfflineQueue`) — instead of failing at once.
 */
import { CancelledError, type IpcError, NotConnectedError, QueueFullError } from '../core/errors.js';
import type { CancelSignal } from '../core/ipc-manager.js';
import { type Result, err, ok } from '../core/result.js';

export interface OfflineWaitersOptions {
  /** How long a request waits for the connection; 0 = fail at once. */
  offlineWaitMs: number;
  /** Requests that may wait at once; one more fails with QueueFull. */
  maxOfflineQueue: number;
}

export type ConnectionPhase = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export class OfflineWaiters {
  private readonly waiters = new Set<(result: Result<void>) => void>();

  constructor(private readonly options: OfflineWaitersOptions) {}

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Resolves at once when `state` is open; waits while a connection is coming; fails at once when
   * none is (`why`: the last connection error, for the message).
   */
  wait(state: ConnectionPhase, why: IpcError | null, signal?: CancelSignal): Promise<Result<void>> {
    if (state === 'open') return Promise.resolve(ok(undefined));
    if (signal?.aborted) return Promise.resolve(err(new CancelledError('Request cancelled before it was sent', { phase: 'queued' })));
    const coming = state === 'connecting' || state === 'reconnecting';
    const { offlineWaitMs, maxOfflineQueue } = this.options;
    if (!coming || offlineWaitMs <= 0) return Promise.resolve(err(new NotConnectedError(`Not connected (${state})${why ? `: ${why.message}` : ''}`)));
    if (this.waiters.size >= maxOfflineQueue) return Promise.resolve(err(new QueueFullError(maxOfflineQueue)));
    return new Promise((resolve) => {
      const onAbort = () => done(err(new CancelledError('Request cancelled while waiting for the connection', { phase: 'queued' })));
      const timer = setTimeout(() => done(err(new NotConnectedError(`Not connected: no connection within ${offlineWaitMs} ms`))), offlineWaitMs);
      const done = (result: Result<void>) => {
        if (!this.waiters.delete(done)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Settles every waiting request with `result` (open: ok; closed for good: the error). */
  release(result: Result<void>): void {
    for (const done of [...this.waiters]) done(result);
  }
}
