/**
 * The client's frames, without sockets: an in-memory WebSocket whose "gateway" picks a subprotocol
 * the way a real server would, says hello and answers every request in the frames it is sent.
 * With independent batches agreed (BATCH_PROTOCOL selected and the limits in `hello`) the messages
 * of one task go out as one frame, split at the gateway's limits; with anything else — an older
 * gateway, a server that takes the first protocol offered, no limits in hello — one frame per
 * message, as ever. Then WebSocketTransport's coalescing on its own, with an injected scheduler.
 */
import { describe, expect, it } from 'vitest';
import { McpIpcClient, type WebSocketConstructor, type WebSocketLike, WebSocketTransport } from '../../src/client/index.js';
import { BATCH_PROTOCOL, type HelloParams } from '../../src/core/gateway-protocol.js';
import type { JsonRpcMessage, JsonRpcRequest } from '../../src/core/jsonrpc.js';
import { SENT } from '../../src/core/transport.js';
import { IpcManager } from '../../src/core/ipc-manager.js';

type Listener = (event: unknown) => void;

interface FakeGatewayScript {
  /** Picks the subprotocol from those offered ('' for none). */
  select(offered: string[]): string;
  /** The hello sent once the socket is open (undefined: none). */
  hello?: (protocol: string) => HelloParams | undefined;
  /** Requests of these methods are not answered. */
  silent?: Set<string>;
}

const HELLO: HelloParams = { version: 'test', latestSeq: 0, servers: [] };
const LIMITS = { maxItems: 50, maxBytes: 1024 * 1024 };

/** A WebSocket class bound to a scripted gateway; every instance records what it was sent. */
function fakeWebSocket(script: FakeGatewayScript) {
  const sockets: FakeSocket[] = [];
  class FakeSocket implements WebSocketLike {
    readyState = 0;
    bufferedAmount = 0;
    binaryType = 'blob';
    protocol = '';
    readonly offered: string[];
    /** Every frame the client sent, as text. */
    readonly frames: string[] = [];
    private readonly listeners = new Map<string, Listener[]>();

    constructor(
      readonly url: string,
      protocols?: string | string[],
    ) {
      this.offered = typeof protocols === 'string' ? [protocols] : [...(protocols ?? [])];
      sockets.push(this);
      setTimeout(() => {
        this.protocol = script.select(this.offered);
        this.readyState = 1;
        this.emit('open', {});
        const hello = script.hello ? script.hello(this.protocol) : HELLO;
        if (hello) this.push({ jsonrpc: '2.0', method: 'hello', params: hello });
      }, 0);
    }

    addEventListener(type: string, listener: Listener): void {
      this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
    }

    send(data: string): void {
      this.frames.push(data);
      const value = JSON.parse(data) as JsonRpcMessage | JsonRpcMessage[];
      for (const m of Array.isArray(value) ? value : [value]) {
        if (!('method' in m) || !('id' in m) || script.silent?.has(m.method)) continue;
        const req = m as JsonRpcRequest;
        const result = req.method === 'tools/call' ? { content: [{ type: 'text', text: `ok ${String((req.params as { name?: unknown }).name)}` }] } : {};
        setTimeout(() => this.push({ jsonrpc: '2.0', id: req.id, result }), 0);
      }
    }

    close(code = 1000, reason = ''): void {
      if (this.readyState === 3) return;
      this.readyState = 3;
      setTimeout(() => this.emit('close', { code, reason }), 0);
    }

    /** The messages the client sent, batches unrolled. */
    messages(): JsonRpcMessage[] {
      return this.frames.flatMap((f) => {
        const v = JSON.parse(f) as JsonRpcMessage | JsonRpcMessage[];
        return Array.isArray(v) ? v : [v];
      });
    }

    /** Frames holding tools/call requests, each as the number of messages in it. */
    callFrames(): number[] {
      return this.frames
        .map((f) => JSON.parse(f) as JsonRpcMessage | JsonRpcMessage[])
        .filter((v) => (Array.isArray(v) ? v : [v]).some((m) => 'method' in m && m.method === 'tools/call'))
        .map((v) => (Array.isArray(v) ? v.length : 1));
    }

    private push(message: unknown): void {
      if (this.readyState === 1) this.emit('message', { data: JSON.stringify(message) });
    }

    private emit(type: string, event: unknown): void {
      for (const l of this.listeners.get(type) ?? []) l(event);
    }
  }
  return { WebSocket: FakeSocket as unknown as WebSocketConstructor, sockets };
}

