/** The dashboard's display rules (dashboard/src/lib), pure functions fed with gateway data. */
import { get } from 'svelte/store';
import { describe, expect, it } from 'vitest';
import type { SequencedEvent, ServerSnapshot } from '../../src/core/gateway-protocol.js';
import type { IpcMetricsSnapshot } from '../../src/core/ipc-manager.js';
import { filterRows, toRow } from '../../dashboard/src/lib/events.js';
import { createMetricsHistory } from '../../dashboard/src/lib/metrics-history.js';
import { canRun, poolView, serverView } from '../../dashboard/src/lib/server-view.js';

const NO_FILTER = { server: '', level: '', type: '', text: '' };

function snapshot(patch: Partial<ServerSnapshot> = {}): ServerSnapshot {
  return {
    name: 'demo',
    state: 'running',
    pid: 4242,
    restarts: 0,
    uptimeMs: 5_000,
    lastExit: null,
    health: { rttMs: 1.5, consecutiveFailures: 0, lastCheckAt: 1 },
    usage: { cpuPercent: 12.5, memoryBytes: 50 * 1024 * 1024, at: 1 },
    serverInfo: { name: 'demo', version: '1' },
    protocolVersion: '2025-06-18',
    era: 'legacy',
    capabilities: { tools: {} },
    toolCount: 5,
    metrics: { requests: 0 } as unknown as IpcMetricsSnapshot,
    reason: null,
    ...patch,
  };
}

describe('event log rows', () => {
  it('logs each state change once: the server’s own state event, not the server/state broadcast too', () => {
    const events: SequencedEvent[] = [
      { seq: 1, time: 1_000, method: 'server/event', params: { time: 990, server: 'demo', type: 'state', level: 'info', message: 'running → stopping: stop requested' } },
      { seq: 2, time: 1_001, method: 'server/state', params: { server: 'demo', state: 'stopping', previous: 'running', reason: 'stop requested' } },
    ];
    expect(filterRows(events, NO_FILTER, 10).map((r) => [r.seq, r.type, r.message])).toEqual([[1, 'state', 'running → stopping: stop requested']]);
  });

  it('keeps the time an event happened, also for events caught up on later', () => {
    const tools: SequencedEvent = { seq: 7, time: 123_456, method: 'tools/changed', params: { server: 'demo', tools: [] } };
    expect(toRow(tools)?.time).toBe(123_456);
    const rows = filterRows(
      [
        { seq: 1, time: 100, method: 'server/event', params: { time: 90, server: 'demo', type: 'spawn', level: 'info', message: 'spawned' } },
        { seq: 2, time: 200, method: 'tools/changed', params: { server: 'demo', tools: [] } },
        { seq: 3, time: 300, method: 'server/event', params: { time: 290, server: 'demo', type: 'health', level: 'debug', message: 'ping' } },
      ],
      NO_FILTER,
      10,
    );
    expect(rows.map((r) => r.time)).toEqual([290, 200, 90]);
  });
});

