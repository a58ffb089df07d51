/**
 * The cancel handle (`RequestOptions.cancel`): its listeners and its lazily made AbortSignal, the
 * engine cancelling through it (queued and in flight, already cancelled, `signal` winning), and the
 * MCP session deriving a signal from it for `input_required` rounds, whose handlers also get the
 * request's `origin` back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cancellation, signalOf } from '../../src/core/cancellation.js';
import { CancelledError } from '../../src/core/errors.js';
import { IpcManager, type JsonRpcMessage, type JsonRpcRequest, MemoryTransport, type RequestContext, isRequest } from '../../src/core/index.js';
import { McpSession } from '../../src/core/mcp-session.js';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('Cancellation', () => {
  it('runs each listener once, in order, and none after it was removed or once cancelled', () => {
    const c = new Cancellation();
    const seen: string[] = [];
    c.onCancel((r) => seen.push(`a:${r}`));
    const offB = c.onCancel((r) => seen.push(`b:${r}`));
    c.onCancel((r) => seen.push(`c:${r}`));
    offB();
    expect(c.cancelled).toBe(false);
    expect(c.cancel('stop')).toBe(true);
    expect(c.cancel('again')).toBe(false);
    expect(seen).toEqual(['a:stop', 'c:stop']);
    expect(c.reason).toBe('stop');
    c.onCancel(() => seen.push('late'));
    expect(seen).toEqual(['a:stop', 'c:stop']);
  });

  it('removes its only listener, and a listener that throws does not keep the others from running', async () => {
    const c = new Cancellation();
    let ran = 0;
    c.onCancel(() => ran++)();
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      c.onCancel(() => {
        throw new Error('listener failed');
      });
      c.onCancel(() => ran++);
      c.cancel();
      await tick();
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(ran).toBe(1);
    expect(c.reason).toBe('cancelled');
    expect(errors).toEqual([expect.objectContaining({ message: 'listener failed' })]);
  });

  it('makes its AbortSignal only when asked, the same one each time, aborted with the reason (also when made afterwards)', () => {
    const c = new Cancellation();
    const signal = c.signal;
    expect(c.signal).toBe(signal);
    expect(signal.aborted).toBe(false);
    c.cancel('done');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe('done');
    const late = new Cancellation();
    late.cancel('before');
    expect(late.signal.aborted).toBe(true);
    expect(late.signal.reason).toBe('before');
  });

  it('signalOf: the signal when given, else the handle’s', () => {
    const own = new AbortController().signal;
    const c = new Cancellation();
    expect(signalOf({ signal: own, cancel: c })).toBe(own);
    expect(signalOf({ cancel: c })).toBe(c.signal);
    expect(signalOf({})).toBeUndefined();
    expect(signalOf(undefined)).toBeUndefined();
  });
});

/** An IpcManager on a memory transport whose peer keeps what it receives and answers only when told. */
async function setup(options: ConstructorParameters<typeof IpcManager>[1] = {}) {
  const [client, server] = MemoryTransport.pair();
  const received: JsonRpcMessage[] = [];
  server.onmessage = (m) => void received.push(m);
  await server.start();
  const ipc = new IpcManager(client, options);
  managers.push(ipc);
  await ipc.start();
  const requests = (method: string) => received.filter((m): m is JsonRpcRequest => isRequest(m) && m.method === method);
  const cancels = () => received.filter((m) => 'method' in m && m.method === 'notifications/cancelled').map((m) => (m as { params: unknown }).params);
  const reply = (id: JsonRpcRequest['id'], result: unknown) => server.send({ jsonrpc: '2.0', id, result });
  return { ipc, requests, cancels, reply };
}
const managers: IpcManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

