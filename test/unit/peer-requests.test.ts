import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CancelledError, NotConnectedError, RpcCode, ServerError, TimeoutError } from '../../src/core/errors.js';
import type { JsonRpcMessage } from '../../src/core/jsonrpc.js';
import { PeerRequests } from '../../src/node/gateway/peer-requests.js';

describe('PeerRequests (the gateway\'s requests to a browser or HTTP client)', () => {
  let sent: JsonRpcMessage[];
  let open: boolean;
  let table: PeerRequests;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    open = true;
    table = new PeerRequests({ send: (m) => (open ? (sent.push(m), true) : false), idPrefix: 'gw-', peer: 'the browser' });
  });
  afterEach(() => vi.useRealTimers());

  const idOf = (m: JsonRpcMessage | undefined) => (m as { id: string }).id;

  it('sends a request with a prefixed id and resolves with the answer', async () => {
    const p = table.request('sampling/createMessage', { a: 1 }, { timeoutMs: 1000 });
    expect(sent).toEqual([{ jsonrpc: '2.0', id: 'gw-1', method: 'sampling/createMessage', params: { a: 1 } }]);
    expect(table.answer({ jsonrpc: '2.0', id: 'gw-1', result: { ok: true } })).toBe(true);
    await expect(p).resolves.toEqual({ ok: true });
    expect(table.size).toBe(0);
    // Answered once: a second answer, an unknown id and a null id are not ours.
    expect(table.answer({ jsonrpc: '2.0', id: 'gw-1', result: {} })).toBe(false);
    expect(table.answer({ jsonrpc: '2.0', id: 'gw-9', result: {} })).toBe(false);
    expect(table.answer({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'x' } })).toBe(false);
  });

  it("keeps the peer's error code and data", async () => {
    const p = table.request('elicitation/create', {}, { timeoutMs: 1000 });
    table.answer({ jsonrpc: '2.0', id: idOf(sent[0]), error: { code: -1, message: 'user declined', data: { why: 'no' } } });
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ServerError);
    expect(e).toMatchObject({ message: 'user declined', rpcCode: -1, data: { why: 'no' } });
    const q = table.request('elicitation/create', {}, { timeoutMs: 1000 });
    table.answer({ jsonrpc: '2.0', id: idOf(sent[1]), error: { code: 1.5, message: 42 } as never });
    await expect(q).rejects.toMatchObject({ rpcCode: RpcCode.InternalError, message: 'Error from the browser' });
  });

  it('times out with a TimeoutError and tells the peer to stop', async () => {
    const p = table.request('roots/list', {}, { timeoutMs: 500 });
    const caught = p.catch((x: unknown) => x);
    vi.advanceTimersByTime(499);
    expect(table.size).toBe(1);
    vi.advanceTimersByTime(1);
    const e = await caught;
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as Error).message).toBe('The browser did not answer roots/list within 500 ms');
    expect(sent[1]).toEqual({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'gw-1', reason: 'timed out' } });
    expect(table.answer({ jsonrpc: '2.0', id: 'gw-1', result: {} })).toBe(false);
  });

  it('cancels on abort (and at once when the signal is already aborted)', async () => {
    const ac = new AbortController();
    const p = table.request('sampling/createMessage', {}, { timeoutMs: 1000, signal: ac.signal });
    ac.abort('server gave up');
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(sent[1]).toEqual({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'gw-1', reason: 'server gave up' } });
    expect(table.size).toBe(0);
    vi.advanceTimersByTime(5000); // the timer was cleared: no second ending, no second notification
    expect(sent).toHaveLength(2);
    await expect(table.request('x', {}, { timeoutMs: 1000, signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    expect(sent).toHaveLength(2); // never sent
  });

  it('fails at once when the message cannot be sent, and fails all when the peer goes', async () => {
    open = false;
    await expect(table.request('roots/list', {}, { timeoutMs: 1000 })).rejects.toBeInstanceOf(NotConnectedError);
    expect(table.size).toBe(0);
    open = true;
    const a = table.request('roots/list', {}, { timeoutMs: 1000 });
    const b = table.request('roots/list', {}, { timeoutMs: 1000 });
    table.failAll(new NotConnectedError('gone'));
    await expect(a).rejects.toThrow('gone');
    await expect(b).rejects.toThrow('gone');
    expect(table.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
