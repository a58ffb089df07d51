import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  InvalidParamsError,
  IpcError,
  IpcErrorCode,
  MessageTooLargeError,
  NotConnectedError,
  ProtocolError,
  QueueFullError,
  ResourceLimitError,
  RpcCode,
  ServerCrashedError,
  ServerError,
  StartupFailedError,
  TimeoutError,
  OutputSchemaMismatchError,
  ToolDeniedError,
  TlsError,
  UnauthorizedError,
  UnsupportedProtocolVersionError,
  ipcErrorFromJSON,
  isIpcError,
  toIpcError,
} from '../../src/core/errors.js';

const timeoutData = { method: 'tools/call', kind: 'idle' as const, phase: 'in-flight' as const, timeoutMs: 1000, queuedMs: 5, inFlightMs: 1000 };
const crashData = { exitCode: 1, signal: null, stderrTail: ['boom'], outcomeUnknown: true };
const startupData = {
  server: 'py',
  phase: 'handshake' as const,
  reason: 'start-up failed: unsupported protocol version',
  exitCode: null,
  signal: 'SIGTERM',
  stderrTail: ['starting', 'error: too old'],
  cause: { code: 'ProtocolError' as const, message: 'unsupported protocol version', rpcCode: -32600, data: { protocolVersion: '1999-01-01' } },
};

type Case = { name: string; make: () => IpcError; cls: abstract new (...args: never[]) => IpcError; code: IpcErrorCode; rpcCode: number };
const cases: Case[] = [
  { name: 'TimeoutError', make: () => new TimeoutError('timed out', timeoutData), cls: TimeoutError, code: 'Timeout', rpcCode: -32001 },
  { name: 'CancelledError', make: () => new CancelledError(), cls: CancelledError, code: 'Cancelled', rpcCode: -32800 },
  { name: 'QueueFullError', make: () => new QueueFullError(10), cls: QueueFullError, code: 'QueueFull', rpcCode: -32002 },
  { name: 'ServerCrashedError', make: () => new ServerCrashedError('crashed', crashData), cls: ServerCrashedError, code: 'ServerCrashed', rpcCode: -32003 },
  { name: 'NotConnectedError', make: () => new NotConnectedError(), cls: NotConnectedError, code: 'NotConnected', rpcCode: -32004 },
  { name: 'ProtocolError', make: () => new ProtocolError('bad frame', { line: 3 }), cls: ProtocolError, code: 'ProtocolError', rpcCode: -32600 },
  { name: 'MessageTooLargeError', make: () => new MessageTooLargeError(2000, 1000), cls: MessageTooLargeError, code: 'MessageTooLarge', rpcCode: -32005 },
  { name: 'ResourceLimitError', make: () => new ResourceLimitError('memory', 512), cls: ResourceLimitError, code: 'ResourceLimit', rpcCode: -32006 },
  { name: 'InvalidParamsError', make: () => new InvalidParamsError('bad args', { errors: ['x'] }), cls: InvalidParamsError, code: 'InvalidParams', rpcCode: -32602 },
  { name: 'ServerError', make: () => new ServerError('tool failed', -32099, { detail: 1 }), cls: ServerError, code: 'ServerError', rpcCode: -32099 },
  { name: 'StartupFailedError', make: () => new StartupFailedError('Server "py" failed to start: …', startupData), cls: StartupFailedError, code: 'StartupFailed', rpcCode: -32007 },
  {
    name: 'UnsupportedProtocolVersionError',
    make: () => new UnsupportedProtocolVersionError('no common version', { requested: '2026-07-28', supported: ['2099-01-01'], offered: ['2026-07-28', '2025-11-25'] }),
    cls: UnsupportedProtocolVersionError,
    code: 'UnsupportedProtocolVersion',
    rpcCode: -32022,
  },
  {
    name: 'OutputSchemaMismatchError',
    make: () => new OutputSchemaMismatchError('bad output', { tool: 't', result: { content: [] }, errors: [{ instancePath: '/x', message: 'must be number' }] }),
    cls: OutputSchemaMismatchError,
    code: 'OutputSchemaMismatch',
    rpcCode: -32012,
  },
  {
    name: 'ToolDeniedError',
    make: () => new ToolDeniedError('denied', { server: 's', tool: 'rm', reason: 'denied', pattern: 'rm*' }),
    cls: ToolDeniedError,
    code: 'ToolDenied',
    rpcCode: -32013,
  },
  {
    name: 'UnauthorizedError',
    make: () => new UnauthorizedError('refused', { url: 'https://mcp.example.com/mcp', status: 401, reason: 'refused', wwwAuthenticate: 'Bearer' }),
    cls: UnauthorizedError,
    code: 'Unauthorized',
    rpcCode: -32008,
  },
  {
    name: 'TlsError',
    make: () => new TlsError('not trusted', { url: 'https://mcp.example.com/mcp', reason: 'untrusted', osCode: 'SELF_SIGNED_CERT_IN_CHAIN' }),
    cls: TlsError,
    code: 'Tls',
    rpcCode: -32009,
  },
];

