/**
 * The benchmark suite. Six contenders with the same number of calls in flight — a write-combining
 * raw floor, the MCP SDK v1 and v2 clients, vscode-jsonrpc, mcp-ipc with defaults and mcp-ipc tuned —
 * against three servers (an instant C stub, the Node echo server, the stdlib Python demo), plus the
 * gateway path, heap per pending request and cold start. See README.md, "Performance".
 *
 *   npm run bench                    the full run (5 rounds of 1 s windows; several minutes)
 *   node dist/bench/run.js --json    the same, every figure and ratio as JSON
 *   node dist/bench/run.js --quick   a smoke run (1 round, short windows)
 *   --rounds N, --window-ms MS, --contenders floor,mcp-ipc, --servers instant,node, --no-gateway, --no-memory,
 *   --no-compression
 *
 * Each server's contenders are started once and kept; each round measures them one after another in
 * an order rotated every round, so drift on a shared machine does not favour one. Figures are the
 * median over the rounds with min–max. Memory is measured in fresh child processes
 * (bench/memory-probe.ts), the gateway in a child process (bench/gateway-child.ts).
 */
import { realpathSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../src/core/defaults.js';
import { killAllChildren } from './clients/child.js';
import { createClient } from './clients/index.js';
import { type BenchClient, CONTENDERS, type ContenderName } from './clients/types.js';
import { benchEnvironment } from './env.js';
import { runCompression } from './compression.js';
import { startGateway } from './gateway.js';
import { killProbes, runProbe } from './memory.js';
import { checkGoals, computeRatios, formatReport } from './report.js';
import {
  BLOB_KEYS,
  BLOB_SIZES,
  type BenchResults,
  type BlobFigures,
  type BlobSize,
  type CompressionFigures,
  type GatewayFigures,
  type LoadFigures,
  type MemoryFigure,
  type Settings,
  type WindowRecord,
} from './results.js';
import { resolveServers, SERVER_KINDS, type ServerKind, type ServerSpec } from './servers.js';
import { spread } from './stats.js';
import { blobTask, coldStart, echoTask, measureWindow, mibPerSec, warmUp, type WindowResult } from './workloads.js';

export type { BenchResults } from './results.js';

export interface BenchOptions {
  /** Print JSON instead of the table. */
  json?: boolean;
  /** A smoke run: 1 round, short windows, 1k pending only. */
  quick?: boolean;
  /** Rounds (default 5, quick 1). */
  rounds?: number;
  /** Measured window length (default 1 000 ms, quick 100 ms). */
  windowMs?: number;
  /** Where the report goes (default process.stdout); null prints nothing. */
  out?: NodeJS.WritableStream | null;
  /** Progress lines (default: on, to stderr, unless json). */
  progress?: boolean | ((line: string) => void);
  /** Only these contenders (default all; the ratios need floor and mcp-ipc). */
  contenders?: ContenderName[];
  /** Only these servers (default all). */
  servers?: ServerKind[];
  /** Skip the gateway figures. */
  skipGateway?: boolean;
  /** Skip the compression comparison (gateway, 1 MB result, with and without). */
  skipCompression?: boolean;
  /** Skip the memory probes. */
  skipMemory?: boolean;
  /** Recorded in the results (default: this process's argv). */
  command?: string;
}

function settingsFor(options: BenchOptions): Settings {
  const quick = options.quick === true;
  return {
    rounds: Math.max(1, Math.floor(options.rounds ?? (quick ? 1 : 5))),
    windowMs: Math.max(10, options.windowMs ?? (quick ? 100 : 1000)),
    warmupMs: quick ? 30 : 250,
    // 10 against the instant server: the specification's default depth, so mcp-ipc's defaults can be
    // set beside the floor at the depth they put on the wire (report.ts, the defaults goal).
    inFlight: { instant: [10, 64, 256], node: [64], python: [64] },
    blobInFlight: quick ? 1 : 4,
    blobMinCalls: quick ? 1 : 8,
    blobSizes: BLOB_KEYS,
    memoryPending: quick ? [1000] : [1000, 10_000, 100_000],
    gatewayInFlight: 64,
    compressionCalls: quick ? 2 : 10,
    compressionWarmupCalls: quick ? 1 : 3,
  };
}

const rotate = <T>(items: readonly T[], by: number): T[] => {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
};

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** mcp-ipc with defaults holds maxConcurrent + maxQueueSize calls; more is QueueFull by design, not a measurement. */
const DEFAULT_CAPACITY = DEFAULTS.queue.maxConcurrent + DEFAULTS.queue.maxQueueSize;
function skipReason(contender: ContenderName, inFlight: number): string | undefined {
  if (contender === 'mcp-ipc' && inFlight > DEFAULT_CAPACITY) {
    return `defaults hold ${DEFAULTS.queue.maxConcurrent} in flight + ${DEFAULTS.queue.maxQueueSize} queued; ${inFlight} outstanding is QueueFull by design`;
  }
  return undefined;
}

function loadFigures(windows: WindowResult[]): LoadFigures {
  const f: LoadFigures = {
    cpuUsPerCall: spread(windows.map((w) => w.cpuUsPerCall)),
    callsPerSec: spread(windows.map((w) => w.callsPerSec)),
    p50Ms: spread(windows.map((w) => w.p50Ms)),
    p99Ms: spread(windows.map((w) => w.p99Ms)),
    errors: windows.reduce((n, w) => n + w.errors, 0),
  };
  const firstError = windows.find((w) => w.firstError)?.firstError;
  if (firstError) f.firstError = firstError;
  return f;
}

/** Runs the suite, prints the report to `out` and returns the results. */
export async function runBench(options: BenchOptions = {}): Promise<BenchResults> {
  const started = performance.now();
  const loadStart = loadavg()[0] ?? 0;
  const settings = settingsFor(options);
  const contenders = options.contenders?.length ? CONTENDERS.filter((c) => options.contenders!.includes(c)) : [...CONTENDERS];
  const kinds = options.servers?.length ? SERVER_KINDS.filter((k) => options.servers!.includes(k)) : [...SERVER_KINDS];
  const progress = options.progress ?? !options.json;
  const log = typeof progress === 'function' ? progress : progress ? (line: string) => process.stderr.write(`${line}\n`) : () => undefined;
  const out = options.out === undefined ? process.stdout : options.out;
  const env = benchEnvironment();
  const set = resolveServers(kinds);
  const notes = [...set.notes];

  const onSignal = (signal: NodeJS.Signals) => {
    killProbes();
    killAllChildren();
    set.dispose();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rounds: BenchResults['rounds'] = Array.from({ length: settings.rounds }, (_, i) => ({
    round: i + 1,
    order: rotate(contenders, i),
    windows: [] as WindowRecord[],
    coldStartMs: {},
  }));
  const record = (round: number, server: ServerKind, contender: ContenderName, load: string, result: WindowResult) =>
    rounds[round]!.windows.push({ server, contender, load, result });

  const echo: BenchResults['echo'] = {};
  const blobs: BenchResults['blobs'] = {};
  const coldStartMs: BenchResults['coldStartMs'] = {};
  const memory: BenchResults['memory'] = {};
  let gateway: GatewayFigures = emptyGateway(settings.gatewayInFlight, 'not run');
  let compression: CompressionFigures = emptyCompression(settings, 'not run');

  try {
    for (const kind of kinds) {
      const server = set.servers[kind];
      if (!server) continue;
      await runServer(server);
    }
    const nodeServer = set.servers.node ?? set.servers.instant;
    if (nodeServer) await runColdStarts(nodeServer);
    const instant = set.servers.instant;
    if (!options.skipMemory && instant) await runMemory(instant);
    if (!options.skipGateway && instant) gateway = await runGateway(instant);
    else if (options.skipGateway) gateway = emptyGateway(settings.gatewayInFlight, 'skipped (--no-gateway)');
    compression = options.skipCompression ? emptyCompression(settings, 'skipped (--no-compression)') : await runCompressionPart();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    killProbes();
    const orphans = killAllChildren();
    if (orphans > 0) log(`killed ${orphans} leftover child process(es)`);
    set.dispose();
  }

  /** One server: start every contender once, then the rounds, each contender's windows in turn. */
  async function runServer(server: ServerSpec): Promise<void> {
    const loads = settings.inFlight[server.kind];
    const maxInFlight = Math.max(...loads, settings.blobInFlight);
    const clients = new Map<ContenderName, BenchClient>();
    const byLoad: Record<string, Partial<Record<ContenderName, WindowResult[]>>> = {};
    const byBlob: Partial<Record<BlobSize, Partial<Record<ContenderName, WindowResult[]>>>> = {};
    const startErrors = new Map<ContenderName, string>();
    log(`${server.kind}: ${server.label}`);
    try {
      for (const name of contenders) {
        try {
          const client = await createClient(name, { server, env, maxInFlight });
          clients.set(name, client); // before start(): a half-started client is still stopped
          await client.start();
        } catch (error) {
          startErrors.set(name, `start: ${message(error)}`);
          log(`  ${name} failed to start: ${message(error)}`);
        }
      }
      for (let r = 0; r < settings.rounds; r++) {
        log(`  round ${r + 1}/${settings.rounds}: ${rounds[r]!.order.join(', ')}`);
        for (const name of rounds[r]!.order) {
          const client = clients.get(name);
          if (!client || startErrors.has(name)) continue;
          for (const inFlight of loads) {
            if (skipReason(name, inFlight)) continue;
            const task = echoTask(client);
            await warmUp(task, inFlight, settings.warmupMs);
            const w = await measureWindow(task, { inFlight, windowMs: settings.windowMs });
            ((byLoad[inFlight] ??= {})[name] ??= []).push(w);
            record(r, server.kind, name, String(inFlight), w);
          }
          if (server.kind !== 'instant' || !server.blobs) continue;
          for (const size of settings.blobSizes) {
            const task = blobTask(client, BLOB_SIZES[size]);
            await warmUp(task, settings.blobInFlight, Math.min(settings.warmupMs, 100));
            const w = await measureWindow(task, { inFlight: settings.blobInFlight, windowMs: settings.windowMs, minCalls: settings.blobMinCalls });
            ((byBlob[size] ??= {})[name] ??= []).push(w);
            record(r, server.kind, name, size, w);
          }
        }
      }
    } finally {
      for (const client of clients.values()) await client.stop().catch((error: unknown) => log(`  ${client.name} stop failed: ${message(error)}`));
    }
    const perLoad: Record<string, Partial<Record<ContenderName, LoadFigures>>> = {};
    for (const inFlight of loads) {
      const row: Partial<Record<ContenderName, LoadFigures>> = {};
      for (const name of contenders) {
        const skipped = startErrors.get(name) ?? skipReason(name, inFlight);
        row[name] = skipped ? { ...loadFigures([]), skipped } : loadFigures(byLoad[inFlight]?.[name] ?? []);
      }
      perLoad[inFlight] = row;
    }
    echo[server.kind] = perLoad;
    if (server.kind === 'instant' && server.blobs) {
      for (const size of settings.blobSizes) {
        const row: Partial<Record<ContenderName, BlobFigures>> = {};
        for (const name of contenders) {
          const ws = byBlob[size]?.[name] ?? [];
          const f: BlobFigures = {
            mibPerSec: spread(ws.map((w) => mibPerSec(BLOB_SIZES[size], w))),
            cpuUsPerCall: spread(ws.map((w) => w.cpuUsPerCall)),
            errors: ws.reduce((n, w) => n + w.errors, 0),
          };
          const firstError = ws.find((w) => w.firstError)?.firstError ?? startErrors.get(name);
          if (firstError) f.firstError = firstError;
          row[name] = f;
        }
        blobs[size] = row;
      }
    }
  }

  /** Spawn → first result, one sample per contender per round, in the round's order. */
  async function runColdStarts(server: ServerSpec): Promise<void> {
    log(`cold start (${server.label})`);
    // One unmeasured start each first: module loading and the disk cache are not a cold start's cost
    // (the quick smoke run skips it: the contenders' modules are loaded by then anyway).
    if (!options.quick) for (const name of contenders) await coldStart(await createClient(name, { server, env, maxInFlight: 1 })).catch(() => undefined);
    for (let r = 0; r < settings.rounds; r++) {
      for (const name of rounds[r]!.order) {
        try {
          rounds[r]!.coldStartMs[name] = await coldStart(await createClient(name, { server, env, maxInFlight: 1 }));
        } catch (error) {
          log(`  ${name} cold start failed: ${message(error)}`);
        }
      }
    }
    for (const name of contenders) coldStartMs[name] = spread(rounds.map((r) => r.coldStartMs[name]));
  }

  async function runMemory(server: ServerSpec): Promise<void> {
    // mcp-ipc with defaults cannot hold N requests in flight; the probe measures mcp-ipc with maxConcurrent N+1.
    const probed = contenders.filter((c) => c !== 'mcp-ipc');
    for (const n of settings.memoryPending) {
      log(`memory: ${n.toLocaleString('en-US')} pending`);
      const row: Partial<Record<ContenderName, MemoryFigure>> = {};
      for (const name of probed) {
        try {
          const p = await runProbe(name, n, { server, env });
          row[name] = { bytesPerPending: p.bytesPerRequest, ...(p.confirmed !== undefined ? { confirmed: p.confirmed } : {}) };
        } catch (error) {
          row[name] = { bytesPerPending: null, error: message(error) };
          log(`  ${name}: ${message(error)}`);
        }
      }
      memory[n] = row;
    }
  }

  async function runGateway(server: ServerSpec): Promise<GatewayFigures> {
    const inFlight = settings.gatewayInFlight;
    log(`gateway (${inFlight} in flight)`);
    let run;
    try {
      run = await startGateway({ server, env, inFlight, raiseHostLimits: true });
    } catch (error) {
      log(`  gateway skipped: ${message(error)}`);
      return emptyGateway(inFlight, message(error));
    }
    const windows: WindowResult[] = [];
    try {
      await run.warmUp(settings.warmupMs);
      for (let r = 0; r < settings.rounds; r++) {
        const w = await run.window(settings.windowMs);
        windows.push(w);
        rounds[r]!.windows.push({ server: server.kind, contender: 'gateway', load: String(inFlight), result: w });
      }
    } finally {
      await run.close();
    }
    const f = loadFigures(windows);
    const g: GatewayFigures = {
      status: 'ok',
      inFlight,
      clientCpuUsPerCall: f.cpuUsPerCall,
      gatewayCpuUsPerCall: spread(windows.map((w) => w.otherCpuUsPerCall)),
      totalCpuUsPerCall: spread(windows.map((w) => w.cpuUsPerCall + (w.otherCpuUsPerCall ?? Number.NaN))),
      callsPerSec: f.callsPerSec,
      p50Ms: f.p50Ms,
      p99Ms: f.p99Ms,
      errors: f.errors,
      config: run.config,
    };
    if (f.firstError) g.firstError = f.firstError;
    try {
      const plain = await startGateway({ server, env, inFlight, raiseHostLimits: false });
      try {
        await plain.warmUp(settings.warmupMs);
        const w = await plain.window(settings.windowMs);
        g.defaultHostLimits = { calls: w.calls, errors: w.errors, ...(w.firstError ? { firstError: w.firstError } : {}) };
      } finally {
        await plain.close();
      }
    } catch (error) {
      log(`  gateway with default host limits failed: ${message(error)}`);
    }
    return g;
  }

  /** The 1 MB result needs realistic text: the Python demo's generate_large_result (resolved even when --servers leaves python out). */
  async function runCompressionPart(): Promise<CompressionFigures> {
    const pySet = set.servers.python ? undefined : resolveServers(['python']);
    const python = set.servers.python ?? pySet?.servers.python;
    try {
      if (!python) return emptyCompression(settings, 'no Python interpreter (set $PYTHON)');
      log(`compression (1 MB result from ${python.label})`);
      return await runCompression(python, env, { rounds: settings.rounds, calls: settings.compressionCalls, warmupCalls: settings.compressionWarmupCalls }, log);
    } catch (error) {
      log(`  compression skipped: ${message(error)}`);
      return emptyCompression(settings, message(error));
    } finally {
      pySet?.dispose();
    }
  }

  const cpu = cpus();
  const results: BenchResults = {
    version: 2,
    meta: {
      date: new Date().toISOString(),
      command: options.command ?? ['node', ...process.argv.slice(1)].join(' '),
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? 'unknown',
      loadAverage: { start: loadStart, end: loadavg()[0] ?? 0 },
      quick: options.quick === true,
      settings,
      servers: Object.fromEntries(Object.values(set.servers).map((s) => [s.kind, s.label])),
      serverEnvironment: Object.keys(env).sort(),
      notes,
      durationMs: Math.round(performance.now() - started),
    },
    echo,
    blobs,
    coldStartMs,
    memory,
    gateway,
    compression,
    ratios: [],
    goals: [],
    rounds,
  };
  results.ratios = computeRatios(results);
  results.goals = checkGoals(results);
  if (out) {
    const text = options.json ? `${JSON.stringify(results, null, 2)}\n` : formatReport(results);
    await new Promise<void>((resolve) => out.write(text, () => resolve()));
  }
  return results;
}

function emptyCompression(settings: Settings, reason: string): CompressionFigures {
  return { status: 'skipped', reason, resultBytes: 0, tool: '', rounds: settings.rounds, callsPerRound: settings.compressionCalls, modes: {} };
}

function emptyGateway(inFlight: number, reason: string): GatewayFigures {
  return {
    status: 'skipped',
    reason,
    inFlight,
    clientCpuUsPerCall: null,
    gatewayCpuUsPerCall: null,
    totalCpuUsPerCall: null,
    callsPerSec: null,
    p50Ms: null,
    p99Ms: null,
    errors: 0,
    config: {},
  };
}

const USAGE = `usage: node dist/bench/run.js [--json] [--quick] [--rounds N] [--window-ms MS]
       [--contenders ${CONTENDERS.join(',')}] [--servers ${SERVER_KINDS.join(',')}] [--no-gateway] [--no-memory] [--no-compression]
`;

/** Parses the bench's own arguments; throws a TypeError naming a bad one. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const options: BenchOptions = {};
  const list = <T extends string>(value: string | undefined, allowed: readonly T[], what: string): T[] => {
    const items = (value ?? '').split(',').filter(Boolean);
    const bad = items.filter((i) => !allowed.includes(i as T));
    if (items.length === 0 || bad.length > 0) throw new TypeError(`bench: --${what} takes a list of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
    return items as T[];
  };
  const positive = (value: string | undefined, what: string): number => {
    const n = Number(value);
    if (!(Number.isInteger(n) && n >= 1)) throw new TypeError(`bench: --${what} needs a positive integer (got ${JSON.stringify(value)})`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--json') options.json = true;
    else if (flag === '--quick') options.quick = true;
    else if (flag === '--no-gateway') options.skipGateway = true;
    else if (flag === '--no-memory') options.skipMemory = true;
    else if (flag === '--no-compression') options.skipCompression = true;
    else if (flag === '--rounds') options.rounds = positive(value(), 'rounds');
    else if (flag === '--window-ms') options.windowMs = positive(value(), 'window-ms');
    else if (flag === '--contenders') options.contenders = list(value(), CONTENDERS, 'contenders');
    else if (flag === '--servers') options.servers = list(value(), SERVER_KINDS, 'servers');
    else throw new TypeError(`bench: unknown argument ${arg}\n${USAGE}`);
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
  const argv = process.argv.slice(2);
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    process.stderr.write(`${message(error)}\n`);
    process.exit(2);
  }
  runBench(options).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      killAllChildren();
      process.exit(1);
    },
  );
}
