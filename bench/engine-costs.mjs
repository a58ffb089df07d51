#!/usr/bin/env node
/**
 * Engine costs per call, side by side: host CPU µs per call, heap bytes per pending request and
 * host CPU per MiB of large results, for a write-combining raw client (the floor) and mcp-ipc
 * builds. Every figure is measured in a fresh process; contenders alternate; medians (min–max).
 *
 *   npm run build
 *   node bench/engine-costs.mjs [--rounds 5] [--server /path/to/stub] [--lib dist --lib /other/dist]
 *                               [--parts cpu64,cpu256,heap,blob]
 *
 * --server: the MCP server to call (default: the Node echo server in test/fixtures; the C stub of
 * the bench, compiled, is faster and makes host costs stand out). --lib: mcp-ipc builds to compare
 * (each a directory holding src/core and src/node, e.g. `dist`). Not part of the published package.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const HERE = dirname(fileURLToPath(import.meta.url));
const ECHO = join(HERE, '..', 'test', 'fixtures', 'echo-server.mjs');

async function main(argv) {
  const libs = [];
  let rounds = 5;
  let server = ECHO;
  let parts = new Set(['cpu64', 'cpu256', 'heap', 'blob']);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--lib') libs.push(resolve(argv[++i]));
    else if (argv[i] === '--rounds') rounds = Number(argv[++i]);
    else if (argv[i] === '--server') server = resolve(argv[++i]);
    else if (argv[i] === '--parts') parts = new Set(argv[++i].split(','));
    else throw new TypeError(`unknown argument ${argv[i]}`);
  }
  if (libs.length === 0) libs.push(resolve(HERE, '..', 'dist'));
  const table = (mode, specs) => {
    const results = new Map(specs.map((s) => [s.join(' '), []]));
    for (let r = 0; r < rounds; r++) {
      for (const s of specs) {
        const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--worker', mode, server, ...s], { encoding: 'utf8' });
        results.get(s.join(' ')).push(Number(out.trim().split('\n').pop()));
      }
    }
    for (const [name, values] of results) {
      values.sort((a, b) => a - b);
      console.log(`${mode.padEnd(5)} ${name.padEnd(60)} ${values[values.length >> 1].toFixed(2).padStart(9)}  (${values[0].toFixed(2)}–${values[values.length - 1].toFixed(2)})`);
    }
  };
  const who = (extra) => [['-', 'raw', ...extra], ...libs.flatMap((lib) => ['tuned', 'default', 'bridge', 'bridge-default'].map((c) => [lib, c, ...extra]))];
  console.log(`server: ${server}; rounds: ${rounds}; cpu = host µs per call, heap = bytes per pending request, blob = MiB per host CPU second`);
  for (const inflight of ['64', '256']) if (parts.has(`cpu${inflight}`)) table('cpu', who([inflight, '100000']));
  if (parts.has('heap')) for (const n of ['1000', '10000', '100000']) table('heap', [['-', 'raw', '0', n], ...libs.map((lib) => [lib, 'tuned', '0', n])]);
  if (parts.has('blob')) for (const size of ['1048576', '10485760']) table('blob', [['-', 'raw', '4', size], ...libs.map((lib) => [lib, 'tuned', '4', size])]);
}

async function worker(mode, server, lib, who, inflightText, amountText) {
  const inflight = Number(inflightText);
  const amount = Number(amountText);
  const command = server.endsWith('.mjs') || server.endsWith('.js') ? process.execPath : server;
  const args = command === server ? [] : [server];
  const tuned = { maxConcurrent: 1_000_000, maxQueueSize: 1_000_000, maxPendingWrites: 1_000_000 };
  const c =
    who === 'raw' ? await raw(command, args)
    : who === 'bridge' ? await bridge(lib, command, args, tuned)
    : who === 'bridge-default' ? await bridge(lib, command, args, { maxQueueSize: 1_000_000 })
    : await engine(lib, command, args, who === 'tuned' ? tuned : { maxQueueSize: 1_000_000 });
  if (mode === 'cpu') {
    await drive(Math.min(20_000, amount), inflight, c.call);
    const before = process.cpuUsage();
    await drive(amount, inflight, c.call);
    const used = process.cpuUsage(before);
    console.log((used.user + used.system) / amount);
  } else if (mode === 'heap') {
    // What `amount` more pending requests add once `amount` are pending already: the first batch
    // warms the path (the code V8 compiles for it is not per-request memory, yet at 1k pending it
    // added ~50 B to each) and the heap is read only once it has settled (heapUsed right after a
    // gc() swung by ~170 KB between runs).
    await drive(200, 1, c.call);
    await drive(2_000, 64, c.call);
    const pending = [];
    const hang = () => {
      for (let i = 0; i < amount; i++) {
        const p = c.hang();
        p.catch(() => undefined);
        pending.push(p);
      }
    };
    hang();
    const before = await settledHeap();
    hang();
    console.log(((await settledHeap()) - before) / amount - 8); // the array slot is ours
    process.exit(0);
  } else {
    const count = Math.max(8, Math.round(200e6 / amount));
    await drive(4, 4, () => c.blob(amount));
    const before = process.cpuUsage();
    await drive(count, inflight, () => c.blob(amount));
    const used = process.cpuUsage(before);
    console.log((count * amount) / 1048576 / ((used.user + used.system) / 1e6));
  }
  await c.stop();
  process.exit(0);
}

/** heapUsed after three rounds of collections, each a timer turn after the last. */
async function settledHeap() {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 30));
    globalThis.gc();
    globalThis.gc();
  }
  return process.memoryUsage().heapUsed;
}

