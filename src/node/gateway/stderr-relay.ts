/**
 * Servers' stderr lines as `server/event`s of type `stderr`, at most N per server per second: a
 * server that floods stderr must not flood every browser. What is held back is counted and reported
 * once its second ends ("N more stderr lines not shown"), even if no further line comes to end it.
 */
import type { ServerEvent } from '../../core/gateway-protocol.js';
import { RateWindow } from '../../core/rate-window.js';

export class StderrRelay {
  private readonly budgets = new Map<string, { window: RateWindow; timer?: ReturnType<typeof setTimeout> }>();

  /**
   * @param perSecond lines per server per second passed on.
   * @param emit where the events go (the gateway broadcasts them).
   */
  constructor(
    private readonly perSecond: number,
    private readonly emit: (event: ServerEvent) => void,
  ) {}

  line(server: string, line: string): void {
    let b = this.budgets.get(server);
    if (!b) this.budgets.set(server, (b = { window: new RateWindow(this.perSecond, 1000) }));
    const { allowed, ended } = b.window.take();
    if (ended > 0) this.report(server, ended);
    if (!allowed) {
      if (!b.timer) {
        b.timer = setTimeout(() => this.flush(server), Math.max(1, b.window.remainingMs()));
        b.timer.unref();
      }
      return;
    }
    this.emit({ time: Date.now(), server, type: 'stderr', level: 'info', message: line });
  }

  /** Drops the budget of a server that is gone (removed by a reload): its timer and its count. */
  forget(server: string): void {
    const b = this.budgets.get(server);
    if (b?.timer) clearTimeout(b.timer);
    this.budgets.delete(server);
  }

  /** Stops the timers (what is still held back is dropped). */
  close(): void {
    for (const b of this.budgets.values()) if (b.timer) clearTimeout(b.timer);
    this.budgets.clear();
  }

  private flush(server: string): void {
    const b = this.budgets.get(server);
    if (!b) return;
    if (b.timer) clearTimeout(b.timer);
    b.timer = undefined;
    this.report(server, b.window.drain());
  }

  private report(server: string, count: number): void {
    if (count === 0) return;
    this.emit({
      time: Date.now(),
      server,
      type: 'stderr',
      level: 'warn',
      message: `${count} more stderr lines not shown (rate limit ${this.perSecond}/s; see server/stderr)`,
      data: { suppressed: count },
    });
  }
}
