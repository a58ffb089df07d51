import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../src/core/deadlines.js';
import { PriorityQueue } from '../../src/core/queue.js';
import {
  CancelledError,
  InvalidParamsError,
  type IpcError,
  IpcManager,
  type IpcManagerOptions,
  type JsonRpcMessage,
  type JsonRpcRequest,
  MemoryTransport,
  MessageTooLargeError,
  NotConnectedError,
  ProtocolError,
  QueueFullError,
  ServerCrashedError,
  ServerError,
  TimeoutError,
  type Diagnostic,
  type Transport,
  isRequest,
} from '../../src/core/index.js';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** The far end of a MemoryTransport pair, scripted by the test: records what arrives, answers on demand. */
class Peer {
  readonly received: JsonRpcMessage[] = [];
  readonly transport: MemoryTransport;
  auto: ((req: JsonRpcRequest) => unknown) | undefined;

  constructor(transport: MemoryTransport) {
    this.transport = transport;
    transport.onmessage = (m) => {
      this.received.push(m);
      if (this.auto && isRequest(m)) {
        const result = this.auto(m);
        if (result !== undefined) void this.reply(m.id, result);
      }
    };
    void transport.start();
  }

  requests(method?: string): JsonRpcRequest[] {
    return this.received.filter((m): m is JsonRpcRequest => isRequest(m) && (method === undefined || m.method === method));
  }

  notifications(method: string) {
    return this.received.filter((m) => 'method' in m && !('id' in m) && m.method === method) as Array<{ method: string; params: Record<string, unknown> }>;
  }

  reply(id: string | number, result: unknown) {
    return this.transport.send({ jsonrpc: '2.0', id, result });
  }

  fail(id: string | number, code: number, message: string, data?: unknown) {
    return this.transport.send({ jsonrpc: '2.0', id, error: { code, message, data } });
  }

  send(message: JsonRpcMessage) {
    return this.transport.send(message);
  }
}

const managers: IpcManager[] = [];
async function setup(options: IpcManagerOptions = {}) {
  const [a, b] = MemoryTransport.pair();
  const peer = new Peer(b);
  const ipc = new IpcManager(a, options);
  managers.push(ipc);
  await ipc.start();
  return { ipc, peer, transport: a };
}
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

/** The error a promise rejects with (fails the test if it resolves). */
function failed(promise: Promise<unknown>): Promise<IpcError> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error as IpcError,
  );
}

describe('IpcManager: correlation', () => {
  it('matches responses to requests by id, in any order, with unique ids', async () => {
    const { ipc, peer } = await setup();
    const p1 = ipc.request('a', { n: 1 });
    const p2 = ipc.request('b', { n: 2 });
    const p3 = ipc.request('c');
    await tick();
    const [r1, r2, r3] = peer.requests();
    expect(new Set([r1!.id, r2!.id, r3!.id]).size).toBe(3);
    expect(r3).toEqual({ jsonrpc: '2.0', id: r3!.id, method: 'c' });
    await peer.reply(r3!.id, 'three');
    await peer.reply(r1!.id, { one: true });
    await peer.reply(r2!.id, [2]);
    await expect(p1).resolves.toEqual({ one: true });
    await expect(p2).resolves.toEqual([2]);
    await expect(p3).resolves.toBe('three');
  });

  it('turns error responses into ServerError (code and data kept) and -32602 into InvalidParamsError', async () => {
    const { ipc, peer } = await setup();
    const p1 = ipc.request('x');
    const p2 = ipc.request('y');
    await tick();
    const [r1, r2] = peer.requests();
    await peer.fail(r1!.id, -32000, 'boom', { detail: 1 });
    await peer.fail(r2!.id, -32602, 'bad args');
    const e1 = await failed(p1);
    expect(e1).toBeInstanceOf(ServerError);
    expect(e1).toMatchObject({ code: 'ServerError', rpcCode: -32000, message: 'boom', data: { detail: 1 } });
    await expect(p2).rejects.toBeInstanceOf(InvalidParamsError);
  });

  it('reports unknown and duplicate response ids as diagnostics without breaking', async () => {
    const { ipc, peer } = await setup();
    const diagnostics: Diagnostic[] = [];
    ipc.on('diagnostic', (d) => diagnostics.push(d));
    const p = ipc.request('m');
    await tick();
    const id = peer.requests()[0]!.id;
    await peer.reply(id, 1);
    await peer.reply(id, 2); // duplicate
    await peer.reply(999_999, 3); // never sent
    await expect(p).resolves.toBe(1);
    await tick();
    expect(diagnostics.map((d) => d.kind === 'unknown-id' && d.reason)).toEqual(['duplicate', 'unknown']);
    // still works afterwards
    const q = ipc.request('again');
    await tick();
    await peer.reply(peer.requests('again')[0]!.id, 'ok');
    await expect(q).resolves.toBe('ok');
  });
});

