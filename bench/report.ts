/**
 * Reading a run: the ratios between contenders, the issue's goals checked against the medians (never
 * a timed test: a goal is a line in the report), and the human-readable table.
 */
import { DEFAULTS } from '../src/core/defaults.js';
import { CONTENDER_LABELS, CONTENDERS, type ContenderName } from './clients/types.js';
import { BLOB_KEYS, type BenchResults, type Goal, type LoadFigures, type Ratio } from './results.js';
import { type ServerKind, SERVER_KINDS } from './servers.js';
import { ratio, type Spread } from './stats.js';

const OURS = ['mcp-ipc', 'mcp-ipc-tuned'] as const;
const OTHERS: ContenderName[] = ['floor', 'sdk-v1', 'sdk-v2', 'vscode-jsonrpc'];

const med = (s: Spread | null | undefined) => s?.median ?? null;

/** Every ratio ours ÷ theirs, keyed `<what>/<ours>÷<theirs>`. */
export function computeRatios(results: BenchResults): Ratio[] {
  const out: Ratio[] = [];
  const push = (key: string, a: number | null, b: number | null, better: Ratio['better']) => out.push({ key, value: ratio(a, b), better });
  for (const kind of SERVER_KINDS) {
    for (const [inFlight, row] of Object.entries(results.echo[kind] ?? {})) {
      const at = `${kind}/${inFlight}`;
      for (const ours of OURS) {
        for (const other of OTHERS) {
          push(`${at}/cpuUsPerCall/${ours}÷${other}`, med(row[ours]?.cpuUsPerCall), med(row[other]?.cpuUsPerCall), 'lower');
          push(`${at}/callsPerSec/${ours}÷${other}`, med(row[ours]?.callsPerSec), med(row[other]?.callsPerSec), 'higher');
        }
      }
      push(`${at}/cpuUsPerCall/mcp-ipc÷mcp-ipc-tuned`, med(row['mcp-ipc']?.cpuUsPerCall), med(row['mcp-ipc-tuned']?.cpuUsPerCall), 'lower');
    }
  }
  for (const size of BLOB_KEYS) {
    const row = results.blobs[size];
    if (!row) continue;
    for (const ours of OURS) for (const other of OTHERS) push(`blob${size}/mibPerSec/${ours}÷${other}`, med(row[ours]?.mibPerSec), med(row[other]?.mibPerSec), 'higher');
  }
  for (const other of OTHERS) push(`coldStartMs/mcp-ipc÷${other}`, med(results.coldStartMs['mcp-ipc']), med(results.coldStartMs[other]), 'lower');
  for (const [n, row] of Object.entries(results.memory)) {
    for (const other of OTHERS) push(`pending${n}/bytesPerPending/mcp-ipc-tuned÷${other}`, row['mcp-ipc-tuned']?.bytesPerPending ?? null, row[other]?.bytesPerPending ?? null, 'lower');
  }
  return out;
}

