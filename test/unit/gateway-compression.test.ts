import { describe, expect, it } from 'vitest';
import { chooseEncoding, compressible, perMessageDeflate, resolveCompression } from '../../src/node/gateway/compression.js';

const req = (accept?: string) => ({ headers: accept === undefined ? {} : { 'accept-encoding': accept } });

describe('gateway compression settings', () => {
  it('prefers br, then gzip, honouring q-values and *', () => {
    expect(chooseEncoding(req())).toBeUndefined();
    expect(chooseEncoding(req(''))).toBeUndefined();
    expect(chooseEncoding(req('gzip, deflate, br, zstd'))).toBe('br');
    expect(chooseEncoding(req('gzip'))).toBe('gzip');
    expect(chooseEncoding(req('br;q=0, gzip;q=0.5'))).toBe('gzip');
    expect(chooseEncoding(req('br;q=0, gzip;q=0'))).toBeUndefined();
    expect(chooseEncoding(req('*'))).toBe('br');
    expect(chooseEncoding(req('*;q=0, gzip'))).toBe('gzip');
    expect(chooseEncoding(req('identity'))).toBeUndefined();
  });

  it('compresses text and JSON, not images or fonts', () => {
    expect(compressible('text/plain; version=0.0.4; charset=utf-8')).toBe(true);
    expect(compressible('application/json; charset=utf-8')).toBe(true);
    expect(compressible('image/svg+xml')).toBe(true);
    expect(compressible('image/png')).toBe(false);
    expect(compressible('font/woff2')).toBe(false);
  });

  it('bounds the WebSocket deflate (window, memLevel, concurrency, threshold), or turns it off', () => {
    // No cap on the client's window: ws would then refuse every offer without client_max_window_bits (Firefox's).
    expect(perMessageDeflate(resolveCompression(undefined))).toEqual({
      threshold: 1024,
      concurrencyLimit: 10,
      serverMaxWindowBits: 13,
      zlibDeflateOptions: { level: 3, memLevel: 7 },
    });
    expect(perMessageDeflate(resolveCompression(false))).toBe(false);
    expect(perMessageDeflate(resolveCompression({ websocket: false }))).toBe(false);
    expect(resolveCompression({ maxWindowBits: 10 }).maxWindowBits).toBe(10);
  });

  it('throws a TypeError naming a value out of range', () => {
    expect(() => resolveCompression({ maxWindowBits: 16 })).toThrow(/compression.maxWindowBits must be a whole number from 9 to 15, got 16/);
    expect(() => resolveCompression({ memLevel: 0 })).toThrow(/compression.memLevel/);
    expect(() => resolveCompression({ concurrencyLimit: 0 })).toThrow(/compression.concurrencyLimit/);
    expect(() => resolveCompression({ thresholdBytes: -1 })).toThrow(/compression.thresholdBytes/);
  });
});
