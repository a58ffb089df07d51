/** `mcp-ipc call` and `mcp-ipc tools`: one server, one request, then a clean shutdown. */
import { type AnswerFlags, ANSWER_OPTIONS, installAnswers, installApprover } from './answers.js';
import { CancelledError } from '../../core/errors.js';
import type { CallToolResult } from '../../core/gateway-protocol.js';
import type { McpServerHandle } from '../server-handle.js';
import { McpHost } from '../mcp-host.js';
import { EXIT, noExtra, parse, parseInteger, parseJsonArgs, splitCommand, UsageError } from './args.js';
import { HELP } from './help.js';
import { oneLine, ProgressReporter } from './progress.js';
import { type CliIo, describeFailure, killChildren, onInterrupt, untilAborted, writeAll } from './runtime.js';
import { type SelectionFlags, selectServer } from './select.js';

export const SELECTION_OPTIONS = {
  config: { type: 'string' },
  server: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function callCommand(argv: string[], io: CliIo): Promise<number> {
  const { args, command } = splitCommand(argv);
  const { values, positionals } = parse<SelectionFlags & AnswerFlags & { help?: boolean; timeout?: string; task?: boolean }>(args, {
    ...SELECTION_OPTIONS,
    ...ANSWER_OPTIONS,
    timeout: { type: 'string' },
    task: { type: 'boolean' },
  });
  if (values.help) {
    await writeAll(io.stdout, `${HELP.call}\n`);
    return EXIT.ok;
  }
  const tool = positionals[0];
  if (tool === undefined || tool === '') throw new UsageError('missing TOOL: mcp-ipc call TOOL [JSON_ARGS]');
  const toolArgs = parseJsonArgs(positionals[1]);
  noExtra(positionals, 2);
  const timeoutMs = parseInteger('--timeout', values.timeout, 1);
  const selection = await selectServer(values, command);

  return withServer(selection, io, values, async (bridge, signal) => {
    const progress = new ProgressReporter(io.stderr);
    let result: CallToolResult;
    try {
      // Task tools (taskSupport 'required', or 'optional' with --task) run to their final result;
      // their status goes to stderr like progress, and --timeout bounds each request, not the task.
      result = await bridge.call(tool, toolArgs, {
        timeoutMs,
        signal,
        task: values.task === true,
        origin: { door: 'cli' },
        onProgress: (p) => progress.update(p),
        taskOptions: { onStatus: (t) => progress.status(`task ${t.status}${t.statusMessage ? `: ${t.statusMessage}` : ''}`) },
      });
    } finally {
      progress.finish();
    }
    await writeAll(io.stdout, `${JSON.stringify(result, null, 2)}\n`);
    if (result.isError === true) {
      const text = result.content?.find((c) => typeof c.text === 'string')?.text;
      await writeAll(io.stderr, `mcp-ipc: ToolError: ${text ? oneLine(text).slice(0, 300) : `${tool} returned isError`}\n`);
      return EXIT.failure;
    }
    return EXIT.ok;
  });
}

export async function toolsCommand(argv: string[], io: CliIo): Promise<number> {
  const { args, command } = splitCommand(argv);
  const { values, positionals } = parse<SelectionFlags & { help?: boolean }>(args, SELECTION_OPTIONS);
  if (values.help) {
    await writeAll(io.stdout, `${HELP.tools}\n`);
    return EXIT.ok;
  }
  noExtra(positionals, 0);
  const selection = await selectServer(values, command);
  return withServer(selection, io, {}, async (bridge, signal) => {
    const tools = await untilAborted(bridge.listTools(), signal, () => new CancelledError('Interrupted'));
    await writeAll(io.stdout, `${JSON.stringify(tools, null, 2)}\n`);
    return EXIT.ok;
  });
}

/**
 * Starts the one selected server, runs `work`, and always stops the server (also on errors and
 * Ctrl-C: the first interrupt cancels the request, a second one kills the child and exits).
 */
export async function withServer(
  selection: Awaited<ReturnType<typeof selectServer>>,
  io: CliIo,
  answers: AnswerFlags,
  work: (bridge: McpServerHandle, signal: AbortSignal) => Promise<number>,
): Promise<number> {
  const host = new McpHost(selection.config);
  const bridge = host.get(selection.name)!;
  installAnswers(bridge, answers, io);
  const disposeApprover = installApprover(host.approvals, io);
  const interrupt = new AbortController();
  const dispose = onInterrupt(
    () => {
      io.stderr.write('\nmcp-ipc: interrupted, stopping the server (Ctrl-C again to force)\n');
      interrupt.abort();
    },
    () => {
      killChildren(host);
      process.exit(EXIT.interrupted);
    },
  );
  try {
    await untilAborted(bridge.start(), interrupt.signal, () => new CancelledError('Interrupted while starting the server'));
    return await work(bridge, interrupt.signal);
  } catch (error) {
    const { line, exitCode } = describeFailure(error);
    await writeAll(io.stderr, `${line}\n`);
    return interrupt.signal.aborted ? EXIT.interrupted : exitCode;
  } finally {
    disposeApprover();
    await host.stopAll();
    dispose();
  }
}