async function drive(n, inflight, call) {
  let started = 0;
  let done = 0;
  await new Promise((resolve, reject) => {
    const next = () => {
      if (started >= n) return;
      started++;
      call().then(() => (++done === n ? resolve() : next()), reject);
    };
    for (let i = 0; i < inflight; i++) next();
  });
}

const INIT = { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'engine-costs', version: '0' } };
const surface = (request, stop) => ({
  call: () => request('tools/call', { name: 'echo', arguments: { text: 'hello world' } }),
  hang: () => request('tools/call', { name: 'hang', arguments: {} }),
  blob: (bytes) => request('tools/call', { name: 'blob', arguments: { bytes } }),
  stop,
});

/** The floor: one write per tick for everything sent in it, answers matched in a Map. */
async function raw(command, args) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const pending = new Map();
  let nextId = 1;
  let rest = '';
  let batch = [];
  const flush = () => {
    const lines = batch;
    batch = [];
    child.stdin.write(lines.join(''));
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text) => {
    let start = 0;
    let nl;
    while ((nl = text.indexOf('\n', start)) !== -1) {
      const line = rest ? rest + text.slice(start, nl) : text.slice(start, nl);
      rest = '';
      const m = JSON.parse(line);
      const w = pending.get(m.id);
      if (w) {
        pending.delete(m.id);
        if (m.error) w.reject(new Error(m.error.message));
        else w.resolve(m.result);
      }
      start = nl + 1;
    }
    rest += text.slice(start);
  });
  const request = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      batch.push(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
      if (batch.length === 1) process.nextTick(flush);
    });
  await request('initialize', INIT);
  child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  return surface(request, () => {
    child.stdin.end();
    return new Promise((r) => child.once('exit', r));
  });
}

async function engine(lib, command, args, options) {
  const { IpcManager } = await import(join(lib, 'src/core/ipc-manager.js'));
  const { StdioTransport } = await import(join(lib, 'src/node/stdio-transport.js'));
  const ipc = new IpcManager(new StdioTransport({ command, args }), options);
  await ipc.start();
  await ipc.request('initialize', INIT);
  await ipc.notify('notifications/initialized');
  return surface((method, params) => ipc.request(method, params), () => ipc.close());
}

async function bridge(lib, command, args, queue) {
  const { McpBridge } = await import(join(lib, 'src/node/mcp-bridge.js'));
  const b = new McpBridge('bench', { command, args, queue, process: { healthCheckIntervalMs: 3_600_000 } });
  await b.start();
  await b.listTools();
  return {
    call: () => b.call('echo', { text: 'hello world' }),
    hang: () => b.call('hang', {}),
    blob: (bytes) => b.call('blob', { bytes }),
    stop: () => b.stop(),
  };
}

if (process.argv[2] === '--worker') await worker(...process.argv.slice(3));
else await main(process.argv.slice(2));
