/**
 * The benchmark suite: raw (hand-written floor), sdk (@modelcontextprotocol/sdk) and mcp-ipc
 * (McpBridge, defaults) against the same echo server (test/fixtures/echo-server.mjs) over stdio,
 * plus an end-to-end run through the WebSocket gateway.
 *
 *   npm run bench                   5 rounds, table of medians + ratios
 *   node dist/bench/run.js --json   the same as JSON
 *   node dist/bench/run.js --quick  1 round, smaller counts
 *   --rounds N, --clients raw,sdk
 *
 * Within each round the clients run one after another, in an order rotated every round so drift
 * does not favour one of them. Memory is measured in fresh child processes (bench/memory-probe.ts).
 */
import { cpus } from 'node:os';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createClient } from './clients/index.js';
import { killAllChildren } from './clients/child.js';
import type { McpIpcClient } from './clients/mcp-ipc.js';
import { CLIENT_NAMES, type BenchClient, type ClientName } from './clients/types.js';
import { killProbes, ProbeUnavailableError, runProbe } from './memory.js';
import { checkTargets, computeRatios, formatReport } from './report.js';
import {
  BLOB_KEYS,
  BLOB_SIZES,
  type BenchResults,
  type BlobSize,
  type ClientRound,
  type ClientSummary,
  type Counts,
  type E2eResult,
  type RoundResult,
} from './results.js';
import { medianOrNull } from './stats.js';
import { blobThroughput, coldStart, sequentialLatency, throughput } from './workloads.js';

export type { BenchResults } from './results.js';

export interface BenchOptions {
  /** Print JSON instead of the table. */
  json?: boolean;
  /** 1 round and smaller counts (smoke test). */
  quick?: boolean;
  /** Rounds (default 5, quick 1). */
  rounds?: number;
  /** Where the report goes (default process.stdout); null prints nothing. */
  out?: NodeJS.WritableStream | null;
  /** Progress lines (default: on, to stderr, unless json). */
  progress?: boolean | ((line: string) => void);
  /** Only these clients (default all three; the ratios need all). */
  clients?: ClientName[];
  /** Skip the e2e part. */
  skipE2e?: boolean;
}

const FULL: Counts = {
  warmup: 500,
  latencyCalls: 3000,
  throughputCalls: 20_000,
  inFlight: 64,
  blobCalls: { '1KiB': 2000, '100KiB': 300, '1MiB': 60, '10MiB': 10 },
  blobInFlight: 1,
  coldStarts: 3,
  memoryRequests: 20_000,
  e2eCalls: 10_000,
  e2eLatencyCalls: 2000,
};

const QUICK: Counts = {
  warmup: 100,
  latencyCalls: 300,
  throughputCalls: 2000,
  inFlight: 64,
  blobCalls: { '1KiB': 200, '100KiB': 30, '1MiB': 8, '10MiB': 2 },
  blobInFlight: 1,
  coldStarts: 1,
  memoryRequests: 5000,
  e2eCalls: 1000,
  e2eLatencyCalls: 200,
};

const rotate = <T>(items: readonly T[], by: number): T[] => {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
};

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

function emptyRound(): ClientRound {
  const blobs = () => Object.fromEntries(BLOB_KEYS.map((k) => [k, null])) as Record<BlobSize, number | null>;
  return {
    latencyP50Ms: null,
    latencyP99Ms: null,
    throughputCallsPerSec: null,
    blobMiBps: blobs(),
    coldStartMs: [],
    idleRssBytes: null,
    idleHeapUsedBytes: null,
    bytesPerPending: null,
    bytesPerQueued: null,
    errors: [],
  };
}

