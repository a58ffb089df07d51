/**
 * The gateway's method handlers without sockets: a fake host (bridges as plain objects) and fake
 * peers that record what they are sent. Forwarding under MCP's names through the allow-list, the
 * per-connection limits and cancellation, notification fan-out, resource subscriptions, streamed
 * results keeping their blocks' order, and the routing of server→client requests.
 */
import { describe, expect, it } from 'vitest';
import { signalOf } from '../../src/core/cancellation.js';
import { IpcError, NotConnectedError } from '../../src/core/errors.js';
import { type CallToolResult, MCP_CLIENT_METHODS, MCP_SERVER_REQUEST_METHODS } from '../../src/core/gateway-protocol.js';
import type { Progress, RequestContext, RequestHandler, RequestOptions, StreamChunk } from '../../src/core/ipc-manager.js';
import type { JsonRpcMessage } from '../../src/core/jsonrpc.js';
import { reassemble } from '../../src/client/client.js';
import type { Peer } from '../../src/node/gateway/connection.js';
import { EventLog } from '../../src/node/gateway/event-log.js';
import { GatewayHandlers } from '../../src/node/gateway/handlers.js';
import { originOf, ServerRequestRouter } from '../../src/node/gateway/server-requests.js';
import type { McpHost } from '../../src/node/mcp-host.js';
import { ResourceManager } from '../../src/node/resource-manager.js';

/** A bridge as the handlers see it: records requests, answers from a script. */
class FakeBridge {
  readonly requests: Array<{ method: string; params: unknown; options: RequestOptions }> = [];
  readonly calls: Array<{ tool: string; args: unknown; options: Record<string, unknown> }> = [];
  readonly handlers = new Map<string, RequestHandler>();
  readonly subscriptions = new Map<string, Set<(u: { uri: string }) => void>>();
  unsubscribed: string[] = [];
  logLevel: string | undefined;
  /** What tools/call answers. */
  result: CallToolResult = { content: [{ type: 'text', text: 'ok' }] };
  /** Resolves a pending request (for cancellation tests). */
  hang = false;

  constructor(readonly name: string) {}

  snapshot() {
    return { name: this.name, state: 'running' };
  }
  listTools() {
    return Promise.resolve([{ name: 'echo', inputSchema: { type: 'object' } }]);
  }
  listResources() {
    return Promise.resolve([{ uri: 'file:///a', name: 'a' }]);
  }
  listResourceTemplates() {
    return Promise.resolve([]);
  }
  listPrompts() {
    return Promise.resolve([]);
  }
  setLogLevel(level: string) {
    this.logLevel = level;
    return Promise.resolve();
  }
  request(method: string, params: unknown, options: RequestOptions): Promise<unknown> {
    this.requests.push({ method, params, options });
    options.onProgress?.({ progress: 1, total: 2 } as Progress);
    if (this.hang) {
      // The gateway hands over a cancel handle (RequestOptions.cancel) rather than a signal.
      const signal = signalOf(options);
      return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new IpcError('Cancelled', `cancelled: ${String(signal.reason)}`))));
    }
    return Promise.resolve({ echoed: method });
  }
  call(tool: string, args: unknown, options: Record<string, unknown>): Promise<CallToolResult> {
    this.calls.push({ tool, args, options });
    return Promise.resolve(this.result);
  }
  callStreaming(tool: string, args: unknown, options: Record<string, unknown>) {
    this.calls.push({ tool, args, options });
    const chunks: AsyncIterable<StreamChunk> = { [Symbol.asyncIterator]: async function* () {} };
    return { result: Promise.resolve(this.result), chunks };
  }
  async subscribeResource(uri: string, listener: (u: { uri: string }) => void) {
    let set = this.subscriptions.get(uri);
    if (!set) this.subscriptions.set(uri, (set = new Set()));
    set.add(listener);
    return async () => {
      set.delete(listener);
      this.unsubscribed.push(uri);
    };
  }
  setRequestHandler(method: string, handler: RequestHandler) {
    this.handlers.set(method, handler);
  }
  removeRequestHandler(method: string) {
    this.handlers.delete(method);
  }
  hasRequestHandler(method: string) {
    return this.handlers.has(method);
  }
  stderrTail() {
    return [];
  }
}

class FakePeer implements Peer {
  private static next = 1;
  readonly id = FakePeer.next++;
  readonly sent: JsonRpcMessage[] = [];
  readonly asked: Array<{ method: string; params: Record<string, unknown> }> = [];
  private readonly controller = new AbortController();
  answer: (method: string, params: Record<string, unknown>) => Promise<unknown> = () => Promise.resolve({ ok: true });

