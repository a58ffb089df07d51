import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { processesOfRun, TREE_VARIABLE } from '../no-leftovers.js';

const linux = process.platform === 'linux';
const started: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

describe.runIf(linux)('leftover check', () => {
  it("considers only processes whose environment carries this run's tree, whatever their command line", async () => {
    const runId = process.env[TREE_VARIABLE]!;
    expect(runId, 'the global setup sets the run id for every worker').toMatch(/^[0-9a-f-]{36}$/);
    const env = { ...process.env };
    delete env[TREE_VARIABLE];
    // Each looks exactly like one of our watchdogs; only the environment tells.
    const sleeper = (environment: NodeJS.ProcessEnv) => {
      const c = spawn('/bin/sh', ['-c', 'exec sleep 30', 'mcp-ipc-guard', '1', '1'], { env: environment, stdio: 'ignore' });
      started.push(c);
      return c;
    };
    const stranger = sleeper(env); // no tree at all (a user's own process)
    const other = sleeper({ ...env, [TREE_VARIABLE]: 'another-run' }); // another run
    const lookalike = sleeper({ ...env, [TREE_VARIABLE]: `${runId}0` }); // shares the prefix, not the tree
    const ours = sleeper(process.env); // started by a test directly
    const server = sleeper({ ...env, [TREE_VARIABLE]: `${runId}/0123abcd/4567` }); // a server (of a nested host)
    await Promise.all(started.map((c) => new Promise((r) => c.once('spawn', r))));
    const pids = processesOfRun(runId).map((p) => p.pid);
    expect(pids).toContain(ours.pid);
    expect(pids).toContain(server.pid);
    expect(pids).not.toContain(stranger.pid);
    expect(pids).not.toContain(other.pid);
    expect(pids).not.toContain(lookalike.pid);
  });
});
