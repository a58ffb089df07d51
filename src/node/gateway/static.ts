/**
 * Static files for the dashboard (GET/HEAD only, no directory listing, no path traversal), with a
 * single-page-app fallback to index.html and a small placeholder page when the dashboard is not built.
 */
import { createReadStream, existsSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants as zlib } from 'node:zlib';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative, resolve, sep } from 'node:path';
import type { ResourceHandle, ResourceManager } from '../resource-manager.js';
import { chooseEncoding, compressesFor, compressible, compressor } from './compression.js';

/** When to compress a response: bodies of at least `thresholdBytes` of a compressible type, if the client accepts it. */
export interface HttpCompression {
  thresholdBytes: number;
  /** Compress for peers on this machine too (see CompressionOptions.loopback). */
  loopback: boolean;
}

/** The encoding for a body of `length` bytes to the client of `req` (undefined: as it is). */
export function encodingFor(req: IncomingMessage, length: number, c: HttpCompression): ReturnType<typeof chooseEncoding> {
  return length >= c.thresholdBytes && compressesFor(req, c.loopback) ? chooseEncoding(req) : undefined;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Headers on every response the gateway writes (the dashboard URL carries a token: never leak it). */
export const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>mcp-ipc</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#eee;padding:0 .25em}</style>
</head>
<body>
<div id="app">
<h1>mcp-ipc gateway</h1>
<p>The dashboard is not built. Run <code>npm run build</code> and restart <code>mcp-ipc serve</code>.</p>
<p>The gateway itself is running: WebSocket API at <code>/ws</code>, Prometheus metrics at <code>/metrics</code>, health at <code>/health</code>.</p>
</div>
</body>
</html>
`;

export class StaticFiles {
  readonly root: string;
  private readonly built: boolean;

  /**
   * @param resources when given, each open file is tracked there (its fileHandles limit applies).
   * @param compression when given, text files are sent gzip/br-encoded to clients that accept it.
   */
  constructor(
    root: string,
    private readonly resources?: ResourceManager,
    private readonly compression?: HttpCompression,
  ) {
    this.root = resolve(root);
    this.built = existsSync(join(this.root, 'index.html'));
  }

  /** Serves `pathname`; always answers. */
  async serve(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { Allow: 'GET, HEAD' }, req.method);
      return;
    }
    if (!this.built) {
      send(res, pathname === '/' || pathname === '/index.html' ? 200 : 404, TYPES['.html']!, NOT_BUILT_PAGE, { 'Cache-Control': 'no-store' }, req.method);
      return;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      send(res, 400, 'text/plain; charset=utf-8', 'Bad Request\n', {}, req.method);
      return;
    }
    if (decoded.includes('\0')) {
      send(res, 400, 'text/plain; charset=utf-8', 'Bad Request\n', {}, req.method);
      return;
    }
    const relative = decoded === '/' ? 'index.html' : decoded.replace(/^\/+/, '');
    const file = resolve(this.root, relative);
    if (file !== this.root && !file.startsWith(this.root + sep)) {
      send(res, 403, 'text/plain; charset=utf-8', 'Forbidden\n', {}, req.method);
      return;
    }
    const hidden = relative.split(/[\\/]/).some((part) => part.startsWith('.'));
    const found = hidden ? undefined : await stat(file).catch(() => undefined);
    if (found?.isFile()) {
      this.stream(req, res, file, found.size);
      return;
    }
    // Client-side routes (no extension) get the app; missing assets are 404s.
    if (extname(relative) === '' || relative.endsWith('/')) {
      const index = join(this.root, 'index.html');
      const s = await stat(index).catch(() => undefined);
      if (s?.isFile()) {
        this.stream(req, res, index, s.size);
        return;
      }
    }
    send(res, 404, 'text/plain; charset=utf-8', 'Not Found\n', {}, req.method);
  }

  private stream(req: IncomingMessage, res: ServerResponse, file: string, size: number): void {
    const input = createReadStream(file);
    let handle: ResourceHandle | undefined;
    try {
      handle = this.resources?.acquire('file', 'gateway:static', () => void input.destroy(), { meta: { file: relative(this.root, file) } });
    } catch (error) {
      input.destroy();
      send(res, 503, 'text/plain; charset=utf-8', `Service Unavailable: ${(error as Error).message}\n`, { 'Retry-After': '1' }, req.method);
      return;
    }
    input.once('close', () => handle && this.resources?.forget(handle.id));
    const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const immutable = file.startsWith(join(this.root, 'assets') + sep);
    const c = this.compression;
    const encoding = c && compressible(type) ? encodingFor(req, size, c) : undefined;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': type,
      // Encoded on the fly: the encoded length is not known up front (chunked instead).
      ...(encoding ? { 'Content-Encoding': encoding } : { 'Content-Length': String(size) }),
      ...(c && compressible(type) ? { Vary: 'Accept-Encoding' } : {}),
      'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    if (req.method === 'HEAD') {
      input.destroy();
      res.end();
      return;
    }
    input.on('error', () => res.destroy());
    res.once('close', () => input.destroy()); // a client that goes away mid-file frees the handle
    if (!encoding) {
      input.pipe(res);
      return;
    }
    const zip = compressor(encoding, size);
    zip.on('error', () => res.destroy());
    res.once('close', () => zip.destroy());
    input.pipe(zip).pipe(res);
  }
}

/**
 * Writes a whole response. With `compression`, a body of a compressible type and at least its
 * threshold is gzip/br-encoded when the request (`res.req`) accepts one of them.
 */
export function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
  method?: string,
  compression?: HttpCompression,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  let payload: Buffer | string = body;
  const extra: Record<string, string> = {};
  if (compression && compressible(type)) {
    extra.Vary = 'Accept-Encoding';
    const length = Buffer.byteLength(body);
    const encoding = res.req ? encodingFor(res.req, length, compression) : undefined;
    if (encoding === 'gzip') payload = gzipSync(body, { level: 6 });
    else if (encoding === 'br') payload = brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5, [zlib.BROTLI_PARAM_SIZE_HINT]: length } });
    if (encoding) extra['Content-Encoding'] = encoding;
  }
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(payload)), ...extra, ...headers });
  res.end(method === 'HEAD' ? undefined : payload);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
  method?: string,
  compression?: HttpCompression,
): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, { 'Cache-Control': 'no-store', ...headers }, method, compression);
}