describe('IpcManager: queue', () => {
  it('sends by priority, FIFO within a priority, under the concurrency limit', async () => {
    const { ipc, peer } = await setup({ maxConcurrent: 1 });
    const all = [
      ipc.request('first'),
      ipc.request('low-1', undefined, { priority: 'low' }),
      ipc.request('normal-1'),
      ipc.request('high-1', undefined, { priority: 'high' }),
      ipc.request('low-2', undefined, { priority: 'low' }),
      ipc.request('high-2', undefined, { priority: 'high' }),
      ipc.request('normal-2'),
    ];
    await tick();
    expect(peer.requests().map((r) => r.method)).toEqual(['first']);
    expect(ipc.snapshot().queueDepthByPriority).toEqual({ high: 2, normal: 2, low: 2 });
    for (let i = 0; i < all.length; i++) {
      const pending = peer.requests()[i]!;
      await peer.reply(pending.id, pending.method);
      await tick();
    }
    await Promise.all(all);
    expect(peer.requests().map((r) => r.method)).toEqual(['first', 'high-1', 'high-2', 'normal-1', 'normal-2', 'low-1', 'low-2']);
  });

  it('treats every priority alike when the priority queue is off', async () => {
    const { ipc, peer } = await setup({ maxConcurrent: 1, priorityQueue: false });
    peer.auto = (r) => r.method;
    await Promise.all([ipc.request('a'), ipc.request('b', undefined, { priority: 'low' }), ipc.request('c', undefined, { priority: 'high' })]);
    expect(peer.requests().map((r) => r.method)).toEqual(['a', 'b', 'c']);
  });

  it('rejects at once with QueueFull when the queue is full', async () => {
    const { ipc } = await setup({ maxConcurrent: 1, maxQueueSize: 2 });
    const held = [ipc.request('a'), ipc.request('b'), ipc.request('c')];
    held.forEach((p) => p.catch(() => undefined));
    await expect(ipc.request('d')).rejects.toBeInstanceOf(QueueFullError);
    expect(ipc.snapshot()).toMatchObject({ inFlight: 1, queueDepth: 2 });
  });

  it('lets ping bypass a full queue and the concurrency limit', async () => {
    const { ipc, peer } = await setup({ maxConcurrent: 1, maxQueueSize: 1 });
    [ipc.request('a'), ipc.request('b')].forEach((p) => p.catch(() => undefined));
    const ping = ipc.request('ping');
    await tick();
    const sent = peer.requests('ping')[0]!;
    await peer.reply(sent.id, {});
    await expect(ping).resolves.toEqual({});
  });
});

describe('IpcManager: timeouts', () => {
  it('fails an idle request with Timeout and tells the server to cancel it', async () => {
    const { ipc, peer } = await setup({ timeoutMs: 40 });
    const error = await failed(ipc.request('slow'));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.data).toMatchObject({ method: 'slow', kind: 'idle', phase: 'in-flight', timeoutMs: 40 });
    await tick();
    const cancel = peer.notifications('notifications/cancelled')[0]!;
    expect(cancel.params.requestId).toBe(peer.requests('slow')[0]!.id);
    expect(ipc.snapshot().timeouts).toBe(1);
  });

  it('resets the idle timeout on progress, while the hard cap still fires', async () => {
    // Fake timers (the engine's clock is Date.now under them): a stalled machine cannot let the idle
    // timeout fire between two progress notifications.
    vi.useFakeTimers();
    try {
      const { ipc, peer } = await setup({ timeoutMs: 60, hardTimeoutMs: 300, now: () => Date.now() });
      const progress: number[] = [];
      const started = Date.now();
      const p = ipc.request('long', {}, { onProgress: (pr) => progress.push(pr.progress) });
      const error = failed(p);
      await vi.advanceTimersByTimeAsync(0);
      const token = (peer.requests('long')[0]!.params as { _meta: { progressToken: number } })._meta.progressToken;
      let endedAt = 0;
      void error.then(() => (endedAt = Date.now()));
      for (let t = 0; t < 20 && endedAt === 0; t++) {
        await vi.advanceTimersByTimeAsync(20);
        void peer.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: progress.length + 1 } });
        await vi.advanceTimersByTimeAsync(0);
      }
      const e = await error;
      expect(e).toBeInstanceOf(TimeoutError);
      expect((e.data as { kind: string }).kind).toBe('hard');
      expect(endedAt - started).toBe(300); // idle (60 ms) alone would have fired at 60
      expect(progress.length).toBeGreaterThan(5);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports time spent queued when the hard cap fires before the request is sent', async () => {
    const { ipc } = await setup({ maxConcurrent: 1, timeoutMs: 1_000 });
    ipc.request('blocker').catch(() => undefined);
    const error = await failed(ipc.request('waiting', undefined, { hardTimeoutMs: 50 }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.data).toMatchObject({ kind: 'hard', phase: 'queued', inFlightMs: 0 });
    expect((error.data as { queuedMs: number }).queuedMs).toBeGreaterThanOrEqual(40);
  });
});