describe('IpcError family', () => {
  for (const c of cases) {
    describe(c.name, () => {
      it('has its stable code and rpcCode and is an IpcError and an Error', () => {
        const e = c.make();
        expect(e.code).toBe(c.code);
        expect(e.rpcCode).toBe(c.rpcCode);
        expect(e).toBeInstanceOf(c.cls);
        expect(e).toBeInstanceOf(IpcError);
        expect(e).toBeInstanceOf(Error);
        expect(isIpcError(e)).toBe(true);
        expect(e.name).toBe(c.name);
        expect(typeof e.stack).toBe('string');
      });

      it('round-trips through toJSON → JSON text → ipcErrorFromJSON', () => {
        const e = c.make();
        const json = e.toJSON();
        expect(json.code).toBe(c.code);
        expect(json.rpcCode).toBe(c.rpcCode);
        expect(json.message).toBe(e.message);
        const back = ipcErrorFromJSON(JSON.parse(JSON.stringify(e)));
        expect(back).toBeInstanceOf(c.cls);
        expect(back).toBeInstanceOf(IpcError);
        expect(back.code).toBe(e.code);
        expect(back.rpcCode).toBe(e.rpcCode);
        expect(back.message).toBe(e.message);
        expect(back.data).toEqual(e.data);
        expect(back.name).toBe(e.name);
        expect(back.toJSON()).toEqual(json);
      });
    });
  }

  it('every code has a case above', () => {
    expect(new Set(cases.map((c) => c.code))).toEqual(new Set(Object.values(IpcErrorCode)));
  });

  it('carries structured data', () => {
    expect(new TimeoutError('t', timeoutData).data).toEqual(timeoutData);
    expect(new QueueFullError(7).data).toEqual({ maxQueueSize: 7 });
    expect(new QueueFullError(7).message).toContain('7');
    expect(new MessageTooLargeError(2000, 1000).data).toEqual({ bytes: 2000, limit: 1000 });
    expect(new MessageTooLargeError(2000, 1000).message).toMatch(/2000.*1000/);
    expect(new ResourceLimitError('fds', 64).data).toEqual({ resource: 'fds', limit: 64 });
    expect(new ResourceLimitError('fds', 64, 'custom').message).toBe('custom');
    expect(new CancelledError('stop', { reason: 'user', phase: 'queued' }).data).toEqual({ reason: 'user', phase: 'queued' });
    expect(new NotConnectedError().message).toBe('Not connected');
    expect(new CancelledError().message).toBe('Request cancelled');
    expect(new StartupFailedError('x', startupData).data).toEqual(startupData);
  });

  it('StartupFailedError keeps its cause locally, and in wire form in its data', () => {
    const cause = new ProtocolError('unsupported protocol version', { protocolVersion: '1999-01-01' });
    const e = new StartupFailedError('failed to start', { ...startupData, cause: cause.toJSON() }, { cause });
    expect(e.cause).toBe(cause);
    const back = ipcErrorFromJSON(JSON.parse(JSON.stringify(e)));
    expect(back).toBeInstanceOf(StartupFailedError);
    expect((back as StartupFailedError).data.cause).toEqual(cause.toJSON());
    expect(ipcErrorFromJSON((back as StartupFailedError).data.cause)).toBeInstanceOf(ProtocolError);
  });

  it('ProtocolError accepts a custom rpcCode', () => {
    expect(new ProtocolError('parse', undefined, RpcCode.ParseError).rpcCode).toBe(-32700);
  });

  it('toJSON omits undefined data', () => {
    const json = new NotConnectedError('gone').toJSON();
    expect(json).toEqual({ code: 'NotConnected', message: 'gone', rpcCode: -32004 });
    expect('data' in json).toBe(false);
    expect('data' in new CancelledError().toJSON()).toBe(false);
  });

  it('keeps a cause when given one', () => {
    const cause = new Error('inner');
    expect(new IpcError('ServerError', 'outer', { cause }).cause).toBe(cause);
    expect('cause' in new IpcError('ServerError', 'outer')).toBe(false);
  });

  it('uses RPC codes in the JSON-RPC ranges', () => {
    for (const code of Object.values(RpcCode)) {
      expect(Number.isInteger(code)).toBe(true);
      expect(code).toBeLessThan(-32000 + 1);
    }
  });
});

