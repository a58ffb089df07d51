import { describe, expect, it } from 'vitest';
import { chooseEncoding, compressesFor, compressible, isLoopbackAddress, perMessageDeflate, resolveCompression } from '../../src/node/gateway/compression.js';

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
      clientNoContextTakeover: true,
      zlibDeflateOptions: { level: 3, memLevel: 7 },
    });
    expect(perMessageDeflate(resolveCompression(false))).toBe(false);
    expect(perMessageDeflate(resolveCompression({ websocket: false }))).toBe(false);
    expect(resolveCompression({ maxWindowBits: 10 }).maxWindowBits).toBe(10);
  });

  it('tells loopback peers (127.0.0.0/8, ::1, IPv4-mapped) from the others, and compresses for them only when told to', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', '2001:db8::1', 'fe80::1%eth0', '128.0.0.1', '', undefined]) expect(isLoopbackAddress(a), String(a)).toBe(false);
    const from = (remoteAddress: string) => ({ socket: { remoteAddress } }) as never;
    expect(compressesFor(from('127.0.0.1'), false)).toBe(false);
    expect(compressesFor(from('127.0.0.1'), true)).toBe(true);
    expect(compressesFor(from('192.0.2.7'), false)).toBe(true);
    expect(resolveCompression(undefined).loopback).toBe(false);
    expect(resolveCompression({ loopback: true }).loopback).toBe(true);
  });

  it('throws a TypeError naming a value out of range', () => {
    expect(() => resolveCompression({ maxWindowBits: 16 })).toThrow(/compression.maxWindowBits must be a whole number from 9 to 15, got 16/);
    expect(() => resolveCompression({ memLevel: 0 })).toThrow(/compression.memLevel/);
    expect(() => resolveCompression({ concurrencyLimit: 0 })).toThrow(/compression.concurrencyLimit/);
    expect(() => resolveCompression({ thresholdBytes: -1 })).toThrow(/compression.thresholdBytes/);
    expect(() => resolveCompression({ loopback: 'yes' as never })).toThrow(/compression.loopback must be true or false, got yes/);
  });
});
