/**
 * Vitest global setup: after the whole run, no process started by the tests may still be running
 * (servers from test/fixtures or examples/, orphan watchdogs, CLI hosts). Any found are killed and
 * the run fails, so a test that leaks processes cannot go unnoticed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { procStat } from '../src/node/orphan-guard.js';

const ROOT = resolve(import.meta.dirname, '..');
const MARKERS = [`${ROOT}/test/fixtures/`, `${ROOT}/examples/python-server/`, `${ROOT}/dist/src/node/cli.js`, 'mcp-ipc-guard'];

interface Proc {
  pid: number;
  pgid: number;
  cmd: string;
}

function leftovers(): Proc[] {
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
    if (!stat || stat.state === 'Z') continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (MARKERS.some((m) => cmd.includes(m))) found.push({ pid: Number(entry), pgid: stat.pgrp, cmd });
    } catch {
      // ended meanwhile
    }
  }
  return found;
}

export default function setup(): () => Promise<void> {
  const before = new Set(leftovers().map((p) => p.pid)); // not ours (e.g. an `npm start` in another shell)
  return async () => {
    // Watchdogs and graceful shutdowns may still be finishing: give them a moment.
    let left = leftovers().filter((p) => !before.has(p.pid));
    for (let i = 0; i < 40 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = leftovers().filter((p) => !before.has(p.pid));
    }
    if (left.length === 0) return;
    const ownGroup = procStat('self')?.pgrp;
    for (const p of left) {
      try {
        // Its whole group when it has its own (servers do), so its children go too.
        process.kill(p.pgid !== ownGroup ? -p.pgid : p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    process.exitCode = 1; // vitest reports a teardown error but would still exit 0
    throw new Error(`Tests left ${left.length} process(es) running (now killed):\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`);
  };
}
