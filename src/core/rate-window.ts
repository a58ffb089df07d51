/**
 * A fixed-window rate limit that counts what it refuses: at most `limit` events per `windowMs`,
 * the rest are suppressed and counted so the owner can report "N more not shown" once the window
 * ends. Used for floods that must stay visible without drowning their readers (a server's stderr
 * lines, its stdout diagnostics). Browser-safe; the clock is injectable.
 */
export class RateWindow {
  private windowStart = Number.NEGATIVE_INFINITY;
  private count = 0;
  private _suppressed = 0;

  /**
   * @param limit events allowed per window (≥ 0).
   * @param windowMs window length in ms (> 0).
   * @param now the clock (epoch ms). @default Date.now
   */
  constructor(
    readonly limit: number,
    readonly windowMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    if (!(limit >= 0)) throw new TypeError(`RateWindow limit must be >= 0, got ${limit}`);
    if (!(windowMs > 0)) throw new TypeError(`RateWindow windowMs must be > 0, got ${windowMs}`);
  }

  /**
   * Counts one event. Returns `{ allowed, ended }`: whether the event may go out, and how many were
   * suppressed in the window that just ended (0 when none, or when the window goes on).
   */
  take(): { allowed: boolean; ended: number } {
    const now = this.now();
    let ended = 0;
    if (now - this.windowStart >= this.windowMs) {
      ended = this._suppressed;
      this.windowStart = now;
      this.count = 0;
      this._suppressed = 0;
    }
    if (++this.count > this.limit) {
      this._suppressed++;
      return { allowed: false, ended };
    }
    return { allowed: true, ended };
  }

  /** Events suppressed so far in the current window. */
  get suppressed(): number {
    return this._suppressed;
  }

  /** ms until the current window ends (0 when it has). */
  remainingMs(): number {
    return Math.max(0, this.windowMs - (this.now() - this.windowStart));
  }

  /** Returns the suppressed count and resets it (the window itself goes on). */
  drain(): number {
    const n = this._suppressed;
    this._suppressed = 0;
    return n;
  }
}