describe('IpcManager: cancellation', () => {
  it('removes a cancelled queued request without ever sending it', async () => {
    const { ipc, peer } = await setup({ maxConcurrent: 1 });
    ipc.request('blocker').catch(() => undefined);
    const controller = new AbortController();
    const p = ipc.request('queued', undefined, { signal: controller.signal });
    controller.abort('user changed their mind');
    const error = await failed(p);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.data).toEqual({ reason: 'user changed their mind', phase: 'queued' });
    await peer.reply(peer.requests('blocker')[0]!.id, 1);
    await tick(5);
    expect(peer.requests('queued')).toHaveLength(0);
    expect(peer.notifications('notifications/cancelled')).toHaveLength(0);
  });

  it('cancels an in-flight request on the server and drops its late response', async () => {
    const { ipc, peer } = await setup();
    const diagnostics: Diagnostic[] = [];
    ipc.on('diagnostic', (d) => diagnostics.push(d));
    const controller = new AbortController();
    const p = ipc.request('work', undefined, { signal: controller.signal });
    await tick();
    controller.abort();
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    await tick();
    const id = peer.requests('work')[0]!.id;
    expect(peer.notifications('notifications/cancelled')[0]!.params).toEqual({ requestId: id, reason: 'aborted' });
    await peer.reply(id, 'too late');
    await tick();
    expect(diagnostics).toEqual([expect.objectContaining({ kind: 'unknown-id', reason: 'late' })]);
    expect(ipc.snapshot()).toMatchObject({ cancels: 1, lateResponses: 1 });
  });

  it("counts a caller's cancel as a cancel, not as an error (nor in the error rate)", async () => {
    const { ipc, peer } = await setup();
    const failing = ipc.request('fails');
    await tick();
    await peer.fail(peer.requests('fails')[0]!.id, -32000, 'broken');
    await expect(failing).rejects.toThrow('broken');
    const controller = new AbortController();
    const queued = ipc.request('work', undefined, { signal: controller.signal });
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(CancelledError);
    const inFlight = new AbortController();
    const running = ipc.request('work', undefined, { signal: inFlight.signal });
    await tick();
    inFlight.abort();
    await expect(running).rejects.toBeInstanceOf(CancelledError);
    expect(ipc.snapshot()).toMatchObject({ cancels: 2, errors: 1, errorRate: 1 });
  });

  it('drops progress that races a cancel without a diagnostic (the peer had not seen the cancel yet)', async () => {
    const { ipc, peer } = await setup();
    const diagnostics: Diagnostic[] = [];
    ipc.on('diagnostic', (d) => diagnostics.push(d));
    const progress: number[] = [];
    const controller = new AbortController();
    const p = ipc.request('work', undefined, { signal: controller.signal, onProgress: (x) => progress.push(x.progress) });
    await tick();
    const token = (peer.requests('work')[0]!.params as { _meta: { progressToken: number } })._meta.progressToken;
    controller.abort();
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    await peer.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 1 } });
    await peer.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'never-issued', progress: 1 } });
    await tick();
    expect(progress).toEqual([]);
    expect(diagnostics).toEqual([expect.objectContaining({ kind: 'unknown-token', token: 'never-issued' })]);
  });

  it('leaves long-lived requests (subscription streams) out of the load and the metrics', async () => {
    const { ipc, peer } = await setup();
    const controller = new AbortController();
    const stream = ipc.request('subscriptions/listen', {}, { longLived: true, bypassQueue: true, timeoutMs: Infinity, hardTimeoutMs: Infinity, signal: controller.signal });
    const call = ipc.request('work');
    await tick();
    expect(ipc.load.inFlight).toBe(1);
    expect(ipc.snapshot().inFlight).toBe(1);
    await peer.reply(peer.requests('work')[0]!.id, 'done');
    await call;
    expect(ipc.load.inFlight).toBe(0);
    controller.abort();
    await expect(stream).rejects.toBeInstanceOf(CancelledError);
    expect(ipc.snapshot().inFlight).toBe(0);
  });

  it('routes progress of a tracked token (one that outlives its request) until disposed', async () => {
    const { ipc, peer } = await setup();
    const seen: number[] = [];
    const dispose = ipc.trackProgress('task-1', (x) => seen.push(x.progress));
    await peer.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'task-1', progress: 1, total: 2 } });
    await tick();
    dispose();
    await peer.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'task-1', progress: 2, total: 2 } });
    await tick();
    expect(seen).toEqual([1]);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const { ipc, peer } = await setup();
    await expect(ipc.request('x', undefined, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
    await tick();
    expect(peer.requests()).toHaveLength(0);
  });
});

