/**
 * The benchmark suite runs end to end in quick mode: every contender yields figures against every
 * server, the report carries ratios and goals, and no server is left behind. No timing assertions:
 * the figures only have to exist (a goal missed is a line in the report, never a failed test).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONTENDERS } from '../../bench/clients/types.js';
import { formatReport } from '../../bench/report.js';
import { parseBenchArgs, runBench } from '../../bench/run.js';
import { GATEWAY_CHILD, MEMORY_PROBE } from '../../bench/paths.js';
import { processesOfRun, TREE_VARIABLE } from '../no-leftovers.js';

const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe('bench (quick)', () => {
  it('measures every contender against every server and leaves no process behind', async () => {
    const results = await runBench({ quick: true, json: true, out: null });

    expect(results.version).toBe(2);
    expect(results.meta.quick).toBe(true);
    expect(results.meta.settings.rounds).toBe(1);
    expect(results.meta.serverEnvironment).toContain('PATH');
    expect(results.meta.serverEnvironment).not.toContain('MCP_IPC_TOKEN');
    for (const [kind, perLoad] of Object.entries(results.echo)) {
      for (const [inFlight, row] of Object.entries(perLoad!)) {
        for (const name of CONTENDERS) {
          const f = row[name];
          expect(f, `${kind}/${inFlight}/${name}`).toBeDefined();
          if (f!.skipped) {
            // Only mcp-ipc's defaults are skipped, and only beyond what its default queue holds.
            expect(name).toBe('mcp-ipc');
            expect(Number(inFlight)).toBeGreaterThan(110);
            continue;
          }
          expect(f!.errors, `${kind}/${inFlight}/${name}: ${f!.firstError}`).toBe(0);
          expect(positive(f!.cpuUsPerCall?.median), `${kind}/${inFlight}/${name} cpu`).toBe(true);
          expect(positive(f!.callsPerSec?.median), `${kind}/${inFlight}/${name} calls/s`).toBe(true);
          expect(positive(f!.p99Ms?.median), `${kind}/${inFlight}/${name} p99`).toBe(true);
        }
      }
    }
    expect(Object.keys(results.echo.instant ?? {})).toEqual(['10', '64', '256']);
    // The defaults goal carries the same-depth comparison (defaults beside the floor at 10 in flight).
    expect(results.goals.find((g) => g.goal.startsWith('defaults ÷ tuned'))?.detail).toMatch(/^defaults ÷ floor at 10 in flight \d/);
    for (const size of ['1KiB', '100KiB', '1MiB', '10MiB'] as const) {
      for (const name of CONTENDERS) expect(positive(results.blobs[size]?.[name]?.mibPerSec?.median), `${name} blob ${size}`).toBe(true);
    }
    for (const name of CONTENDERS) expect(positive(results.coldStartMs[name]?.median), `${name} cold start`).toBe(true);
    if (existsSync(MEMORY_PROBE)) {
      for (const name of CONTENDERS.filter((c) => c !== 'mcp-ipc')) expect(typeof results.memory['1000']?.[name]?.bytesPerPending, `${name} heap`).toBe('number');
    }
    if (existsSync(GATEWAY_CHILD)) {
      expect(results.gateway.status).toBe('ok');
      expect(positive(results.gateway.totalCpuUsPerCall?.median)).toBe(true);
      expect(positive(results.gateway.gatewayCpuUsPerCall?.median)).toBe(true);
      expect(results.gateway.errors, results.gateway.firstError).toBe(0);
      // The second gateway, with the host's limits at their defaults, reports what it saw (a cap or none).
      expect(typeof results.gateway.defaultHostLimits?.errors).toBe('number');
      // Compression (issue 13): every way of carrying the 1 MB result has its figures (never their values).
      const c = results.compression;
      expect(c.status, c.reason).toBe('ok');
      for (const mode of ['ws-deflate', 'ws-plain', 'http-br', 'http-gzip', 'http-identity'] as const) {
        const f = c.modes[mode];
        expect(f?.errors, `${mode}: ${f?.firstError}`).toBe(0);
        for (const key of ['bytesPerCall', 'clientCpuUsPerCall', 'gatewayCpuUsPerCall', 'p50Ms'] as const) expect(positive(f?.[key]?.median), `${mode} ${key}`).toBe(true);
      }
      expect(c.modes['ws-deflate']?.onWire).toContain('permessage-deflate');
      expect(c.modes['ws-plain']?.onWire).not.toContain('permessage-deflate');
    }
    const tunedVsFloor = results.ratios.find((r) => r.key === 'instant/64/cpuUsPerCall/mcp-ipc-tuned÷floor');
    expect(positive(tunedVsFloor?.value)).toBe(true);
    expect(results.goals.length).toBeGreaterThanOrEqual(8);
    expect(JSON.parse(JSON.stringify(results)).version).toBe(2);
    const report = formatReport(results);
    expect(report).toContain('host CPU µs/call');
    expect(report).toContain('Goals of issue 14');
    expect(report).toContain(existsSync(GATEWAY_CHILD) ? 'KiB on the wire/call' : 'compression: skipped');

    // Every server the bench started carried this run's tree id: none may be left.
    const runId = process.env[TREE_VARIABLE];
    if (runId) expect(processesOfRun(runId).filter((p) => /mcp-ipc-bench-|gateway-child|memory-probe/.test(p.cmd))).toEqual([]);
  }, 120_000);

  it('rejects bad arguments with a TypeError naming them', () => {
    expect(parseBenchArgs(['--quick', '--rounds', '3', '--contenders', 'floor,mcp-ipc'])).toEqual({ quick: true, rounds: 3, contenders: ['floor', 'mcp-ipc'] });
    expect(parseBenchArgs(['--window-ms=500', '--servers=instant'])).toEqual({ windowMs: 500, servers: ['instant'] });
    expect(() => parseBenchArgs(['--rounds', '0'])).toThrow(/--rounds/);
    expect(() => parseBenchArgs(['--contenders', 'raw'])).toThrow(/--contenders/);
    expect(parseBenchArgs(['--no-compression', '--no-gateway'])).toEqual({ skipCompression: true, skipGateway: true });
    expect(() => parseBenchArgs(['--fast'])).toThrow(/unknown argument --fast/);
  });
});