/** The gateway of this version: prefers independent batches, says how big a batch may be. */
const currentGateway = (limits = LIMITS): FakeGatewayScript => ({
  select: (offered) => (offered.includes(BATCH_PROTOCOL) ? BATCH_PROTOCOL : offered.includes('mcp-ipc') ? 'mcp-ipc' : ''),
  hello: (protocol) => (protocol === BATCH_PROTOCOL ? { ...HELLO, batch: limits } : HELLO),
});

async function connected(script: FakeGatewayScript, options: { protocols?: string[]; token?: string } = {}) {
  const fake = fakeWebSocket(script);
  const client = new McpIpcClient({ url: 'ws://gateway.test/ws', WebSocket: fake.WebSocket, reconnect: false, server: 'demo', ...options });
  const r = await client.connect();
  expect(r.ok).toBe(true);
  return { client, socket: fake.sockets[0]!, sockets: fake.sockets };
}

/** `n` tool calls made in one task. */
function calls(client: McpIpcClient, n: number) {
  return Promise.all(Array.from({ length: n }, (_, i) => client.call('demo', `t${i}`)));
}

describe('McpIpcClient frames', () => {
  it('offers independent batches after `mcp-ipc` (a server taking the first one offered takes `mcp-ipc`), the token last', async () => {
    const { client, socket } = await connected(currentGateway(), { protocols: ['app'], token: 'tok' });
    expect(socket.offered).toEqual(['app', 'mcp-ipc', BATCH_PROTOCOL, 'mcp-ipc.token.tok']);
    client.disconnect();
  });

  it('sends the calls of one task as one frame once the gateway agreed on independent batches', async () => {
    const { client, socket } = await connected(currentGateway());
    expect(socket.protocol).toBe(BATCH_PROTOCOL);
    const results = await calls(client, 10);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.map((r) => (r.ok ? r.data.content[0]?.text : r.error.message))).toEqual(Array.from({ length: 10 }, (_, i) => `ok t${i}`));
    expect(socket.callFrames()).toEqual([10]);
    // Every message went out once, each call with its own id.
    const sent = socket.messages().filter((m) => 'method' in m && m.method === 'tools/call');
    expect(new Set(sent.map((m) => (m as JsonRpcRequest).id)).size).toBe(10);
    client.disconnect();
  });

  it('splits a task’s messages at the gateway’s limits: items per batch and bytes per frame', async () => {
    const { client, socket } = await connected(currentGateway({ maxItems: 4, maxBytes: 1024 * 1024 }));
    expect((await calls(client, 10)).every((r) => r.ok)).toBe(true);
    expect(socket.callFrames()).toEqual([4, 4, 2]);
    client.disconnect();

    // ~150-byte calls and frames of at most 600 bytes (counted as 200 characters: at most 3 bytes each): one per frame.
    const small = await connected(currentGateway({ maxItems: 50, maxBytes: 600 }));
    expect((await calls(small.client, 3)).every((r) => r.ok)).toBe(true);
    expect(small.socket.callFrames()).toEqual([1, 1, 1]);
    expect(small.socket.frames.every((f) => new TextEncoder().encode(f).length <= 600)).toBe(true);
    small.client.disconnect();
  });

  it('sends one frame per message to a gateway that selected plain `mcp-ipc` (an older one)', async () => {
    const older: FakeGatewayScript = { select: (offered) => (offered.includes('mcp-ipc') ? 'mcp-ipc' : ''), hello: () => ({ ...HELLO, batch: LIMITS }) };
    const { client, socket } = await connected(older);
    expect(socket.protocol).toBe('mcp-ipc');
    expect((await calls(client, 5)).every((r) => r.ok)).toBe(true);
    expect(socket.callFrames()).toEqual([1, 1, 1, 1, 1]);
    client.disconnect();
  });

  it('sends one frame per message when the gateway took the first protocol offered, or gave no limits', async () => {
    const first = await connected({ select: (offered) => offered[0] ?? '' });
    expect(first.socket.protocol).toBe('mcp-ipc');
    expect((await calls(first.client, 3)).every((r) => r.ok)).toBe(true);
    expect(first.socket.callFrames()).toEqual([1, 1, 1]);
    first.client.disconnect();

    const noLimits = await connected({ select: () => BATCH_PROTOCOL, hello: () => HELLO });
    expect((await calls(noLimits.client, 3)).every((r) => r.ok)).toBe(true);
    expect(noLimits.socket.callFrames()).toEqual([1, 1, 1]);
    noLimits.client.disconnect();

    const badLimits = await connected({ select: () => BATCH_PROTOCOL, hello: () => ({ ...HELLO, batch: { maxItems: 'many', maxBytes: -1 } as never }) });
    expect((await calls(badLimits.client, 3)).every((r) => r.ok)).toBe(true);
    expect(badLimits.socket.callFrames()).toEqual([1, 1, 1]);
    badLimits.client.disconnect();
  });

  it('sends a cancellation in the frame of its task, and the cancelled call settles at once', async () => {
    const { client, socket } = await connected({ ...currentGateway(), silent: new Set(['tools/call']) });
    const slow = client.call('demo', 'slow', {}, { key: 'slow-1' });
    await new Promise((r) => setTimeout(r, 10));
    expect(client.cancel('slow-1', 'changed my mind')).toBe(true);
    const other = client.call('demo', 'other');
    expect(await slow).toMatchObject({ ok: false, error: { code: 'Cancelled' } });
    await new Promise((r) => setTimeout(r, 10));
    const last = JSON.parse(socket.frames.at(-1)!) as JsonRpcMessage[];
    expect(Array.isArray(last)).toBe(true);
    expect(last.map((m) => ('method' in m ? m.method : '?'))).toEqual(['notifications/cancelled', 'tools/call']);
    client.disconnect();
    expect(await other).toMatchObject({ ok: false, error: { code: 'NotConnected' } });
  });
});