describe('IpcManager: progress and streams', () => {
  it('attaches a progressToken only when asked and routes progress to the caller', async () => {
    const { ipc, peer } = await setup();
    const seen: unknown[] = [];
    const plain = ipc.request('plain', { a: 1 });
    const withProgress = ipc.request('tracked', { a: 1, _meta: { keep: true } }, { onProgress: (p) => seen.push(p) });
    await tick();
    expect(peer.requests('plain')[0]!.params).toEqual({ a: 1 });
    const tracked = peer.requests('tracked')[0]!;
    const meta = (tracked.params as { _meta: Record<string, unknown> })._meta;
    expect(meta).toEqual({ keep: true, progressToken: tracked.id });
    await peer.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: meta.progressToken, progress: 1, total: 4, message: 'a quarter' } });
    await peer.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: meta.progressToken, progress: 4, total: 4 } });
    await peer.reply(tracked.id, 'done');
    await peer.reply(peer.requests('plain')[0]!.id, 'ok');
    await Promise.all([plain, withProgress]);
    expect(seen).toEqual([{ progress: 1, total: 4, message: 'a quarter' }, { progress: 4, total: 4 }]);
  });

  it('delivers stream chunks in order to onChunk and the async iterator', async () => {
    const { ipc, peer } = await setup();
    const viaCallback: string[] = [];
    const { result, chunks } = ipc.requestStream<string>('big', {}, { onChunk: (c) => viaCallback.push(c.data) });
    await tick();
    const req = peer.requests('big')[0]!;
    const token = (req.params as { _meta: { streamToken: number } })._meta.streamToken;
    for (let seq = 0; seq < 5; seq++) {
      await peer.send({ jsonrpc: '2.0', method: 'notifications/stream/chunk', params: { streamToken: token, seq, data: `part${seq};` } });
    }
    await peer.reply(req.id, 'end');
    const viaIterator: string[] = [];
    for await (const chunk of chunks) viaIterator.push(chunk.data);
    await expect(result).resolves.toBe('end');
    expect(viaIterator.join('')).toBe('part0;part1;part2;part3;part4;');
    expect(viaCallback).toEqual(viaIterator);
  });

  it('fails a stream whose chunks arrive out of order with ProtocolError', async () => {
    const { ipc, peer } = await setup();
    const { result, chunks } = ipc.requestStream('big', {});
    await tick();
    const req = peer.requests('big')[0]!;
    await peer.send({ jsonrpc: '2.0', method: 'notifications/stream/chunk', params: { streamToken: req.id, seq: 1, data: 'x' } });
    await expect(result).rejects.toBeInstanceOf(ProtocolError);
    await expect((async () => { for await (const _ of chunks) { /* drain */ } })()).rejects.toBeInstanceOf(ProtocolError);
  });

  // A transport that does not decode through decodeText (an MCP SDK transport, say) can hand over
  // values nested far deeper than any stack: the engine's own diagnostics must not recurse on them.
  it('survives deeply nested values from a transport (unknown-id preview, stream seq), and keeps working', async () => {
    const { ipc, peer, transport } = await setup();
    const diagnostics: Diagnostic[] = [];
    ipc.on('diagnostic', (d) => diagnostics.push(d));
    let deep: unknown = 0;
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { a: deep };
    expect(() => transport.onmessage!({ jsonrpc: '2.0', id: 424_242, result: deep })).not.toThrow();
    expect(diagnostics).toEqual([expect.objectContaining({ kind: 'unknown-id', reason: 'unknown' })]);
    const d = diagnostics[0]!;
    expect(d.kind === 'unknown-id' && d.preview.length).toBeLessThanOrEqual(201);

    const { result } = ipc.requestStream('big', {});
    await tick();
    const req = peer.requests('big')[0]!;
    const token = (req.params as { _meta: { streamToken: number } })._meta.streamToken;
    transport.onmessage!({ jsonrpc: '2.0', method: 'notifications/stream/chunk', params: { streamToken: token, seq: deep, data: 'x' } });
    const error = await failed(result);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.message.length).toBeLessThan(400);

    // A token that is no valid token is reported as a bounded preview, not as the value itself
    // (the diagnostic goes on into event logs, the gateway and the dashboard).
    transport.onmessage!({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: deep, progress: 1 } });
    const unknownToken = diagnostics.find((x) => x.kind === 'unknown-token');
    expect(unknownToken?.kind === 'unknown-token' && typeof unknownToken.token).toBe('string');
    expect(unknownToken?.kind === 'unknown-token' && String(unknownToken.token).length).toBeLessThanOrEqual(201);
    expect(() => JSON.stringify(diagnostics)).not.toThrow();

    const next = ipc.request('after');
    await tick();
    await peer.reply(peer.requests('after')[0]!.id, 'ok');
    await expect(next).resolves.toBe('ok');
  });

  it('fails only the request whose response was too large', async () => {
    const [a, b] = MemoryTransport.pair();
    const peer = new Peer(b);
    const ipc = new IpcManager(a as Transport);
    managers.push(ipc);
    await ipc.start();
    const big = ipc.request('big');
    const small = ipc.request('small');
    await tick();
    a.ondiagnostic?.({ kind: 'oversized', bytes: 2_000_000, limit: 1_000_000, preview: '{"jsonrpc":"2.0","id":1', id: peer.requests('big')[0]!.id });
    await peer.reply(peer.requests('small')[0]!.id, 'fine');
    await expect(big).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(small).resolves.toBe('fine');
  });
});

