import { afterEach, describe, expect, it, vi } from 'vitest';
import { IpcManager, type JsonRpcMessage, type JsonRpcRequest, MemoryTransport, isRequest } from '../../src/core/index.js';
import { IpcError, ProtocolError, TimeoutError, UnsupportedProtocolVersionError } from '../../src/core/errors.js';
import { McpSession, META_CLIENT_CAPABILITIES, META_LOG_LEVEL, META_PROTOCOL_VERSION } from '../../src/core/mcp-session.js';

type Answer = { result: unknown } | { error: { code: number; message: string; data?: unknown } } | 'silence';

/** A scripted server: `answer(method, params)` decides each reply; everything received is kept. */
async function setup(answer: (request: JsonRpcRequest) => Answer, options: ConstructorParameters<typeof IpcManager>[1] = {}) {
  const [client, server] = MemoryTransport.pair();
  const received: JsonRpcMessage[] = [];
  server.onmessage = (m) => {
    received.push(m);
    if (!isRequest(m)) return;
    const a = answer(m);
    if (a === 'silence') return;
    void server.send('result' in a ? { jsonrpc: '2.0', id: m.id, result: a.result } : { jsonrpc: '2.0', id: m.id, error: a.error });
  };
  await server.start();
  const ipc = new IpcManager(client, options);
  managers.push(ipc);
  await ipc.start();
  const requests = (method?: string) => received.filter((m): m is JsonRpcRequest => isRequest(m) && (method === undefined || m.method === method));
  return { ipc, requests, received };
}
const managers: IpcManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

const discovered = { result: { supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, _meta: { 'io.modelcontextprotocol/serverInfo': { name: 's', version: '1' } } } };
const initialized = (version = '2025-11-25') => ({ result: { protocolVersion: version, capabilities: { logging: {} }, serverInfo: { name: 'l', version: '2' } } });
const notFound = { error: { code: -32601, message: 'Method not found' } };

