/** `mcp-ipc bench`: the benchmark suite (bench/run.ts), loaded only when asked for. */
import { EXIT, noExtra, parse, UsageError } from './args.js';
import { HELP } from './help.js';
import { type CliIo, writeAll } from './runtime.js';

type BenchModule = typeof import('../../../bench/run.js');

/**
 * Loads the suite. The published package leaves it out (package.json `files` drops dist/bench: it
 * needs the dev dependencies it compares against), so a missing module is a clear usage error, not a stack trace.
 */
export async function loadBench(load: () => Promise<BenchModule> = () => import('../../../bench/run.js')): Promise<BenchModule['runBench']> {
  try {
    return (await load()).runBench;
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && /bench[\\/]run\.js/.test(message)) {
      throw new UsageError('the benchmark suite is not part of the installed package; run it from a clone of the mcp-ipc repository (npm ci && npm run bench)');
    }
    throw error;
  }
}

export async function benchCommand(argv: string[], io: CliIo, load?: () => Promise<BenchModule>): Promise<number> {
  const { values, positionals } = parse<{ json?: boolean; quick?: boolean; help?: boolean }>(argv, {
    json: { type: 'boolean' },
    quick: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    await writeAll(io.stdout, `${HELP.bench}\n`);
    return EXIT.ok;
  }
  noExtra(positionals, 0);
  const runBench = await loadBench(load);
  await runBench({ json: values.json === true, quick: values.quick === true, out: io.stdout });
  return EXIT.ok;
}