  get signal(): AbortSignal {
    return this.controller.signal;
  }
  send(message: JsonRpcMessage): boolean {
    this.sent.push(message);
    return true;
  }
  writable(): Promise<void> {
    return Promise.resolve();
  }
  request(method: string, params: Record<string, unknown>): Promise<unknown> {
    this.asked.push({ method, params });
    return this.answer(method, params);
  }
  close(): void {
    this.controller.abort('closed');
  }
  notes(method: string): Array<Record<string, unknown>> {
    return this.sent.filter((m) => 'method' in m && m.method === method).map((m) => (m as { params: Record<string, unknown> }).params);
  }
}

function setup(
  options: { methods?: readonly string[]; allowHostControl?: boolean; maxInFlight?: number; chunkChars?: number; concurrentTasks?: number; onRefused?: (limit: string) => void } = {},
) {
  const bridges = new Map([
    ['alpha', new FakeBridge('alpha')],
    ['beta', new FakeBridge('beta')],
  ]);
  const host = {
    get: (name: string) => bridges.get(name),
    list: () => [...bridges.values()],
    names: () => [...bridges.keys()],
    resources: new ResourceManager(options.concurrentTasks === undefined ? {} : { concurrentTasks: options.concurrentTasks }, { sweepIntervalMs: 0 }),
  } as unknown as McpHost;
  let handlers!: GatewayHandlers;
  const router = new ServerRequestRouter(host, { methods: MCP_SERVER_REQUEST_METHODS, timeoutMs: 1_000, busyOn: (s) => handlers.busyOn(s) });
  handlers = new GatewayHandlers({
    host,
    events: new EventLog({ maxEvents: 10, maxBytes: 10_000 }),
    router,
    methods: new Set(options.methods ?? MCP_CLIENT_METHODS),
    allowHostControl: options.allowHostControl ?? true,
    maxInFlight: options.maxInFlight ?? 32,
    chunkChars: options.chunkChars ?? 4,
    ...(options.onRefused ? { onRefused: options.onRefused } : {}),
  });
  const peer = () => {
    const p = new FakePeer();
    handlers.attach(p);
    return p;
  };
  return { bridges, host, handlers, router, peer, alpha: bridges.get('alpha')!, beta: bridges.get('beta')! };
}

const rpcCodeOf = (promise: Promise<unknown>) => promise.then(() => undefined, (e: IpcError) => e.rpcCode);

