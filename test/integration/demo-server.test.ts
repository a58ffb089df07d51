/**
 * The demo server's own self-test (examples/python-server/selftest.py): every tool over real stdio,
 * including the searches a newcomer tries first ("dragon", "dragons in D&D").
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const selftest = fileURLToPath(new URL('../../examples/python-server/selftest.py', import.meta.url));

describe('demo Python server', () => {
  it('passes its self-test', async () => {
    const run = await promisify(execFile)('python3', [selftest], { timeout: 25_000 }).catch((e: { stdout?: string; stderr?: string }) => e);
    expect(run.stdout).toContain('all passed');
  });
});