describe('IpcManager: connection loss and retries', () => {
  it('retries a request whose write failed (never reached the server)', async () => {
    const { ipc, peer, transport } = await setup({ retryDelayMs: 5 });
    const realSend = transport.send.bind(transport);
    let failures = 2;
    transport.send = (m) => (failures-- > 0 ? Promise.reject(new Error('EPIPE')) : realSend(m));
    peer.auto = () => 'ok';
    await expect(ipc.request('x')).resolves.toBe('ok');
    expect(ipc.snapshot().retries).toBe(2);
    expect(peer.requests('x')).toHaveLength(1);
  });

  it('gives up after maxRetries', async () => {
    const { ipc, transport } = await setup({ retryDelayMs: 1, maxRetries: 2 });
    transport.send = () => Promise.reject(new Error('EPIPE'));
    const error = await failed(ipc.request('x'));
    expect(error).toBeInstanceOf(NotConnectedError);
    expect(error.message).toContain('EPIPE');
    expect(ipc.snapshot().retries).toBe(2);
  });

  it('fails written in-flight requests with the transport close error and the unsent queue with NotConnected', async () => {
    const { ipc, transport } = await setup({ maxConcurrent: 1 });
    const crash = new ServerCrashedError('Server exited with code 3', { exitCode: 3, signal: null, stderrTail: ['boom'] });
    Object.defineProperty(transport, 'closeError', { value: crash });
    const inFlight = ipc.request('running');
    const queued = ipc.request('waiting');
    await tick();
    await transport.close();
    const e1 = await failed(inFlight);
    expect(e1).toBeInstanceOf(ServerCrashedError);
    expect(e1.data).toMatchObject({ exitCode: 3, stderrTail: ['boom'], outcomeUnknown: true });
    await expect(queued).rejects.toBeInstanceOf(NotConnectedError);
  });

  it('a request the transport lost (onlost) is resent when undelivered or retryable, else fails with outcome unknown', async () => {
    const [a, b] = MemoryTransport.pair();
    // A transport that learns of a lost delivery after the handover says so (an HTTP POST).
    Object.assign(a, { reportsUndelivered: true });
    const peer = new Peer(b);
    const ipc = new IpcManager(a, { retryDelayMs: 1 });
    managers.push(ipc);
    await ipc.start();
    const transport = a;
    const crash = () => new ServerCrashedError('response stream broke', { exitCode: null, signal: null, stderrTail: [] });
    const undelivered = ipc.request('write');
    const retryable = ipc.request('read', undefined, { retryable: true });
    const unsafe = ipc.request('charge');
    await tick();
    const [r1, r2, r3] = peer.requests();
    // The transport stays open: only these requests are lost.
    (transport as Transport).onlost!(r1!.id, crash(), false);
    (transport as Transport).onlost!(r2!.id, crash(), true);
    (transport as Transport).onlost!(r3!.id, crash(), true);
    const error = await failed(unsafe);
    expect(error).toBeInstanceOf(ServerCrashedError);
    expect(error.data).toMatchObject({ outcomeUnknown: true });
    await tick(10);
    expect(peer.requests('write')).toHaveLength(2);
    expect(peer.requests('read')).toHaveLength(2);
    expect(peer.requests('charge')).toHaveLength(1);
    peer.auto = () => 'ok';
    for (const r of [peer.requests('write')[1]!, peer.requests('read')[1]!]) await peer.reply(r.id, 'ok');
    await expect(undelivered).resolves.toBe('ok');
    await expect(retryable).resolves.toBe('ok');
    expect(ipc.state).toBe('connected');
  });

  it('lets go of a written request’s params unless it may be resent; one reported undelivered anyway fails', async () => {
    const { ipc, peer, transport } = await setup({ retryDelayMs: 1 });
    const crash = () => new ServerCrashedError('response stream broke', { exitCode: null, signal: null, stderrTail: [] });
    const plain = ipc.request('charge', { amount: 5 });
    const retryable = ipc.request('read', { uri: 'x' }, { retryable: true });
    await tick();
    const [r1, r2] = peer.requests();
    // This transport never said it could report a written request undelivered: the engine kept
    // only the retryable request's params, so only that one can be resent.
    (transport as Transport).onlost!(r1!.id, crash(), false);
    (transport as Transport).onlost!(r2!.id, crash(), false);
    const error = await failed(plain);
    expect(error).toBeInstanceOf(ServerCrashedError);
    expect(error.data).not.toHaveProperty('outcomeUnknown');
    await tick(10);
    expect(peer.requests('charge')).toHaveLength(1);
    expect(peer.requests('read').map((r) => r.params)).toEqual([{ uri: 'x' }, { uri: 'x' }]);
    await peer.reply(peer.requests('read')[1]!.id, 'ok');
    await expect(retryable).resolves.toBe('ok');
  });

  it('holds queued and retryable requests across a transport swap and sends them after resume', async () => {
    const first = MemoryTransport.pair();
    const ipc = new IpcManager(first[0], { maxConcurrent: 1, holdQueueOnDisconnect: true, retryDelayMs: 1 });
    managers.push(ipc);
    const peer1 = new Peer(first[1]);
    await ipc.start();
    const notRetryable = ipc.request('write-file');
    const retryable = ipc.request('read-file', undefined, { retryable: true, maxConcurrent: 1 } as never);
    const queued = ipc.request('list');
    await tick();
    expect(peer1.requests().map((r) => r.method)).toEqual(['write-file']);
    await first[0].close();
    await expect(notRetryable).rejects.toBeInstanceOf(NotConnectedError);
    expect(ipc.state).toBe('disconnected');

    const second = MemoryTransport.pair();
    const peer2 = new Peer(second[1]);
    peer2.auto = (r) => (r.method === 'initialize' ? 'hello' : `${r.method}:done`);
    await ipc.attach(second[0], { paused: true });
    await expect(ipc.request('initialize', {}, { bypassQueue: true })).resolves.toBe('hello');
    await tick(10);
    expect(peer2.requests().map((r) => r.method)).toEqual(['initialize']);
    ipc.resume();
    await expect(retryable).resolves.toBe('read-file:done');
    await expect(queued).resolves.toBe('list:done');
  });

  it('resends an in-flight retryable request after the connection is replaced', async () => {
    const first = MemoryTransport.pair();
    const ipc = new IpcManager(first[0], { holdQueueOnDisconnect: true, retryDelayMs: 1 });
    managers.push(ipc);
    new Peer(first[1]);
    await ipc.start();
    const p = ipc.request('idempotent', undefined, { retryable: true });
    await tick();
    await first[0].close();
    const second = MemoryTransport.pair();
    const peer2 = new Peer(second[1]);
    peer2.auto = () => 'second time lucky';
    await ipc.attach(second[0]);
    await expect(p).resolves.toBe('second time lucky');
    expect(ipc.snapshot().retries).toBe(1);
  });

  it('does not resend a retryable streaming request once chunks were delivered', async () => {
    const first = MemoryTransport.pair();
    const ipc = new IpcManager(first[0], { holdQueueOnDisconnect: true, retryDelayMs: 1 });
    managers.push(ipc);
    const peer = new Peer(first[1]);
    await ipc.start();
    const seen: string[] = [];
    const { result } = ipc.requestStream('stream', {}, { retryable: true, onChunk: (c) => seen.push(c.data) });
    await tick();
    const req = peer.requests('stream')[0]!;
    const token = (req.params as { _meta: { streamToken: number } })._meta.streamToken;
    await peer.send({ jsonrpc: '2.0', method: 'notifications/stream/chunk', params: { streamToken: token, seq: 0, data: 'half' } });
    await tick();
    await first[0].close();
    const error = await failed(result);
    expect(error.code).not.toBe('Timeout');
    expect(seen).toEqual(['half']);
    expect(ipc.snapshot().retries).toBe(0);
  });

  it('close() fails everything pending and refuses new requests', async () => {
    const { ipc } = await setup({ maxConcurrent: 1 });
    const a = ipc.request('a');
    const b = ipc.request('b');
    await ipc.close('shutting down');
    await expect(a).rejects.toBeInstanceOf(NotConnectedError);
    await expect(b).rejects.toThrow('shutting down');
    await expect(ipc.request('c')).rejects.toBeInstanceOf(NotConnectedError);
  });
});

