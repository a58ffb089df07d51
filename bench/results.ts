/** The shape of a benchmark run's results (what `--json` prints and runBench returns). */
import type { ClientName } from './clients/types.js';

export const BLOB_SIZES = { '1KiB': 1024, '100KiB': 100 * 1024, '1MiB': 1024 * 1024, '10MiB': 10 * 1024 * 1024 } as const;
export type BlobSize = keyof typeof BLOB_SIZES;
export const BLOB_KEYS = Object.keys(BLOB_SIZES) as BlobSize[];

export interface Counts {
  warmup: number;
  latencyCalls: number;
  throughputCalls: number;
  inFlight: number;
  blobCalls: Record<BlobSize, number>;
  blobInFlight: number;
  /** start → initialized samples per client per round. */
  coldStarts: number;
  /** Requests for the pending/queued memory probes. */
  memoryRequests: number;
  e2eCalls: number;
  e2eLatencyCalls: number;
}

/** One client's numbers in one round (null when the measurement failed or does not apply). */
export interface ClientRound {
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  throughputCallsPerSec: number | null;
  blobMiBps: Record<BlobSize, number | null>;
  /** mcp-ipc only: the same blobs streamed (notifications/stream/chunk, 64 KiB pieces). */
  blobStreamMiBps?: Record<BlobSize, number | null>;
  coldStartMs: number[];
  idleRssBytes: number | null;
  idleHeapUsedBytes: number | null;
  bytesPerPending: number | null;
  /** mcp-ipc only (raw and sdk have no queue). */
  bytesPerQueued: number | null;
  errors: string[];
}

/** Medians over the rounds. */
export interface ClientSummary {
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  throughputCallsPerSec: number | null;
  blobMiBps: Record<BlobSize, number | null>;
  blobStreamMiBps?: Record<BlobSize, number | null>;
  coldStartMs: number | null;
  idleRssBytes: number | null;
  idleHeapUsedBytes: number | null;
  bytesPerPending: number | null;
  bytesPerQueued: number | null;
  errors: string[];
}

export interface RoundResult {
  round: number;
  order: ClientName[];
  clients: Partial<Record<ClientName, ClientRound>>;
}

export type E2eResult =
  | { status: 'ok'; callsPerSec: number; p50Ms: number; p99Ms: number; calls: number; inFlight: number }
  | { status: 'skipped'; reason: string };

export interface TargetCheck {
  name: string;
  value: number | null;
  limit: number;
  ok: boolean | null;
}

export interface BenchResults {
  version: 1;
  meta: {
    date: string;
    node: string;
    platform: string;
    arch: string;
    cpus: number;
    cpuModel: string;
    quick: boolean;
    rounds: number;
    counts: Counts;
    /** RSS of a bare node process running the probe with no client (reference for idleRssBytes). */
    baselineRssBytes: number | null;
    durationMs: number;
  };
  clients: Record<ClientName, ClientSummary>;
  ratios: {
    'mcp-ipc/raw': Record<string, number | null>;
    'mcp-ipc/sdk': Record<string, number | null>;
  };
  targets: TargetCheck[];
  e2e: E2eResult;
  rounds: RoundResult[];
}