describe('ipcErrorFromJSON', () => {
  it('keeps a missing rpcCode at the code default', () => {
    const e = ipcErrorFromJSON({ code: 'QueueFull', message: 'full' });
    expect(e).toBeInstanceOf(QueueFullError);
    expect(e.rpcCode).toBe(-32002);
    expect(e.data).toBeUndefined();
  });

  it('keeps a server-supplied rpcCode', () => {
    const e = ipcErrorFromJSON({ code: 'ServerError', message: 'x', rpcCode: -32050, data: [1] });
    expect(e).toBeInstanceOf(ServerError);
    expect(e.rpcCode).toBe(-32050);
    expect(e.data).toEqual([1]);
  });

  it('turns anything unrecognised into a ProtocolError carrying the input', () => {
    const inputs: unknown[] = [
      null,
      undefined,
      'Timeout',
      42,
      [],
      {},
      { code: 'Nope', message: 'x' },
      { code: 'Timeout' },
      { code: 'Timeout', message: 5 },
      { code: 'toString', message: 'x' },
      { code: -32001, message: 'x' },
    ];
    for (const input of inputs) {
      const e = ipcErrorFromJSON(input);
      expect(e).toBeInstanceOf(ProtocolError);
      expect(e.code).toBe('ProtocolError');
      expect(e.message).toBe('Malformed error object');
      expect(e.data).toBe(input);
    }
  });
});

describe('toIpcError', () => {
  it('returns an IpcError unchanged', () => {
    const e = new TimeoutError('t', timeoutData);
    expect(toIpcError(e)).toBe(e);
  });

  it('wraps an Error as a ServerError -32603 with its message and cause', () => {
    const inner = new TypeError('bad thing');
    const e = toIpcError(inner);
    expect(e).toBeInstanceOf(IpcError);
    expect(e.code).toBe('ServerError');
    expect(e.rpcCode).toBe(RpcCode.InternalError);
    expect(e.message).toBe('bad thing');
    expect(e.cause).toBe(inner);
  });

  it('wraps non-errors by their string form', () => {
    expect(toIpcError('plain').message).toBe('plain');
    expect(toIpcError(42).message).toBe('42');
    expect(toIpcError(undefined).message).toBe('undefined');
    expect(toIpcError(null).message).toBe('null');
    expect(toIpcError({ a: 1 }).message).toBe('[object Object]');
    for (const v of ['plain', 42, undefined, null, {}]) expect(toIpcError(v).code).toBe('ServerError');
  });

  it('isIpcError rejects look-alikes', () => {
    expect(isIpcError({ code: 'Timeout', message: 'x', rpcCode: -32001 })).toBe(false);
    expect(isIpcError(new Error('x'))).toBe(false);
    expect(isIpcError(null)).toBe(false);
  });
});
