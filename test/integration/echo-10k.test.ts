/**
 * The engine over a real child process: 10 000 concurrent requests through IpcManager +
 * StdioTransport to a tiny echo server, all answered and correlated; large results (ASCII and
 * multi-byte, cut by the pipe's reads) intact; then a streamed 100 MB result that is never one
 * string on the receiving side.
 */
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpcManager } from '../../src/core/ipc-manager.js';
import { StdioTransport } from '../../src/node/stdio-transport.js';

const ECHO = join(resolve(import.meta.dirname, '../fixtures'), 'echo-server.mjs');

describe('IpcManager over a real echo server', () => {
  let ipc: IpcManager;
  let transport: StdioTransport;

  beforeAll(async () => {
    transport = new StdioTransport({ command: process.execPath, args: [ECHO] });
    ipc = new IpcManager(transport, { maxConcurrent: 10_000, maxQueueSize: 10_000, timeoutMs: 60_000 });
    await ipc.start();
    await ipc.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } });
  });
  afterAll(async () => {
    await ipc.close();
    await transport.exited;
  });

  it('answers and correlates 10 000 concurrent requests', async () => {
    const n = 10_000;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => ipc.request<{ i: number; tag: string }>('echo/raw', { i, tag: `r${i}` }, { priority: i % 7 === 0 ? 'high' : 'normal' })),
    );
    results.forEach((r, i) => expect(r).toEqual({ i, tag: `r${i}` }));
    const snap = ipc.snapshot();
    expect(snap.inFlight).toBe(0);
    expect(snap.queueDepth).toBe(0);
    expect(snap.responses).toBeGreaterThanOrEqual(n);
  });

  it('delivers large results whole and intact, ASCII or not, several at once', async () => {
    const wide = `${'é€😀'.repeat(400_000)}\u0000"\\end`; // ~4 MB of UTF-8 with 4-byte characters cut by the reads
    const ascii = 'x'.repeat(3 * 1024 * 1024);
    const [a, b, c, d] = await Promise.all([
      ipc.request<{ text: string }>('echo/raw', { text: wide }),
      ipc.request<{ content: Array<{ text: string }> }>('tools/call', { name: 'blob', arguments: { bytes: 5 * 1024 * 1024 } }),
      ipc.request<{ text: string }>('echo/raw', { text: ascii }),
      ipc.request<{ text: string }>('echo/raw', { text: 'small' }),
    ]);
    expect(a.text).toBe(wide);
    expect(b.content[0]!.text).toBe('x'.repeat(5 * 1024 * 1024));
    expect(c.text).toBe(ascii);
    expect(d.text).toBe('small');
  });

  it('streams a 100 MB result in ordered chunks', async () => {
    const size = 100 * 1024 * 1024;
    let bytes = 0;
    let chunks = 0;
    const stream = ipc.requestStream<{ _meta: { streamed: { bytes: number; chunks: number } } }>('tools/call', { name: 'blob', arguments: { bytes: size } });
    for await (const chunk of stream.chunks) {
      expect(chunk.seq).toBe(chunks);
      bytes += chunk.data.length;
      chunks++;
    }
    const result = await stream.result;
    expect(bytes).toBe(size);
    expect(result._meta.streamed).toEqual({ bytes: size, chunks });
  });
});
