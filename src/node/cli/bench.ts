/** `mcp-ipc bench`: the benchmark suite (bench/run.ts), loaded only when asked for. */
import { EXIT, UsageError } from './args.js';
import { HELP } from './help.js';
import { type CliIo, writeAll } from './runtime.js';

type BenchModule = typeof import('../../../bench/run.js');

/**
 * Loads the suite. The published package leaves it out (package.json `files` drops dist/bench: it
 * needs the dev dependencies it compares against), so a missing module is a clear usage error, not a stack trace.
 */
export async function loadBench(load: () => Promise<BenchModule> = () => import('../../../bench/run.js')): Promise<BenchModule> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && /bench[\\/]run\.js/.test(message)) {
      throw new UsageError('the benchmark suite is not part of the installed package; run it from a clone of the mcp-ipc repository (npm ci && npm run bench)');
    }
    throw error;
  }
}

export async function benchCommand(argv: string[], io: CliIo, load?: () => Promise<BenchModule>): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    await writeAll(io.stdout, `${HELP.bench}\n`);
    return EXIT.ok;
  }
  const { parseBenchArgs, runBench } = await loadBench(load);
  let options;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    // The bench names the bad argument in a TypeError; to the CLI that is a usage error (exit 2).
    throw new UsageError((error as Error).message.split('\n')[0]!.replace(/^bench: /, ''));
  }
  await runBench({ ...options, out: io.stdout, command: ['mcp-ipc', 'bench', ...argv].join(' ') });
  return EXIT.ok;
}
