/**
 * The last N metrics samples per server, for the time-series charts. Sampled on a steady clock
 * (not only when the host sends a change) so the x axis is time and idle periods show as idle.
 */
import { writable } from 'svelte/store';
import type { IpcMetricsSnapshot } from '../../../src/core/ipc-manager.js';

export interface Series {
  name: string;
  color: string;
  values: number[];
}

export interface Sample {
  at: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  inFlight: number;
  queueDepth: number;
  errorRate: number;
}

export const HISTORY_SAMPLES = 120;

export function sampleOf(snapshot: IpcMetricsSnapshot, at: number): Sample {
  const latency = snapshot.latency as Partial<Record<'p50' | 'p95' | 'p99', number>> | undefined;
  return {
    at,
    throughput: snapshot.throughput ?? 0,
    p50: latency?.p50 ?? 0,
    p95: latency?.p95 ?? 0,
    p99: latency?.p99 ?? 0,
    inFlight: snapshot.inFlight ?? 0,
    queueDepth: snapshot.queueDepth ?? 0,
    errorRate: snapshot.errorRate ?? 0,
  };
}

export function createMetricsHistory(limit = HISTORY_SAMPLES) {
  const store = writable<Record<string, Sample[]>>({});
  return {
    subscribe: store.subscribe,
    /** Appends one sample per server (servers no longer present are dropped). */
    record(snapshots: Record<string, IpcMetricsSnapshot>, at = Date.now()): void {
      store.update((history) => {
        const next: Record<string, Sample[]> = {};
        for (const [server, snapshot] of Object.entries(snapshots)) {
          const samples = history[server] ?? [];
          next[server] = [...samples.slice(-(limit - 1)), sampleOf(snapshot, at)];
        }
        return next;
      });
    },
    reset(): void {
      store.set({});
    },
  };
}

export type MetricsHistory = ReturnType<typeof createMetricsHistory>;
