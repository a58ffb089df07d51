/**
 * The servers the bench measures against, all speaking newline-delimited JSON-RPC on stdio:
 *
 * - `instant`: bench/stub-server.c, compiled at bench time into a temporary directory when a C
 *   compiler (`cc`, or `$CC`) exists; otherwise the Node echo server stands in, and the report says
 *   so. It answers as fast as a process can, so the figures against it are the host's own cost.
 * - `node`: the Node echo server (test/fixtures/echo-server.mjs), a realistic fast server.
 * - `python`: the stdlib-only demo (examples/python-server/server.py), a realistic slow one; only
 *   its `echo` tool is used.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECHO_SERVER, PYTHON_SERVER, STUB_SOURCE } from './paths.js';

export type ServerKind = 'instant' | 'node' | 'python';
export const SERVER_KINDS: readonly ServerKind[] = ['instant', 'node', 'python'];

export interface ServerSpec {
  kind: ServerKind;
  /** What runs, for the report: "C stub (cc -O2)", "Node echo server", … */
  label: string;
  command: string;
  args: string[];
  /** Whether it has the `blob` and `hang` tools (the Python demo has neither). */
  blobs: boolean;
}

export interface ServerSet {
  servers: Partial<Record<ServerKind, ServerSpec>>;
  /** Why a server is missing or replaced (e.g. "no C compiler: the Node echo server stands in"). */
  notes: string[];
  /** Removes the compiled stub. */
  dispose(): void;
}

const nodeEcho = (kind: ServerKind, label: string): ServerSpec => ({ kind, label, command: process.execPath, args: [ECHO_SERVER], blobs: true });

/** Compiles the C stub into a fresh temporary directory; null (with the reason) when that is not possible. */
export function compileStub(): { binary: string; dir: string } | { error: string } {
  const cc = process.env.CC || 'cc';
  if (process.platform === 'win32') return { error: 'Windows: the C stub is POSIX-only' };
  if (!existsSync(STUB_SOURCE)) return { error: `${STUB_SOURCE} is missing` };
  const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-bench-'));
  const binary = join(dir, 'stub-server');
  const r = spawnSync(cc, ['-O2', '-std=c99', '-o', binary, STUB_SOURCE], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(binary)) {
    rmSync(dir, { recursive: true, force: true });
    return { error: r.error ? `${cc}: ${r.error.message}` : `${cc} failed: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}` };
  }
  return { binary, dir };
}

/** The Python interpreter to use (`$PYTHON`, else `python3`), when it runs. */
function python(): string | null {
  const candidates = process.env.PYTHON ? [process.env.PYTHON] : process.platform === 'win32' ? ['python', 'py'] : ['python3', 'python'];
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  return null;
}

export function resolveServers(kinds: readonly ServerKind[] = SERVER_KINDS): ServerSet {
  const servers: ServerSet['servers'] = {};
  const notes: string[] = [];
  let dir: string | undefined;
  if (kinds.includes('instant')) {
    const stub = compileStub();
    if ('binary' in stub) {
      dir = stub.dir;
      servers.instant = { kind: 'instant', label: `C stub (${process.env.CC || 'cc'} -O2)`, command: stub.binary, args: [], blobs: true };
    } else {
      servers.instant = nodeEcho('instant', 'Node echo server (stand-in: no C stub)');
      notes.push(`instant server: ${stub.error}; the Node echo server stands in, so its figures include a slower server`);
    }
  }
  if (kinds.includes('node')) servers.node = nodeEcho('node', 'Node echo server');
  if (kinds.includes('python')) {
    const py = python();
    if (py) servers.python = { kind: 'python', label: `Python demo (${py}, stdlib)`, command: py, args: [PYTHON_SERVER], blobs: false };
    else notes.push('python server: no Python interpreter found (set $PYTHON); skipped');
  }
  return {
    servers,
    notes,
    dispose: () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}
