import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RequestHandler } from '../../src/core/ipc-manager.js';
import { ApprovalQueue } from '../../src/node/approvals.js';
import { installAnswers, installApprover } from '../../src/node/cli/answers.js';
import { UsageError } from '../../src/node/cli/args.js';
import type { CliIo } from '../../src/node/cli/runtime.js';
import type { McpBridge } from '../../src/node/mcp-bridge.js';

/** A stand-in for the bridge: records the handlers and roots the CLI installs. */
function fakeBridge() {
  const handlers = new Map<string, RequestHandler>();
  const roots: unknown[] = [];
  const bridge = {
    setRequestHandler: (method: string, handler: RequestHandler) => handlers.set(method, handler),
    setRoots: async (r: unknown[]) => void roots.push(...r),
  } as unknown as McpBridge;
  const call = (method: string, params: unknown) => Promise.resolve(handlers.get(method)!(params, { id: 1, method, signal: new AbortController().signal }));
  return { bridge, call, roots };
}

function io(tty: boolean): CliIo & { typed: (line: string) => void; err: () => string } {
  const stdin = Object.assign(new PassThrough(), { isTTY: tty });
  const stderr = Object.assign(new PassThrough(), { isTTY: tty });
  let text = '';
  stderr.on('data', (d: Buffer) => (text += d.toString()));
  return { stdout: new PassThrough(), stderr, stdin, typed: (line) => stdin.write(`${line}\n`), err: () => text };
}

const form = { mode: 'form', message: 'Who?', requestedSchema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } } } };
const sampling = { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 5 };

describe('CLI answers to sampling and elicitation', () => {
  it('answers from flags', async () => {
    const { bridge, call, roots } = fakeBridge();
    installAnswers(bridge, { sample: 'flag text', elicit: '{"name":"Ada"}', root: ['file:///tmp'] }, io(false));
    await expect(call('sampling/createMessage', sampling)).resolves.toMatchObject({ role: 'assistant', content: { type: 'text', text: 'flag text' } });
    await expect(call('elicitation/create', form)).resolves.toEqual({ action: 'accept', content: { name: 'Ada' } });
    expect(roots).toEqual([{ uri: 'file:///tmp' }]);
  });

  it('refuses clearly without flags and without a terminal', async () => {
    const { bridge, call } = fakeBridge();
    installAnswers(bridge, {}, io(false));
    await expect(call('sampling/createMessage', sampling)).rejects.toThrow(/pass --sample TEXT/);
    await expect(call('elicitation/create', form)).rejects.toThrow(/pass --elicit/);
  });

  it('asks on a terminal, field by field, typing numbers', async () => {
    const { bridge, call } = fakeBridge();
    const tty = io(true);
    installAnswers(bridge, {}, tty);
    const answer = call('elicitation/create', form);
    tty.typed('Ada');
    tty.typed('36');
    await expect(answer).resolves.toEqual({ action: 'accept', content: { name: 'Ada', age: 36 } });
    const sampled = call('sampling/createMessage', sampling);
    tty.typed('typed answer');
    await expect(sampled).resolves.toMatchObject({ content: { text: 'typed answer' } });
    expect(tty.err()).toContain('[user] hi');
  });

  it('rejects bad flag values as usage errors', () => {
    const { bridge } = fakeBridge();
    expect(() => installAnswers(bridge, { elicit: 'maybe' }, io(false))).toThrow(UsageError);
    expect(() => installAnswers(bridge, { root: ['not a uri'] }, io(false))).toThrow(UsageError);
  });
});

describe('CLI approval of confirm tools', () => {
  it('asks y/N on a terminal, one request at a time', async () => {
    const approvals = new ApprovalQueue();
    const tty = io(true);
    const dispose = installApprover(approvals, tty);
    const first = approvals.request({ server: 's', tool: 'pay', arguments: { amount: 5 } });
    const second = approvals.request({ server: 's', tool: 'pay', arguments: { amount: 6 } }).catch((e: unknown) => e);
    tty.typed('y');
    await expect(first).resolves.toBeUndefined();
    tty.typed('');
    expect(await second).toMatchObject({ code: 'ToolDenied', data: { reason: 'rejected', by: 'terminal' } });
    expect(tty.err()).toContain('allow tool "pay" on server "s" with {"amount":5}? [y/N]');
    expect(tty.err()).toContain('{"amount":6}');
    dispose();
    await expect(approvals.request({ server: 's', tool: 'pay', arguments: {} })).rejects.toMatchObject({ data: { reason: 'no-approver' } });
  });

  it('attaches nothing without a terminal: confirm calls are refused at once', async () => {
    const approvals = new ApprovalQueue();
    installApprover(approvals, io(false));
    await expect(approvals.request({ server: 's', tool: 'pay', arguments: {} })).rejects.toMatchObject({ data: { reason: 'no-approver' } });
  });
});
