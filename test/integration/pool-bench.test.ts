/** The server-pool benchmark (bench/pool.ts) runs end to end on a tiny workload and uses every replica. */
import { describe, expect, it } from 'vitest';
import { formatPoolTable, runPoolBench } from '../../bench/pool.js';

describe('pool benchmark', () => {
  it('measures a single bridge and each replica count, every replica taking work', async () => {
    const result = await runPoolBench({ replicas: [1, 2], calls: 12, rounds: 1_000, concurrency: 4, log: () => undefined });
    expect(result.rows.map((r) => [r.label, r.pidsUsed])).toEqual([
      ['bridge', 1],
      ['1', 1],
      ['2', 2],
    ]);
    for (const r of result.rows) {
      expect(r.callsPerSec).toBeGreaterThan(0);
      expect(r.p50Ms).toBeGreaterThan(0);
    }
    expect(formatPoolTable(result)).toContain('| 2 |');
  });
});
