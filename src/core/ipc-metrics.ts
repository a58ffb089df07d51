/**
 * IpcMetrics: what one IpcManager counts and measures — counters, the send → settle latency and
 * enqueue → send wait histograms, and rolling rates of settled and failed calls — and the snapshot
 * built from them. Everything here is allocation-free on the hot path (see metrics.ts); the
 * manager only calls the `on…` methods at the points of its state machine.
 */
import { type HistogramSnapshot, LatencyHistogram, RollingRate } from './metrics.js';
import type { Priority } from './queue.js';

export interface IpcMetricsSnapshot {
  requests: number;
  responses: number;
  errors: number;
  timeouts: number;
  cancels: number;
  retries: number;
  lateResponses: number;
  diagnostics: number;
  notificationsIn: number;
  inFlight: number;
  queueDepth: number;
  queueDepthByPriority: Record<Priority, number>;
  /** Send → settle time of answered requests (ms). */
  latency: HistogramSnapshot;
  /** Enqueue → send time (ms). */
  queueWait: HistogramSnapshot;
  /** Responses per second over the rolling window. */
  throughput: number;
  /** Failed / settled, over the rolling window (0..1). */
  errorRate: number;
}

/** The manager's live load, read when a snapshot is taken. */
export interface IpcLoad {
  inFlight: number;
  queueDepth: number;
  queueDepthByPriority: Record<Priority, number>;
}

export class IpcMetrics {
  /** Plain counters, incremented directly by the manager (a field increment is the cheapest record). */
  readonly counters = {
    requests: 0,
    responses: 0,
    errors: 0,
    timeouts: 0,
    cancels: 0,
    retries: 0,
    lateResponses: 0,
    diagnostics: 0,
    notificationsIn: 0,
  };
  private readonly latency = new LatencyHistogram();
  private readonly queueWait = new LatencyHistogram();
  private readonly settledRate: RollingRate;
  private readonly failedRate: RollingRate;

  /** @param now the manager's clock (ms), shared so rates and latencies agree with its timeouts. */
  constructor(now: () => number) {
    this.settledRate = new RollingRate({ now });
    this.failedRate = new RollingRate({ now });
  }

  /** A request left the queue for the wire after `waitedMs`. */
  sent(waitedMs: number): void {
    this.queueWait.record(waitedMs);
  }

  /** A response arrived `latencyMs` after its request was sent. */
  answered(latencyMs: number): void {
    this.counters.responses++;
    this.latency.record(latencyMs);
  }

  /** A request settled with its result (at `now`, when the caller has just read the clock). */
  succeeded(now?: number): void {
    this.settledRate.mark(1, now);
  }

  /**
   * A request settled with an error. A cancel is the caller's choice, counted in `cancels` by the
   * manager: neither an error nor a settled call (the error rate would otherwise say the server is
   * failing when the user only changed their mind).
   */
  failed(cancelled: boolean): void {
    if (cancelled) return;
    this.counters.errors++;
    this.failedRate.mark();
    this.settledRate.mark();
  }

  snapshot(load: IpcLoad): IpcMetricsSnapshot {
    const settled = this.settledRate.rate();
    return {
      ...this.counters,
      ...load,
      latency: this.latency.snapshot(),
      queueWait: this.queueWait.snapshot(),
      throughput: settled,
      errorRate: settled > 0 ? Math.min(1, this.failedRate.rate() / settled) : 0,
    };
  }
}
