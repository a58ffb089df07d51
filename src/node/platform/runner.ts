/**
 * Running the small helper commands of the platform layer (`ps`, `taskkill`, PowerShell): always
 * with a timeout, never through a shell, never throwing. Injected, so the macOS and Windows
 * implementations can be tested on any OS against a fake that records the commands issued.
 */
import { execFile, spawnSync } from 'node:child_process';

export interface CommandResult {
  /** Exit code; null when the command could not run, was killed or timed out. */
  code: number | null;
  stdout: string;
  /** stderr, or why the command could not run. */
  stderr: string;
}

export interface CommandRunner {
  run(file: string, args: readonly string[], timeoutMs: number): Promise<CommandResult>;
  /** Synchronous variant, for the host's `exit` hook. */
  runSync(file: string, args: readonly string[], timeoutMs: number): CommandResult;
}

const MAX_OUTPUT = 16 * 1024 * 1024;

export const nodeCommandRunner: CommandRunner = {
  run(file, args, timeoutMs) {
    return new Promise((resolve) => {
      try {
        execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT, windowsHide: true, encoding: 'utf8' }, (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
          resolve({ code, stdout: stdout ?? '', stderr: stderr || (error && code === null ? error.message : '') });
        });
      } catch (error) {
        resolve({ code: null, stdout: '', stderr: (error as Error).message });
      }
    });
  },
  runSync(file, args, timeoutMs) {
    try {
      const r = spawnSync(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT, windowsHide: true, encoding: 'utf8' });
      return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr || (r.error?.message ?? '') };
    } catch (error) {
      return { code: null, stdout: '', stderr: (error as Error).message };
    }
  },
};
