/**
 * The gateway's plain HTTP side: routing (`/health`, `/metrics`, `/api/…`, `/ws` without an upgrade,
 * the dashboard files) and its guards — the Host header on everything (DNS-rebinding guard), Origin
 * and the access token on `/metrics` and `/api`. Also the guard half of a WebSocket upgrade
 * (`checkUpgrade`), so that both doors apply the same rules.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidParamsError, type IpcError, RpcCode, toIpcError } from '../../core/errors.js';
import { BATCH_PROTOCOL, GATEWAY_PATH, GatewayCloseCode } from '../../core/gateway-protocol.js';
import type { McpHost } from '../mcp-host.js';
import type { EventLog } from './event-log.js';
import type { GatewayHandlers } from './handlers.js';
import { MCP_HTTP_PREFIX, type McpHttpEndpoint } from './mcp-http.js';
import { clampLimit } from './params.js';
import type { GatewayMetrics } from './metrics.js';
import { bearerToken, GATEWAY_PROTOCOL, type HostPolicy, hostAllowed, httpToken, offeredProtocols, originAllowed, tokensEqual, upgradeToken } from './security.js';
import { type HttpCompression, send, sendJson, type StaticFiles } from './static.js';

export interface HttpDeps {
  host: McpHost;
  metrics: GatewayMetrics;
  files: StaticFiles;
  events: EventLog;
  handlers: GatewayHandlers;
  token: string;
  allowedOrigins: readonly string[];
  version: string;
  connections: () => number;
  /** Compression of /metrics and /api bodies (undefined: none). */
  compression: HttpCompression | undefined;
  /** `/mcp/NAME` (MCP Streamable HTTP); undefined: not served. */
  mcp: McpHttpEndpoint | undefined;
}

/** How an upgrade request fared at the guards. */
export type UpgradeVerdict =
  | { ok: true }
  /** Refuse with a plain HTTP error before any WebSocket exists. */
  | { ok: false; status: number; message: string }
  /** Our own client: accept the handshake and close at once with this code (a browser cannot read an HTTP status). */
  | { ok: false; status: 401 | 403; message: string; closeCode: number };

export class HttpRoutes {
  /** Set once the gateway listens (the Host policy needs the bound port). */
  policy: HostPolicy | undefined;
  origins = new Set<string>();

  constructor(private readonly deps: HttpDeps) {}