/** One client, one round: cold starts, latency, throughput, large results. */
async function runClientRound(name: ClientName, counts: Counts, r: ClientRound, log: (line: string) => void): Promise<void> {
  let client: BenchClient | undefined;
  const step = async (label: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (error) {
      r.errors.push(`${label}: ${message(error)}`);
      log(`  ${name} ${label} failed: ${message(error)}`);
    }
  };
  try {
    for (let i = 0; i < counts.coldStarts - 1; i++) {
      await step('cold start', async () => {
        r.coldStartMs.push(await coldStart(await createClient(name)));
      });
    }
    client = await createClient(name);
    const t0 = performance.now();
    await client.start();
    r.coldStartMs.push(performance.now() - t0);
    const c = client;
    await step('latency', async () => {
      const lat = await sequentialLatency(c, counts.latencyCalls, counts.warmup);
      r.latencyP50Ms = lat.p50Ms;
      r.latencyP99Ms = lat.p99Ms;
    });
    await step('throughput', async () => {
      r.throughputCallsPerSec = (await throughput(c, counts.throughputCalls, counts.inFlight)).callsPerSec;
    });
    for (const k of BLOB_KEYS) {
      await step(`blob ${k}`, async () => {
        r.blobMiBps[k] = (await blobThroughput(c, BLOB_SIZES[k], counts.blobCalls[k], counts.blobInFlight)).mibPerSec;
      });
    }
    if (name === 'mcp-ipc') {
      const ipc = c as McpIpcClient;
      const streamed = Object.fromEntries(BLOB_KEYS.map((k) => [k, null])) as Record<BlobSize, number | null>;
      r.blobStreamMiBps = streamed;
      for (const k of ['1MiB', '10MiB'] as const) {
        await step(`streamed blob ${k}`, async () => {
          streamed[k] = (await blobThroughput(c, BLOB_SIZES[k], counts.blobCalls[k], counts.blobInFlight, (b) => ipc.callBlobStreaming(b))).mibPerSec;
        });
      }
    }
  } catch (error) {
    r.errors.push(`start: ${message(error)}`);
    log(`  ${name} failed: ${message(error)}`);
  } finally {
    if (client) await client.stop().catch((error: unknown) => r.errors.push(`stop: ${message(error)}`));
  }
}

/** The memory probes of one client (fresh child processes). */
async function runMemoryRound(name: ClientName, counts: Counts, r: ClientRound, log: (line: string) => void): Promise<void> {
  try {
    const pending = await runProbe(name, 'pending', counts.memoryRequests);
    r.idleRssBytes = pending.idleRssBytes;
    r.idleHeapUsedBytes = pending.idleHeapUsedBytes;
    r.bytesPerPending = pending.bytesPerRequest ?? null;
    if (name === 'mcp-ipc') r.bytesPerQueued = (await runProbe(name, 'queued', counts.memoryRequests)).bytesPerRequest ?? null;
  } catch (error) {
    r.errors.push(`memory: ${message(error)}`);
    if (!(error instanceof ProbeUnavailableError)) log(`  ${name} memory probe failed: ${message(error)}`);
  }
}

function summarize(rounds: RoundResult[], name: ClientName): ClientSummary {
  const rs = rounds.map((round) => round.clients[name]).filter((r): r is ClientRound => r !== undefined);
  const med = (get: (r: ClientRound) => number | null | undefined) => medianOrNull(rs.map(get));
  const blobs = (get: (r: ClientRound) => Record<BlobSize, number | null> | undefined) =>
    Object.fromEntries(BLOB_KEYS.map((k) => [k, medianOrNull(rs.map((r) => get(r)?.[k]))])) as Record<BlobSize, number | null>;
  const summary: ClientSummary = {
    latencyP50Ms: med((r) => r.latencyP50Ms),
    latencyP99Ms: med((r) => r.latencyP99Ms),
    throughputCallsPerSec: med((r) => r.throughputCallsPerSec),
    blobMiBps: blobs((r) => r.blobMiBps),
    coldStartMs: medianOrNull(rs.flatMap((r) => r.coldStartMs)),
    idleRssBytes: med((r) => r.idleRssBytes),
    idleHeapUsedBytes: med((r) => r.idleHeapUsedBytes),
    bytesPerPending: med((r) => r.bytesPerPending),
    bytesPerQueued: med((r) => r.bytesPerQueued),
    errors: [...new Set(rs.flatMap((r) => r.errors))],
  };
  if (rs.some((r) => r.blobStreamMiBps)) summary.blobStreamMiBps = blobs((r) => r.blobStreamMiBps);
  return summary;
}

async function runE2ePart(counts: Counts, log: (line: string) => void): Promise<E2eResult> {
  try {
    const { runE2e } = await import('./e2e.js');
    return await runE2e({ calls: counts.e2eCalls, latencyCalls: counts.e2eLatencyCalls, inFlight: 32, warmup: counts.warmup, log });
  } catch (error) {
    return { status: 'skipped', reason: message(error) };
  }
}

