/** The measured workloads, identical for every client. */
import { percentileSorted } from './stats.js';
import type { BenchClient } from './clients/types.js';

export const ECHO_TEXT = 'hello, benchmark';

export interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  calls: number;
}

/** Sequential round trips: one call at a time, after a warm-up. */
export async function sequentialLatency(client: BenchClient, calls: number, warmup: number): Promise<LatencyResult> {
  for (let i = 0; i < warmup; i++) await client.call(ECHO_TEXT);
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const text = await client.call(ECHO_TEXT);
    samples[i] = performance.now() - t0;
    if (text !== ECHO_TEXT) throw new Error(`${client.name}: echo returned ${JSON.stringify(text)}`);
  }
  const sorted = Array.from(samples).sort((a, b) => a - b);
  let sum = 0;
  for (const s of sorted) sum += s;
  return { p50Ms: percentileSorted(sorted, 50), p99Ms: percentileSorted(sorted, 99), meanMs: sum / calls, calls };
}

/** Runs `total` tasks with `inFlight` of them outstanding at any time; returns the elapsed ms. */
export async function closedLoop(total: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      await task(i);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
  return performance.now() - t0;
}

export interface ThroughputResult {
  callsPerSec: number;
  calls: number;
  inFlight: number;
  elapsedMs: number;
}

/** Echo calls with `inFlight` outstanding (closed loop). */
export async function throughput(client: BenchClient, calls: number, inFlight: number): Promise<ThroughputResult> {
  await closedLoop(Math.min(calls, inFlight * 4), inFlight, () => client.call(ECHO_TEXT)); // warm-up
  const elapsedMs = await closedLoop(calls, inFlight, () => client.call(ECHO_TEXT));
  return { callsPerSec: (calls / elapsedMs) * 1000, calls, inFlight, elapsedMs };
}

export interface BlobResult {
  bytes: number;
  calls: number;
  inFlight: number;
  mibPerSec: number;
  callsPerSec: number;
}

const MiB = 1024 * 1024;

/** Large results: `calls` blob calls of `bytes` each, `inFlight` outstanding; MiB of result text per second. */
export async function blobThroughput(
  client: BenchClient,
  bytes: number,
  calls: number,
  inFlight: number,
  fetch: (bytes: number) => Promise<number> = (b) => client.callBlob(b),
): Promise<BlobResult> {
  const check = async () => {
    const got = await fetch(bytes);
    if (got !== bytes) throw new Error(`${client.name}: blob(${bytes}) returned ${got} bytes`);
  };
  await closedLoop(Math.min(2, calls), inFlight, check); // warm-up (and the server caches the payload)
  const elapsedMs = await closedLoop(calls, inFlight, check);
  return { bytes, calls, inFlight, mibPerSec: (bytes * calls) / MiB / (elapsedMs / 1000), callsPerSec: (calls / elapsedMs) * 1000 };
}

/** Spawn → initialized, in ms; the client is stopped again. */
export async function coldStart(client: BenchClient): Promise<number> {
  const t0 = performance.now();
  await client.start();
  const ms = performance.now() - t0;
  await client.stop();
  return ms;
}
