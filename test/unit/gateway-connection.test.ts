/**
 * One browser connection without a socket: a scripted `ws` stand-in. Backpressure (a client that
 * does not read is dropped; `writable()` waits for the send callbacks, not a timer), the heartbeat,
 * and requests to the browser (answered, failed with the browser's code, timed out, cancelled by
 * the server, failed at once when the connection closes).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { Connection, joinBatch } from '../../src/node/gateway/connection.js';

class FakeWs extends EventEmitter {
  readyState = 1;
  extensions = 'permessage-deflate; server_max_window_bits=13';
  bufferedAmount = 0;
  readonly frames: string[] = [];
  readonly callbacks: Array<() => void> = [];
  /** The `compress` option of each frame. */
  readonly compressed: boolean[] = [];
  closed: { code: number; reason: string } | undefined;
  pings = 0;
  terminated = false;
  send(text: string, options: { compress?: boolean }, cb: () => void): void {
    this.frames.push(text);
    this.compressed.push(options.compress === true);
    this.bufferedAmount += text.length;
    this.callbacks.push(() => {
      this.bufferedAmount -= text.length;
      cb();
    });
  }
  /** The socket takes `n` queued frames. */
  flush(n = this.callbacks.length): void {
    for (const cb of this.callbacks.splice(0, n)) cb();
  }
  ping(): void {
    this.pings++;
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  terminate(): void {
    this.terminated = true;
  }
  sent(): unknown[] {
    return this.frames.map((f) => JSON.parse(f) as unknown);
  }
}

function connection(options: Partial<ConstructorParameters<typeof Connection>[1]> = {}) {
  const ws = new FakeWs();
  let slow = 0;
  const conn = new Connection(ws as unknown as WebSocket, {
    id: 1,
    maxSendBufferBytes: 100,
    highWaterBytes: 50,
    slowConsumerWaitMs: 10_000,
    onSlowConsumer: () => slow++,
    // Flushed at once unless a test batches: each message is its own frame.
    schedule: (flush) => flush(),
    ...options,
  });
  return { ws, conn, slow: () => slow };
}