/** The goals of issue 14, in its words, against this run's medians. */
export function checkGoals(results: BenchResults): Goal[] {
  const goals: Goal[] = [];
  const check = (goal: string, value: number | null, limit: number, kind: '<=' | '>=', detail?: string) =>
    goals.push({ goal, value, limit, ok: value === null ? null : kind === '<=' ? value <= limit : value >= limit, ...(detail ? { detail } : {}) });
  const cpu = (inFlight: number, c: ContenderName) => med(results.echo.instant?.[inFlight]?.[c]?.cpuUsPerCall);
  for (const n of [64, 256]) {
    check(`host CPU per call, tuned ÷ floor ≤ 1.4 at ${n} in flight`, ratio(cpu(n, 'mcp-ipc-tuned'), cpu(n, 'floor')), 1.4, '<=');
  }
  check('host CPU per call, SDK v1 ÷ tuned ≥ 3 at 64 in flight', ratio(cpu(64, 'sdk-v1'), cpu(64, 'mcp-ipc-tuned')), 3, '>=');
  // Defaults put 10 on the wire whatever the caller offers; the floor pays for that depth too, so
  // the detail sets the defaults beside the floor at 10 and says what 10 instead of 64 costs the floor.
  const depth = DEFAULTS.queue.maxConcurrent;
  const sameDepth = ratio(cpu(64, 'mcp-ipc'), cpu(depth, 'floor'));
  const floorDepth = ratio(cpu(depth, 'floor'), cpu(64, 'floor'));
  check(
    'defaults ÷ tuned CPU per call ≤ 1.2 at 64 in flight',
    ratio(cpu(64, 'mcp-ipc'), cpu(64, 'mcp-ipc-tuned')),
    1.2,
    '<=',
    sameDepth !== null && floorDepth !== null
      ? `defaults ÷ floor at ${depth} in flight ${sameDepth.toFixed(2)}×; the floor's own ${depth}÷64 ${floorDepth.toFixed(2)}×`
      : undefined,
  );
  const g = results.gateway;
  check(`gateway: client + gateway CPU per call ≤ 45 µs at ${g.inFlight} in flight`, med(g.totalCpuUsPerCall), 45, '<=');
  check('gateway: failed calls with limits raised', g.status === 'ok' ? g.errors : null, 0, '<=', g.firstError);
  const d = g.defaultHostLimits;
  check('gateway: no hidden caps (failed calls, host limits at defaults)', d ? d.errors : null, 0, '<=', d?.firstError);
  const perPending = Object.entries(results.memory).map(([n, row]) => [Number(n), row['mcp-ipc-tuned']?.bytesPerPending ?? null] as const);
  for (const [n, bytes] of perPending) check(`heap per pending request ≤ 600 B at ${n.toLocaleString('en-US')}`, bytes, 600, '<=');
  const known = perPending.map(([, b]) => b).filter((b): b is number => b !== null && b > 0);
  if (known.length > 1) check('heap per pending flat: largest ÷ smallest ≤ 1.2', Math.max(...known) / Math.min(...known), 1.2, '<=');
  for (const size of ['1MiB', '10MiB'] as const) {
    const row = results.blobs[size];
    if (row) check(`${size} results MiB/s, mcp-ipc ÷ floor ≥ 0.95`, ratio(med(row['mcp-ipc']?.mibPerSec), med(row.floor?.mibPerSec)), 0.95, '>=');
  }
  check('cold start to first result, mcp-ipc ÷ SDK v1 ≤ 1.05 (same environment)', ratio(med(results.coldStartMs['mcp-ipc']), med(results.coldStartMs['sdk-v1'])), 1.05, '<=');
  return goals;
}

// ------------------------------------------------------------------ formatting

const num = (v: number, digits: number) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const fixed = (v: number) => (v < 10 ? num(v, 2) : v < 100 ? num(v, 1) : num(v, 0));
const ms = (v: number) => (v < 1 ? num(v, 3) : v < 100 ? num(v, 2) : num(v, 0));
const int = (v: number) => num(Math.round(v), 0);

