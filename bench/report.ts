/** The human-readable report: a table of medians, the ratios mcp-ipc/raw and mcp-ipc/sdk, and the targets. */
import { CLIENT_NAMES, type ClientName } from './clients/types.js';
import { BLOB_KEYS, type BenchResults, type ClientSummary, type TargetCheck } from './results.js';
import { ratio } from './stats.js';

export interface Metric {
  key: string;
  label: string;
  get: (s: ClientSummary) => number | null;
  format: (v: number) => string;
  /** Which direction is better (for reading the ratios). */
  better: 'higher' | 'lower';
}

const ms = (v: number) => (v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0));
const int = (v: number) => Math.round(v).toLocaleString('en-US');
const rate = (v: number) => (v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : int(v));
const mb = (v: number) => (v / (1024 * 1024)).toFixed(1);

export const METRICS: Metric[] = [
  { key: 'latencyP50Ms', label: 'latency p50 (ms)', get: (s) => s.latencyP50Ms, format: ms, better: 'lower' },
  { key: 'latencyP99Ms', label: 'latency p99 (ms)', get: (s) => s.latencyP99Ms, format: ms, better: 'lower' },
  { key: 'throughputCallsPerSec', label: 'throughput, 64 in flight (calls/s)', get: (s) => s.throughputCallsPerSec, format: int, better: 'higher' },
  ...BLOB_KEYS.map(
    (k): Metric => ({ key: `blob${k}MiBps`, label: `result ${k.replace('Ki', ' Ki').replace('Mi', ' Mi')} (MiB/s)`, get: (s) => s.blobMiBps[k], format: rate, better: 'higher' }),
  ),
  { key: 'coldStartMs', label: 'cold start, spawn → initialized (ms)', get: (s) => s.coldStartMs, format: ms, better: 'lower' },
  { key: 'idleRssBytes', label: 'idle host RSS (MiB)', get: (s) => s.idleRssBytes, format: mb, better: 'lower' },
  { key: 'idleHeapUsedBytes', label: 'idle host heap used (MiB)', get: (s) => s.idleHeapUsedBytes, format: mb, better: 'lower' },
  { key: 'bytesPerPending', label: 'heap per pending request (B)', get: (s) => s.bytesPerPending, format: int, better: 'lower' },
  { key: 'bytesPerQueued', label: 'heap per queued request (B)', get: (s) => s.bytesPerQueued, format: int, better: 'lower' },
];

export function computeRatios(clients: Record<ClientName, ClientSummary>): BenchResults['ratios'] {
  const ours = clients['mcp-ipc'];
  const out: BenchResults['ratios'] = { 'mcp-ipc/raw': {}, 'mcp-ipc/sdk': {} };
  for (const m of METRICS) {
    out['mcp-ipc/raw'][m.key] = ratio(m.get(ours), m.get(clients.raw));
    out['mcp-ipc/sdk'][m.key] = ratio(m.get(ours), m.get(clients.sdk));
  }
  return out;
}

/** The goals from the issue, checked against the medians. */
export function checkTargets(clients: Record<ClientName, ClientSummary>): TargetCheck[] {
  const ours = clients['mcp-ipc'];
  const check = (name: string, value: number | null, limit: number, kind: '>=' | '<='): TargetCheck => ({
    name,
    value,
    limit,
    ok: value === null ? null : kind === '>=' ? value >= limit : value <= limit,
  });
  const targets = [
    check('throughput mcp-ipc/sdk ≥ 3', ratio(ours.throughputCallsPerSec, clients.sdk.throughputCallsPerSec), 3, '>='),
    check('throughput mcp-ipc/raw ≥ 0.5', ratio(ours.throughputCallsPerSec, clients.raw.throughputCallsPerSec), 0.5, '>='),
    check('latency p50 mcp-ipc/raw ≤ 1.3', ratio(ours.latencyP50Ms, clients.raw.latencyP50Ms), 1.3, '<='),
    check('heap per pending request ≤ 1024 B', ours.bytesPerPending, 1024, '<='),
    check('heap per queued request ≤ 200 B', ours.bytesPerQueued, 200, '<='),
  ];
  for (const k of BLOB_KEYS) {
    if (k === '1KiB') continue; // not a large result
    targets.push(check(`result ${k} MiB/s mcp-ipc/sdk ≥ 1`, ratio(ours.blobMiBps[k], clients.sdk.blobMiBps[k]), 1, '>='));
  }
  return targets;
}

function pad(text: string, width: number, left = false): string {
  return left ? text.padEnd(width) : text.padStart(width);
}

const fmtRatio = (v: number | null | undefined) => (typeof v === 'number' ? `${v.toFixed(2)}×` : '—');

export function formatReport(results: BenchResults): string {
  const { meta, clients, ratios } = results;
  const lines: string[] = [];
  lines.push(
    `mcp-ipc bench: ${meta.rounds} round${meta.rounds === 1 ? '' : 's'}${meta.quick ? ' (quick)' : ''}, medians; node ${meta.node}, ${meta.platform}/${meta.arch}, ${meta.cpus} CPU (${meta.cpuModel})`,
  );
  lines.push('');
  const head = ['', ...CLIENT_NAMES, 'ipc/raw', 'ipc/sdk'];
  const rows: string[][] = [];
  for (const m of METRICS) {
    const cells = CLIENT_NAMES.map((c) => {
      const v = m.get(clients[c]);
      return v === null ? '—' : m.format(v);
    });
    rows.push([m.label, ...cells, fmtRatio(ratios['mcp-ipc/raw'][m.key]), fmtRatio(ratios['mcp-ipc/sdk'][m.key])]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (r: string[]) => r.map((cell, i) => pad(cell, widths[i] ?? 0, i === 0)).join('  ');
  lines.push(render(head));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) lines.push(render(r));

  const stream = clients['mcp-ipc'].blobStreamMiBps;
  if (stream) {
    const parts = BLOB_KEYS.filter((k) => stream[k] !== null).map((k) => `${k} ${rate(stream[k]!)}`);
    if (parts.length > 0) lines.push('', `mcp-ipc streamed results (MiB/s): ${parts.join(', ')}`);
  }
  if (meta.baselineRssBytes !== null) lines.push(`bare node process RSS (reference): ${mb(meta.baselineRssBytes)} MiB`);

  lines.push('');
  const e2e = results.e2e;
  lines.push(
    e2e.status === 'ok'
      ? `e2e (McpIpcClient → WebSocket gateway → McpBridge → server): ${int(e2e.callsPerSec)} calls/s with ${e2e.inFlight} in flight, p50 ${ms(e2e.p50Ms)} ms, p99 ${ms(e2e.p99Ms)} ms`
      : `e2e: skipped (${e2e.reason})`,
  );

  lines.push('', 'targets (mcp-ipc):');
  for (const t of results.targets) {
    const mark = t.ok === null ? '[ ? ]' : t.ok ? '[ ok ]' : '[MISS]';
    const value = t.value === null ? 'n/a' : t.name.includes('B') && !t.name.includes('/') ? `${int(t.value)} B` : `${t.value.toFixed(2)}`;
    lines.push(`  ${mark} ${t.name}: ${value}`);
  }

  const errors = CLIENT_NAMES.flatMap((c) => clients[c].errors.map((e) => `  ${c}: ${e}`));
  if (errors.length > 0) lines.push('', 'errors:', ...errors);
  return `${lines.join('\n')}\n`;
}
