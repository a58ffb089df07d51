/**
 * McpBridge's call path and policies on injected collaborators: each "process" is an in-process
 * MCP server behind a MemoryTransport pair (no child process, no Python), so restart, retry and
 * validation behaviour is tested directly.
 */
import { Ajv } from 'ajv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Cancellation } from '../../src/core/cancellation.js';
import { InvalidParamsError } from '../../src/core/errors.js';
import type { RequestContext } from '../../src/core/ipc-manager.js';
import type { ExitInfo, ServerEvent, ServerState } from '../../src/core/gateway-protocol.js';
import { type JsonRpcMessage, type JsonRpcRequest, failure, success } from '../../src/core/jsonrpc.js';
import { MemoryTransport } from '../../src/core/memory-transport.js';
import { acceptsAnyObject, McpBridge } from '../../src/node/mcp-bridge.js';
import type { ProcessTransport } from '../../src/node/process-manager.js';

const TOOLS = [
  { name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
  { name: 'any', inputSchema: { type: 'object', properties: {} } },
  { name: 'read', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
];

/**
 * One scripted server process answering over a MemoryTransport pair: a legacy MCP server, or with
 * `modern` a 2026-07-28 one whose every change stream (`subscriptions/listen`) is acknowledged and
 * then at once closed again (a server that keeps ending them).
 */
class FakeServerProcess implements ProcessTransport {
  static nextPid = 5000;
  readonly pid = FakeServerProcess.nextPid++;
  exit: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  /** tools/list requests answered, and tools the server offers beyond TOOLS (added without list_changed). */
  listed = 0;
  readonly added: Array<{ name: string; inputSchema: Record<string, unknown> }> = [];
  /** Calls to `read` wait here until the test answers them (or the process dies). */
  readonly held: JsonRpcRequest[] = [];
  private readonly client: MemoryTransport;
  private readonly server: MemoryTransport;
  private resolveExited!: (info: ExitInfo) => void;

  /** The `subscriptions/listen` requests received (modern). */
  readonly listens: JsonRpcRequest[] = [];

  constructor(
    private readonly holdReads: boolean,
    private readonly modern = false,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    [this.client, this.server] = MemoryTransport.pair();
    this.server.onmessage = (m) => this.answer(m);
    this.client.onmessage = (m) => this.onmessage?.(m);
    this.client.onclose = () => this.onclose?.();
  }

  set onmessage(f: ((m: JsonRpcMessage) => void) | undefined) {
    this.deliver = f;
  }
  get onmessage(): ((m: JsonRpcMessage) => void) | undefined {
    return this.deliver;
  }
  private deliver: ((m: JsonRpcMessage) => void) | undefined;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  async start(): Promise<void> {
    await this.server.start();
    await this.client.start();
  }
  send(message: JsonRpcMessage): Promise<void> {
    return this.client.send(message);
  }
  close(): Promise<void> {
    this.die(0);
    return Promise.resolve();
  }
  terminate(): Promise<void> {
    this.die(null);
    return Promise.resolve();
  }
  stderrTail(): string[] {
    return [];
  }

  /** The process exits (a crash when `code` is not 0). */
  die(code: number | null): void {
    if (this.exit) return;
    this.exit = { code, signal: code === null ? 'SIGTERM' : null, at: Date.now() };
    this.resolveExited(this.exit);
    void this.client.close();
  }

  release(): void {
    for (const request of this.held.splice(0)) void this.server.send(success(request.id, { content: [{ type: 'text', text: `read by ${this.pid}` }] }));
  }

  private answer(m: JsonRpcMessage): void {
    if (!('method' in m) || !('id' in m)) return;
    const reply = (result: unknown) => void this.server.send(success(m.id, result));
    const params = (m.params ?? {}) as { name?: string; arguments?: { text?: string }; protocolVersion?: string };
    switch (m.method) {
      case 'server/discover':
        if (!this.modern) break;
        return reply({ resultType: 'complete', supportedVersions: ['2026-07-28'], capabilities: { tools: { listChanged: true } }, _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'fake', version: '1' } } });
      case 'subscriptions/listen': {
        if (!this.modern) break;
        this.listens.push(m);
        const meta = { 'io.modelcontextprotocol/subscriptionId': m.id };
        void this.server.send({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { _meta: meta, notifications: (m.params as { notifications: unknown }).notifications } });
        return reply({ resultType: 'complete', _meta: meta });
      }
      case 'initialize':
        return reply({ protocolVersion: params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1' } });
      case 'tools/list':
        this.listed++;
        return reply(this.modern ? { resultType: 'complete', tools: [...TOOLS, ...this.added] } : { tools: [...TOOLS, ...this.added] });
      case 'tools/call':
        // Modern: `ask` needs an answer from the client first (an input_required round).
        if (params.name === 'ask' && this.modern && !(m.params as { inputResponses?: unknown }).inputResponses) {
          return reply({ resultType: 'input_required', inputRequests: { q: { method: 'elicitation/create', params: { message: 'name?', requestedSchema: { type: 'object', properties: {} } } } } });
        }
        if (params.name === 'read' && this.holdReads) {
          this.held.push(m);
          return;
        }
        return reply({ content: [{ type: 'text', text: params.arguments?.text ?? params.name }] });
      case 'ping':
        return reply({});
    }
    void this.server.send(failure(m.id, -32601, `Method not found: ${m.method}`));
  }
}

const bridges: Array<McpBridge<FakeServerProcess>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(bridges.splice(0).map((b) => b.stop()));
});

