#!/usr/bin/env node
/**
 * mcp-ipc command line (package bin). Commands live in ./cli/; see `mcp-ipc --help`.
 *   mcp-ipc serve | call | tools | bench
 */
import { main } from './cli/main.js';
import { writeAll } from './cli/runtime.js';

// A closed stdout (`mcp-ipc tools | head`) must not crash the process.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

const exitCode = await main(process.argv.slice(2));
await Promise.all([writeAll(process.stdout, ''), writeAll(process.stderr, '')]);
process.exit(exitCode);