describe('McpSession: era detection', () => {
  it('goes modern on a server/discover reply, with the envelope on every request and no ping', async () => {
    const { ipc, requests } = await setup((r) => (r.method === 'server/discover' ? discovered : r.method === 'x' ? { result: { ok: 1 } } : notFound));
    const session = new McpSession(ipc);
    ipc.setRequestHandler('sampling/createMessage', () => ({}));
    await expect(session.connect(1000)).resolves.toEqual({ era: 'modern', protocolVersion: '2026-07-28', serverInfo: { name: 's', version: '1' }, capabilities: { tools: {} } });
    await session.request('x', { a: 1 });
    await session.healthCheck(1000);
    const x = requests('x')[0]!.params as { a: number; _meta: Record<string, unknown> };
    expect(x.a).toBe(1);
    expect(x._meta[META_PROTOCOL_VERSION]).toBe('2026-07-28');
    expect(x._meta[META_CLIENT_CAPABILITIES]).toEqual({ sampling: {}, extensions: { 'io.modelcontextprotocol/tasks': {} } });
    expect(requests('ping')).toHaveLength(0);
    expect(requests('server/discover')).toHaveLength(2);
    expect(requests('initialize')).toHaveLength(0);
  });

  it('falls back to initialize on method-not-found, and then pings', async () => {
    const { ipc, requests, received } = await setup((r) => (r.method === 'initialize' ? initialized() : r.method === 'ping' ? { result: {} } : notFound));
    const session = new McpSession(ipc);
    await expect(session.connect(1000)).resolves.toMatchObject({ era: 'legacy', protocolVersion: '2025-11-25', serverInfo: { name: 'l' } });
    await session.healthCheck(1000);
    expect(requests().map((r) => r.method)).toEqual(['server/discover', 'initialize', 'ping']);
    expect(received.some((m) => 'method' in m && m.method === 'notifications/initialized')).toBe(true);
  });

  it('falls back to initialize when the probe meets silence', async () => {
    const { ipc } = await setup((r) => (r.method === 'initialize' ? initialized('2025-06-18') : 'silence'));
    const session = new McpSession(ipc, { probeTimeoutMs: 30 });
    await expect(session.connect(1000)).resolves.toMatchObject({ era: 'legacy', protocolVersion: '2025-06-18' });
  });

  it('goes legacy when -32022 names only handshake revisions', async () => {
    const { ipc } = await setup((r) =>
      r.method === 'server/discover' ? { error: { code: -32022, message: 'Unsupported', data: { supported: ['2025-06-18'], requested: '2026-07-28' } } } : initialized('2025-06-18'),
    );
    await expect(new McpSession(ipc).connect(1000)).resolves.toMatchObject({ era: 'legacy' });
  });

  it('fails at once with UnsupportedProtocolVersionError when no revision is common', async () => {
    const { ipc, requests } = await setup(() => ({ error: { code: -32022, message: 'Unsupported', data: { supported: ['2099-01-01'], requested: '2026-07-28' } } }));
    const error = await new McpSession(ipc).connect(1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedProtocolVersionError);
    expect((error as UnsupportedProtocolVersionError).data).toMatchObject({ requested: '2026-07-28', supported: ['2099-01-01'] });
    expect((error as UnsupportedProtocolVersionError).code).toBe('UnsupportedProtocolVersion');
    expect(requests('initialize')).toHaveLength(0);
  });

  it('rejects an initialize answer with a revision it does not speak', async () => {
    const { ipc } = await setup((r) => (r.method === 'initialize' ? initialized('1999-01-01') : notFound));
    const error = await new McpSession(ipc).connect(1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedProtocolVersionError);
    expect((error as UnsupportedProtocolVersionError).data.supported).toEqual(['1999-01-01']);
  });

  it('re-probes when initialize answers -32022 naming a modern revision (a slow server locked itself modern)', async () => {
    let discovers = 0;
    const { ipc } = await setup((r) => {
      if (r.method === 'server/discover') return discovers++ === 0 ? 'silence' : discovered;
      return { error: { code: -32022, message: 'Unsupported', data: { supported: ['2026-07-28'] } } };
    });
    await expect(new McpSession(ipc, { probeTimeoutMs: 20 }).connect(1000)).resolves.toMatchObject({ era: 'modern' });
  });

  it('remembers a legacy era across reconnects (no probe) and probes again only when the handshake fails', async () => {
    let modern = false;
    const { ipc, requests } = await setup((r) => {
      if (r.method === 'server/discover') return modern ? discovered : notFound;
      if (r.method === 'initialize') return modern ? { error: { code: -32022, message: 'Unsupported', data: { supported: ['2026-07-28'] } } } : initialized();
      return notFound;
    });
    const session = new McpSession(ipc);
    await session.connect(1000);
    await session.connect(1000);
    expect(requests().map((r) => r.method)).toEqual(['server/discover', 'initialize', 'initialize']);
    modern = true; // the server was upgraded between restarts
    await expect(session.connect(1000)).resolves.toMatchObject({ era: 'modern' });
  });

  it('speaks only the enabled revisions', async () => {
    const { ipc, requests } = await setup((r) => (r.method === 'initialize' ? initialized('2025-06-18') : discovered));
    await expect(new McpSession(ipc, { protocolVersions: ['2025-06-18'] }).connect(1000)).resolves.toMatchObject({ era: 'legacy', protocolVersion: '2025-06-18' });
    expect((requests('initialize')[0]!.params as { protocolVersion: string }).protocolVersion).toBe('2025-06-18');
    expect(requests('server/discover')).toHaveLength(0);
    expect(() => new McpSession(ipc, { protocolVersions: ['2030-01-01'] })).toThrow(TypeError);
  });
});

