/**
 * Server-pool benchmark: throughput and p50 latency of a CPU-bound tool (the demo server's `work`,
 * rounds of SHA-256 in Python — one process uses one core at most, its GIL serialises the
 * threads) with 1, 2 and 4 replicas, plus a single McpBridge as the baseline for the pool's own
 * cost. Closed loop: `concurrency` callers, each starting its next call when the last one settled.
 *
 *   npm run build && node dist/bench/pool.js [--json] [--quick] [--calls N] [--rounds N] [--concurrency N]
 *
 * Self-contained on purpose (only src/ imports): the main suite in bench/ is run separately.
 */
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { demoServerConfig } from '../src/node/config.js';
import { McpBridge } from '../src/node/mcp-bridge.js';
import { ServerPool } from '../src/node/server-pool.js';
import type { McpServerHandle } from '../src/node/server-handle.js';

export interface PoolBenchOptions {
  /** Replica counts to measure. @default [1, 2, 4] */
  replicas: number[];
  /** Measured calls per configuration. @default 400 */
  calls: number;
  /** SHA-256 rounds per call (≈ 1 µs each on a current x86 core). @default 20000 */
  rounds: number;
  /** Callers with a call outstanding at any time. @default 8 */
  concurrency: number;
  log: (line: string) => void;
}

export interface PoolBenchRow {
  /** `bridge` for the single-process baseline, else the replica count. */
  label: string;
  replicas: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Distinct server pids that answered (all replicas took work). */
  pidsUsed: number;
}

export interface PoolBenchResult {
  options: Omit<PoolBenchOptions, 'log'>;
  cores: number;
  rows: PoolBenchRow[];
}

const PROCESS = { healthCheckIntervalMs: 0, usageIntervalMs: 0 };

export async function runPoolBench(options: PoolBenchOptions): Promise<PoolBenchResult> {
  const rows: PoolBenchRow[] = [];
  const queue = { maxConcurrent: options.concurrency, maxQueueSize: options.concurrency * 4 };
  rows.push(await measure('bridge', 1, new McpBridge('work', demoServerConfig({ queue, process: PROCESS })), options));
  for (const n of options.replicas) {
    rows.push(await measure(String(n), n, new ServerPool('work', demoServerConfig({ replicas: n, queue, process: PROCESS })), options));
  }
  return { options: { replicas: options.replicas, calls: options.calls, rounds: options.rounds, concurrency: options.concurrency }, cores: availableParallelism(), rows };
}

async function measure(label: string, replicas: number, server: McpServerHandle, options: PoolBenchOptions): Promise<PoolBenchRow> {
  try {
    await server.start();
    const call = async (i: number): Promise<number> => {
      const r = await server.call('work', { rounds: options.rounds, seed: String(i) });
      return (r.structuredContent as { pid: number }).pid;
    };
    await closedLoop(Math.min(options.calls, options.concurrency * 2), options.concurrency, call); // warm-up
    const samples: number[] = [];
    const pids = new Set<number>();
    const elapsedMs = await closedLoop(options.calls, options.concurrency, async (i) => {
      const t0 = performance.now();
      pids.add(await call(i));
      samples.push(performance.now() - t0);
    });
    samples.sort((a, b) => a - b);
    const row = {
      label,
      replicas,
      callsPerSec: (options.calls / elapsedMs) * 1000,
      p50Ms: quantile(samples, 0.5),
      p99Ms: quantile(samples, 0.99),
      pidsUsed: pids.size,
    };
    options.log(`${label.padEnd(7)} ${row.callsPerSec.toFixed(1).padStart(8)} calls/s   p50 ${row.p50Ms.toFixed(1).padStart(7)} ms   p99 ${row.p99Ms.toFixed(1).padStart(7)} ms   pids ${row.pidsUsed}`);
    return row;
  } finally {
    await server.stop();
  }
}

async function closedLoop(total: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) await task(next++);
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
  return performance.now() - t0;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = q * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** A Markdown table of the result (as in the README). */
export function formatPoolTable(result: PoolBenchResult): string {
  const base = result.rows.find((r) => r.label === '1') ?? result.rows[0]!;
  const lines = [
    `CPU-bound \`work\` (${result.options.rounds} SHA-256 rounds per call), ${result.options.concurrency} callers, ${result.options.calls} calls, ${result.cores} cores`,
    '',
    '| replicas | throughput (calls/s) | vs 1 replica | p50 (ms) | p99 (ms) |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of result.rows) {
    const name = r.label === 'bridge' ? '1 (McpBridge, no pool)' : r.label;
    lines.push(`| ${name} | ${r.callsPerSec.toFixed(1)} | ${(r.callsPerSec / base.callsPerSec).toFixed(2)}× | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} |`);
  }
  return lines.join('\n');
}

function parseArgs(argv: string[]): { options: Omit<PoolBenchOptions, 'log'>; json: boolean } {
  const options = { replicas: [1, 2, 4], calls: 400, rounds: 20_000, concurrency: 8 };
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new TypeError(`${arg} needs a positive integer`);
      return v;
    };
    if (arg === '--json') json = true;
    else if (arg === '--quick') Object.assign(options, { calls: 40, rounds: 5_000 });
    else if (arg === '--calls') options.calls = value();
    else if (arg === '--rounds') options.rounds = value();
    else if (arg === '--concurrency') options.concurrency = value();
    else throw new TypeError(`unknown option ${arg} (--json, --quick, --calls N, --rounds N, --concurrency N)`);
  }
  return { options, json };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { options, json } = parseArgs(process.argv.slice(2));
  const result = await runPoolBench({ ...options, log: (line) => (json ? undefined : console.error(line)) });
  console.log(json ? JSON.stringify(result, null, 2) : formatPoolTable(result));
}
