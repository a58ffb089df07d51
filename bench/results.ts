/** The shape of a benchmark run's results: what `--json` prints and runBench returns. */
import type { ContenderName } from './clients/types.js';
import type { ServerKind } from './servers.js';
import type { Spread } from './stats.js';
import type { WindowResult } from './workloads.js';

export const BLOB_SIZES = { '1KiB': 1024, '100KiB': 100 * 1024, '1MiB': 1024 * 1024, '10MiB': 10 * 1024 * 1024 } as const;
export type BlobSize = keyof typeof BLOB_SIZES;
export const BLOB_KEYS = Object.keys(BLOB_SIZES) as BlobSize[];

export interface Settings {
  rounds: number;
  /** Length of each measured window. */
  windowMs: number;
  /** Unmeasured warm-up before each window. */
  warmupMs: number;
  /** In-flight counts per server (every contender gets the same). */
  inFlight: Record<ServerKind, number[]>;
  /** Calls outstanding in the large-result windows. */
  blobInFlight: number;
  /** Large-result windows run until at least this many calls are done, even past windowMs. */
  blobMinCalls: number;
  blobSizes: BlobSize[];
  /** Pending requests per memory probe. */
  memoryPending: number[];
  gatewayInFlight: number;
  /** The compression comparison: calls per mode per round (one at a time), unmeasured calls first. */
  compressionCalls: number;
  compressionWarmupCalls: number;
}

/** Figures of one contender at one load, over the rounds (null: no successful window). */
export interface LoadFigures {
  cpuUsPerCall: Spread | null;
  callsPerSec: Spread | null;
  p50Ms: Spread | null;
  p99Ms: Spread | null;
  /** Failed calls over all rounds, and the first failure. */
  errors: number;
  firstError?: string;
  /** Why it was not measured. */
  skipped?: string;
}

export interface BlobFigures {
  mibPerSec: Spread | null;
  cpuUsPerCall: Spread | null;
  errors: number;
  firstError?: string;
}

export interface GatewayFigures {
  status: 'ok' | 'skipped';
  reason?: string;
  inFlight: number;
  /** Host CPU per call in the client process, in the gateway process, and both. */
  clientCpuUsPerCall: Spread | null;
  gatewayCpuUsPerCall: Spread | null;
  totalCpuUsPerCall: Spread | null;
  callsPerSec: Spread | null;
  p50Ms: Spread | null;
  p99Ms: Spread | null;
  errors: number;
  firstError?: string;
  /** What the gateway ran with (limits raised beyond the defaults). */
  config: Record<string, unknown>;
  /**
   * The same load with the host's resource limits at their defaults, one window: failed calls here
   * are a cap the user did not set (the figures above run with it raised, so they are not skewed).
   */
  defaultHostLimits?: { calls: number; errors: number; firstError?: string };
}

export interface MemoryFigure {
  /** Heap (V8 heapUsed) per pending request, bytes. */
  bytesPerPending: number | null;
  /** Requests confirmed pending when measured (mcp-ipc only: its in-flight count). */
  confirmed?: number;
  error?: string;
}

/** A ratio a ÷ b of two medians; `better` says which direction is good for mcp-ipc. */
export interface Ratio {
  key: string;
  value: number | null;
  better: 'lower' | 'higher';
}

/** One of the goals, checked against this run's medians. */
export interface Goal {
  goal: string;
  value: number | null;
  limit: number;
  ok: boolean | null;
  detail?: string;
}

export interface WindowRecord {
  server: ServerKind;
  contender: ContenderName | 'gateway';
  /** echo windows: the in-flight count; blob windows: the size. */
  load: string;
  result: WindowResult;
}

export interface BenchResults {
  version: 2;
  meta: {
    date: string;
    /** The command line that produced this run. */
    command: string;
    node: string;
    platform: string;
    arch: string;
    cpus: number;
    cpuModel: string;
    /** 1-minute load average at the start and the end (the machine may be shared). */
    loadAverage: { start: number; end: number };
    quick: boolean;
    settings: Settings;
    servers: Partial<Record<ServerKind, string>>;
    /** Names of the variables every server got (bench/env.ts). */
    serverEnvironment: string[];
    notes: string[];
    durationMs: number;
  };
  /** server → in-flight count → contender. */
  echo: Partial<Record<ServerKind, Record<string, Partial<Record<ContenderName, LoadFigures>>>>>;
  /** Large results from the instant server: size → contender. */
  blobs: Partial<Record<BlobSize, Partial<Record<ContenderName, BlobFigures>>>>;
  /** Spawn → first tool result against the Node echo server, ms. */
  coldStartMs: Partial<Record<ContenderName, Spread | null>>;
  /** Pending count → contender. */
  memory: Record<string, Partial<Record<ContenderName, MemoryFigure>>>;
  gateway: GatewayFigures;
  /** The gateway's compression, on and off, for a 1 MB result. */
  compression: CompressionFigures;
  ratios: Ratio[];
  goals: Goal[];
  rounds: Array<{ round: number; order: ContenderName[]; windows: WindowRecord[]; coldStartMs: Partial<Record<ContenderName, number>> }>;
}

/** One way of carrying the 1 MB result (bench/compression.ts), one call at a time. */
export interface CompressionModeFigures {
  /** Bytes on the client's TCP socket per call, both directions (frames / HTTP headers included). */
  bytesPerCall: Spread | null;
  clientCpuUsPerCall: Spread | null;
  gatewayCpuUsPerCall: Spread | null;
  p50Ms: Spread | null;
  /** What the gateway actually sent: the negotiated WebSocket extension, or the response's Content-Encoding. */
  onWire: string;
  errors: number;
  firstError?: string;
}

/** Compression on the gateway (issue 13): a 1 MB result with and without it. */
export interface CompressionFigures {
  status: 'ok' | 'skipped';
  reason?: string;
  resultBytes: number;
  tool: string;
  rounds: number;
  callsPerRound: number;
  /** ws-deflate / ws-plain (permessage-deflate offered or not), http-br / http-gzip / http-identity (POST /mcp/NAME). */
  modes: Partial<Record<'ws-deflate' | 'ws-plain' | 'http-br' | 'http-gzip' | 'http-identity', CompressionModeFigures>>;
}
