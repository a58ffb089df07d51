/** Exponential backoff with "full jitter" between half and the whole step, capped. */
export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  initialMs: number;
  /** Upper bound for any one delay, ms. */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Fraction of the delay that is randomised (0 = none, 1 = full jitter; default 0.5). */
  jitter?: number;
}

/** Delay before retry number `attempt` (0-based). `random` is injectable for tests. */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const { initialMs, maxMs = 60_000, factor = 2, jitter = 0.5 } = options;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt));
  return Math.round(base * (1 - jitter) + base * jitter * random());
}

/** A promise that resolves after `ms`, or rejects early with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