describe('IpcManager: the peer talks back', () => {
  it('answers the peer’s requests by handler, ping by default, unknown methods with -32601', async () => {
    const { ipc, peer } = await setup();
    ipc.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///tmp' }] }));
    ipc.setRequestHandler('explode', () => {
      throw new Error('handler failed');
    });
    await peer.send({ jsonrpc: '2.0', id: 'r1', method: 'roots/list' });
    await peer.send({ jsonrpc: '2.0', id: 'r2', method: 'ping' });
    await peer.send({ jsonrpc: '2.0', id: 'r3', method: 'sampling/createMessage', params: {} });
    await peer.send({ jsonrpc: '2.0', id: 'r4', method: 'explode' });
    await tick(5);
    const byId = Object.fromEntries(peer.received.filter((m) => 'id' in m && !('method' in m)).map((m) => [(m as { id: string }).id, m]));
    expect(byId.r1).toEqual({ jsonrpc: '2.0', id: 'r1', result: { roots: [{ uri: 'file:///tmp' }] } });
    expect(byId.r2).toEqual({ jsonrpc: '2.0', id: 'r2', result: {} });
    expect(byId.r3).toMatchObject({ error: { code: -32601 } });
    expect(byId.r4).toMatchObject({ error: { code: -32603, message: 'handler failed' } });
  });

  it('aborts a handler the peer cancels and sends no response for it', async () => {
    const { ipc, peer } = await setup();
    let aborted = false;
    ipc.setRequestHandler('slow', (_params, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => ((aborted = true), resolve('ignored')))));
    await peer.send({ jsonrpc: '2.0', id: 7, method: 'slow' });
    await tick();
    await peer.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'nope' } });
    await tick(5);
    expect(aborted).toBe(true);
    expect(peer.received.filter((m) => 'id' in m && (m as { id: unknown }).id === 7)).toHaveLength(0);
  });

  it('delivers notifications to subscribers until they unsubscribe', async () => {
    const { ipc, peer } = await setup();
    const specific: unknown[] = [];
    const all: unknown[] = [];
    const off = ipc.onNotification('notifications/tools/list_changed', (params) => specific.push(params));
    ipc.onNotification('*', (_p, m) => all.push(m.method));
    await peer.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    off();
    await peer.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    await peer.send({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info' } });
    await tick();
    expect(specific).toHaveLength(1);
    expect(all).toEqual(['notifications/tools/list_changed', 'notifications/tools/list_changed', 'notifications/message']);
  });
});