  async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseUrl(req.url);
    if (!url) return send(res, 400, 'text/plain; charset=utf-8', 'Bad Request\n');
    if (!this.policy || !hostAllowed(req.headers.host, this.policy)) {
      this.deps.metrics.rejected.inc({ reason: 'host' });
      return send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: unexpected Host header\n');
    }
    const path = url.pathname;
    const { host, version } = this.deps;
    if (path === '/health' || path === '/healthz') {
      const servers = host.list().map((b) => ({ name: b.name, state: b.state }));
      return sendJson(
        res,
        200,
        { status: 'ok', version, connections: this.deps.connections(), servers: servers.length, running: servers.filter((s) => s.state === 'running').length },
        {},
        req.method,
      );
    }
    if (path === GATEWAY_PATH) {
      return send(res, 426, 'text/plain; charset=utf-8', 'Upgrade Required: this endpoint speaks WebSocket\n', { Upgrade: 'websocket', Connection: 'Upgrade' });
    }
    if (path.startsWith(MCP_HTTP_PREFIX) && this.deps.mcp) return this.mcp(req, res, url, this.deps.mcp);
    if (path === '/metrics' || path === '/api' || path.startsWith('/api/')) {
      if (!this.authorize(req, res, url)) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
      if (path === '/metrics') {
        const text = await this.deps.metrics.render();
        return send(res, 200, this.deps.metrics.contentType, text, { 'Cache-Control': 'no-store' }, req.method, this.deps.compression);
      }
      return this.api(req, res, url);
    }
    return this.deps.files.serve(req, res, path);
  }

  /** The guards of a WebSocket upgrade: path, Host, Origin, token. */
  checkUpgrade(req: IncomingMessage, token: string): UpgradeVerdict & { url?: URL } {
    const url = parseUrl(req.url);
    if (!url) return { ok: false, status: 400, message: 'Bad Request' };
    if (url.pathname !== GATEWAY_PATH) return { ok: false, status: 404, message: 'Not Found' };
    if (!this.policy) return { ok: false, status: 503, message: 'Gateway shutting down' };
    if (!hostAllowed(req.headers.host, this.policy)) {
      this.deps.metrics.rejected.inc({ reason: 'host' });
      return { ok: false, status: 403, message: 'Forbidden: unexpected Host header' };
    }
    // A browser cannot read an HTTP status from a failed upgrade (it only sees 1006), so our own
    // client (it offers the `mcp-ipc` or `mcp-ipc.batch` subprotocol) gets a handshake closed at once
    // with 4403/4401 instead: it then stops reconnecting and can explain why. Nothing else is sent on that socket.
    const offered = offeredProtocols(req);
    const ours = offered.includes(GATEWAY_PROTOCOL) || offered.includes(BATCH_PROTOCOL);
    if (!originAllowed(headerValue(req.headers.origin), this.origins, this.deps.allowedOrigins)) {
      this.deps.metrics.rejected.inc({ reason: 'origin' });
      const message = 'Forbidden: origin not allowed';
      return ours ? { ok: false, status: 403, message, closeCode: GatewayCloseCode.Forbidden } : { ok: false, status: 403, message };
    }
    if (!tokensEqual(upgradeToken(req, url), token)) {
      this.deps.metrics.rejected.inc({ reason: 'token' });
      const message = 'Unauthorized: a valid token is required';
      return ours ? { ok: false, status: 401, message, closeCode: GatewayCloseCode.Unauthorized } : { ok: false, status: 401, message };
    }
    return { ok: true, url };
  }

  /**
   * `/mcp/NAME`: the same Host and Origin rules as the WebSocket, then a bearer token — the
   * gateway's, or one of the server's own (`expose.tokens`). A browser page on an allowed origin
   * gets CORS headers (its preflight carries no token, so it is answered before the token check).
   */
  private async mcp(req: IncomingMessage, res: ServerResponse, url: URL, endpoint: McpHttpEndpoint): Promise<void> {
    const name = safeDecode(url.pathname.slice(MCP_HTTP_PREFIX.length));
    const bridge = name.includes('/') ? undefined : this.deps.host.get(name);
    const exposure = bridge?.exposure;
    const origin = headerValue(req.headers.origin);
    if (!originAllowed(origin, this.origins, this.deps.allowedOrigins)) {
      this.deps.metrics.rejected.inc({ reason: 'origin' });
      return send(res, 403, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: RpcCode.InvalidRequest, message: 'Forbidden: origin not allowed' } }));
    }
    if (origin !== undefined) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', 'Mcp-Session-Id, WWW-Authenticate');
    }
    if (req.method === 'OPTIONS') {
      return send(res, 204, 'text/plain; charset=utf-8', '', {
        'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID',
        'Access-Control-Max-Age': '600',
      });
    }
    const given = bearerToken(req);
    const accepted = given !== undefined && (tokensEqual(given, this.deps.token) || (exposure ? exposure.tokens.some((t) => tokensEqual(given, t)) : false));
    if (!accepted) {
      this.deps.metrics.rejected.inc({ reason: 'token' });
      res.setHeader('WWW-Authenticate', 'Bearer realm="mcp-ipc", error="invalid_token"');
      return send(res, 401, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: RpcCode.InvalidRequest, message: 'Unauthorized: Authorization: Bearer <token> is required' } }));
    }
    // Checked after the token, so that names of servers are not disclosed to a client without one.
    if (!bridge || exposure === false) return send(res, 404, 'text/plain; charset=utf-8', `Not Found: no MCP endpoint ${url.pathname}\n`);
    return endpoint.handle(req, res, bridge.name);
  }

  private authorize(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const origin = headerValue(req.headers.origin);
    if (!originAllowed(origin, this.origins, this.deps.allowedOrigins)) {
      this.deps.metrics.rejected.inc({ reason: 'origin' });
      send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: origin not allowed\n');
      return false;
    }
    if (!tokensEqual(httpToken(req, url), this.deps.token)) {
      this.deps.metrics.rejected.inc({ reason: 'token' });
      send(res, 401, 'text/plain; charset=utf-8', 'Unauthorized: a valid token is required (?token= or Authorization: Bearer)\n', {
        'WWW-Authenticate': 'Bearer realm="mcp-ipc"',
      });
      return false;
    }
    return true;
  }

  /** Read-only JSON views: /api/servers, /api/servers/NAME, /api/servers/NAME/tools, /api/servers/NAME/stderr, /api/metrics, /api/events. */
  private async api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean).map(safeDecode);
    const c = this.deps.compression;
    const reply = (value: unknown) => sendJson(res, 200, value, {}, req.method, c);
    const fail = (error: IpcError, status: number) => sendJson(res, status, { error: error.toJSON() }, {}, req.method, c);
    const [, resource, name, sub] = parts;
    const { host, events, handlers, version } = this.deps;
    try {
      if (resource === 'servers' && name === undefined) return reply(host.list().map((b) => b.snapshot()));
      if (resource === 'servers' && name !== undefined) {
        const bridge = host.get(name);
        if (!bridge) return fail(new InvalidParamsError(`Unknown server "${name}"`, { server: name }), 404);
        if (sub === undefined) return reply(bridge.snapshot());
        if (sub === 'tools') return reply(await bridge.listTools({ refresh: url.searchParams.get('refresh') === 'true' }));
        if (sub === 'stderr') return reply(bridge.stderrTail(optionalInt(url.searchParams.get('lines'))));
        if (sub === 'events') return reply(bridge.history());
      }
      if (resource === 'metrics' && name === undefined) return reply(handlers.metricsSnapshot(url.searchParams.get('server') ?? undefined));
      if (resource === 'events' && name === undefined) {
        return reply(events.since(optionalInt(url.searchParams.get('since')) ?? 0, clampLimit(optionalInt(url.searchParams.get('limit')), events.maxEvents)));
      }
      if (resource === 'health' && name === undefined) return reply({ status: 'ok', version });
      return sendJson(res, 404, { error: { code: 'NotFound', message: `No such endpoint: ${url.pathname}` } }, {}, req.method);
    } catch (error) {
      const e = toIpcError(error);
      return fail(e, e.code === 'InvalidParams' ? 400 : 502);
    }
  }
}

/** Refuses an upgrade with a plain HTTP response, before any WebSocket exists. */
export function refuse(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      '\r\n' +
      body,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

function parseUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? '/', 'http://gateway.invalid');
  } catch {
    return undefined;
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function optionalInt(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined;
}