/** "median (min–max)" */
function cell(s: Spread | null | undefined, format: (v: number) => string): string {
  if (!s) return '—';
  return s.n > 1 ? `${format(s.median)} (${format(s.min)}–${format(s.max)})` : format(s.median);
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [render(head), `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 2)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(render)];
}

const fmtRatio = (v: number | null | undefined) => (typeof v === 'number' ? `${v.toFixed(2)}×` : '—');

function loadRows(row: Partial<Record<ContenderName, LoadFigures>>): string[][] {
  return CONTENDERS.filter((c) => row[c]).map((c) => {
    const f = row[c]!;
    if (f.skipped) return [CONTENDER_LABELS[c], 'n/a (below)', '—', '—', '—', '—'];
    return [
      CONTENDER_LABELS[c],
      cell(f.cpuUsPerCall, fixed),
      cell(f.callsPerSec, int),
      cell(f.p50Ms, ms),
      cell(f.p99Ms, ms),
      f.errors > 0 ? `${int(f.errors)} (${(f.firstError ?? '').slice(0, 60)})` : '0',
    ];
  });
}

const COMPRESSION_LABELS = {
  'ws-deflate': 'WebSocket, permessage-deflate',
  'ws-plain': 'WebSocket, no compression',
  'http-br': 'POST /mcp/NAME, Accept-Encoding: br',
  'http-gzip': 'POST /mcp/NAME, Accept-Encoding: gzip',
  'http-identity': 'POST /mcp/NAME, Accept-Encoding: identity',
} as const;

function compressionLines(results: BenchResults): string[] {
  const c = results.compression;
  if (c.status !== 'ok') return [`compression: skipped (${c.reason ?? 'unknown'})`, ''];
  const kib = (v: number) => num(v / 1024, 1);
  const rows = (Object.keys(COMPRESSION_LABELS) as Array<keyof typeof COMPRESSION_LABELS>).map((k) => {
    const f = c.modes[k];
    if (!f) return [COMPRESSION_LABELS[k], '—', '—', '—', '—', '—', '—'];
    return [
      COMPRESSION_LABELS[k],
      f.onWire,
      cell(f.bytesPerCall, kib),
      cell(f.clientCpuUsPerCall, int),
      cell(f.gatewayCpuUsPerCall, int),
      cell(f.p50Ms, ms),
      f.errors > 0 || f.firstError ? `${int(f.errors)} (${(f.firstError ?? '').slice(0, 60)})` : '0',
    ];
  });
  return [
    `**Compression: a ${int(c.resultBytes)}-byte result (${c.tool}) through the gateway, one call at a time, ${c.callsPerRound} calls per mode per round**`,
    '',
    ...table(['', 'sent as', 'KiB on the wire/call', 'client µs/call', 'gateway µs/call', 'p50 ms', 'errors'], rows),
    '',
  ];
}

/** The report, as Markdown (it is pasted into README.md's Performance section as is). */
export function formatReport(results: BenchResults): string {
  const { meta } = results;
  const s = meta.settings;
  const lines: string[] = [];
  lines.push(
    `mcp-ipc bench, ${meta.date}${meta.quick ? ' (quick: a smoke run, not a measurement)' : ''}`,
    '',
    `- command: \`${meta.command}\``,
    `- node ${meta.node}, ${meta.platform}/${meta.arch}, ${meta.cpus} CPU (${meta.cpuModel}); 1-min load average ${meta.loadAverage.start.toFixed(2)} at the start, ${meta.loadAverage.end.toFixed(2)} at the end`,
    `- ${s.rounds} round${s.rounds === 1 ? '' : 's'} of ${s.windowMs} ms windows (after ${s.warmupMs} ms warm-up), contenders in an order rotated every round; median (min–max) over the rounds`,
    `- servers: ${Object.entries(meta.servers).map(([k, label]) => `${k} = ${label}`).join('; ')}`,
    `- every server gets the same environment: ${meta.serverEnvironment.join(', ')}`,
    ...meta.notes.map((n) => `- note: ${n}`),
    '',
  );
  const head = ['contender', 'host CPU µs/call', 'calls/s', 'p50 ms', 'p99 ms', 'errors'];
  for (const kind of SERVER_KINDS as readonly ServerKind[]) {
    for (const [inFlight, row] of Object.entries(results.echo[kind] ?? {})) {
      const skipped = CONTENDERS.filter((c) => row[c]?.skipped).map((c) => `${CONTENDER_LABELS[c]}: ${row[c]!.skipped}`);
      lines.push(`**${meta.servers[kind]}, echo, ${inFlight} in flight**`, '', ...table(head, loadRows(row)), '');
      if (skipped.length > 0) lines.push(...skipped.map((line) => `n/a — ${line}`), '');
    }
  }

  const sizes = BLOB_KEYS.filter((k) => results.blobs[k]);
  if (sizes.length > 0) {
    lines.push(`**Large results (${meta.servers.instant}), ${s.blobInFlight} in flight: MiB/s**`, '');
    const rows = CONTENDERS.filter((c) => sizes.some((k) => results.blobs[k]?.[c])).map((c) => [
      CONTENDER_LABELS[c],
      ...sizes.map((k) => {
        const f = results.blobs[k]?.[c];
        return f && f.errors > 0 && !f.mibPerSec ? `failed: ${(f.firstError ?? '').slice(0, 40)}` : cell(f?.mibPerSec, fixed);
      }),
    ]);
    lines.push(...table(['contender', ...sizes], rows), '');
  }

  const memoryNs = Object.keys(results.memory);
  const contendersInRun = CONTENDERS.filter((c) => results.coldStartMs[c] !== undefined || memoryNs.some((n) => results.memory[n]?.[c]));
  if (contendersInRun.length > 0) {
    lines.push('**Heap per pending request (B) and cold start to the first tool result (ms)**', '');
    const rows = contendersInRun.map((c) => [
      CONTENDER_LABELS[c],
      ...memoryNs.map((n) => {
        const f = results.memory[n]?.[c];
        if (!f) return c === 'mcp-ipc' ? 'see tuned' : '—';
        return f.bytesPerPending === null ? 'failed' : int(f.bytesPerPending);
      }),
      cell(results.coldStartMs[c], ms),
    ]);
    lines.push(...table(['contender', ...memoryNs.map((n) => `${int(Number(n))} pending`), 'cold start ms'], rows), '');
  }

  const g = results.gateway;
  if (g.status === 'ok') {
    lines.push(`**Gateway: McpIpcClient → WebSocket → gateway (child process) → ${meta.servers.instant}, ${g.inFlight} in flight**`, '');
    const errors = g.errors > 0 ? `${int(g.errors)} (${(g.firstError ?? '').slice(0, 60)})` : '0';
    lines.push(
      ...table(
        ['', 'client µs/call', 'gateway µs/call', 'total µs/call', 'calls/s', 'p50 ms', 'p99 ms', 'errors'],
        [['gateway path', cell(g.clientCpuUsPerCall, fixed), cell(g.gatewayCpuUsPerCall, fixed), cell(g.totalCpuUsPerCall, fixed), cell(g.callsPerSec, int), cell(g.p50Ms, ms), cell(g.p99Ms, ms), errors]],
      ),
      '',
      `gateway config: ${JSON.stringify(g.config)}`,
      '',
    );
    const d = g.defaultHostLimits;
    if (d) {
      lines.push(
        `With the host's resource limits at their defaults (one window): ${int(d.calls)} calls, ${int(d.errors)} failed${d.firstError ? ` (${d.firstError.slice(0, 100)})` : ''}.`,
        '',
      );
    }
  } else lines.push(`gateway: skipped (${g.reason ?? 'unknown'})`, '');

  lines.push(...compressionLines(results));

  lines.push('**Ratios, host CPU per call (instant server; lower is better for mcp-ipc)**', '');
  const ratioOf = (key: string) => results.ratios.find((r) => r.key === key)?.value ?? null;
  const ratioRows: string[][] = [];
  for (const inFlight of Object.keys(results.echo.instant ?? {})) {
    for (const ours of OURS) {
      ratioRows.push([`${CONTENDER_LABELS[ours]}, ${inFlight} in flight`, ...OTHERS.map((o) => fmtRatio(ratioOf(`instant/${inFlight}/cpuUsPerCall/${ours}÷${o}`)))]);
    }
  }
  lines.push(...table(['', ...OTHERS.map((o) => `÷ ${o}`)], ratioRows), '');
  const dt = ratioOf('instant/64/cpuUsPerCall/mcp-ipc÷mcp-ipc-tuned');
  lines.push(`defaults ÷ tuned, 64 in flight: ${fmtRatio(dt)}; every ratio (calls/s, MiB/s, heap, cold start, each server) is in \`--json\`.`, '');

  lines.push('**Goals of issue 14** (checked against this run, never as timed tests)', '');
  for (const goal of results.goals) {
    const mark = goal.ok === null ? '?' : goal.ok ? '✔' : '✘';
    const value = goal.value === null ? 'n/a' : goal.goal.includes(' B at') ? `${int(goal.value)} B` : goal.goal.includes('µs') ? `${fixed(goal.value)} µs` : goal.goal.includes('failed calls') ? int(goal.value) : `${goal.value.toFixed(2)}`;
    lines.push(`- ${mark} ${goal.goal}: ${value}${goal.detail ? ` (${goal.detail.slice(0, 120)})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