describe('IpcManager: metrics and backpressure', () => {
  it('counts requests, responses, errors and latency, and emits change events', async () => {
    const { ipc, peer } = await setup({ metricsIntervalMs: 10 });
    const events: unknown[] = [];
    ipc.on('metrics', (s) => events.push(s));
    peer.auto = (r) => (r.method === 'bad' ? undefined : 'ok');
    await Promise.all(Array.from({ length: 20 }, () => ipc.request('good')));
    const bad = ipc.request('bad');
    await tick();
    await peer.fail(peer.requests('bad')[0]!.id, -32000, 'nope');
    await bad.catch(() => undefined);
    await tick(30);
    const s = ipc.snapshot();
    expect(s).toMatchObject({ requests: 21, responses: 21, errors: 1, inFlight: 0, queueDepth: 0 });
    expect(s.latency.count).toBe(21);
    expect(s.latency.p50).toBeGreaterThan(0);
    expect(s.latency.max).toBeGreaterThanOrEqual(s.latency.p99);
    expect(s.throughput).toBeGreaterThan(0);
    expect(s.errorRate).toBeCloseTo(1 / 21, 5);
    expect(events.length).toBeGreaterThan(0);
  });

  it('stops dispatching while the transport has not drained', async () => {
    const [a, b] = MemoryTransport.pair();
    const peer = new Peer(b);
    const releases: Array<() => void> = [];
    const realSend = a.send.bind(a);
    a.send = (m) => realSend(m).then(() => new Promise<void>((resolve) => releases.push(resolve)));
    const ipc = new IpcManager(a, { maxConcurrent: 100, maxPendingWrites: 2 });
    managers.push(ipc);
    await ipc.start();
    peer.auto = () => 'ok';
    const all = Promise.all(Array.from({ length: 6 }, (_, i) => ipc.request(`m${i}`)));
    await tick(5);
    expect(peer.requests()).toHaveLength(2);
    expect(ipc.snapshot().queueDepth).toBe(4);
    while (peer.requests().length < 6 || releases.length) {
      releases.shift()?.();
      await tick(1);
    }
    await all;
  });
});

describe('IpcManager: onSend (the queue-wait hook tracing uses)', () => {
  it('reports each request as it leaves the queue, with how long it waited there; a throwing hook changes nothing', async () => {
    let now = 1_000;
    const { ipc, peer } = await setup({ maxConcurrent: 1, now: () => now });
    const waits: Array<[string, number]> = [];
    const first = ipc.request('first', {}, { onSend: (ms) => waits.push(['first', ms]) });
    const second = ipc.request('second', {}, {
      onSend: (ms) => {
        waits.push(['second', ms]);
        throw new Error('a broken hook');
      },
    });
    await tick();
    expect(waits).toEqual([['first', 0]]);
    now += 250; // `second` waits behind `first` for 250 ms
    await peer.reply(peer.requests('first')[0]!.id, {});
    await first;
    await tick();
    expect(waits).toEqual([['first', 0], ['second', 250]]);
    await peer.reply(peer.requests('second')[0]!.id, { fine: true });
    expect(await second).toEqual({ fine: true });
  });
});

describe('IpcManager: idle and sent notifications', () => {
  it('emits idle once when the last in-flight request settles; long-lived ones do not count', async () => {
    const { ipc, peer } = await setup();
    const idles: number[] = [];
    ipc.on('idle', () => idles.push(ipc.load.inFlight));
    const stream = ipc.request('listen', undefined, { longLived: true, bypassQueue: true, timeoutMs: Infinity, hardTimeoutMs: Infinity });
    const a = ipc.request('a');
    const b = ipc.request('b');
    await tick();
    await peer.reply(peer.requests('a')[0]!.id, 1);
    await a;
    await tick();
    expect(idles).toEqual([]); // b still runs
    await peer.reply(peer.requests('b')[0]!.id, 2);
    await b;
    await tick();
    expect(idles).toEqual([0]);
    await peer.reply(peer.requests('listen')[0]!.id, {});
    await stream;
    await tick();
    expect(idles).toEqual([0]); // a long-lived request ending is not a change of load
  });

  it('emits no idle when the settling sends the next queued request', async () => {
    const { ipc, peer } = await setup({ maxConcurrent: 1 });
    const idles: number[] = [];
    ipc.on('idle', () => idles.push(ipc.load.inFlight));
    const a = ipc.request('a');
    const b = ipc.request('b');
    await tick();
    expect(peer.requests('b')).toHaveLength(0);
    await peer.reply(peer.requests('a')[0]!.id, 1);
    await a;
    await tick();
    expect(peer.requests('b')).toHaveLength(1);
    expect(idles).toEqual([]);
    await peer.reply(peer.requests('b')[0]!.id, 2);
    await b;
    await tick();
    expect(idles).toEqual([0]);
  });

  it('tells onSent the id of each attempt before the peer can answer', async () => {
    const { ipc, peer } = await setup();
    const sent: unknown[] = [];
    let seenByPeer = -1;
    const p = ipc.request('m', undefined, {
      onSent: (id) => {
        seenByPeer = peer.requests('m').length;
        sent.push(id);
      },
    });
    await tick();
    expect(sent).toEqual([peer.requests('m')[0]!.id]);
    expect(seenByPeer).toBe(0);
    await peer.reply(sent[0] as number, 'ok');
    await expect(p).resolves.toBe('ok');
  });
});