describe('IpcManager: RequestOptions.cancel', () => {
  it('cancels an in-flight request on the server, and a queued one without sending it', async () => {
    const { ipc, requests, cancels, reply } = await setup({ maxConcurrent: 1 });
    const running = new Cancellation();
    const queued = new Cancellation();
    const first = ipc.request('work', undefined, { cancel: running });
    const second = ipc.request('later', undefined, { cancel: queued });
    await tick();
    queued.cancel('not needed');
    await expect(second).rejects.toMatchObject({ code: 'Cancelled', data: { reason: 'not needed', phase: 'queued' } });
    running.cancel('user left');
    const error = await first.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).data).toEqual({ reason: 'user left', phase: 'in-flight' });
    await tick();
    const id = requests('work')[0]!.id;
    expect(cancels()).toEqual([{ requestId: id, reason: 'user left' }]);
    expect(requests('later')).toHaveLength(0);
    expect(ipc.snapshot()).toMatchObject({ cancels: 2 });
    // A settled request has let go of the handle: cancelling now does nothing.
    const done = new Cancellation();
    const answered = ipc.request('work', undefined, { cancel: done });
    await tick();
    await reply(requests('work')[1]!.id, 'ok');
    await expect(answered).resolves.toBe('ok');
    done.cancel('too late');
    await tick();
    expect(cancels()).toHaveLength(1);
  });

  it('a handle passed as `signal` (it has a CancelSignal\'s shape) cancels like `cancel`, and lets go when settled', async () => {
    const { ipc, requests, cancels, reply } = await setup();
    const handle = new Cancellation();
    const p = ipc.request('work', undefined, { signal: handle });
    await tick();
    handle.cancel('user left');
    await expect(p).rejects.toMatchObject({ code: 'Cancelled', data: { reason: 'user left', phase: 'in-flight' } });
    await tick();
    expect(cancels()).toEqual([{ requestId: requests('work')[0]!.id, reason: 'user left' }]);
    expect(handle.aborted).toBe(true);
    const late = new Cancellation();
    const answered = ipc.request('work', undefined, { signal: late });
    await tick();
    await reply(requests('work')[1]!.id, 'ok');
    await expect(answered).resolves.toBe('ok');
    late.cancel('too late'); // its listener was removed: nothing is sent
    await tick();
    expect(cancels()).toHaveLength(1);
  });

  it('refuses at once with a handle cancelled already, and follows `signal` alone when both are given', async () => {
    const { ipc, requests } = await setup();
    const gone = new Cancellation();
    gone.cancel('closed');
    await expect(ipc.request('x', undefined, { cancel: gone })).rejects.toMatchObject({ code: 'Cancelled', data: { reason: 'closed', phase: 'queued' } });
    // A layer that runs the request under a signal of its own (a coalesced call shared with others) wins.
    const shared = new AbortController();
    const mine = new Cancellation();
    const p = ipc.request('y', undefined, { signal: shared.signal, cancel: mine });
    await tick();
    mine.cancel('only I left');
    await tick();
    expect(requests('y')).toHaveLength(1);
    shared.abort('everyone left');
    await expect(p).rejects.toMatchObject({ code: 'Cancelled', data: { reason: 'everyone left' } });
  });
});

describe('McpSession: a cancel handle and the origin in input_required rounds', () => {
  const discovered = { supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, _meta: { 'io.modelcontextprotocol/serverInfo': { name: 's', version: '1' } } };

  it("hands the request's origin to the handler and aborts the handler's signal when the handle is cancelled", async () => {
    const [client, server] = MemoryTransport.pair();
    server.onmessage = (m) => {
      if (!isRequest(m)) return;
      const result = m.method === 'server/discover' ? discovered : { resultType: 'input_required', inputRequests: { q: { method: 'elicitation/create', params: {} } } };
      void server.send({ jsonrpc: '2.0', id: m.id, result });
    };
    await server.start();
    const ipc = new IpcManager(client);
    managers.push(ipc);
    await ipc.start();
    const contexts: RequestContext[] = [];
    ipc.setRequestHandler('elicitation/create', (_params, context) => {
      contexts.push(context);
      return new Promise(() => undefined); // a person who has not answered yet
    });
    const session = new McpSession(ipc);
    await session.connect(1000);
    const origin = { door: 'websocket', client: '7' };
    const cancel = new Cancellation();
    const call = session.request('tools/call', { name: 't' }, { cancel, origin }).catch((e: unknown) => e);
    while (contexts.length === 0) await tick();
    expect(contexts[0]!.origin).toBe(origin);
    expect(contexts[0]!.signal.aborted).toBe(false);
    cancel.cancel('the page closed');
    const error = await call;
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).data).toMatchObject({ reason: 'the page closed' });
    expect(contexts[0]!.signal.aborted).toBe(true);
    // Without an origin, the handler's context has none.
    void session.request('tools/call', { name: 't' }, { cancel: new Cancellation() }).catch(() => undefined);
    while (contexts.length === 1) await tick();
    expect(contexts[1]!.origin).toBeUndefined();
  });
});