/** Runs the suite, prints the report to `out` and returns the results. */
export async function runBench(options: BenchOptions = {}): Promise<BenchResults> {
  const started = performance.now();
  const quick = options.quick === true;
  const counts = quick ? QUICK : FULL;
  const roundsWanted = Math.max(1, Math.floor(options.rounds ?? (quick ? 1 : 5)));
  const names = options.clients?.length ? CLIENT_NAMES.filter((n) => options.clients!.includes(n)) : [...CLIENT_NAMES];
  const progress = options.progress ?? !options.json;
  const log = typeof progress === 'function' ? progress : progress ? (line: string) => process.stderr.write(`${line}\n`) : () => undefined;
  const out = options.out === undefined ? process.stdout : options.out;

  const onSignal = (signal: NodeJS.Signals) => {
    killProbes();
    killAllChildren();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rounds: RoundResult[] = [];
  let baselineRssBytes: number | null = null;
  let e2e: E2eResult = { status: 'skipped', reason: 'not run' };
  try {
    // Load every client module and spawn each once, so the first measured client does not pay for
    // module loading or a cold disk cache.
    for (const name of names) {
      await coldStart(await createClient(name)).catch((error: unknown) => log(`  ${name} warm-up failed: ${message(error)}`));
    }
    for (let i = 0; i < roundsWanted; i++) {
      const order = rotate(names, i);
      const round: RoundResult = { round: i + 1, order, clients: {} };
      rounds.push(round);
      log(`round ${i + 1}/${roundsWanted}: ${order.join(', ')}`);
      for (const name of order) {
        const r = emptyRound();
        round.clients[name] = r;
        const t0 = performance.now();
        await runClientRound(name, counts, r, log);
        log(`  ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      for (const name of order) await runMemoryRound(name, counts, round.clients[name]!, log);
    }
    try {
      baselineRssBytes = (await runProbe('none', 'idle', 1)).idleRssBytes;
    } catch {
      baselineRssBytes = null;
    }
    if (!options.skipE2e) {
      log('e2e');
      e2e = await runE2ePart(counts, log);
    } else {
      e2e = { status: 'skipped', reason: 'skipE2e' };
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    killProbes();
    const orphans = killAllChildren();
    if (orphans > 0) log(`killed ${orphans} leftover child process(es)`);
  }

  const clients = Object.fromEntries(CLIENT_NAMES.map((n) => [n, summarize(rounds, n)])) as Record<ClientName, ClientSummary>;
  const cpu = cpus();
  const results: BenchResults = {
    version: 1,
    meta: {
      date: new Date().toISOString(),
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? 'unknown',
      quick,
      rounds: roundsWanted,
      counts,
      baselineRssBytes,
      durationMs: Math.round(performance.now() - started),
    },
    clients,
    ratios: computeRatios(clients),
    targets: checkTargets(clients),
    e2e,
    rounds,
  };
  if (out) {
    const text = options.json ? `${JSON.stringify(results, null, 2)}\n` : formatReport(results);
    await new Promise<void>((resolve) => out.write(text, () => resolve()));
  }
  return results;
}

function parseArgs(argv: string[]): BenchOptions {
  const options: BenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') options.json = true;
    else if (arg === '--quick') options.quick = true;
    else if (arg === '--no-e2e') options.skipE2e = true;
    else if (arg === '--rounds') options.rounds = Number(argv[++i]);
    else if (arg?.startsWith('--rounds=')) options.rounds = Number(arg.slice('--rounds='.length));
    else if (arg === '--clients') options.clients = (argv[++i] ?? '').split(',') as ClientName[];
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write('usage: node dist/bench/run.js [--json] [--quick] [--rounds N] [--clients raw,sdk,mcp-ipc] [--no-e2e]\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${String(arg)}\n`);
      process.exit(2);
    }
  }
  if (options.rounds !== undefined && !(options.rounds >= 1)) {
    process.stderr.write('bench: --rounds needs a positive number\n');
    process.exit(2);
  }
  return options;
}

function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  runBench(parseArgs(process.argv.slice(2))).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      killAllChildren();
      process.exit(1);
    },
  );
}
