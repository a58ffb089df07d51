import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { processesMarked, TEST_RUN_VARIABLE } from '../no-leftovers.js';

const linux = process.platform === 'linux';
const started: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

describe.runIf(linux)('leftover check', () => {
  it('considers only processes whose environment carries this run id, whatever their command line', async () => {
    const runId = process.env[TEST_RUN_VARIABLE];
    expect(runId, 'the global setup sets the run id for every worker').toMatch(/^[0-9a-f-]{36}$/);
    const env = { ...process.env };
    delete env[TEST_RUN_VARIABLE];
    // Looks exactly like one of our watchdogs, but was not started with this run's id: never ours.
    const stranger = spawn('/bin/sh', ['-c', 'exec sleep 30', 'mcp-ipc-guard', '1', '1'], { env, stdio: 'ignore' });
    const other = spawn('/bin/sh', ['-c', 'exec sleep 30', 'mcp-ipc-guard', '1', '1'], { env: { ...env, [TEST_RUN_VARIABLE]: 'another-run' }, stdio: 'ignore' });
    const ours = spawn('/bin/sh', ['-c', 'exec sleep 30', 'mcp-ipc-guard', '1', '1'], { stdio: 'ignore' });
    started.push(stranger, other, ours);
    await Promise.all(started.map((c) => new Promise((r) => c.once('spawn', r))));
    const pids = processesMarked(`${TEST_RUN_VARIABLE}=${runId}`).map((p) => p.pid);
    expect(pids).toContain(ours.pid);
    expect(pids).not.toContain(stranger.pid);
    expect(pids).not.toContain(other.pid);
  });
});
