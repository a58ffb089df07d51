/** `mcp-ipc bench`: the benchmark suite (bench/run.ts), loaded only when asked for. */
import { EXIT, noExtra, parse } from './args.js';
import { HELP } from './help.js';
import { type CliIo, writeAll } from './runtime.js';

export async function benchCommand(argv: string[], io: CliIo): Promise<number> {
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
  const { runBench } = await import('../../../bench/run.js');
  await runBench({ json: values.json === true, quick: values.quick === true, out: io.stdout });
  return EXIT.ok;
}
