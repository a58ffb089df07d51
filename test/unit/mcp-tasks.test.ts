import { describe, expect, it } from 'vitest';
import { IpcError, ServerError } from '../../src/core/errors.js';
import { IpcManager, type JsonRpcRequest, MemoryTransport, isRequest } from '../../src/core/index.js';
import { McpSession } from '../../src/core/mcp-session.js';
import { followModernTask, type ModernTaskDeps, runAsTask } from '../../src/core/mcp-tasks.js';

/** Scripted deps: `tasks/get` answers from `polls` in turn; every request is kept. */
function deps(options: { answer?: ModernTaskDeps['answer']; update?: () => Promise<unknown>; polls?: unknown[] }) {
  const sent: Array<{ method: string; params: Record<string, unknown> }> = [];
  const polls = [...(options.polls ?? [])];
  const d: ModernTaskDeps = {
    request: async (method, params) => {
      sent.push({ method, params });
      if (method === 'tasks/update') return options.update ? options.update() : {};
      if (method === 'tasks/get') return polls.shift();
      return {};
    },
    answer: options.answer ?? (async () => ({})),
  };
  return { d, sent, cancels: () => sent.filter((r) => r.method === 'tasks/cancel') };
}

const inputRequired = { resultType: 'task', taskId: 't1', status: 'input_required', inputRequests: { q: { method: 'elicitation/create', params: {} } } };

describe('followModernTask', () => {
  it('cancels the task when an answer handler fails (the server would keep waiting for the input)', async () => {
    const { d, cancels } = deps({ answer: () => Promise.reject(new ServerError('the person closed the form', -32603)) });
    await expect(followModernTask(d, inputRequired, { pollIntervalMs: 1 })).rejects.toThrow('the person closed the form');
    expect(cancels()).toEqual([{ method: 'tasks/cancel', params: { taskId: 't1' } }]);
  });

  it('cancels the task when tasks/update fails', async () => {
    const { d, cancels } = deps({ update: () => Promise.reject(new ServerError('update refused', -32603)) });
    await expect(followModernTask(d, inputRequired, { pollIntervalMs: 1 })).rejects.toThrow('update refused');
    expect(cancels()).toHaveLength(1);
  });

  it('sends no tasks/cancel for a task that ended on its own (failed)', async () => {
    const { d, cancels } = deps({ polls: [{ taskId: 't1', status: 'failed', error: { code: -32603, message: 'tool broke' } }] });
    await expect(followModernTask(d, { resultType: 'task', taskId: 't1', status: 'working' }, { pollIntervalMs: 1 })).rejects.toThrow('tool broke');
    expect(cancels()).toHaveLength(0);
  });
});

describe('runAsTask (legacy)', () => {
  it('cancels the task when polling fails after it was created, but not when tasks/result answers with the task\'s own error', async () => {
    const [client, server] = MemoryTransport.pair();
    const received: JsonRpcRequest[] = [];
    let failGet = true;
    server.onmessage = (m) => {
      if (!isRequest(m)) return;
      received.push(m);
      const reply = (result: unknown) => void server.send({ jsonrpc: '2.0', id: m.id, result });
      if (m.method === 'initialize') return reply({ protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 's', version: '1' } });
      if (m.method === 'tools/call') return reply({ task: { taskId: 'L1', status: 'working', pollInterval: 1 } });
      if (m.method === 'tasks/get') {
        if (failGet) return void server.send({ jsonrpc: '2.0', id: m.id, error: { code: -32603, message: 'task store unavailable' } });
        return reply({ taskId: 'L1', status: 'failed' });
      }
      if (m.method === 'tasks/result') return void server.send({ jsonrpc: '2.0', id: m.id, error: { code: -32603, message: 'tool broke' } });
      return reply({});
    };
    await server.start();
    const ipc = new IpcManager(client, { maxRetries: 0 });
    await ipc.start();
    try {
      const session = new McpSession(ipc, { protocolVersions: ['2025-11-25'] });
      await session.connect(1000);
      const cancels = () => received.filter((r) => r.method === 'tasks/cancel');

      const error = await runAsTask(session, ipc, 'tools/call', { name: 'slow' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IpcError);
      expect((error as IpcError).message).toBe('task store unavailable');
      expect(cancels().map((r) => r.params)).toEqual([{ taskId: 'L1' }]);

      failGet = false;
      await expect(runAsTask(session, ipc, 'tools/call', { name: 'slow' })).rejects.toThrow('tool broke');
      expect(cancels()).toHaveLength(1); // the task had ended: nothing to cancel
    } finally {
      await ipc.close();
    }
  });
});
