/**
 * How the one-shot CLI commands answer a server's questions (sampling, elicitation, roots — as
 * legacy server→client requests or modern `input_required` rounds alike): from flags, else by
 * asking on a terminal, else a clear refusal naming the flag to use. The handlers are always
 * registered, so the server learns these capabilities and its tools that need them show up.
 * On a terminal the same person also approves calls to `tools.confirm` tools (installApprover).
 */
import { createInterface } from 'node:readline/promises';
import { IpcError, RpcCode } from '../../core/errors.js';
import type { ApprovalQueue } from '../approvals.js';
import type { McpServerHandle } from '../server-handle.js';
import { UsageError } from './args.js';
import type { CliIo } from './runtime.js';

export const ANSWER_OPTIONS = {
  sample: { type: 'string' },
  elicit: { type: 'string' },
  root: { type: 'string', multiple: true },
} as const;

export interface AnswerFlags {
  /** The text the "model" answers every sampling request with. */
  sample?: string;
  /** `decline`, `cancel`, `accept` (URL mode, or a form with its defaults), or a JSON object: the accepted form content. */
  elicit?: string;
  /** Roots offered to the server (URIs). */
  root?: string[];
}

type Elicitation = { action: 'accept'; content?: Record<string, unknown> } | { action: 'decline' | 'cancel' };

function parseElicit(value: string | undefined): Elicitation | undefined {
  if (value === undefined) return undefined;
  if (value === 'decline' || value === 'cancel') return { action: value };
  if (value === 'accept') return { action: 'accept' };
  let content: unknown;
  try {
    content = JSON.parse(value);
  } catch {
    throw new UsageError(`--elicit must be accept, decline, cancel or a JSON object, got ${JSON.stringify(value)}`);
  }
  if (typeof content !== 'object' || content === null || Array.isArray(content)) throw new UsageError('--elicit JSON must be an object, e.g. \'{"name":"Ada"}\'');
  return { action: 'accept', content: content as Record<string, unknown> };
}

function refuse(what: string, flag: string): IpcError {
  return new IpcError('ServerError', `The server asked for ${what}, which needs an answer: pass ${flag}, or run mcp-ipc on a terminal to be asked`, {
    rpcCode: RpcCode.InvalidRequest,
  });
}

const isInteractive = (io: CliIo): boolean => io.stdin?.isTTY === true && io.stderr.isTTY === true;

/**
 * One line reader per server question, kept for all its fields: a reader per field would lose
 * lines typed (or pasted) ahead. Cooked mode: the terminal itself echoes and edits the line.
 */
async function askOnTerminal<T>(io: CliIo, work: (ask: (question: string) => Promise<string>) => Promise<T>): Promise<T> {
  const rl = createInterface({ input: io.stdin!, output: io.stderr, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  try {
    return await work(async (question) => {
      io.stderr.write(question);
      const next = await lines.next();
      if (next.done) throw new IpcError('Cancelled', 'Input ended before the question was answered');
      return next.value;
    });
  } finally {
    rl.close();
  }
}

/**
 * On a terminal, the person running the CLI approves calls to `tools.confirm` tools (y/N); without
 * one nothing is attached and such calls are refused at once (`no-approver`). Returns the disposer.
 */
export function installApprover(approvals: ApprovalQueue, io: CliIo): () => void {
  if (!isInteractive(io)) return () => undefined;
  const detach = approvals.attachApprover();
  // One question at a time: a second request waits for the first answer.
  let turn = Promise.resolve();
  const off = approvals.onRequested((request) => {
    turn = turn.then(() =>
      askOnTerminal(io, async (ask) => {
        if (!approvals.pending().some((p) => p.id === request.id)) return; // timed out or cancelled meanwhile
        const answer = await ask(`mcp-ipc: allow tool "${request.tool}" on server "${request.server}" with ${JSON.stringify(request.arguments)}? [y/N] `);
        approvals.answer(request.id, /^y(es)?$/i.test(answer.trim()), 'terminal');
      }).catch(() => void approvals.answer(request.id, false, 'terminal')),
    );
  });
  return () => {
    off();
    detach();
  };
}

/** Registers the sampling, elicitation and roots answers on `bridge` (before it starts). */
export function installAnswers(bridge: McpServerHandle, flags: AnswerFlags, io: CliIo): void {
  const elicit = parseElicit(flags.elicit);
  for (const uri of flags.root ?? []) {
    if (!/^[a-z][a-z0-9+.-]*:/i.test(uri)) throw new UsageError(`--root must be a URI (e.g. file:///home/me/project), got ${JSON.stringify(uri)}`);
  }
  const interactive = isInteractive(io);
  const questions = <T>(work: (ask: (question: string) => Promise<string>) => Promise<T>): Promise<T> => askOnTerminal(io, work);

  bridge.setRequestHandler('sampling/createMessage', async (params) => {
    let text = flags.sample;
    if (text === undefined) {
      if (!interactive) throw refuse('an LLM completion (sampling)', '--sample TEXT');
      const messages = (params as { messages?: Array<{ role: string; content: { text?: string } }> }).messages ?? [];
      for (const m of messages) io.stderr.write(`[${m.role}] ${m.content?.text ?? JSON.stringify(m.content)}\n`);
      text = await questions((ask) => ask('mcp-ipc: the server asks for a completion; your answer: '));
    }
    return { role: 'assistant', model: 'mcp-ipc-cli', content: { type: 'text', text }, stopReason: 'endTurn' };
  });

  bridge.setRequestHandler('elicitation/create', async (params) => {
    const p = params as { mode?: string; message?: string; url?: string; requestedSchema?: { properties?: Record<string, { type?: string; description?: string }> } };
    if (elicit) return elicit;
    if (!interactive) throw refuse(`user input ("${p.message ?? ''}")`, '--elicit JSON|accept|decline|cancel');
    return questions(async (ask) => {
      if (p.mode === 'url') {
        const answer = await ask(`mcp-ipc: ${p.message ?? 'the server asks you to open a URL'}\n  ${p.url}\nOpen it and accept? [y/N] `);
        return { action: /^y/i.test(answer.trim()) ? 'accept' : 'decline' };
      }
      io.stderr.write(`mcp-ipc: ${p.message ?? 'the server asks for input'} (empty answer: the default; "-" declines)\n`);
      const content: Record<string, unknown> = {};
      for (const [name, property] of Object.entries(p.requestedSchema?.properties ?? {})) {
        const answer = (await ask(`  ${name}${property.description ? ` (${property.description})` : ''}: `)).trim();
        if (answer === '-') return { action: 'decline' };
        if (answer === '') continue;
        content[name] = property.type === 'number' || property.type === 'integer' ? Number(answer) : property.type === 'boolean' ? /^(y|yes|true)$/i.test(answer) : answer;
      }
      return { action: 'accept', content };
    });
  });

  if (flags.root && flags.root.length > 0) void bridge.setRoots(flags.root.map((uri) => ({ uri })));
}
