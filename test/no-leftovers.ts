/**
 * Vitest global setup: after the whole run, no process started by the tests may still be running
 * (servers, their helpers, orphan watchdogs, CLI hosts). Any found are killed and the run fails, so
 * a test that leaks processes cannot go unnoticed.
 *
 * Only processes of this very run are ever considered. The setup makes the run a process tree of
 * mcp-ipc's own kind: it puts `MCP_IPC_TREE=<run id>` in the environment before any test starts.
 * Every process the tests start directly inherits that value, and every server the library spawns
 * gets `<run id>/<server id>` (a host running inside a tree nests its servers' cookies under it),
 * which a server's own descendants inherit in turn. A process is ours only if its own environment
 * (`/proc/PID/environ`) carries the run id itself or a value under it (`<run id>/…`). A user's
 * running `mcp-ipc serve`, another checkout's test run or anything else on the machine is never
 * looked at twice, let alone signalled.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { inTree, TREE_VARIABLE } from '../src/node/platform/environment.js';
import { procStat, procTreeValue } from '../src/node/platform/linux.js';

export { TREE_VARIABLE };

interface Proc {
  pid: number;
  pgid: number;
  cmd: string;
}

/** Live processes whose environment carries `runId` or a tree under it, this process excluded. */
export function processesOfRun(runId: string): Proc[] {
  const found: Proc[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found; // not Linux: nothing to check
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const stat = procStat(entry);
    if (!stat || stat.state === 'Z' || !inTree(procTreeValue(entry), runId)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      found.push({ pid: Number(entry), pgid: stat.pgrp, cmd });
    } catch {
      // ended meanwhile
    }
  }
  return found;
}

export default function setup(): () => Promise<void> {
  const runId = randomUUID();
  process.env[TREE_VARIABLE] = runId; // inherited by the workers and everything they start
  return async () => {
    // Watchdogs and graceful shutdowns may still be finishing: give them a moment.
    let left = processesOfRun(runId);
    for (let i = 0; i < 40 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = processesOfRun(runId);
    }
    if (left.length === 0) return;
    const ownGroup = procStat('self')?.pgrp;
    for (const p of left) {
      // Signal the whole group only when every live member of it is ours too.
      const groupIsOurs = p.pgid !== ownGroup && left.filter((q) => q.pgid === p.pgid).length === countGroup(p.pgid);
      try {
        process.kill(groupIsOurs ? -p.pgid : p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    process.exitCode = 1; // vitest reports a teardown error but would still exit 0
    throw new Error(`Tests left ${left.length} process(es) running (now killed):\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`);
  };
}

function countGroup(pgid: number): number {
  let n = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = procStat(entry);
      if (stat && stat.state !== 'Z' && stat.pgrp === pgid) n++;
    }
  } catch {
    return -1;
  }
  return n;
}