function bridge(holdReads = false, now?: () => number, modern = false) {
  const spawned: FakeServerProcess[] = [];
  const b = new McpBridge<FakeServerProcess>(
    'fake',
    {
      command: 'fake-server',
      probeTimeoutMs: 50,
      queue: { retryDelayMs: 5 },
      process: { healthCheckIntervalMs: 0, usageIntervalMs: 0, restartDelayMs: 5, restartMaxDelayMs: 20, shutdownTimeoutMs: 100 },
    },
    {
      // Backoff delays without jitter: each one is its full step.
      random: () => 1,
      createTransport: () => {
        const p = new FakeServerProcess(holdReads, modern);
        spawned.push(p);
        return p;
      },
      ...(now ? { now } : {}),
    },
  );
  bridges.push(b);
  return { b, spawned };
}

function nextState(b: McpBridge<FakeServerProcess>, wanted: ServerState): Promise<void> {
  return new Promise((resolve) => {
    const off = b.on('state', ({ state }) => {
      if (state !== wanted) return;
      off();
      resolve();
    });
  });
}

describe('McpBridge call path', () => {
  it('hands the caller’s options to the engine as they are (no copy per call)', async () => {
    const { b } = bridge();
    await b.start();
    await b.listTools();
    const request = vi.spyOn(b.ipc, 'request');
    const options = { priority: 'high' as const };
    await expect(b.call('echo', { text: 'hi' }, options)).resolves.toEqual({ content: [{ type: 'text', text: 'hi' }] });
    expect(request).toHaveBeenCalledTimes(1);
    expect(request.mock.calls[0]![2]).toBe(options);
  });

  it("gives an input_required round's handler the call's origin, and a cancel handle ends the call while it waits", async () => {
    const { b } = bridge(false, undefined, true);
    const contexts: RequestContext[] = [];
    b.setRequestHandler('elicitation/create', (_params, context) => {
      contexts.push(context);
      return new Promise(() => undefined); // a person who has not answered yet
    });
    await b.start();
    expect(b.server.era).toBe('modern');
    const origin = { door: 'websocket', client: '3' };
    const cancel = new Cancellation();
    // `ask` is not in the tool list: unchecked.
    const call = b.call('ask', {}, { origin, cancel, validate: false }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(contexts).toHaveLength(1));
    expect(contexts[0]!.origin).toBe(origin);
    cancel.cancel('the page went away');
    expect(await call).toMatchObject({ code: 'Cancelled', data: { reason: 'the page went away' } });
    expect(contexts[0]!.signal.aborted).toBe(true);
  });

  it('makes no options object for a call without any (the engine keeps it while the call is pending)', async () => {
    const { b } = bridge();
    await b.start();
    await b.listTools();
    const request = vi.spyOn(b.ipc, 'request');
    await b.call('echo', { text: 'a' });
    await b.call('echo', { text: 'b' });
    expect(request).toHaveBeenCalledTimes(2);
    expect(request.mock.calls[1]![2]).toBe(request.mock.calls[0]![2]);
  });

  it('still marks calls to read-only tools retryable (a copy only where one is needed)', async () => {
    const { b } = bridge();
    await b.start();
    await b.listTools();
    const request = vi.spyOn(b.ipc, 'request');
    await b.call('read', {});
    expect(request.mock.calls[0]![2]).toMatchObject({ retryable: true });
  });

  it('compiles an input schema once per tool list (with Ajv only beyond the simple subset), and not at all when it accepts any object', async () => {
    const { b, spawned } = bridge();
    await b.start();
    const pick = { type: 'object', properties: { v: { anyOf: [{ type: 'string' }, { type: 'number' }] } } };
    spawned[0]!.added.push({ name: 'pick', inputSchema: pick });
    await b.listTools({ refresh: true });
    const compile = vi.spyOn(Ajv.prototype, 'compile');
    for (let i = 0; i < 3; i++) {
      await b.call('echo', { text: `${i}` });
      await b.call('any', { whatever: i });
      await b.call('pick', { v: i });
    }
    // `anyOf` is Ajv's, once; echo's schema is in the subset simple-schema.ts compiles (same verdicts and errors).
    expect(compile).toHaveBeenCalledTimes(1);
    expect(compile.mock.calls[0]![0]).toEqual(pick);
    await expect(b.call('echo', {})).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(b.call('echo', { text: 1 })).rejects.toThrow('Invalid arguments for echo: /text must be string');
    await expect(b.call('pick', { v: true })).rejects.toBeInstanceOf(InvalidParamsError);
    // Skipping the schema does not let a non-object through (plain JavaScript callers can pass one).
    await expect(b.call('any', [] as unknown as Record<string, unknown>)).rejects.toBeInstanceOf(InvalidParamsError);
  });

  it('calls to unknown tools re-fetch the tool list at most once per interval, and still find a tool added since', async () => {
    let now = 1_000_000;
    const { b, spawned } = bridge(false, () => now);
    await b.start();
    await b.listTools();
    const server = spawned[0]!;
    const listed = server.listed;
    // Within the interval after the last fetch: no fetch per call, however many calls.
    const unknown = await Promise.all([1, 2, 3].map(() => b.call('nope', {}).catch((e: unknown) => e)));
    for (const e of unknown) expect(e).toBeInstanceOf(InvalidParamsError);
    expect(server.listed).toBe(listed);
    // A burst after the interval shares one refresh.
    now += 1_000;
    await Promise.all([1, 2, 3].map(() => b.call('nope', {}).catch(() => undefined)));
    expect(server.listed).toBe(listed + 1);
    // A tool added without list_changed is found once the interval has passed.
    server.added.push({ name: 'fresh', inputSchema: { type: 'object' } });
    now += 1_000;
    await expect(b.call('fresh', {})).resolves.toEqual({ content: [{ type: 'text', text: 'fresh' }] });
    expect(server.listed).toBe(listed + 2);
  });

  it('validates the arguments of tools whose input schemas share an $id, each against its own', async () => {
    const { b, spawned } = bridge();
    await b.start();
    const schema = (type: string) => ({ $id: 'https://example.com/args', type: 'object', properties: { v: { type } }, required: ['v'] });
    spawned[0]!.added.push({ name: 'str', inputSchema: schema('string') }, { name: 'num', inputSchema: schema('number') });
    await b.listTools({ refresh: true });
    await expect(b.call('str', { v: 1 })).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(b.call('num', { v: 'x' })).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(b.call('num', { v: 1 })).resolves.toBeDefined();
  });

  it('tells trivial input schemas from the rest', () => {
    for (const schema of [{}, { type: 'object' }, { type: 'object', properties: {} }, { type: 'object', title: 'No arguments' }]) {
      expect(acceptsAnyObject(schema)).toBe(true);
    }
    for (const schema of [
      { type: 'object', properties: { a: { type: 'string' } } },
      { type: 'object', required: ['a'] },
      { type: 'object', additionalProperties: false },
      { $ref: '#/$defs/x' },
      { type: 'array' },
      null,
      [],
    ]) {
      expect(acceptsAnyObject(schema)).toBe(false);
    }
  });
});