describe('WebSocketTransport coalescing', () => {
  async function open(limits?: { maxItems: number; maxBytes: number }) {
    const fake = fakeWebSocket({ select: () => '', hello: () => undefined, silent: new Set(['x']) });
    const runs: Array<() => void> = [];
    const t = new WebSocketTransport('ws://t/ws', { WebSocket: fake.WebSocket, schedule: (run) => runs.push(run) });
    await t.start();
    if (limits) t.coalesce(limits);
    const flush = () => runs.splice(0).forEach((run) => run());
    return { t, socket: fake.sockets[0]!, flush, runs };
  }
  const note = (i: number): JsonRpcMessage => ({ jsonrpc: '2.0', method: 'x', params: { i } });

  it('without coalesce(), writes each message at once', async () => {
    const { t, socket, runs } = await open();
    expect(t.send(note(1))).toBe(SENT);
    expect(t.send(note(2))).toBe(SENT);
    expect(socket.frames).toEqual([JSON.stringify(note(1)), JSON.stringify(note(2))]);
    expect(runs).toHaveLength(0);
  });

  it('after coalesce(), writes one task’s messages as one batch array when the scheduler runs (one message as it is)', async () => {
    const { t, socket, flush, runs } = await open({ maxItems: 10, maxBytes: 1 << 20 });
    for (let i = 0; i < 3; i++) expect(t.send(note(i))).toBe(SENT);
    expect(socket.frames).toEqual([]);
    expect(runs).toHaveLength(1); // one flush per task, however many messages
    flush();
    expect(socket.frames).toEqual([`[${[0, 1, 2].map((i) => JSON.stringify(note(i))).join(',')}]`]);
    t.send(note(3));
    flush();
    expect(socket.frames[1]).toBe(JSON.stringify(note(3)));
  });

  it('starts a new frame at maxItems and before a frame would pass maxBytes', async () => {
    const { t, socket, flush } = await open({ maxItems: 2, maxBytes: 1 << 20 });
    for (let i = 0; i < 5; i++) t.send(note(i));
    flush();
    // Full frames go as they fill up; the rest when the task is over (one message: not an array).
    expect(socket.frames.map((f) => JSON.parse(f) as unknown).map((v) => (Array.isArray(v) ? v.length : 'one'))).toEqual([2, 2, 'one']);

    const small = await open({ maxItems: 100, maxBytes: 3 * 80 });
    for (let i = 0; i < 4; i++) small.t.send(note(i)); // ~43 characters each: a frame holds one
    small.flush();
    expect(small.socket.frames).toEqual([0, 1, 2, 3].map((i) => JSON.stringify(note(i))));
    // A message bigger than the limit still goes, alone (as without coalescing: the gateway says if it is too big).
    const big: JsonRpcMessage = { jsonrpc: '2.0', method: 'x', params: { text: 'y'.repeat(500) } };
    small.t.send(note(9));
    small.t.send(big);
    small.flush();
    expect(small.socket.frames.slice(-2)).toEqual([JSON.stringify(note(9)), JSON.stringify(big)]);
  });

  it('writes what is queued before closing, and nothing after', async () => {
    const { t, socket, flush } = await open({ maxItems: 10, maxBytes: 1 << 20 });
    t.send(note(1));
    t.send(note(2));
    await t.close();
    expect(socket.frames).toEqual([`[${JSON.stringify(note(1))},${JSON.stringify(note(2))}]`]);
    flush();
    expect(socket.frames).toHaveLength(1);
    await expect(t.send(note(3))).rejects.toMatchObject({ code: 'NotConnected' });
  });

  it('reports the requests of a frame that never left as lost and not delivered, before onclose', async () => {
    const { t, socket, runs } = await open({ maxItems: 10, maxBytes: 1 << 20 });
    expect(t.reportsUndelivered).toBe(true); // the engine keeps params: it may have to resend
    const events: string[] = [];
    t.onlost = (id, error, delivered) => events.push(`lost ${String(id)} ${String(delivered)} ${error.code}`);
    t.onclose = () => events.push('close');
    t.send({ jsonrpc: '2.0', id: 7, method: 'x', params: {} });
    t.send(note(1)); // a notification: nothing to report
    socket.close(1006, 'gone'); // the peer's close arrives before this task's frame was written
    await new Promise((r) => setTimeout(r, 5));
    runs.splice(0).forEach((run) => run());
    expect(socket.frames).toEqual([]);
    expect(events).toEqual(['lost 7 false NotConnected', 'close']);
  });

  it('an IpcManager over it resends such a request on the next connection (it never left), as it would an unsent one', async () => {
    const first = await open({ maxItems: 10, maxBytes: 1 << 20 });
    const ipc = new IpcManager(undefined, { holdQueueOnDisconnect: true, retryDelayMs: 1 });
    await ipc.attach(first.t, { started: true });
    const result = ipc.request('y', { a: 1 });
    first.socket.close(1006, 'gone'); // before this task's frame was written
    await new Promise((r) => setTimeout(r, 20));
    expect(first.socket.frames).toEqual([]);
    const second = await open({ maxItems: 10, maxBytes: 1 << 20 });
    await ipc.attach(second.t, { started: true });
    for (let i = 0; i < 20 && second.socket.frames.length === 0; i++) {
      second.runs.splice(0).forEach((run) => run());
      await new Promise((r) => setTimeout(r, 5));
    }
    await expect(result).resolves.toEqual({});
    expect(second.socket.messages()).toMatchObject([{ method: 'y', params: { a: 1 } }]); // params kept for the resend
    await ipc.close();
  });

  it('refuses limits that are not positive', async () => {
    const { t } = await open();
    expect(() => t.coalesce({ maxItems: 0, maxBytes: 100 })).toThrow(TypeError);
    expect(() => t.coalesce({ maxItems: 10, maxBytes: Number.NaN })).toThrow(TypeError);
  });
});

