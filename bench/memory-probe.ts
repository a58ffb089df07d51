/**
 * A memory probe, run in its own `node --expose-gc` process so each contender is measured clean:
 *
 *   node --expose-gc dist/bench/memory-probe.js <contender> <N> '<{"server":{command,args},"env":{…}}>'
 *
 * Heap (V8 heapUsed) after N calls to the server's `hang` tool (never answered) are pending, minus
 * the heap before them, divided by N. mcp-ipc runs with maxConcurrent N+1 so that all N are in
 * flight rather than queued (the probe waits until its load says so). All calls share one params
 * object, so the bytes are those a client spends per request beyond its arguments.
 *
 * Prints one JSON line (ProbeResult) on stdout.
 */
import { createClient } from './clients/index.js';
import { type BenchClient, type ClientOptions, CONTENDERS, type ContenderName } from './clients/types.js';

export interface ProbeResult {
  contender: ContenderName;
  n: number;
  bytesPerRequest: number;
  /** Delta in external + arrayBuffers memory / n (write buffers not yet flushed show up here). */
  externalBytesPerRequest: number;
  /** mcp-ipc only: its in-flight count when measured. */
  confirmed?: number;
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

interface WithLoad {
  ipc?: { load: { inFlight: number; queued: number } };
}

/** mcp-ipc: waits until `inFlight` requests are on the wire; others: a fixed pause for the writes to drain. */
async function waitForLoad(client: BenchClient, inFlight: number): Promise<number | undefined> {
  const bridge = (client as unknown as { raw?: WithLoad }).raw;
  if (!bridge?.ipc) {
    await sleep(300);
    return undefined;
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && bridge.ipc.load.inFlight < inFlight) await sleep(20);
  await sleep(100); // let the writes drain to the pipe
  return bridge.ipc.load.inFlight;
}

export async function probe(contender: ContenderName, n: number, base: Omit<ClientOptions, 'maxInFlight'>): Promise<ProbeResult> {
  const client = await createClient(contender, { ...base, maxInFlight: n + 1 });
  await client.start();
  try {
    for (let i = 0; i < 200; i++) await client.call('warm-up');
    await Promise.all(Array.from({ length: 64 }, () => client.call('warm-up')));
    process.on('unhandledRejection', () => undefined); // the hung calls fail when the probe stops the client
    const args: Record<string, unknown> = {}; // shared: the bytes measured are beyond the params
    // Warm the `hang` path itself (its first call compiles code, …).
    void client.hang(args).catch(() => undefined);
    await waitForLoad(client, 1);
    const before = await settleHeap();
    for (let i = 0; i < n; i++) void client.hang(args).catch(() => undefined);
    const confirmed = await waitForLoad(client, n + 1);
    const after = await settleHeap();
    const result: ProbeResult = {
      contender,
      n,
      bytesPerRequest: (after.heapUsed - before.heapUsed) / n,
      externalBytesPerRequest: (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / n,
    };
    if (confirmed !== undefined) result.confirmed = confirmed - 1;
    return result;
  } finally {
    await Promise.race([client.stop().catch(() => undefined), sleep(5_000)]);
  }
}

async function main(): Promise<void> {
  const [name, nText, json] = process.argv.slice(2);
  const n = Number(nText);
  if (!name || !CONTENDERS.includes(name as ContenderName) || !(n > 0) || !json) {
    process.stderr.write(`usage: memory-probe <${CONTENDERS.join('|')}> <N> '{"server":{"command":…,"args":[…]},"env":{…}}'\n`);
    process.exit(2);
  }
  const result = await probe(name as ContenderName, n, JSON.parse(json) as Omit<ClientOptions, 'maxInFlight'>);
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

const invoked = process.argv[1] ?? '';
if (invoked.endsWith('memory-probe.js') || invoked.endsWith('memory-probe.ts')) {
  main().catch((error: unknown) => {
    process.stderr.write(`memory-probe: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
