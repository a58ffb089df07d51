/**
 * Compression: permessage-deflate on the WebSocket (RFC 7692, ws's implementation) with bounded
 * memory per connection, and gzip / brotli on HTTP responses (node:zlib) honouring Accept-Encoding.
 * Small messages and bodies go as they are: below a threshold compressing costs more than it saves.
 * Peers on this machine (loopback) get nothing compressed unless `loopback` says so: there is no
 * link to save bytes on, and both ends would pay the CPU — for a WebSocket client, on every frame.
 */
import type { IncomingMessage } from 'node:http';
import { constants, createBrotliCompress, createGzip, type BrotliCompress, type Gzip } from 'node:zlib';
import type { PerMessageDeflateOptions } from 'ws';
import { addressKey } from './address-cap.js';

export interface CompressionOptions {
  /** gzip / br on HTTP responses (dashboard files, /metrics, /api) when the client accepts them. @default true */
  http?: boolean;
  /** permessage-deflate on the WebSocket, when the client offers it (browsers do). @default true */
  websocket?: boolean;
  /** Messages and bodies smaller than this many bytes are sent uncompressed. @default 1024 */
  thresholdBytes?: number;
  /** Deflate/inflate jobs running at once, across all connections (ws queues the rest). @default 10 */
  concurrencyLimit?: number;
  /**
   * Window of the gateway's deflate (2^bits bytes, 9..15). With `memLevel` it bounds the memory a
   * connection holds to compress: about 2^(bits+2) + 2^(memLevel+9) bytes (96 KiB at the defaults),
   * plus the client's window to decompress (at most 32 KiB, RFC 7692's largest). The client's window
   * is not capped: browsers that offer no `client_max_window_bits` (Firefox) would otherwise get no
   * compression at all.
   * @default 13
   */
  maxWindowBits?: number;
  /** zlib memLevel (1..9) of the WebSocket deflate. @default 7 */
  memLevel?: number;
  /** zlib level (1..9) of the WebSocket deflate: gateway traffic is many small messages, so speed first. @default 3 */
  level?: number;
  /**
   * Compress for peers on this machine too (a remote address in 127.0.0.0/8 or `::1`). Off, such a
   * peer is offered no permessage-deflate and gets HTTP responses unencoded: over loopback nothing
   * is saved, while deflating costs CPU at both ends on every frame. Turn it on behind a reverse
   * proxy on the same machine that relays remote browsers' WebSockets (their peer address is the
   * proxy's), or to measure compression locally.
   * @default false
   */
  loopback?: boolean;
}

export const COMPRESSION_DEFAULTS = {
  http: true,
  websocket: true,
  thresholdBytes: 1024,
  concurrencyLimit: 10,
  maxWindowBits: 13,
  memLevel: 7,
  level: 3,
  loopback: false,
} as const satisfies Required<CompressionOptions>;

export type ResolvedCompression = Required<CompressionOptions>;

/** Fills in the defaults; throws a TypeError naming a value out of range. */
export function resolveCompression(options: CompressionOptions | false | undefined): ResolvedCompression {
  if (options === false) return { ...COMPRESSION_DEFAULTS, http: false, websocket: false };
  const o = { ...COMPRESSION_DEFAULTS, ...options };
  const int = (name: keyof CompressionOptions, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) throw new TypeError(`compression.${name} must be a whole number from ${min} to ${max}, got ${value}`);
  };
  int('thresholdBytes', o.thresholdBytes, 0, Number.MAX_SAFE_INTEGER);
  int('concurrencyLimit', o.concurrencyLimit, 1, 1000);
  int('maxWindowBits', o.maxWindowBits, 9, 15);
  int('memLevel', o.memLevel, 1, 9);
  int('level', o.level, 1, 9);
  if (typeof o.loopback !== 'boolean') throw new TypeError(`compression.loopback must be true or false, got ${String(o.loopback)}`);
  return o;
}

/** A remote address on this machine: 127.0.0.0/8 (IPv4-mapped too) or `::1`. */
export function isLoopbackAddress(remoteAddress: string | undefined): boolean {
  if (!remoteAddress) return false;
  const key = addressKey(remoteAddress);
  return key === '::1' || /^127\.\d+\.\d+\.\d+$/.test(key);
}

/** Whether what goes to the peer of `req` may be compressed at all (loopback peers only when `loopback` is set). */
export function compressesFor(req: Pick<IncomingMessage, 'socket'>, loopback: boolean): boolean {
  return loopback || !isLoopbackAddress(req.socket?.remoteAddress);
}

/** ws's `perMessageDeflate` server option for these settings (`false` when off). */
export function perMessageDeflate(c: ResolvedCompression): PerMessageDeflateOptions | false {
  if (!c.websocket) return false;
  return {
    threshold: c.thresholdBytes,
    concurrencyLimit: c.concurrencyLimit,
    serverMaxWindowBits: c.maxWindowBits,
    // What browsers send is small (requests, answers): a shared window saves little there, while
    // clients that honour a threshold (ws in Node does, only without context takeover) then send
    // small frames uncompressed, and the gateway keeps no inflate window per connection between
    // messages. Browsers that compress every frame still may; each one inflates on its own.
    clientNoContextTakeover: true,
    zlibDeflateOptions: { level: c.level, memLevel: c.memLevel },
  };
}

export type HttpEncoding = 'br' | 'gzip';

/**
 * The encoding to answer with, from the request's Accept-Encoding: `br` before `gzip` when both are
 * acceptable (q > 0, `*` counts), none when the client asks for neither or forbids both.
 */
export function chooseEncoding(req: Pick<IncomingMessage, 'headers'>): HttpEncoding | undefined {
  const raw = req.headers['accept-encoding'];
  const header = Array.isArray(raw) ? raw.join(',') : raw;
  if (typeof header !== 'string' || header === '') return undefined;
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    if (name === '') continue;
    let quality = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) quality = Number(m[1]);
    }
    q.set(name, Number.isFinite(quality) ? quality : 0);
  }
  const accepted = (name: HttpEncoding) => (q.get(name) ?? q.get('*') ?? 0) > 0;
  if (accepted('br')) return 'br';
  if (accepted('gzip')) return 'gzip';
  return undefined;
}

/** Content types worth compressing (images, fonts and archives already are). */
export function compressible(contentType: string): boolean {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type.startsWith('text/') || type === 'application/json' || type === 'application/javascript' || type === 'image/svg+xml' || type === 'application/wasm' || type.endsWith('+json') || type.endsWith('+xml');
}

/** A compressing stream for `encoding` (brotli at a moderate quality: responses are made on the fly). */
export function compressor(encoding: HttpEncoding, sizeHint?: number): Gzip | BrotliCompress {
  if (encoding === 'gzip') return createGzip({ level: 6 });
  return createBrotliCompress({
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 5,
      ...(sizeHint !== undefined ? { [constants.BROTLI_PARAM_SIZE_HINT]: sizeHint } : {}),
    },
  });
}