describe('gateway handlers: forwarding MCP requests', () => {
  it('forwards under the MCP name with the selector and gateway options removed, and _meta passed on without the browser tokens', async () => {
    const { handlers, peer, beta } = setup();
    const p = peer();
    const result = await handlers.handle(p, 'resources/read', { server: 'beta', uri: 'file:///x', timeoutMs: 500, priority: 'high', _meta: { progressToken: 'tok', trace: 't1' } }, 1);
    expect(result).toEqual({ echoed: 'resources/read' });
    expect(beta.requests).toHaveLength(1);
    const [request] = beta.requests;
    expect(request!.params).toEqual({ uri: 'file:///x', _meta: { trace: 't1' } });
    expect(request!.options).toMatchObject({ timeoutMs: 500, priority: 'high' });
    // Progress goes back under MCP's name with the browser's own token.
    expect(p.notes('notifications/progress')).toEqual([{ progress: 1, total: 2, progressToken: 'tok' }]);
  });

  it('answers list methods in MCP shapes and tools/call by name (the old `tool` key still works)', async () => {
    const { handlers, peer, alpha } = setup();
    const p = peer();
    expect(await handlers.handle(p, 'tools/list', { server: 'alpha' }, 1)).toEqual({ tools: [{ name: 'echo', inputSchema: { type: 'object' } }] });
    expect(await handlers.handle(p, 'resources/list', { server: 'alpha' }, 2)).toEqual({ resources: [{ uri: 'file:///a', name: 'a' }] });
    expect(await handlers.handle(p, 'resources/templates/list', { server: 'alpha' }, 3)).toEqual({ resourceTemplates: [] });
    await handlers.handle(p, 'tools/call', { server: 'alpha', name: 'echo', arguments: { a: 1 }, retryable: true, task: true }, 4);
    await handlers.handle(p, 'tools/call', { server: 'alpha', tool: 'echo' }, 5);
    expect(alpha.calls.map((c) => [c.tool, c.args, c.options.retryable, c.options.task])).toEqual([
      ['echo', { a: 1 }, true, true],
      ['echo', {}, undefined, undefined],
    ]);
    await handlers.handle(p, 'logging/setLevel', { server: 'alpha', level: 'debug' }, 6);
    expect(alpha.logLevel).toBe('debug');
    await expect(handlers.handle(p, 'logging/setLevel', { server: 'alpha', level: 'loud' }, 7)).rejects.toMatchObject({ code: 'InvalidParams' });
  });

  it('forwards only allow-listed methods, and host control only when allowed (-32601 otherwise)', async () => {
    const { handlers, peer } = setup({ methods: ['tools/list'], allowHostControl: false });
    const p = peer();
    expect(await rpcCodeOf(handlers.handle(p, 'resources/read', { server: 'alpha', uri: 'x' }, 1))).toBe(-32601);
    expect(await rpcCodeOf(handlers.handle(p, 'initialize', { server: 'alpha' }, 2))).toBe(-32601);
    expect(await rpcCodeOf(handlers.handle(p, 'server/stop', { server: 'alpha' }, 3))).toBe(-32601);
    expect(handlers.has('tools/list')).toBe(true);
    expect(handlers.has('servers/list')).toBe(true);
    // The default list is the client-side MCP surface and nothing else.
    const defaults = setup();
    expect(defaults.handlers.has('server/discover')).toBe(false);
    expect(defaults.handlers.has('notifications/initialized')).toBe(false);
    for (const m of MCP_CLIENT_METHODS) expect(defaults.handlers.has(m)).toBe(true);
  });

  it('rejects an unknown server, bad options and a duplicate id, with InvalidParams / InvalidRequest', async () => {
    const { handlers, peer, alpha } = setup();
    const p = peer();
    await expect(handlers.handle(p, 'resources/read', { server: 'gamma', uri: 'x' }, 1)).rejects.toMatchObject({ code: 'InvalidParams' });
    await expect(handlers.handle(p, 'resources/read', { server: 'alpha', uri: 'x', timeoutMs: -1 }, 2)).rejects.toMatchObject({ code: 'InvalidParams' });
    await expect(handlers.handle(p, 'resources/read', { server: 'alpha', uri: 'x', _meta: { progressToken: {} } }, 3)).rejects.toMatchObject({ code: 'InvalidParams' });
    alpha.hang = true;
    const first = handlers.handle(p, 'resources/read', { server: 'alpha', uri: 'x' }, 'same');
    await expect(handlers.handle(p, 'resources/read', { server: 'alpha', uri: 'x' }, 'same')).rejects.toMatchObject({ code: 'ProtocolError', rpcCode: -32600 });
    expect(handlers.cancel(p, 'same', 'test')).toBe(true);
    await expect(first).rejects.toMatchObject({ code: 'Cancelled' });
  });

  it('limits requests in flight per connection (QueueFull) and aborts them all when the connection goes', async () => {
    const { handlers, peer, alpha } = setup({ maxInFlight: 2 });
    const p = peer();
    const other = peer();
    alpha.hang = true;
    const running = [1, 2].map((id) => handlers.handle(p, 'prompts/get', { server: 'alpha', name: 'x' }, id));
    await expect(handlers.handle(p, 'prompts/get', { server: 'alpha', name: 'x' }, 3)).rejects.toMatchObject({ code: 'QueueFull' });
    expect(handlers.busyOn('alpha')).toEqual([p]);
    // Another connection has its own budget.
    const theirs = handlers.handle(other, 'prompts/get', { server: 'alpha', name: 'x' }, 1);
    handlers.detach(p, 'connection closed');
    for (const r of running) await expect(r).rejects.toMatchObject({ code: 'Cancelled', message: expect.stringContaining('connection closed') });
    await expect(handlers.handle(p, 'ping', {}, 9)).rejects.toBeInstanceOf(NotConnectedError);
    handlers.detach(other, 'done');
    await expect(theirs).rejects.toMatchObject({ code: 'Cancelled' });
  });

  it('counts calls against the host concurrent-task limit (a counter, no entries) and says which limit refused a call', async () => {
    const refused: string[] = [];
    const { handlers, host, peer, alpha } = setup({ maxInFlight: 2, concurrentTasks: 3, onRefused: (limit) => refused.push(limit) });
    const [a, b] = [peer(), peer()];
    alpha.hang = true;
    const running = [handlers.handle(a, 'prompts/get', { server: 'alpha', name: 'x' }, 1), handlers.handle(a, 'prompts/get', { server: 'alpha', name: 'x' }, 2)];
    running.push(handlers.handle(b, 'prompts/get', { server: 'alpha', name: 'x' }, 1));
    expect(host.resources.count('task')).toBe(3);
    expect(host.resources.list({ type: 'task' })).toEqual([]); // no per-call entry
    await expect(handlers.handle(a, 'prompts/get', { server: 'alpha', name: 'x' }, 3)).rejects.toMatchObject({
      code: 'QueueFull',
      message: expect.stringContaining('maxInFlightPerConnection'),
      data: { limit: 'maxInFlightPerConnection', maxInFlight: 2 },
    });
    await expect(handlers.handle(b, 'prompts/get', { server: 'alpha', name: 'x' }, 2)).rejects.toMatchObject({
      code: 'ResourceLimit',
      message: expect.stringContaining('limits.concurrentTasks'),
      data: { resource: 'concurrentTasks', limit: 3 },
    });
    expect(refused).toEqual(['maxInFlightPerConnection', 'concurrentTasks']);
    handlers.detach(a, 'gone');
    handlers.detach(b, 'gone');
    await Promise.allSettled(running);
    expect(host.resources.count('task')).toBe(0); // every slot given back
  });
});

