/**
 * The measured workloads, identical for every contender.
 *
 * A window is a closed loop: `inFlight` workers each issue a call, await it, and issue the next,
 * until `windowMs` have passed; the window then waits for the calls still out. Around it, the host's
 * `process.cpuUsage()` (user + system) gives the CPU the host spent per successful call — the steady
 * figure on a shared machine, since it does not count time spent waiting for the CPU — next to
 * calls/s and the latency of each call (p50/p99) at that load.
 */
import { percentileSorted } from './stats.js';
import type { BenchClient } from './clients/types.js';

export const ECHO_TEXT = 'hello, benchmark';

export interface WindowResult {
  /** Calls that succeeded in the window. */
  calls: number;
  /** Calls that failed; the first failure's message is kept. */
  errors: number;
  firstError?: string;
  inFlight: number;
  elapsedMs: number;
  callsPerSec: number;
  /** Host CPU (user + system) per successful call, µs. */
  cpuUsPerCall: number;
  /** Latency of each call at this load. */
  p50Ms: number;
  p99Ms: number;
  /** With `otherCpu`: that process's CPU per successful call, µs (e.g. the gateway's). */
  otherCpuUsPerCall?: number;
}

export interface WindowOptions {
  inFlight: number;
  /** How long to keep issuing calls. */
  windowMs: number;
  /** Keep going past windowMs until this many calls are done (slow calls, e.g. 10 MiB results). */
  minCalls?: number;
  /** CPU time (µs) of another process taking part (the gateway child), read before and after. */
  otherCpu?: () => Promise<number>;
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One measured window of `task`. */
export async function measureWindow(task: () => Promise<unknown>, options: WindowOptions): Promise<WindowResult> {
  const { inFlight, windowMs } = options;
  const minCalls = options.minCalls ?? 0;
  let samples = new Float64Array(4096);
  let calls = 0;
  let errors = 0;
  let firstError: string | undefined;
  const other0 = options.otherCpu ? await options.otherCpu() : 0;
  const cpu0 = cpuNow();
  const t0 = performance.now();
  const deadline = t0 + windowMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline || calls + errors < minCalls) {
      const started = performance.now();
      try {
        await task();
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        // A failure can be synchronous (a full queue): give the event loop a turn so this worker
        // cannot starve the others' I/O.
        await yieldToLoop();
        continue;
      }
      if (calls === samples.length) {
        const grown = new Float64Array(samples.length * 2);
        grown.set(samples);
        samples = grown;
      }
      samples[calls++] = performance.now() - started;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedMs = performance.now() - t0;
  const cpuUs = cpuNow() - cpu0;
  const otherUs = options.otherCpu ? (await options.otherCpu()) - other0 : undefined;
  const sorted = samples.subarray(0, calls).sort();
  const result: WindowResult = {
    calls,
    errors,
    inFlight,
    elapsedMs,
    callsPerSec: (calls / elapsedMs) * 1000,
    cpuUsPerCall: calls > 0 ? cpuUs / calls : Number.NaN,
    p50Ms: percentileSorted(sorted, 50),
    p99Ms: percentileSorted(sorted, 99),
  };
  if (firstError !== undefined) result.firstError = firstError;
  if (otherUs !== undefined) result.otherCpuUsPerCall = calls > 0 ? otherUs / calls : Number.NaN;
  return result;
}

/** An echo call whose answer is checked (a wrong answer counts as an error). */
export function echoTask(client: BenchClient): () => Promise<void> {
  return async () => {
    const text = await client.call(ECHO_TEXT);
    if (text !== ECHO_TEXT) throw new Error(`${client.name}: echo returned ${JSON.stringify(text).slice(0, 80)}`);
  };
}

/** A blob call whose length is checked. */
export function blobTask(client: BenchClient, bytes: number): () => Promise<void> {
  return async () => {
    const got = await client.callBlob(bytes);
    if (got !== bytes) throw new Error(`${client.name}: blob(${bytes}) returned ${got} bytes`);
  };
}

/** Warm-up before a window: JIT, caches and the server's own warm-up, not measured. */
export async function warmUp(task: () => Promise<unknown>, inFlight: number, ms: number): Promise<void> {
  await measureWindow(task, { inFlight, windowMs: ms });
}

const MiB = 1024 * 1024;
export const mibPerSec = (bytes: number, w: WindowResult) => (bytes * w.calls) / MiB / (w.elapsedMs / 1000);

/** Spawn → handshake → the first echo result, in ms; the client is stopped again. */
export async function coldStart(client: BenchClient): Promise<number> {
  try {
    const t0 = performance.now();
    await client.start();
    await echoTask(client)();
    return performance.now() - t0;
  } finally {
    await client.stop();
  }
}
