/**
 * A memory probe, run in its own `node --expose-gc` process so each client is measured clean:
 *
 *   node --expose-gc dist/bench/memory-probe.js <raw|sdk|mcp-ipc|none> <pending|queued|idle> <N>
 *
 * idle:    host RSS and heap after start-up and a short warm-up.
 * pending: heapUsed delta after N calls to `hang` (never answered) are in flight, divided by N.
 *          mcp-ipc gets maxConcurrent N+1 (and maxQueueSize N+10: a burst beyond maxPendingWrites
 *          waits in the queue for the pipe) so that all of them end up in flight.
 * queued:  mcp-ipc only: maxConcurrent 1 (taken by one `hang`), maxQueueSize N+10; N more calls
 *          sit in the queue. All calls share one params object, so the bytes are those beyond it.
 *
 * Prints one JSON line (ProbeResult) on stdout.
 */
import { createClient } from './clients/index.js';
import type { BenchClient, ClientName, ClientOptions } from './clients/types.js';

export type ProbeMode = 'idle' | 'pending' | 'queued';

export interface ProbeResult {
  client: ClientName | 'none';
  mode: ProbeMode;
  n: number;
  idleRssBytes: number;
  idleHeapUsedBytes: number;
  /** pending/queued: heapUsed delta / n (bytes). */
  bytesPerRequest?: number;
  /** Delta in external + arrayBuffers memory / n (write buffers not yet flushed show up here). */
  externalBytesPerRequest?: number;
  /** How many of the n were confirmed in flight / queued when measured (mcp-ipc only). */
  confirmed?: { inFlight: number; queued: number };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('memory-probe: run node with --expose-gc');
  g();
  g();
}

async function settleHeap(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    await sleep(20);
    gc();
  }
  return process.memoryUsage();
}

interface Loaded {
  ipc?: { load: { inFlight: number; queued: number } };
}

async function waitForLoad(client: BenchClient, inFlight: number, queued: number): Promise<{ inFlight: number; queued: number } | undefined> {
  const bridge = (client as unknown as { raw?: Loaded }).raw;
  if (!bridge?.ipc) {
    await sleep(300);
    return undefined;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const load = bridge.ipc.load;
    if (load.inFlight >= inFlight && load.queued >= queued) break;
    await sleep(20);
  }
  await sleep(100); // let the writes drain to the pipe
  return { ...bridge.ipc.load };
}

export async function probe(name: ClientName | 'none', mode: ProbeMode, n: number): Promise<ProbeResult> {
  const options: ClientOptions = {};
  if (name === 'mcp-ipc' && mode === 'pending') options.queue = { maxConcurrent: n + 1, maxQueueSize: n + 10 };
  if (name === 'mcp-ipc' && mode === 'queued') options.queue = { maxConcurrent: 1, maxQueueSize: n + 10 };
  if (mode === 'queued' && name !== 'mcp-ipc') throw new Error(`memory-probe: ${name} has no queue`);

  let client: BenchClient | undefined;
  if (name !== 'none') {
    client = await createClient(name, options);
    await client.start();
    for (let i = 0; i < 200; i++) await client.call('warm-up');
    await Promise.all(Array.from({ length: 64 }, () => client!.call('warm-up')));
  }
  await sleep(300);
  const idle = await settleHeap();
  const result: ProbeResult = { client: name, mode, n, idleRssBytes: idle.rss, idleHeapUsedBytes: idle.heapUsed };
  if (mode === 'idle' || !client) return finish(client, result);

  process.on('unhandledRejection', () => undefined); // the hung calls fail when the probe stops the client
  const args: Record<string, unknown> = {}; // shared: the bytes measured are beyond the params
  if (mode === 'queued') {
    void client.hang(args); // takes the one concurrency slot
    await waitForLoad(client, 1, 0);
  } else {
    // Warm the `hang` path itself (its first call compiles code, loads the tool list, …).
    void client.hang(args);
    await sleep(50);
  }
  const before = await settleHeap();
  for (let i = 0; i < n; i++) void client.hang(args);
  const confirmed = await waitForLoad(client, mode === 'queued' ? 1 : n + 1, mode === 'queued' ? n : 0);
  const after = await settleHeap();
  result.bytesPerRequest = (after.heapUsed - before.heapUsed) / n;
  result.externalBytesPerRequest = (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / n;
  if (confirmed) result.confirmed = confirmed;
  return finish(client, result);
}

async function finish(client: BenchClient | undefined, result: ProbeResult): Promise<ProbeResult> {
  if (client) await Promise.race([client.stop().catch(() => undefined), sleep(5_000)]);
  return result;
}

async function main(): Promise<void> {
  const [name, mode, nText] = process.argv.slice(2);
  const n = Number(nText ?? 20_000);
  if (!name || !['raw', 'sdk', 'mcp-ipc', 'none'].includes(name) || !mode || !['idle', 'pending', 'queued'].includes(mode) || !(n > 0)) {
    process.stderr.write('usage: memory-probe <raw|sdk|mcp-ipc|none> <idle|pending|queued> <N>\n');
    process.exit(2);
  }
  const result = await probe(name as ClientName | 'none', mode as ProbeMode, n);
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

const invoked = process.argv[1] ?? '';
if (invoked.endsWith('memory-probe.js') || invoked.endsWith('memory-probe.ts')) {
  main().catch((error: unknown) => {
    process.stderr.write(`memory-probe: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