describe('gateway handlers: streamed results', () => {
  it('sends each text block as chunks in content order and keeps every block in its place (regression: [text, image, text] came back as [text+text, image])', async () => {
    const { handlers, peer, alpha } = setup({ chunkChars: 4 });
    const image = { type: 'image', data: 'AAAA', mimeType: 'image/png' };
    alpha.result = { content: [{ type: 'text', text: 'Here is:' }, image, { type: 'text', text: 'Bye' }] };
    const p = peer();
    const result = (await handlers.handle(p, 'tools/call', { server: 'alpha', name: 'img', _meta: { streamToken: 's' } }, 1)) as CallToolResult;
    const chunks = p.notes('notifications/stream/chunk');
    expect(chunks.map((c) => [c.seq, c.data])).toEqual([
      [0, 'Here'],
      [1, ' is:'],
      [2, 'Bye'],
    ]);
    expect(result.content.map((b) => b.type)).toEqual(['text', 'image', 'text']);
    expect(result._meta?.streamed).toEqual({ chunks: 3, bytes: 11 });
    // The client puts it back together as it was.
    expect(reassemble(result, chunks.map((c) => c.data as string)).content).toEqual(alpha.result.content);
  });
});

describe('gateway handlers: server notifications', () => {
  it('forwards to the connections that listen (server or *, method or *), tagged with the server; per-call ones never', async () => {
    const { handlers, peer } = setup();
    const logs = peer();
    const all = peer();
    const none = peer();
    await handlers.handle(logs, 'gateway/listen', { server: 'alpha', methods: ['notifications/message'] }, 1);
    await handlers.handle(all, 'gateway/listen', { methods: ['*'] }, 1);
    handlers.serverNotification('alpha', 'notifications/message', { level: 'info', data: 'hi', _meta: { keep: true } });
    handlers.serverNotification('beta', 'notifications/message', { level: 'info', data: 'other' });
    handlers.serverNotification('beta', 'notifications/tools/list_changed', undefined);
    handlers.serverNotification('alpha', 'notifications/progress', { progressToken: 3, progress: 1 });
    expect(logs.notes('notifications/message')).toEqual([{ level: 'info', data: 'hi', _meta: { keep: true, 'mcp-ipc/server': 'alpha' } }]);
    expect(all.sent.map((m) => ('method' in m ? m.method : ''))).toEqual(['notifications/message', 'notifications/message', 'notifications/tools/list_changed']);
    expect(none.sent).toEqual([]);
    await handlers.handle(all, 'gateway/unlisten', { server: '*', methods: ['*'] }, 2);
    handlers.serverNotification('alpha', 'notifications/message', { data: 'later' });
    expect(all.sent).toHaveLength(3);
    await expect(handlers.handle(all, 'gateway/listen', { server: 'gamma', methods: ['x'] }, 3)).rejects.toMatchObject({ code: 'InvalidParams' });
    await expect(handlers.handle(all, 'gateway/listen', { methods: 'x' }, 4)).rejects.toMatchObject({ code: 'InvalidParams' });
  });

  it('subscribes a connection to a resource once, delivers its updates tagged (not twice to a listener of everything), and unsubscribes when it goes', async () => {
    const { handlers, peer, alpha } = setup();
    const p = peer();
    await handlers.handle(p, 'gateway/listen', { methods: ['*'] }, 1);
    await handlers.handle(p, 'resources/subscribe', { server: 'alpha', uri: 'file:///a' }, 2);
    await handlers.handle(p, 'resources/subscribe', { server: 'alpha', uri: 'file:///a' }, 3);
    expect(alpha.subscriptions.get('file:///a')?.size).toBe(1);
    for (const listener of alpha.subscriptions.get('file:///a')!) listener({ uri: 'file:///a' });
    handlers.serverNotification('alpha', 'notifications/resources/updated', { uri: 'file:///a' });
    expect(p.notes('notifications/resources/updated')).toEqual([{ uri: 'file:///a', _meta: { 'mcp-ipc/server': 'alpha' } }]);
    handlers.detach(p, 'closed');
    await new Promise((r) => setImmediate(r));
    expect(alpha.unsubscribed).toEqual(['file:///a']);
  });
});

