/** The CLI's entry: dispatches `mcp-ipc COMMAND …` and turns every outcome into an exit code. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PACKAGE_ROOT } from '../config.js';
import { EXIT, UsageError } from './args.js';
import { benchCommand } from './bench.js';
import { cacheCommand } from './cache.js';
import { callCommand, toolsCommand } from './call.js';
import { HELP } from './help.js';
import { infoCommand, promptCommand, promptsCommand, readCommand, requestCommand, resourcesCommand } from './inspect.js';
import { type CliIo, describeFailure, processIo, writeAll } from './runtime.js';
import { serveCommand } from './serve.js';

const COMMANDS: Record<string, (argv: string[], io: CliIo) => Promise<number>> = {
  serve: serveCommand,
  call: callCommand,
  tools: toolsCommand,
  info: infoCommand,
  request: requestCommand,
  resources: resourcesCommand,
  read: readCommand,
  prompts: promptsCommand,
  prompt: promptCommand,
  cache: cacheCommand,
  bench: benchCommand,
};

export function version(): string {
  try {
    return (JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs the CLI; resolves with the exit code (0 ok, 1 tool/server error, 2 usage error). */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  let command: string | undefined;
  try {
    if (first === undefined) {
      await writeAll(io.stderr, `${HELP.main}\n`);
      return EXIT.usage;
    }
    if (first === '-h' || first === '--help') {
      await writeAll(io.stdout, `${HELP.main}\n`);
      return EXIT.ok;
    }
    if (first === 'help') {
      const topic = rest[0];
      const text = topic === undefined ? HELP.main : topic in COMMANDS ? HELP[topic as keyof typeof HELP] : undefined;
      if (text === undefined) throw new UsageError(`unknown command "${topic}"`);
      await writeAll(io.stdout, `${text}\n`);
      return EXIT.ok;
    }
    if (first === '-v' || first === '--version') {
      await writeAll(io.stdout, `${version()}\n`);
      return EXIT.ok;
    }
    const run = COMMANDS[first];
    if (!run) {
      throw new UsageError(first.startsWith('-') ? `unknown option "${first}" (a command comes first)` : `unknown command "${first}"`);
    }
    command = first;
    return await run(rest, io);
  } catch (error) {
    const { line, exitCode } = describeFailure(error, command);
    await writeAll(io.stderr, `${line}\n`);
    return exitCode;
  }
}
