/**
 * Process plumbing shared by the commands: the output streams, flushed writes, one-line error
 * reports with their exit codes, and SIGINT/SIGTERM handling (first: graceful, second: forced).
 */
import { IpcError } from '../../core/errors.js';
import { ConfigError } from '../config.js';
import type { McpHost } from '../mcp-host.js';
import { EXIT, UsageError } from './args.js';
import { oneLine } from './progress.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Where questions are answered (sampling, elicitation) when it is a terminal. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export const processIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });

/** Writes and waits until the stream took it (a closed pipe, EPIPE, is not an error here). */
export function writeAll(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    try {
      stream.write(text, () => resolve());
    } catch {
      resolve();
    }
  });
}

/** The one-line report of an error and its exit code. */
export function describeFailure(error: unknown, command?: string): { line: string; exitCode: number } {
  if (error instanceof UsageError) {
    const hint = command ? ` (see: mcp-ipc ${command} --help)` : ' (see: mcp-ipc --help)';
    return { line: `mcp-ipc: ${oneLine(error.message)}${hint}`, exitCode: EXIT.usage };
  }
  if (error instanceof ConfigError) return { line: `mcp-ipc: ConfigError: ${oneLine(error.message)}`, exitCode: EXIT.usage };
  if (error instanceof IpcError) return { line: `mcp-ipc: ${error.code}: ${oneLine(error.message)}`, exitCode: EXIT.failure };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { line: `mcp-ipc: ${typeof code === 'string' ? code : error.name || 'Error'}: ${oneLine(error.message)}`, exitCode: EXIT.failure };
  }
  return { line: `mcp-ipc: Error: ${oneLine(String(error))}`, exitCode: EXIT.failure };
}

/**
 * SIGINT/SIGTERM: the first calls `graceful`, a second one calls `forced`. Returns the disposer.
 */
export function onInterrupt(graceful: (signal: NodeJS.Signals) => void, forced: (signal: NodeJS.Signals) => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count += 1;
    if (count === 1) graceful(signal);
    else forced(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Last resort before a forced exit: SIGKILL every child's process group (then the child itself). */
export function killChildren(host: McpHost): void {
  for (const pid of host.list().flatMap((server) => server.pids())) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Rejects with `reason()` once `signal` aborts (the promise itself keeps running). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, reason: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