describe('server card', () => {
  it('shows a pool\'s replicas: state, pid only while alive, load and restarts; nothing for a single server', () => {
    expect(poolView(snapshot())).toBeNull();
    const replica = { restarts: 0, uptimeMs: 1, lastExit: null, health: { rttMs: null, consecutiveFailures: 0, lastCheckAt: null }, usage: null, reason: null, subscriptions: 0, metrics: {} as IpcMetricsSnapshot };
    const view = poolView(
      snapshot({
        pool: {
          min: 1,
          max: 3,
          sticky: true,
          queued: 4,
          rerouted: 2,
          scaleUps: 1,
          scaleDowns: 0,
          replicas: [
            { ...replica, id: 0, state: 'running', pid: 11, retiring: false, load: { inFlight: 3, queued: 1 }, restarts: 1 },
            { ...replica, id: 2, state: 'failed', pid: 12, retiring: false, load: { inFlight: 0, queued: 0 } },
            { ...replica, id: 3, state: 'running', pid: 13, retiring: true, load: { inFlight: 1, queued: 0 } },
          ],
        },
      }),
    );
    expect(view?.summary).toBe('1–3 replicas · sticky · 4 waiting · 2 moved');
    expect(view?.replicas.map((r) => [r.id, r.tone, r.text])).toEqual([
      [0, 'ok', 'running · pid 11 · 3 running, 1 waiting · 1 restart'],
      [2, 'bad', 'failed · pid — · 0 running'],
      [3, 'ok', 'running (retiring) · pid 13 · 1 running'],
    ]);
  });

  it('shows RTT, CPU and memory of a running server', () => {
    const view = serverView(snapshot(), 0, 0);
    expect([view.pid, view.rtt, view.cpu, view.memory]).toEqual(['4242', '1.5 ms', '12.5%', '50.0 MB']);
  });

  it('shows no stale RTT, CPU, memory or pid once the server is stopped', () => {
    const stale = snapshot({ state: 'stopped', reason: 'stop requested' }); // the readings of the last running moment
    const view = serverView(stale, 0, 10_000);
    expect([view.pid, view.rtt, view.cpu, view.memory, view.uptime]).toEqual(['—', '—', '—', '—', '—']);
    for (const state of ['crashed', 'restarting', 'starting', 'failed'] as const) {
      const v = serverView(snapshot({ state }), 0, 0);
      expect([v.rtt, v.cpu, v.memory], state).toEqual(['—', '—', '—']);
    }
  });

  it('does not show the user’s own stop as an error; a crash or a give-up is one', () => {
    expect(serverView(snapshot({ state: 'stopped', reason: 'stop requested' }), 0, 0).note).toEqual({ text: 'stop requested', level: 'info' });
    expect(serverView(snapshot({ state: 'stopping', reason: 'stop requested' }), 0, 0).note?.level).toBe('info');
    expect(serverView(snapshot({ state: 'crashed', reason: 'exited with code 3' }), 0, 0).note?.level).toBe('error');
    expect(serverView(snapshot({ state: 'failed', reason: 'gave up' }), 0, 0).note?.level).toBe('error');
    expect(serverView(snapshot(), 0, 0).note).toBeNull();
  });

  it('runs tools only on a running server', () => {
    expect(canRun(snapshot())).toBe(true);
    for (const state of ['stopped', 'stopping', 'starting', 'restarting', 'crashed', 'failed'] as const) expect(canRun(snapshot({ state })), state).toBe(false);
    expect(canRun(undefined)).toBe(false);
  });
});

describe('metrics history', () => {
  it('keeps a CPU and memory history per server, with gaps while no process runs', () => {
    const history = createMetricsHistory(10);
    const metrics = { demo: { throughput: 1 } as IpcMetricsSnapshot };
    history.record(metrics, 1, [snapshot()]);
    history.record(metrics, 2, [snapshot({ usage: { cpuPercent: 30, memoryBytes: 64 * 1024 * 1024, at: 2 } })]);
    history.record(metrics, 3, [snapshot({ state: 'stopped' })]);
    const samples = get(history).demo ?? [];
    expect(samples.map((s) => s.cpuPercent)).toEqual([12.5, 30, Number.NaN]);
    expect(samples.map((s) => s.memoryMb)).toEqual([50, 64, Number.NaN]);
  });
});

describe('event log: config reloads', () => {
  const reload = (patch: Partial<Extract<SequencedEvent, { method: 'host/reload' }>['params']>): SequencedEvent => ({
    seq: 7,
    time: 1_000,
    method: 'host/reload',
    params: { source: 'mcp.json', added: [], removed: [], changed: [], unchanged: [], errors: [], notes: [], ...patch },
  });

  it('shows an applied reload as one info row naming what changed', () => {
    expect(toRow(reload({ added: ['c'], removed: ['b'], changed: ['a'] }))).toEqual({
      seq: 7,
      time: 1_000,
      server: 'host',
      type: 'reload',
      level: 'info',
      message: 'config reloaded from mcp.json: added c; removed b; restarted a',
    });
  });

  it('shows a rejected reload as an error row with the reason', () => {
    const row = toRow(reload({ errors: ['Config file mcp.json is not valid JSON: Unexpected end of JSON input'], unchanged: ['a'] }));
    expect(row).toMatchObject({ type: 'reload', level: 'error', message: 'config reload rejected (the running servers are kept): Config file mcp.json is not valid JSON: Unexpected end of JSON input' });
    expect(filterRows([reload({ added: ['x'] })], { ...NO_FILTER, type: 'reload' }, 10)).toHaveLength(1);
  });
});