describe('IpcManager: bookkeeping per request (issue 14)', () => {
  it('sends at once when nothing waits: no queue round trip, and the deadline is set once', async () => {
    const { ipc, peer } = await setup();
    const push = vi.spyOn(PriorityQueue.prototype, 'push');
    const set = vi.spyOn(Deadlines.prototype, 'set');
    try {
      const p = ipc.request('m');
      expect(push).not.toHaveBeenCalled();
      expect(set).toHaveBeenCalledTimes(1);
      await tick();
      await peer.reply(peer.requests('m')[0]!.id, 'ok');
      await expect(p).resolves.toBe('ok');
      expect(set).toHaveBeenCalledTimes(1);
    } finally {
      push.mockRestore();
      set.mockRestore();
    }
  });

  it('a queued request’s idle timeout runs from its send, not from its enqueue', async () => {
    let now = 0;
    const { ipc, peer } = await setup({ maxConcurrent: 1, timeoutMs: 50, hardTimeoutMs: 10_000, now: () => now });
    const first = ipc.request('first');
    const second = failed(ipc.request('second'));
    let settled = false;
    void second.then(() => (settled = true));
    await tick();
    now = 40; // `second` waited 40 ms in the queue
    await peer.reply(peer.requests('first')[0]!.id, 1);
    await expect(first).resolves.toBe(1);
    await tick();
    expect(peer.requests('second')).toHaveLength(1);
    now = 85; // 45 ms after its send, 85 after its enqueue: not timed out yet
    await tick(60);
    expect(settled).toBe(false);
    now = 91;
    await tick(60);
    expect(await second).toMatchObject({ code: 'Timeout', data: { kind: 'idle', queuedMs: 40 } });
  });

  it('keeps its times exact for a request sent long after it was made (beyond the record’s µs offset)', async () => {
    let now = 1_000.25;
    const { ipc, peer } = await setup({ maxConcurrent: 1, timeoutMs: 50, hardTimeoutMs: Infinity, now: () => now });
    const waits: number[] = [];
    const first = ipc.request('first');
    const second = ipc.request('second', {}, { onSend: (ms) => waits.push(ms) });
    const third = failed(ipc.request('third', {}, { onSend: (ms) => waits.push(ms) }));
    let settled = false;
    void third.then(() => (settled = true));
    await tick();
    now += 40 * 60_000 + 0.125; // both wait 40 minutes behind `first`
    await peer.reply(peer.requests('first')[0]!.id, 1);
    await expect(first).resolves.toBe(1);
    await tick();
    expect(waits).toEqual([40 * 60_000 + 0.125]);
    now += 0.375;
    await peer.reply(peer.requests('second')[0]!.id, 2);
    await expect(second).resolves.toBe(2);
    expect(ipc.snapshot().latency.min).toBe(0.375);
    await tick();
    expect(waits).toEqual([40 * 60_000 + 0.125, 40 * 60_000 + 0.5]);
    now += 45; // the idle timeout runs from the send, 40 minutes after the request was made
    await tick(60);
    expect(settled).toBe(false);
    now += 10;
    await tick(60);
    expect(await third).toMatchObject({ code: 'Timeout', data: { kind: 'idle', queuedMs: 40 * 60_000, inFlightMs: 55 } });
  });

  it('tells a duplicate answer from a stranger’s even thousands of requests later (id watermark)', async () => {
    const { ipc, peer } = await setup({ maxConcurrent: 10_000, maxQueueSize: 10_000 });
    peer.auto = () => 'ok';
    const firstId = await (async () => {
      const p = ipc.request('first');
      await p;
      return peer.requests('first')[0]!.id;
    })();
    await Promise.all(Array.from({ length: 5000 }, () => ipc.request('m')));
    const diagnostics: Diagnostic[] = [];
    ipc.on('diagnostic', (d) => diagnostics.push(d));
    await peer.reply(firstId, 'again'); // answered 5 000 requests ago
    await peer.reply(10_000_000, 'never'); // never sent
    await peer.reply(1.5, 'never'); // not an id we issue
    await tick();
    expect(diagnostics.map((d) => d.kind === 'unknown-id' && d.reason)).toEqual(['duplicate', 'unknown', 'unknown']);
  });
});
