/** Locations the suite needs, valid both from bench/*.ts (vitest) and dist/bench/*.js (npm run bench). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'mcp-ipc') return dir;
      } catch {
        // keep looking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`bench: cannot find the mcp-ipc project root above ${start}`);
    dir = parent;
  }
}

export const ROOT = findRoot(here);
export const ECHO_SERVER = join(ROOT, 'test', 'fixtures', 'echo-server.mjs');
/** True when running from the compiled output (dist/bench), false under vitest (bench/*.ts). */
export const COMPILED = import.meta.url.endsWith('.js');
/** The compiled memory probe (children always run compiled JS). */
export const MEMORY_PROBE = join(ROOT, 'dist', 'bench', 'memory-probe.js');
/** The instant C stub's source (compiled at bench time, bench/servers.ts). */
export const STUB_SOURCE = join(ROOT, 'bench', 'stub-server.c');
/** The stdlib-only Python demo server. */
export const PYTHON_SERVER = join(ROOT, 'examples', 'python-server', 'server.py');
/** The compiled gateway host the gateway figures run in a child process (bench/gateway-child.ts). */
export const GATEWAY_CHILD = join(ROOT, 'dist', 'bench', 'gateway-child.js');
