import { describe, expect, it } from 'vitest';
import { ChunkStream } from '../../src/core/chunk-stream.js';
import { TimeoutError } from '../../src/core/errors.js';

const chunk = (seq: number) => ({ seq, data: `c${seq}` });

describe('ChunkStream', () => {
  it('delivers chunks in order to a consumer that waits or lags, then ends', async () => {
    const s = new ChunkStream();
    const it = s[Symbol.asyncIterator]();
    const first = it.next(); // waiting before the chunk exists
    s.push(chunk(0));
    s.push(chunk(1)); // buffered
    s.end();
    expect(await first).toEqual({ value: chunk(0), done: false });
    expect(await it.next()).toEqual({ value: chunk(1), done: false });
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('rejects the waiting consumer when the request fails, after what was buffered', async () => {
    const s = new ChunkStream();
    s.push(chunk(0));
    const error = new TimeoutError('late', { method: 'm', kind: 'idle', phase: 'in-flight', timeoutMs: 1, queuedMs: 0, inFlightMs: 1 });
    s.fail(error);
    const it = s[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: chunk(0), done: false });
    await expect(it.next()).rejects.toBe(error);
  });

  it('keeps nothing once the consumer has left (a large stream is not buffered for nobody)', async () => {
    const s = new ChunkStream();
    const it = s[Symbol.asyncIterator]();
    s.push(chunk(0));
    await it.return!();
    s.push(chunk(1));
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });
});
