/**
 * The gateway's frame dispatch without sockets: scripted handlers (a `slow` method the test
 * releases, a `fast` one that answers at once) and a target that records every frame it is given.
 * JSON-RPC 2.0 batches answer as one array once every item is done; on a connection that agreed on
 * independent batches each item answers on its own, as soon as it is ready. The batch limit and
 * the one-error answers to empty and broken batches hold either way.
 */
import { describe, expect, it } from 'vitest';
import { ProtocolError, RpcCode } from '../../src/core/errors.js';
import type { JsonRpcResponse } from '../../src/core/jsonrpc.js';
import { type DispatchTarget, FrameDispatcher } from '../../src/node/gateway/dispatch.js';
import type { GatewayHandlers } from '../../src/node/gateway/handlers.js';
import type { GatewayMetrics } from '../../src/node/gateway/metrics.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Handlers as the dispatcher sees them: `slow` waits for `release()`, `fast` answers at once. */
class ScriptedHandlers {
  readonly handled: string[] = [];
  readonly cancelled: unknown[] = [];
  private readonly waiting: Array<() => void> = [];

  has(method: string): boolean {
    return method === 'slow' || method === 'fast' || method === 'note';
  }

  handle(_conn: unknown, method: string, params: Record<string, unknown>): Promise<unknown> {
    this.handled.push(method);
    if (!this.has(method)) return Promise.reject(new ProtocolError(`Method not found: ${method}`, { method }, RpcCode.MethodNotFound));
    if (method === 'slow') return new Promise((resolve) => this.waiting.push(() => resolve({ slow: params.n ?? true })));
    return Promise.resolve({ fast: params.n ?? true });
  }

  cancel(_conn: unknown, requestId: unknown): boolean {
    this.cancelled.push(requestId);
    return true;
  }

  release(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

const counter = () => ({ inc: () => undefined });
const metrics = { invalidMessages: counter(), requests: counter(), requestErrors: counter() } as unknown as GatewayMetrics;

class Target implements DispatchTarget {
  readonly id = 1;
  readonly signal = new AbortController().signal;
  readonly frames: unknown[] = [];
  readonly answered: JsonRpcResponse[] = [];
  deliver(text: string): boolean {
    this.frames.push(JSON.parse(text));
    return true;
  }
  answer(response: JsonRpcResponse): boolean {
    this.answered.push(response);
    return true;
  }
  send(): boolean {
    return true;
  }
  writable(): Promise<void> {
    return Promise.resolve();
  }
  request(): Promise<unknown> {
    return Promise.reject(new Error('not used'));
  }
}

function setup(maxBatch = 10) {
  const handlers = new ScriptedHandlers();
  const dispatcher = new FrameDispatcher(handlers as unknown as GatewayHandlers, metrics, maxBatch);
  return { handlers, dispatcher, conn: new Target() };
}

const req = (id: number, method: string, n?: number) => ({ jsonrpc: '2.0', id, method, params: n === undefined ? {} : { n } });

describe('FrameDispatcher', () => {
  it('answers a JSON-RPC batch with one array once every item is done (a fast call waits for a slow one)', async () => {
    const { handlers, dispatcher, conn } = setup();
    dispatcher.dispatch(conn, JSON.stringify([req(1, 'slow'), req(2, 'fast'), { jsonrpc: '2.0', method: 'note' }]));
    await tick();
    expect(handlers.handled).toEqual(['slow', 'fast', 'note']);
    expect(conn.frames).toEqual([]);
    handlers.release();
    await tick();
    expect(conn.frames).toEqual([
      [
        { jsonrpc: '2.0', id: 1, result: { slow: true } },
        { jsonrpc: '2.0', id: 2, result: { fast: true } },
      ],
    ]);
  });

  it('with independent batches, answers each item as soon as it is ready', async () => {
    const { handlers, dispatcher, conn } = setup();
    dispatcher.dispatch(conn, JSON.stringify([req(1, 'slow'), req(2, 'fast'), { jsonrpc: '2.0', method: 'note' }, req(3, 'fast', 3)]), true);
    await tick();
    // The fast ones are out while the slow one still runs; the notification gets no answer.
    expect(conn.frames).toEqual([
      { jsonrpc: '2.0', id: 2, result: { fast: true } },
      { jsonrpc: '2.0', id: 3, result: { fast: 3 } },
    ]);
    handlers.release();
    await tick();
    expect(conn.frames.slice(2)).toEqual([{ jsonrpc: '2.0', id: 1, result: { slow: true } }]);
  });

  it('with independent batches, an invalid item gets its own error object; the valid ones still run', async () => {
    const { handlers, dispatcher, conn } = setup();
    dispatcher.dispatch(conn, JSON.stringify([req(1, 'fast'), { jsonrpc: '2.0', id: 2 }, req(3, 'nope')]), true);
    await tick();
    expect(handlers.handled).toEqual(['fast', 'nope']);
    expect(conn.frames).toHaveLength(3);
    expect(conn.frames.every((f) => !Array.isArray(f))).toBe(true);
    expect(conn.frames).toContainEqual({ jsonrpc: '2.0', id: 1, result: { fast: true } });
    expect(conn.frames).toContainEqual(expect.objectContaining({ id: 2, error: expect.objectContaining({ code: -32600 }) }));
    expect(conn.frames).toContainEqual(expect.objectContaining({ id: 3, error: expect.objectContaining({ code: -32601 }) }));
  });

  it('refuses a batch over the limit whole, before running anything, negotiated or not', async () => {
    for (const independent of [false, true]) {
      const { handlers, dispatcher, conn } = setup(2);
      dispatcher.dispatch(conn, JSON.stringify([req(1, 'fast'), req(2, 'fast'), req(3, 'fast')]), independent);
      await tick();
      expect(handlers.handled).toEqual([]);
      expect(conn.frames).toEqual([expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600, message: expect.stringContaining('over the limit of 2') }) })]);
      // At the limit it runs.
      dispatcher.dispatch(conn, JSON.stringify([req(4, 'fast'), req(5, 'fast')]), independent);
      await tick();
      expect(handlers.handled).toEqual(['fast', 'fast']);
    }
  });

  it('answers an empty or broken batch with one error object, negotiated or not', async () => {
    for (const independent of [false, true]) {
      const { dispatcher, conn } = setup();
      dispatcher.dispatch(conn, '[]', independent);
      dispatcher.dispatch(conn, '[{"jsonrpc":"2.0"', independent);
      await tick();
      expect(conn.frames).toEqual([
        expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32600 }) }),
        expect.objectContaining({ id: null, error: expect.objectContaining({ code: -32700 }) }),
      ]);
    }
  });

  it('hands the browser’s answers in a batch to the connection, and acts on cancellations in it', async () => {
    const { handlers, dispatcher, conn } = setup();
    const answer = { jsonrpc: '2.0', id: 'gw-1', result: { action: 'accept' } };
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'user' } };
    dispatcher.dispatch(conn, JSON.stringify([answer, cancel, req(1, 'fast')]), true);
    await tick();
    expect(conn.answered).toEqual([answer]);
    expect(handlers.cancelled).toEqual([7]);
    expect(conn.frames).toEqual([{ jsonrpc: '2.0', id: 1, result: { fast: true } }]);
  });
});