describe('server→client requests', () => {
  const ctx = (): RequestContext => ({ id: 1, method: 'elicitation/create', signal: new AbortController().signal });

  it('installs handlers only where a server has none of its own, and removes them again', () => {
    const { router, alpha, beta } = setup();
    alpha.setRequestHandler('roots/list', () => ({ roots: [] }));
    const own = alpha.handlers.get('roots/list');
    router.install();
    expect(alpha.handlers.get('roots/list')).toBe(own);
    expect([...beta.handlers.keys()].sort()).toEqual(['elicitation/create', 'roots/list', 'sampling/createMessage']);
    router.uninstall();
    expect([...beta.handlers.keys()]).toEqual([]);
    expect(alpha.handlers.get('roots/list')).toBe(own);
  });

  it('asks the calling connection when it handles the method, else the most recent registration; -32601 when none', async () => {
    const { router, handlers, peer, alpha } = setup();
    router.install();
    const elicit = alpha.handlers.get('elicitation/create')!;
    await expect(Promise.resolve().then(() => elicit({ message: 'x' }, ctx()))).rejects.toMatchObject({ rpcCode: -32601 });
    const first = peer();
    const second = peer();
    first.answer = () => Promise.resolve({ action: 'accept', content: { who: 'first' } });
    second.answer = () => Promise.resolve({ action: 'accept', content: { who: 'second' } });
    expect(await handlers.handle(first, 'gateway/handle', { methods: ['elicitation/create', 'not/allowed'] }, 1)).toEqual({ methods: ['elicitation/create'] });
    await handlers.handle(second, 'gateway/handle', { methods: ['elicitation/create'] }, 1);
    // No caller known: the most recent registration.
    expect(await elicit({ message: 'x', _meta: { a: 1 } }, ctx())).toEqual({ action: 'accept', content: { who: 'second' } });
    expect(second.asked[0]).toEqual({ method: 'elicitation/create', params: { message: 'x', _meta: { a: 1, 'mcp-ipc/server': 'alpha' } } });
    // An input_required round of first's request (the modern case) carries the origin the gateway gave it: first.
    const asked = first.asked.length;
    expect(await elicit({ message: 'y' }, { ...ctx(), origin: originOf(first) })).toEqual({ action: 'accept', content: { who: 'first' } });
    expect(first.asked).toHaveLength(asked + 1);
    // An origin that is no connection's (another door's caller): the most recent registration.
    expect(await elicit({ message: 'y' }, { ...ctx(), origin: { door: 'websocket', client: String(first.id) } })).toEqual({ action: 'accept', content: { who: 'second' } });
    // A connection with a call running on the server (the legacy case): that one.
    alpha.hang = true;
    const running = handlers.handle(first, 'prompts/get', { server: 'alpha', name: 'p' }, 7);
    expect(await elicit({ message: 'z' }, ctx())).toEqual({ action: 'accept', content: { who: 'first' } });
    handlers.cancel(first, 7, 'done');
    await running.catch(() => undefined);
    // Gone connections are forgotten.
    handlers.detach(second, 'closed');
    second.close();
    expect(router.pick('alpha', 'elicitation/create')).toBe(first);
    await handlers.handle(first, 'gateway/unhandle', { methods: ['elicitation/create'] }, 2);
    expect(router.pick('alpha', 'elicitation/create')).toBeUndefined();
  });
});