describe('McpBridge restart policy (injected transports, no processes)', () => {
  it('restarts a crashed server and resends an in-flight read-only call to the new process', async () => {
    const { b, spawned } = bridge(true);
    await b.start();
    await b.listTools();
    const call = b.call('read', {});
    await vi.waitFor(() => expect(spawned[0]!.held).toHaveLength(1));
    const running = nextState(b, 'restarting').then(() => nextState(b, 'running'));
    spawned[0]!.die(1);
    await running;
    expect(b.process.restarts).toBe(1);
    await vi.waitFor(() => expect(spawned[1]?.held).toHaveLength(1));
    spawned[1]!.release();
    await expect(call).resolves.toEqual({ content: [{ type: 'text', text: `read by ${spawned[1]!.pid}` }] });
  });

  it('a planned restart waits for in-flight calls on the engine\'s idle event, not on a timer', async () => {
    const { b, spawned } = bridge(true);
    await b.start();
    await b.listTools();
    const call = b.call('read', {});
    await vi.waitFor(() => expect(spawned[0]!.held).toHaveLength(1));
    const realSetTimeout = globalThis.setTimeout;
    // From here no timer fires: only events can end the drain (a polling drain would wait for ever).
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] });
    try {
      const restarted = b.restart('test');
      spawned[0]!.release();
      await expect(call).resolves.toMatchObject({ content: [{ text: `read by ${spawned[0]!.pid}` }] });
      const outcome = await Promise.race([restarted.then(() => 'restarted'), new Promise((r) => realSetTimeout(() => r('stuck'), 2_000))]);
      expect(outcome).toBe('restarted');
    } finally {
      vi.useRealTimers();
    }
    expect(spawned).toHaveLength(2);
    expect(b.state).toBe('running');
  });

  it('reopens a change stream the server keeps ending with growing delays, and stops after the bound until a subscription change', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { b, spawned } = bridge(false, undefined, true);
      const attempt = (n: number) => eventMatching(b, new RegExp(`attempt ${n} of 5\\)$`));
      const first = attempt(1);
      await b.start(); // the handshake's stream: acknowledged, then closed at once
      expect(b.server.era).toBe('modern');
      expect((await first).message).toBe('Change stream (subscriptions/listen) was closed by the server; reopening in 500 ms (attempt 1 of 5)');
      for (let n = 2; n <= 5; n++) {
        const next = attempt(n);
        await vi.advanceTimersByTimeAsync(500 * 2 ** (n - 2));
        expect((await next).message).toContain(`reopening in ${500 * 2 ** (n - 1)} ms`);
      }
      const gaveUp = eventMatching(b, /not reopened after 5 reopens in a row/);
      await vi.advanceTimersByTimeAsync(8_000);
      expect(await gaveUp).toMatchObject({ level: 'error' });
      expect(spawned[0]!.listens).toHaveLength(6);
      await vi.advanceTimersByTimeAsync(120_000);
      expect(spawned[0]!.listens).toHaveLength(6); // bounded: nothing more
      // A subscription change opens a stream again, and the count starts afresh.
      const again = eventMatching(b, /^Change stream .* \(attempt 1 of 5\)$/, b.history().length);
      await b.subscribeResource('fake://r', () => undefined);
      await again;
      expect(spawned[0]!.listens).toHaveLength(7);
      expect(spawned[0]!.listens[6]!.params).toMatchObject({ notifications: { toolsListChanged: true, resourceSubscriptions: ['fake://r'] } });
    } finally {
      vi.useRealTimers();
    }
  });
});

/** Resolves with the first history event from index `from` on (past or future) whose message matches. */
function eventMatching(b: McpBridge<FakeServerProcess>, pattern: RegExp, from = 0): Promise<ServerEvent> {
  const past = b.history().slice(from).find((e) => pattern.test(e.message));
  if (past) return Promise.resolve(past);
  return new Promise((resolve) => {
    const off = b.on('event', (e) => {
      if (!pattern.test(e.message)) return;
      off();
      resolve(e);
    });
  });
}
