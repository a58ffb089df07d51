/** The benchmark suite runs end to end in quick mode and yields numbers for every client (no timing assertions). */
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runBench } from '../../bench/run.js';
import { MEMORY_PROBE } from '../../bench/paths.js';

const CLIENTS = ['raw', 'sdk', 'mcp-ipc'] as const;

const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

function echoServers(): number {
  try {
    return execSync('ps -eo args', { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('echo-server.mjs')).length;
  } catch {
    return 0;
  }
}

describe('bench (quick)', () => {
  it('measures raw, sdk and mcp-ipc and leaves no children behind', async () => {
    const before = echoServers();
    const results = await runBench({ quick: true, json: true, out: null });

    expect(results.meta.quick).toBe(true);
    expect(results.meta.rounds).toBe(1);
    for (const name of CLIENTS) {
      const c = results.clients[name];
      expect(c.errors, `${name} errors`).toEqual([]);
      expect(positive(c.latencyP50Ms), `${name} p50`).toBe(true);
      expect(positive(c.latencyP99Ms), `${name} p99`).toBe(true);
      expect(positive(c.throughputCallsPerSec), `${name} throughput`).toBe(true);
      for (const size of ['1KiB', '100KiB', '1MiB', '10MiB'] as const) expect(positive(c.blobMiBps[size]), `${name} blob ${size}`).toBe(true);
      expect(positive(c.coldStartMs), `${name} cold start`).toBe(true);
      if (existsSync(MEMORY_PROBE)) {
        expect(positive(c.idleRssBytes), `${name} idle RSS`).toBe(true);
        expect(typeof c.bytesPerPending, `${name} bytes per pending`).toBe('number');
      }
    }
    if (existsSync(MEMORY_PROBE)) expect(typeof results.clients['mcp-ipc'].bytesPerQueued).toBe('number');
    expect(typeof results.ratios['mcp-ipc/raw'].throughputCallsPerSec).toBe('number');
    expect(typeof results.ratios['mcp-ipc/sdk'].latencyP50Ms).toBe('number');
    expect(['ok', 'skipped']).toContain(results.e2e.status);
    expect(results.targets.length).toBeGreaterThan(0);
    // JSON-serializable as printed by --json.
    expect(JSON.parse(JSON.stringify(results)).version).toBe(1);

    await new Promise((r) => setTimeout(r, 200));
    expect(echoServers()).toBeLessThanOrEqual(before);
  }, 120_000);
});