describe('McpIpcClient request keys', () => {
  it('cancels by a generated key or a chosen one, and never runs two requests under one key', async () => {
    const { client } = await connected({ ...currentGateway(), silent: new Set(['tools/call']) });
    const generated = client.call('demo', 'slow');
    const chosen = client.call('demo', 'slow', {}, { key: 'mine' });
    await new Promise((r) => setTimeout(r, 10));
    const key = client.requests.get()[0]!.key;
    expect(key).toMatch(/^c[0-9a-z]+-[0-9a-z]+$/);
    // A chosen key equal to a running one — generated or chosen — is refused.
    expect(await client.call('demo', 'x', {}, { key })).toMatchObject({ ok: false, error: { code: 'InvalidParams' } });
    expect(await client.call('demo', 'x', {}, { key: 'mine' })).toMatchObject({ ok: false, error: { code: 'InvalidParams' } });
    expect(client.cancel(key)).toBe(true);
    expect(client.cancel('mine')).toBe(true);
    expect(client.cancel('mine')).toBe(false);
    expect(await generated).toMatchObject({ ok: false, error: { code: 'Cancelled' } });
    expect(await chosen).toMatchObject({ ok: false, error: { code: 'Cancelled' } });
    expect(client.requests.get().map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    // Once finished, a key may be used again.
    const again = client.call('demo', 'slow', {}, { key: 'mine' });
    await new Promise((r) => setTimeout(r, 10));
    expect(client.cancel('mine')).toBe(true);
    expect(await again).toMatchObject({ ok: false, error: { code: 'Cancelled' } });
    client.disconnect();
  });

  it('an aborted signal cancels the call (the caller’s AbortSignal still works as before)', async () => {
    const { client, socket } = await connected({ ...currentGateway(), silent: new Set(['tools/call']) });
    const controller = new AbortController();
    const call = client.call('demo', 'slow', {}, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    expect(await call).toMatchObject({ ok: false, error: { code: 'Cancelled', data: { phase: 'in-flight' } } });
    await new Promise((r) => setTimeout(r, 10));
    expect(socket.messages().filter((m) => 'method' in m && m.method === 'notifications/cancelled')).toHaveLength(1);
    client.disconnect();
  });
});
