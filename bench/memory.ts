/** Runs the memory probes (bench/memory-probe.ts), each in a fresh `node --expose-gc` child. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ClientOptions, ContenderName } from './clients/types.js';
import type { ProbeResult } from './memory-probe.js';
import { MEMORY_PROBE } from './paths.js';

export class ProbeUnavailableError extends Error {}

const running = new Set<import('node:child_process').ChildProcess>();

export function runProbe(contender: ContenderName, n: number, base: Omit<ClientOptions, 'maxInFlight'>, timeoutMs = 120_000): Promise<ProbeResult> {
  if (!existsSync(MEMORY_PROBE)) {
    return Promise.reject(new ProbeUnavailableError(`${MEMORY_PROBE} not built (run npm run build)`));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', MEMORY_PROBE, contender, String(n), JSON.stringify(base)], { stdio: ['ignore', 'pipe', 'pipe'], env: base.env });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) {
        try {
          resolve(JSON.parse(line) as ProbeResult);
          return;
        } catch {
          // fall through
        }
      }
      reject(new Error(`memory probe ${contender}/${n} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** Kills probes still running (on abort). */
export function killProbes(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
