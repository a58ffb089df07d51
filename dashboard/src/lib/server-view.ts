/**
 * What a server card shows, from a snapshot (pure, so the rules are unit-tested): facts that only
 * hold while a process runs are blanked otherwise — a stale RTT, CPU or memory reading would claim
 * a stopped server is alive — and only failures are shown as errors, never the user's own stop.
 */
import type { ServerSnapshot, ServerState } from '../../../src/core/gateway-protocol.js';
import { formatDuration, formatMb, formatMs } from './format.js';

export type Tone = 'ok' | 'busy' | 'bad' | 'off';

const TONE: Record<ServerState, Tone> = {
  running: 'ok',
  starting: 'busy',
  restarting: 'busy',
  stopping: 'busy',
  crashed: 'bad',
  failed: 'bad',
  stopped: 'off',
};

/** States whose reason is a failure; any other reason (a stop, a restart under way) is information. */
const FAILURE: ReadonlySet<ServerState> = new Set(['crashed', 'failed']);

export interface ServerView {
  tone: Tone;
  uptime: string;
  pid: string;
  lastExit: string;
  rtt: string;
  cpu: string;
  memory: string;
  /** The reason for the state: `error` for failures, `info` for a stop or start the user asked for. */
  note: { text: string; level: 'error' | 'info' } | null;
  canStart: boolean;
  canStop: boolean;
  canRestart: boolean;
}

/** `seenAt`: when this snapshot arrived (uptime keeps counting from it); `now`: the clock. */
export function serverView(server: ServerSnapshot, seenAt: number, now: number): ServerView {
  const { state } = server;
  const running = state === 'running';
  const exit = server.lastExit;
  return {
    tone: TONE[state] ?? 'off',
    uptime: formatDuration(running ? server.uptimeMs + Math.max(0, now - seenAt) : 0),
    pid: server.pid !== null && state !== 'stopped' && state !== 'failed' ? String(server.pid) : '—',
    lastExit: exit ? (exit.signal ? `signal ${exit.signal}` : `code ${exit.code ?? '?'}`) : '—',
    rtt: running ? `${formatMs(server.health.rttMs)}${server.health.consecutiveFailures ? ` (${server.health.consecutiveFailures} failed)` : ''}` : '—',
    cpu: running && server.usage ? `${server.usage.cpuPercent.toFixed(1)}%` : '—',
    memory: running && server.usage ? formatMb(server.usage.memoryBytes) : '—',
    note: server.reason && state !== 'running' ? { text: server.reason, level: FAILURE.has(state) ? 'error' : 'info' } : null,
    canStart: state === 'stopped' || state === 'failed',
    canStop: ['running', 'starting', 'restarting', 'crashed'].includes(state),
    canRestart: ['running', 'crashed', 'failed'].includes(state),
  };
}

/** A tool can be run only on a running server (else the call would just wait or fail). */
export function canRun(server: ServerSnapshot | undefined): boolean {
  return server?.state === 'running';
}

/**
 * The server's capabilities as short labels, with their flags: `resources (subscribe, listChanged)`.
 * Sorted by name; anything not an object (a malformed server) is shown by its name alone.
 */
export function capabilityLabels(capabilities: Record<string, unknown> | null | undefined): string[] {
  if (!capabilities) return [];
  return Object.keys(capabilities)
    .sort()
    .map((name) => {
      const value = capabilities[name];
      const flags = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== false) : [];
      return flags.length > 0 ? `${name} (${flags.join(', ')})` : name;
    });
}

/** `modern · 2026-07-28` / `legacy · 2025-11-25`, or null before the server connected. */
export function eraLabel(server: Pick<ServerSnapshot, 'era' | 'protocolVersion'>): string | null {
  if (!server.era && !server.protocolVersion) return null;
  return [server.era, server.protocolVersion].filter(Boolean).join(' · ');
}

/** A server pool's summary line and one line per replica (state, pid, load, restarts); null for a single server. */
export function poolView(server: ServerSnapshot): { summary: string; replicas: Array<{ id: number; state: ServerState; tone: Tone; text: string }> } | null {
  const pool = server.pool;
  if (!pool) return null;
  const size = pool.min === pool.max ? `${pool.min}` : `${pool.min}–${pool.max}`;
  return {
    summary: `${size} replicas${pool.sticky ? ' · sticky' : ''} · ${pool.queued} waiting · ${pool.rerouted} moved`,
    replicas: pool.replicas.map((r) => {
      const alive = r.state !== 'stopped' && r.state !== 'failed';
      const load = `${r.load.inFlight} running${r.load.queued ? `, ${r.load.queued} waiting` : ''}`;
      const parts = [`${r.state}${r.retiring ? ' (retiring)' : ''}`, `pid ${alive && r.pid !== null ? r.pid : '—'}`, load];
      if (r.restarts) parts.push(`${r.restarts} restart${r.restarts === 1 ? '' : 's'}`);
      return { id: r.id, state: r.state, tone: TONE[r.state] ?? 'off', text: parts.join(' · ') };
    }),
  };
}
