/**
 * The inspector commands (like MCP Inspector's CLI mode): `info`, `request METHOD [JSON]`,
 * `resources`, `read URI`, `prompts`, `prompt NAME [JSON_ARGS]`. One server, one answer as JSON
 * on stdout, then a clean shutdown. They work in both MCP eras (see `info`).
 */
import { CancelledError } from '../../core/errors.js';
import type { McpServerHandle } from '../server-handle.js';
import { type AnswerFlags, ANSWER_OPTIONS } from './answers.js';
import { EXIT, noExtra, parse, parseInteger, parseJsonArgs, splitCommand, UsageError } from './args.js';
import { SELECTION_OPTIONS, withServer } from './call.js';
import { HELP } from './help.js';
import { type CliIo, untilAborted, writeAll } from './runtime.js';
import { type SelectionFlags, selectServer } from './select.js';

/** Where the CLI's requests come from, for the audit log and confirmation dialogs. */
const CLI_ORIGIN = { door: 'cli' } as const;

type Flags = SelectionFlags & AnswerFlags & { help?: boolean; timeout?: string };
type Work = (bridge: McpServerHandle, positionals: string[], timeoutMs: number | undefined, signal: AbortSignal) => Promise<unknown>;

/** Parses, selects the server, runs `work` and prints its answer as JSON. */
function inspectCommand(topic: keyof typeof HELP, positionals: { min: number; max: number; usage: string }, work: Work) {
  return async (argv: string[], io: CliIo): Promise<number> => {
    const { args, command } = splitCommand(argv);
    const { values, positionals: given } = parse<Flags>(args, { ...SELECTION_OPTIONS, ...ANSWER_OPTIONS, timeout: { type: 'string' } });
    if (values.help) {
      await writeAll(io.stdout, `${HELP[topic]}\n`);
      return EXIT.ok;
    }
    if (given.length < positionals.min) throw new UsageError(`missing arguments: mcp-ipc ${positionals.usage}`);
    noExtra(given, positionals.max);
    const timeoutMs = parseInteger('--timeout', values.timeout, 1);
    const selection = await selectServer(values, command);
    return withServer(selection, io, values, async (bridge, signal) => {
      const answer = await untilAborted(work(bridge, given, timeoutMs, signal), signal, () => new CancelledError('Interrupted'));
      await writeAll(io.stdout, `${JSON.stringify(answer, null, 2)}\n`);
      return EXIT.ok;
    });
  };
}

/** JSON params for `request`: an object (or nothing). */
function parseParams(text: string | undefined): Record<string, unknown> | undefined {
  return text === undefined ? undefined : parseJsonArgs(text);
}

/** Prompt arguments are strings in MCP: other JSON values are sent as their JSON text. */
function promptArgs(text: string | undefined): Record<string, string> {
  const args = parseJsonArgs(text);
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
}

export const infoCommand = inspectCommand('info', { min: 0, max: 0, usage: 'info' }, async (bridge) => {
  const s = bridge.server;
  return { era: s.era, protocolVersion: s.protocolVersion, serverInfo: s.info, capabilities: s.capabilities, ...(s.instructions !== undefined ? { instructions: s.instructions } : {}) };
});

export const requestCommand = inspectCommand('request', { min: 1, max: 2, usage: 'request METHOD [JSON_PARAMS]' }, (bridge, [method, json], timeoutMs, signal) =>
  bridge.request(method!, parseParams(json), { timeoutMs, signal, origin: CLI_ORIGIN }),
);

export const resourcesCommand = inspectCommand('resources', { min: 0, max: 0, usage: 'resources' }, async (bridge) => ({
  resources: await bridge.listResources(),
  resourceTemplates: bridge.server.capabilities.resources !== undefined ? await bridge.listResourceTemplates().catch(() => []) : [],
}));

export const readCommand = inspectCommand('read', { min: 1, max: 1, usage: 'read URI' }, (bridge, [uri], timeoutMs, signal) => bridge.readResource(uri!, { timeoutMs, signal, origin: CLI_ORIGIN }));

export const promptsCommand = inspectCommand('prompts', { min: 0, max: 0, usage: 'prompts' }, (bridge) => bridge.listPrompts());

export const promptCommand = inspectCommand('prompt', { min: 1, max: 2, usage: 'prompt NAME [JSON_ARGS]' }, (bridge, [name, json], timeoutMs, signal) =>
  bridge.getPrompt(name!, promptArgs(json), { timeoutMs, signal, origin: CLI_ORIGIN }),
);