describe('McpSession: modern requests', () => {
  it('answers input_required rounds through the request handlers and retries with the responses', async () => {
    const { ipc, requests } = await setup((r) => {
      if (r.method === 'server/discover') return discovered;
      const p = r.params as { inputResponses?: Record<string, { roots?: unknown[] }>; requestState?: string };
      if (!p.inputResponses) return { result: { resultType: 'input_required', inputRequests: { r: { method: 'roots/list' } }, requestState: 'opaque' } };
      return { result: { content: [{ type: 'text', text: `roots: ${p.inputResponses.r!.roots!.length}` }] } };
    });
    ipc.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///a' }] }));
    const session = new McpSession(ipc);
    await session.connect(1000);
    await expect(session.request('tools/call', { name: 't' })).resolves.toEqual({ content: [{ type: 'text', text: 'roots: 1' }] });
    const calls = requests('tools/call');
    expect(calls).toHaveLength(2);
    expect(calls[1]!.params).toMatchObject({ name: 't', inputResponses: { r: { roots: [{ uri: 'file:///a' }] } }, requestState: 'opaque' });
    expect(calls[0]!.id).not.toBe(calls[1]!.id);
  });

  it("fails the request with the handler's reason, as an IpcError, when a handler throws", async () => {
    const { ipc, requests } = await setup((r) => (r.method === 'server/discover' ? discovered : { result: { resultType: 'input_required', inputRequests: { r: { method: 'roots/list' } } } }));
    ipc.setRequestHandler('roots/list', () => {
      throw new Error('no roots for you');
    });
    const session = new McpSession(ipc);
    await session.connect(1000);
    const error = await session.request('tools/call', { name: 't' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IpcError);
    expect((error as IpcError).message).toBe('no roots for you');
    expect(requests('tools/call')).toHaveLength(1);
  });

  it('one deadline covers every round: a handler that never answers is aborted and the call times out at the hard cap', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const { ipc, requests } = await setup(
        (r) => (r.method === 'server/discover' ? discovered : { result: { resultType: 'input_required', inputRequests: { q: { method: 'elicitation/create', params: {} } } } }),
        { timeoutMs: 100, hardTimeoutMs: 1_000, now: () => Date.now() },
      );
      let handlerSignal: AbortSignal | undefined;
      ipc.setRequestHandler('elicitation/create', (_params, context) => {
        handlerSignal = context.signal;
        return new Promise(() => undefined); // a person who never answers, and a handler that ignores its signal
      });
      const session = new McpSession(ipc);
      await session.connect(1000);
      const call = session.request('tools/call', { name: 't' }).catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(999);
      expect(handlerSignal?.aborted).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      const error = await call;
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as TimeoutError).data).toMatchObject({ method: 'tools/call', kind: 'hard', timeoutMs: 1_000 });
      expect(handlerSignal?.aborted).toBe(true);
      expect(handlerSignal?.reason).toBe(error);
      expect(requests('tools/call')).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('each retry round gets only the time left of the one hard cap', async () => {
    let now = 0;
    const { ipc } = await setup(
      (r) => {
        if (r.method === 'server/discover') return discovered;
        const p = r.params as { inputResponses?: unknown };
        return p.inputResponses ? { result: { content: [] } } : { result: { resultType: 'input_required', inputRequests: { r: { method: 'roots/list' } } } };
      },
      { timeoutMs: 100, hardTimeoutMs: 1_000, now: () => now },
    );
    ipc.setRequestHandler('roots/list', () => {
      now += 400; // answering took 400 ms of the cap
      return { roots: [] };
    });
    const session = new McpSession(ipc);
    await session.connect(1000);
    const request = vi.spyOn(ipc, 'request');
    await session.request('tools/call', { name: 't' });
    expect(request.mock.calls.map((c) => c[2]?.hardTimeoutMs)).toEqual([undefined, 600]);

    // Nothing left once the answers are in: the retry is not sent at all.
    ipc.setRequestHandler('roots/list', () => {
      now += 5_000;
      return { roots: [] };
    });
    request.mockClear();
    await expect(session.request('tools/call', { name: 't' })).rejects.toBeInstanceOf(TimeoutError);
    expect(request).toHaveBeenCalledTimes(1);
  });

  it('gives up after maxInputRounds with a ProtocolError', async () => {
    const { ipc, requests } = await setup((r) => (r.method === 'server/discover' ? discovered : { result: { resultType: 'input_required', requestState: 's' } }));
    const session = new McpSession(ipc, { maxInputRounds: 2 });
    await session.connect(1000);
    await expect(session.request('tools/call', { name: 't' })).rejects.toBeInstanceOf(ProtocolError);
    expect(requests('tools/call')).toHaveLength(3);
  });

  it('carries the log level in _meta (modern) or sends logging/setLevel (legacy)', async () => {
    const modern = await setup((r) => (r.method === 'server/discover' ? discovered : { result: {} }));
    const m = new McpSession(modern.ipc);
    await m.connect(1000);
    await m.setLogLevel('warning');
    await m.request('x');
    expect((modern.requests('x')[0]!.params as { _meta: Record<string, unknown> })._meta[META_LOG_LEVEL]).toBe('warning');
    expect(modern.requests('logging/setLevel')).toHaveLength(0);

    const legacy = await setup((r) => (r.method === 'initialize' ? initialized() : r.method === 'server/discover' ? notFound : { result: {} }));
    const l = new McpSession(legacy.ipc);
    await l.connect(1000);
    await l.setLogLevel('debug');
    expect(legacy.requests('logging/setLevel')[0]!.params).toEqual({ level: 'debug' });
    await expect(l.setLogLevel('loud' as never)).rejects.toThrow(TypeError);
  });
});