describe('gateway Connection', () => {
  it('drops a client whose unsent frames would pass the budget (4408), once', () => {
    const { ws, conn, slow } = connection();
    expect(conn.deliver('x'.repeat(60))).toBe(true);
    expect(conn.deliver('y'.repeat(30))).toBe(true);
    expect(conn.deliver('z'.repeat(30))).toBe(false); // 90 buffered + 30 > 100
    expect(slow()).toBe(1);
    expect(conn.closed).toBe(true);
    expect(ws.closed?.code).toBe(4408);
    expect(conn.deliver('later')).toBe(false);
    expect(slow()).toBe(1);
  });

  it('writable() resolves when the socket has taken enough of the buffer (send callbacks, no polling)', async () => {
    const { ws, conn } = connection({ maxSendBufferBytes: 1_000 });
    conn.deliver('a'.repeat(40));
    conn.deliver('b'.repeat(40));
    let done = false;
    const waiting = conn.writable(new AbortController().signal).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    ws.flush(1); // 40 left: under the 50-byte high water mark
    await waiting;
    expect(done).toBe(true);
    // Already under: at once.
    await conn.writable(new AbortController().signal);
  });

  it('answers the heartbeat only while pongs come back', () => {
    const { ws, conn } = connection();
    expect(conn.beat()).toBe(true);
    expect(ws.pings).toBe(1);
    expect(conn.beat()).toBe(false); // no pong since
    ws.emit('pong');
    expect(conn.beat()).toBe(true);
  });

  it('sends requests to the browser and settles them with its answer or its error (code kept)', async () => {
    const { ws, conn } = connection({ maxSendBufferBytes: 10_000 });
    const answered = conn.request('elicitation/create', { message: 'Name?' }, { timeoutMs: 5_000 });
    const failed = conn.request('sampling/createMessage', {}, { timeoutMs: 5_000 });
    const [first, second] = ws.sent() as Array<{ id: string; method: string }>;
    expect(first).toMatchObject({ jsonrpc: '2.0', method: 'elicitation/create', params: { message: 'Name?' } });
    expect(conn.answer({ jsonrpc: '2.0', id: first!.id, result: { action: 'decline' } })).toBe(true);
    expect(conn.answer({ jsonrpc: '2.0', id: second!.id, error: { code: -32601, message: 'no model here' } })).toBe(true);
    expect(conn.answer({ jsonrpc: '2.0', id: 'stray', result: {} })).toBe(false);
    expect(await answered).toEqual({ action: 'decline' });
    await expect(failed).rejects.toMatchObject({ code: 'ServerError', rpcCode: -32601, message: 'no model here' });
  });

  it('times out a request the browser never answers and tells it to stop (notifications/cancelled)', async () => {
    const { ws, conn } = connection({ maxSendBufferBytes: 10_000 });
    await expect(conn.request('elicitation/create', {}, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'Timeout' });
    const [request, cancel] = ws.sent() as Array<{ id?: string; method: string; params: { requestId?: string } }>;
    expect(cancel).toMatchObject({ method: 'notifications/cancelled', params: { requestId: request!.id, reason: 'timed out' } });
  });

  it('passes on the server cancelling a request, and fails every pending one at once when the connection closes', async () => {
    const { ws, conn } = connection({ maxSendBufferBytes: 10_000 });
    const serverSide = new AbortController();
    const cancelled = conn.request('elicitation/create', {}, { timeoutMs: 5_000, signal: serverSide.signal });
    serverSide.abort('the server gave up');
    await expect(cancelled).rejects.toMatchObject({ code: 'Cancelled' });
    expect(ws.sent().at(-1)).toMatchObject({ method: 'notifications/cancelled', params: { reason: 'the server gave up' } });
    const pending = [1, 2].map(() => conn.request('roots/list', {}, { timeoutMs: 60_000 }));
    conn.dispose('connection closed');
    for (const p of pending) await expect(p).rejects.toMatchObject({ code: 'NotConnected', message: expect.stringContaining('connection closed') });
    await expect(conn.request('roots/list', {}, { timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'NotConnected' });
  });

  it('sends what one tick delivered as one frame: a flat JSON-RPC batch array, in order', () => {
    const ticks: Array<() => void> = [];
    const { ws, conn } = connection({ maxSendBufferBytes: 1_000_000, schedule: (flush) => ticks.push(flush) });
    conn.send({ jsonrpc: '2.0', id: 1, result: { a: 1 } });
    conn.deliver('[{"jsonrpc":"2.0","id":2,"result":{}},{"jsonrpc":"2.0","id":3,"result":{}}]');
    conn.send({ jsonrpc: '2.0', method: 'notifications/message', params: {} });
    expect(ws.frames).toHaveLength(0);
    expect(ticks).toHaveLength(1); // one flush per tick, however many messages
    ticks.shift()!();
    expect(ws.sent()).toEqual([
      [
        { jsonrpc: '2.0', id: 1, result: { a: 1 } },
        { jsonrpc: '2.0', id: 2, result: {} },
        { jsonrpc: '2.0', id: 3, result: {} },
        { jsonrpc: '2.0', method: 'notifications/message', params: {} },
      ],
    ]);
    // A lone message goes as it is (no array around it).
    conn.send({ jsonrpc: '2.0', id: 4, result: {} });
    ticks.shift()!();
    expect(ws.sent().at(-1)).toEqual({ jsonrpc: '2.0', id: 4, result: {} });
  });

  it('joins a frame into one flat array, batch replies spliced in first, last or alone', () => {
    const batch = '[{"id":1},{"id":2}]';
    expect(JSON.parse(joinBatch([batch, '{"id":3}', batch]))).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 1 }, { id: 2 }]);
    expect(JSON.parse(joinBatch([batch]))).toEqual([{ id: 1 }, { id: 2 }]);
    expect(JSON.parse(joinBatch(['{"id":3}']))).toEqual([{ id: 3 }]);
    expect(joinBatch([])).toBe('[]');
  });

  it('starts a new frame at maxBatchChars, and flushes what is pending before a close frame', () => {
    const ticks: Array<() => void> = [];
    const { ws, conn } = connection({ maxSendBufferBytes: 1_000_000, maxBatchChars: 60, schedule: (flush) => ticks.push(flush) });
    for (let id = 1; id <= 3; id++) conn.send({ jsonrpc: '2.0', id, result: { pad: 'x' } }); // 42 characters each
    expect(ws.frames).toHaveLength(2);
    conn.close(1000, 'bye');
    expect(ws.sent().map((f) => (Array.isArray(f) ? f.length : 1))).toEqual([1, 1, 1]);
    expect(ws.closed).toEqual({ code: 1000, reason: 'bye' });
  });

  it('compresses only frames of at least compressThresholdBytes (UTF-8 bytes, not characters)', () => {
    const { ws, conn } = connection({ maxSendBufferBytes: 1_000_000, compressThresholdBytes: 100 });
    conn.deliver(JSON.stringify({ s: 'a'.repeat(20) }));
    conn.deliver(JSON.stringify({ s: 'a'.repeat(200) }));
    conn.deliver(JSON.stringify({ s: 'é'.repeat(45) })); // 53 characters, 98 bytes
    conn.deliver(JSON.stringify({ s: 'é'.repeat(47) })); // 55 characters, 102 bytes
    expect(ws.compressed).toEqual([false, true, false, true]);
  });

  it('asks for no compression at all on a socket that agreed none (a peer on this machine, or one that offered none)', () => {
    const ws = new FakeWs();
    ws.extensions = '';
    const conn = new Connection(ws as unknown as WebSocket, { id: 2, maxSendBufferBytes: 1_000_000, highWaterBytes: 50, slowConsumerWaitMs: 10_000, schedule: (flush) => flush() });
    conn.deliver(JSON.stringify({ s: 'a'.repeat(2000) }));
    expect(ws.frames).toHaveLength(1);
    expect(ws.compressed).toEqual([false]);
  });
});
