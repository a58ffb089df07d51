import { describe, expect, it } from 'vitest';
import { IpcError, TimeoutError } from '../../src/core/errors.js';
import { type Result, err, ok, toResult, unwrap } from '../../src/core/result.js';

describe('Result', () => {
  it('ok and err build the two shapes', () => {
    expect(ok(5)).toEqual({ ok: true, data: 5 });
    expect(err('bad')).toEqual({ ok: false, error: 'bad' });
    expect(ok(undefined)).toEqual({ ok: true, data: undefined });
  });

  it('narrows on ok', () => {
    const r: Result<number, string> = Math.random() < 2 ? ok(1) : err('x');
    if (r.ok) expect(r.data).toBe(1);
    else expect.unreachable();
  });

  it('toResult settles a resolved promise', async () => {
    expect(await toResult(Promise.resolve('v'))).toEqual({ ok: true, data: 'v' });
  });

  it('toResult accepts a thunk and catches its synchronous throw', async () => {
    expect(await toResult(async () => 3)).toEqual({ ok: true, data: 3 });
    const r = await toResult((() => {
      throw new Error('sync');
    }) as () => Promise<never>);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(IpcError);
      expect(r.error.message).toBe('sync');
    }
  });

  it('toResult keeps an IpcError rejection as is', async () => {
    const e = new TimeoutError('t', { method: 'm', kind: 'hard', phase: 'queued', timeoutMs: 1, queuedMs: 1, inFlightMs: 0 });
    const r = await toResult(Promise.reject(e));
    expect(r).toEqual({ ok: false, error: e });
    if (!r.ok) expect(r.error).toBe(e);
  });

  it('toResult wraps other rejections as ServerError', async () => {
    const r = await toResult(Promise.reject(new RangeError('nope')));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('ServerError');
      expect(r.error.message).toBe('nope');
    }
    const r2 = await toResult(Promise.reject('string reason'));
    if (!r2.ok) expect(r2.error.message).toBe('string reason');
    else expect.unreachable();
  });

  it('unwrap returns data or throws the error', () => {
    expect(unwrap(ok(7))).toBe(7);
    const e = new Error('x');
    expect(() => unwrap(err(e))).toThrow(e);
    try {
      unwrap(err('raw'));
      expect.unreachable();
    } catch (thrown) {
      expect(thrown).toBe('raw');
    }
  });
});
