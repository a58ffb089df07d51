/**
 * The last N metrics samples per server, for the time-series charts. Sampled on a steady clock
 * (not only when the host sends a change) so the x axis is time and idle periods show as idle.
 */
import { writable } from 'svelte/store';
import type { ServerSnapshot } from '../../../src/core/gateway-protocol.js';
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
  /** CPU % of the server's process group; NaN while no process runs (a gap, not a zero). */
  cpuPercent: number;
  /** Resident memory of the process group in MB; NaN while no process runs. */
  memoryMb: number;
}

export const HISTORY_SAMPLES = 120;

export function sampleOf(snapshot: IpcMetricsSnapshot, at: number, usage: ServerSnapshot['usage'] = null): Sample {
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
    cpuPercent: usage ? usage.cpuPercent : Number.NaN,
    memoryMb: usage ? usage.memoryBytes / (1024 * 1024) : Number.NaN,
  };
}

export function createMetricsHistory(limit = HISTORY_SAMPLES) {
  const store = writable<Record<string, Sample[]>>({});
  return {
    subscribe: store.subscribe,
    /**
     * Appends one sample per server (servers no longer present are dropped), with the CPU and memory
     * of `servers` (the client's server snapshots) where given.
     */
    record(snapshots: Record<string, IpcMetricsSnapshot>, at = Date.now(), servers: readonly ServerSnapshot[] = []): void {
      store.update((history) => {
        const next: Record<string, Sample[]> = {};
        for (const [server, snapshot] of Object.entries(snapshots)) {
          const samples = history[server] ?? [];
          const usage = servers.find((s) => s.name === server);
          next[server] = [...samples.slice(-(limit - 1)), sampleOf(snapshot, at, usage?.state === 'running' ? usage.usage : null)];
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
