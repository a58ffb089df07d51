/**
 * Gateway: one HTTP server on loopback that lets a browser drive the McpHost.
 * - `GET /`            the dashboard (static files; a placeholder page when it is not built)
 * - `GET /ws`          JSON-RPC 2.0 over WebSocket (src/core/gateway-protocol.ts is the contract)
 * - `GET /metrics`     Prometheus text (token required)
 * - `GET /api/...`     read-only JSON views (token required)
 * - `GET /health`      liveness (no token)
 *
 * Security: a random access token (constant-time compared) guards the WebSocket, /metrics and
 * /api; the Host header must name this gateway (DNS-rebinding guard) and a browser Origin must be
 * the gateway's own or explicitly allowed. Refused upgrades get a plain HTTP error before any
 * WebSocket is accepted. Per remote address: a connection cap (one client cannot take every
 * connection the host allows). Per connection: message size cap, in-flight call cap, and a send-buffer
 * cap after which the slow client is disconnected (other clients never wait for it).
 * Closing the gateway never stops the host's servers.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { DEFAULTS } from '../core/defaults.js';
import { CancelledError, InvalidParamsError, IpcError, type IpcErrorJSON, NotConnectedError, ProtocolError, RpcCode, toIpcError } from '../core/errors.js';
import {
  type BroadcastParams,
  type CallParams,
  type CallToolResult,
  GATEWAY_PATH,
  GatewayCloseCode,
  type GatewayEventName,
  type GatewayEvents,
  type GatewayMethod,
  type GatewayResult,
  type HelloParams,
  type SequencedEvent,
  type ServerEvent,
  type ServerSnapshot,
} from '../core/gateway-protocol.js';
import type { IpcMetricsSnapshot, Progress } from '../core/ipc-manager.js';
import {
  decodeText,
  failure,
  isNotification,
  isRequest,
  type JsonRpcMessage,
  type JsonRpcResponse,
  notification,
  type RequestId,
  success,
} from '../core/jsonrpc.js';
import type { Priority } from '../core/queue.js';
import { PACKAGE_ROOT } from './config.js';
import { GatewayMetrics } from './gateway-metrics.js';
import {
  GATEWAY_PROTOCOL,
  generateToken,
  type HostPolicy,
  hostAllowed,
  hostForUrl,
  hostPolicy,
  httpToken,
  originAllowed,
  offeredProtocols,
  ownOrigins,
  TOKEN_PROTOCOL_PREFIX,
  tokensEqual,
  upgradeToken,
} from './gateway-security.js';
import { AddressConnections, addressKey } from './gateway-connections.js';
import { send, sendJson, StaticFiles } from './gateway-static.js';
import type { McpServerHandle } from './server-handle.js';
import type { McpHost } from './mcp-host.js';
import type { ResourceHandle } from './resource-manager.js';

export { GATEWAY_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from './gateway-security.js';

export interface GatewayOptions {
  /** The servers to expose. The gateway never starts or stops the host as a whole. */
  host: McpHost;
  /** Bind address (default 127.0.0.1). Anything but loopback exposes the gateway to the network. */
  hostname?: string;
  /** Port; 0 picks a free one (default DEFAULTS.gateway.port). */
  port?: number;
  /** Access token (default: 32 random bytes, hex). */
  token?: string;
  /** Browser origins allowed besides the gateway's own (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`). */
  allowedOrigins?: string[];
  /** Host names accepted in the Host header besides loopback names and the bind address. */
  allowedHosts?: string[];
  /** Dashboard files (default PACKAGE_ROOT/dashboard/dist; a placeholder page when not built). */
  staticDir?: string;
  /** Largest WebSocket message accepted (bigger: the socket is closed with 1009). */
  maxMessageBytes?: number;
  /**
   * WebSocket connections one remote address (an IPv4 address, an IPv6 /64) may hold at once; one more
   * is closed right after the handshake with 1013 ("try again later") and a reason saying why. All
   * clients on this machine share the address 127.0.0.1 (or ::1). The host's own limit
   * (`limits.connections`) still caps the total.
   * @default 25 (DEFAULTS.gateway.maxConnectionsPerAddress: a quarter of the default total of 100)
   */
  maxConnectionsPerAddress?: number;
  /** `tools/call`s one connection may have in flight; more fail at once with QueueFull. */
  maxInFlightPerConnection?: number;
  /** Bytes buffered towards one client before it is disconnected as a slow consumer. */
  maxSendBufferBytes?: number;
  /** Broadcast events kept for `events/since`: at most this many (default 2 000) … */
  eventHistory?: number;
  /** … and at most this many bytes of JSON (default 16 MiB). */
  eventHistoryBytes?: number;
  /** Requests allowed in one batch frame (default 50); a larger batch is refused whole. */
  maxBatchSize?: number;
  /** Piece size (characters) when the gateway splits a non-streamed result for a `streamToken` call. */
  chunkChars?: number;
  /** stderr lines per server per second broadcast as `server/event` (the rest are counted). Default 50. */
  stderrLinesPerSecond?: number;
  /** WebSocket ping interval; a client that misses one pong is dropped (default 30 000 ms, 0 = off). */
  heartbeatMs?: number;
}

interface Connection {
  id: number;
  ws: WebSocket;
  /** In-flight `tools/call`s by JSON-RPC id (JSON-encoded, so 1 and "1" differ). */
  calls: Map<string, AbortController>;
  alive: boolean;
  closed: boolean;
  /** Tracked in the host's ResourceManager (connections limit); forgotten when the socket closes. */
  resource: ResourceHandle | undefined;
  /** The remote address key its per-address slot is counted under (see addressKey). */
  address: string;
}

type Handler = (conn: Connection, params: Record<string, unknown>, id: RequestId | undefined) => Promise<unknown> | unknown;

const VERSION = readVersion();
const PRIORITIES = new Set<Priority>(['high', 'normal', 'low']);
const SLOW_CONSUMER_WAIT_MS = 30_000;

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export class Gateway {
  readonly host: McpHost;
  readonly metrics: GatewayMetrics;
  private readonly hostname: string;
  private readonly requestedPort: number;
  private readonly accessToken: string;
  private readonly allowedOrigins: string[];
  private readonly allowedHosts: string[];
  private readonly files: StaticFiles;
  private readonly maxMessageBytes: number;
  private readonly maxInFlight: number;
  private readonly maxSendBufferBytes: number;
  private readonly historySize: number;
  private readonly chunkChars: number;
  private readonly stderrPerSecond: number;
  private readonly heartbeatMs: number;
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly perAddress: AddressConnections;
  /** Identifies this gateway run in `hello` (see HelloParams.instance). */
  private readonly instance = generateToken().slice(0, 16);
  private readonly log: SequencedEvent[] = [];
  /** JSON size of each log entry (parallel to `log`) and their sum, for the byte budget. */
  private readonly logSizes: number[] = [];
  private logBytes = 0;
  private readonly historyBytes: number;
  private readonly maxBatch: number;
  private readonly handlers: Record<GatewayMethod, Handler>;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly stderrBudget = new Map<string, { windowStart: number; count: number; suppressed: number; timer?: ReturnType<typeof setTimeout> }>();
  private seq = 0;
  /** Highest seq dropped from the log (0: nothing dropped yet). */
  private droppedThrough = 0;
  private nextConnectionId = 1;
  private policy: HostPolicy | undefined;
  private origins = new Set<string>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private started = false;
  private closing: Promise<void> | undefined;

  constructor(options: GatewayOptions) {
    const d = DEFAULTS.gateway;
    this.host = options.host;
    this.hostname = options.hostname ?? d.host;
    this.requestedPort = options.port ?? d.port;
    this.accessToken = options.token ?? generateToken();
    this.allowedOrigins = options.allowedOrigins ?? [];
    this.allowedHosts = options.allowedHosts ?? [];
    this.files = new StaticFiles(options.staticDir ?? resolve(PACKAGE_ROOT, 'dashboard', 'dist'), options.host.resources);
    this.maxMessageBytes = options.maxMessageBytes ?? d.maxMessageBytes;
    this.maxInFlight = options.maxInFlightPerConnection ?? d.maxInFlightPerConnection;
    this.perAddress = new AddressConnections(options.maxConnectionsPerAddress ?? d.maxConnectionsPerAddress);
    this.maxSendBufferBytes = options.maxSendBufferBytes ?? d.maxSendBufferBytes;
    this.historySize = Math.max(1, options.eventHistory ?? d.eventHistory);
    this.historyBytes = Math.max(1, options.eventHistoryBytes ?? d.eventHistoryBytes);
    this.maxBatch = Math.max(1, options.maxBatchSize ?? d.maxBatchSize);
    this.chunkChars = Math.max(1, options.chunkChars ?? d.chunkChars);
    this.stderrPerSecond = options.stderrLinesPerSecond ?? 50;
    this.heartbeatMs = options.heartbeatMs ?? 30_000;
    if (this.accessToken === '') throw new Error('Gateway token must not be empty');

    this.metrics = new GatewayMetrics(() => this.host.list().map((b) => b.snapshot()), {
      connections: () => this.connections.size,
      eventLogSize: () => this.log.length,
      latestSeq: () => this.seq,
    });
    this.handlers = this.createHandlers();

    this.server = createServer((req, res) => {
      this.onRequest(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: toIpcError(error).toJSON() });
        else res.destroy();
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols: Set<string>) => {
        if (protocols.has(GATEWAY_PROTOCOL)) return GATEWAY_PROTOCOL;
        for (const p of protocols) if (p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p;
        return false;
      },
    });
  }

  /** The access token (put it in the dashboard URL, or a `Sec-WebSocket-Protocol`/`Authorization` header). */
  get token(): string {
    return this.accessToken;
  }

  /** The bound port (after `start()`). */
  get port(): number {
    const address = this.server.address() as AddressInfo | null;
    return address?.port ?? this.requestedPort;
  }

  /** `http://host:port` (loopback name for wildcard binds). */
  get origin(): string {
    const h = ['0.0.0.0', '::', ''].includes(this.hostname) ? '127.0.0.1' : this.hostname;
    return `http://${hostForUrl(h)}:${this.port}`;
  }

  /** The dashboard URL, token included. */
  get url(): string {
    return `${this.origin}/?token=${encodeURIComponent(this.accessToken)}`;
  }

  /** The WebSocket endpoint, token included. */
  get wsUrl(): string {
    return `${this.origin.replace(/^http/, 'ws')}${GATEWAY_PATH}?token=${encodeURIComponent(this.accessToken)}`;
  }

  get latestSeq(): number {
    return this.seq;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Listens and starts relaying the host's events. */
  async start(): Promise<void> {
    if (this.started) return;
    if (this.closing) throw new Error('Gateway is closed');
    this.started = true;
    await new Promise<void>((resolveListen, rejectListen) => {
      const onError = (error: Error) => {
        this.server.off('listening', onListening);
        rejectListen(error);
      };
      const onListening = () => {
        this.server.off('error', onError);
        resolveListen();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(this.requestedPort, this.hostname);
    }).catch((error: unknown) => {
      this.started = false;
      throw error;
    });
    this.policy = hostPolicy(this.hostname, this.port, this.allowedHosts);
    this.origins = ownOrigins(this.policy);
    this.subscribe();
    if (this.heartbeatMs > 0) {
      this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
      this.heartbeat.unref();
    }
  }

  /** Closes every WebSocket (1001), aborts their calls and stops listening. The host keeps running. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Broadcast events after `seq` (exclusive), oldest first. */
  eventsSince(seq: number, limit = this.historySize): GatewayResult<'events/since'> {
    const events: SequencedEvent[] = [];
    // The log is ordered by seq: binary-search the first one after `seq`.
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.log.length && events.length < limit; i++) events.push(this.log[i]!);
    return { events, latestSeq: this.seq, truncated: this.droppedThrough > seq };
  }

  // ---------------------------------------------------------------- events

  private subscribe(): void {
    const h = this.host;
    // Seed the log with what the servers did before the gateway started (spawn, handshake, …).
    const past = h.list().flatMap((b) => b.history());
    past.sort((a, b) => a.time - b.time);
    for (const event of past.slice(-this.historySize)) this.broadcast('server/event', event);
    this.unsubscribe.push(
      h.on('state', (payload) => this.broadcast('server/state', payload)),
      h.on('event', (payload) => this.broadcast('server/event', payload)),
      h.on('metrics', (snapshot) => this.broadcast('metrics', { server: snapshot.name, snapshot })),
      h.on('tools', (payload) => this.broadcast('tools/changed', payload)),
      h.on('stderr', ({ server, line }) => this.stderrLine(server, line)),
      // The dashboard is where a person approves `tools.confirm` calls.
      h.approvals.attachApprover(),
      h.approvals.onRequested((request) => this.broadcast('approval/requested', request)),
      h.approvals.onSettled((settled) => this.broadcast('approval/settled', settled)),
    );
  }

  private broadcast<K extends GatewayEventName>(method: K, data: GatewayEvents[K]): void {
    if (this.closing) return;
    const seq = ++this.seq;
    const time = Date.now();
    const params: BroadcastParams<K> = { seq, time, data };
    let text: string;
    try {
      text = JSON.stringify(notification(method, params as unknown as Record<string, unknown>));
    } catch {
      return; // not serialisable (a cycle): nothing sensible to log or send
    }
    this.log.push({ seq, time, method, params: data } as SequencedEvent);
    this.logSizes.push(text.length);
    this.logBytes += text.length;
    // Bounded by count and by bytes; the newest event always stays.
    while (this.log.length > 1 && (this.log.length > this.historySize || this.logBytes > this.historyBytes)) {
      this.droppedThrough = this.log.shift()!.seq;
      this.logBytes -= this.logSizes.shift()!;
    }
    this.metrics.eventsBroadcast.inc({ event: method });
    for (const conn of this.connections) this.deliver(conn, text);
  }

  /** stderr lines become `server/event`s of type `stderr`, at most N per server per second. */
  private stderrLine(server: string, line: string): void {
    const now = Date.now();
    let b = this.stderrBudget.get(server);
    if (!b) this.stderrBudget.set(server, (b = { windowStart: now, count: 0, suppressed: 0 }));
    if (now - b.windowStart >= 1000) {
      this.flushSuppressed(server);
      b.windowStart = now;
      b.count = 0;
    }
    if (++b.count > this.stderrPerSecond) {
      b.suppressed++;
      if (!b.timer) {
        b.timer = setTimeout(() => this.flushSuppressed(server), Math.max(1, 1000 - (now - b.windowStart)));
        b.timer.unref();
      }
      return;
    }
    this.broadcast('server/event', { time: now, server, type: 'stderr', level: 'info', message: line });
  }

  private flushSuppressed(server: string): void {
    const b = this.stderrBudget.get(server);
    if (!b) return;
    if (b.timer) clearTimeout(b.timer);
    b.timer = undefined;
    if (b.suppressed === 0) return;
    const event: ServerEvent = {
      time: Date.now(),
      server,
      type: 'stderr',
      level: 'warn',
      message: `${b.suppressed} more stderr lines not shown (rate limit ${this.stderrPerSecond}/s; see server/stderr)`,
      data: { suppressed: b.suppressed },
    };
    b.suppressed = 0;
    this.broadcast('server/event', event);
  }

  // ---------------------------------------------------------------- HTTP

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseUrl(req.url);
    if (!url) return send(res, 400, 'text/plain; charset=utf-8', 'Bad Request\n');
    if (!this.policy || !hostAllowed(req.headers.host, this.policy)) {
      this.metrics.rejected.inc({ reason: 'host' });
      return send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: unexpected Host header\n');
    }
    const path = url.pathname;
    if (path === '/health' || path === '/healthz') {
      const servers = this.host.list().map((b) => ({ name: b.name, state: b.state }));
      return sendJson(
        res,
        200,
        { status: 'ok', version: VERSION, connections: this.connections.size, servers: servers.length, running: servers.filter((s) => s.state === 'running').length },
        {},
        req.method,
      );
    }
    if (path === GATEWAY_PATH) {
      return send(res, 426, 'text/plain; charset=utf-8', 'Upgrade Required: this endpoint speaks WebSocket\n', { Upgrade: 'websocket', Connection: 'Upgrade' });
    }
    if (path === '/metrics' || path === '/api' || path.startsWith('/api/')) {
      if (!this.authorizeHttp(req, res, url)) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
      if (path === '/metrics') {
        const text = await this.metrics.render();
        return send(res, 200, this.metrics.contentType, text, { 'Cache-Control': 'no-store' }, req.method);
      }
      return this.api(req, res, url);
    }
    return this.files.serve(req, res, path);
  }

  private authorizeHttp(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const origin = headerValue(req.headers.origin);
    if (!originAllowed(origin, this.origins, this.allowedOrigins)) {
      this.metrics.rejected.inc({ reason: 'origin' });
      send(res, 403, 'text/plain; charset=utf-8', 'Forbidden: origin not allowed\n');
      return false;
    }
    if (!tokensEqual(httpToken(req, url), this.accessToken)) {
      this.metrics.rejected.inc({ reason: 'token' });
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
    const reply = (value: unknown) => sendJson(res, 200, value, {}, req.method);
    const fail = (error: IpcError, status: number) => sendJson(res, status, { error: error.toJSON() }, {}, req.method);
    const [, resource, name, sub] = parts;
    try {
      if (resource === 'servers' && name === undefined) return reply(this.host.list().map((b) => b.snapshot()));
      if (resource === 'servers' && name !== undefined) {
        const bridge = this.host.get(name);
        if (!bridge) return fail(new InvalidParamsError(`Unknown server "${name}"`, { server: name }), 404);
        if (sub === undefined) return reply(bridge.snapshot());
        if (sub === 'tools') return reply(await bridge.listTools({ refresh: url.searchParams.get('refresh') === 'true' }));
        if (sub === 'stderr') return reply(bridge.stderrTail(optionalInt(url.searchParams.get('lines'))));
        if (sub === 'events') return reply(bridge.history());
      }
      if (resource === 'metrics' && name === undefined) return reply(this.metricsSnapshot(url.searchParams.get('server') ?? undefined));
      if (resource === 'events' && name === undefined) {
        return reply(this.eventsSince(optionalInt(url.searchParams.get('since')) ?? 0, clampLimit(optionalInt(url.searchParams.get('limit')), this.historySize)));
      }
      if (resource === 'health' && name === undefined) return reply({ status: 'ok', version: VERSION });
      return sendJson(res, 404, { error: { code: 'NotFound', message: `No such endpoint: ${url.pathname}` } }, {}, req.method);
    } catch (error) {
      const e = toIpcError(error);
      return fail(e, e.code === 'InvalidParams' ? 400 : 502);
    }
  }

  // ---------------------------------------------------------------- WebSocket

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = parseUrl(req.url);
    if (!url) return refuse(socket, 400, 'Bad Request');
    if (url.pathname !== GATEWAY_PATH) return refuse(socket, 404, 'Not Found');
    if (this.closing || !this.policy) return refuse(socket, 503, 'Gateway shutting down');
    if (!hostAllowed(req.headers.host, this.policy)) {
      this.metrics.rejected.inc({ reason: 'host' });
      return refuse(socket, 403, 'Forbidden: unexpected Host header');
    }
    // A browser cannot read an HTTP status from a failed upgrade (it only sees 1006), so our own
    // client (it offers the `mcp-ipc` subprotocol) gets a handshake closed at once with 4403/4401
    // instead: it then stops reconnecting and can explain why. Nothing else is sent on that socket.
    const ours = offeredProtocols(req).includes(GATEWAY_PROTOCOL);
    const refuseWith = (status: 401 | 403, code: number, reason: string): void => {
      if (!ours) return refuse(socket, status, reason);
      this.wss.handleUpgrade(req, socket, head, (ws) => ws.close(code, reason));
    };
    if (!originAllowed(headerValue(req.headers.origin), this.origins, this.allowedOrigins)) {
      this.metrics.rejected.inc({ reason: 'origin' });
      return refuseWith(403, GatewayCloseCode.Forbidden, 'Forbidden: origin not allowed');
    }
    if (!tokensEqual(upgradeToken(req, url), this.accessToken)) {
      this.metrics.rejected.inc({ reason: 'token' });
      return refuseWith(401, GatewayCloseCode.Unauthorized, 'Unauthorized: a valid token is required');
    }
    const address = addressKey(req.socket.remoteAddress);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, address));
  }

  private accept(ws: WebSocket, address: string): void {
    if (this.closing) {
      ws.close(GatewayCloseCode.ShuttingDown, 'gateway shutting down');
      return;
    }
    // Refused after the handshake, like the host's own limit below, so that a browser sees the code
    // and the reason (a failed upgrade only shows it 1006). The address is not echoed: the client knows it.
    if (!this.perAddress.tryAcquire(address)) {
      this.metrics.rejected.inc({ reason: 'address' });
      ws.close(GatewayCloseCode.TryAgainLater, `Too many connections from this address (max ${this.perAddress.max} per address)`);
      return;
    }
    let resource: ResourceHandle;
    try {
      resource = this.host.resources.acquire('connection', 'gateway', () => ws.close(GatewayCloseCode.ShuttingDown, 'host shutting down'), {
        meta: { kind: 'websocket' },
      });
    } catch (error) {
      // Over the host's connection limit: 1013 "try again later" (the client backs off and retries).
      this.perAddress.release(address);
      this.metrics.rejected.inc({ reason: 'limit' });
      ws.close(GatewayCloseCode.TryAgainLater, toIpcError(error).message.slice(0, 120));
      return;
    }
    const conn: Connection = { id: this.nextConnectionId++, ws, calls: new Map(), alive: true, closed: false, resource, address };
    this.connections.add(conn);
    this.metrics.connectionsTotal.inc();
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    ws.on('pong', () => (conn.alive = true));
    ws.on('error', (error: Error & { code?: string }) => {
      // ws closes the socket itself after an error (1009 for oversized messages, 1002 for protocol errors).
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.metrics.oversized.inc();
    });
    ws.on('close', () => this.dropConnection(conn, 'connection closed'));
    const hello: HelloParams = { version: VERSION, instance: this.instance, latestSeq: this.seq, servers: this.host.list().map((b) => b.snapshot()) };
    this.deliver(conn, JSON.stringify(notification('hello', hello as unknown as Record<string, unknown>)));
  }

  private dropConnection(conn: Connection, reason: string): void {
    if (conn.closed) return;
    conn.closed = true;
    this.connections.delete(conn);
    this.perAddress.release(conn.address);
    if (conn.resource) this.host.resources.forget(conn.resource.id);
    for (const controller of conn.calls.values()) controller.abort(reason);
    conn.calls.clear();
  }

  private beat(): void {
    for (const conn of this.connections) {
      if (!conn.alive) {
        conn.ws.terminate();
        this.dropConnection(conn, 'heartbeat timeout');
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        // closing anyway
      }
    }
  }

  /** Sends one frame, or drops the client when too much is already waiting for it. */
  private deliver(conn: Connection, text: string): boolean {
    if (conn.closed || conn.ws.readyState !== WebSocket.OPEN) return false;
    // Counting the new frame too; a single frame over the budget still goes out to an idle socket.
    const buffered = conn.ws.bufferedAmount;
    if (buffered > 0 && buffered + text.length > this.maxSendBufferBytes) {
      this.dropSlow(conn);
      return false;
    }
    conn.ws.send(text);
    return true;
  }

  private dropSlow(conn: Connection): void {
    const buffered = conn.ws.bufferedAmount;
    this.metrics.slowConsumers.inc();
    this.dropConnection(conn, 'slow consumer');
    conn.ws.close(GatewayCloseCode.SlowConsumer, `slow consumer: ${buffered} bytes unsent`);
    // The close frame queues behind the unsent data: do not wait for a client that does not read.
    setTimeout(() => conn.ws.terminate(), 1000).unref();
  }

  /** Waits (for self-paced output such as result chunks) until the client has read most of what is buffered. */
  private async writable(conn: Connection, signal: AbortSignal): Promise<void> {
    const highWater = Math.max(this.chunkChars * 4, Math.floor(this.maxSendBufferBytes / 2));
    const deadline = Date.now() + SLOW_CONSUMER_WAIT_MS;
    while (!conn.closed && !signal.aborted && conn.ws.readyState === WebSocket.OPEN && conn.ws.bufferedAmount > highWater) {
      if (Date.now() > deadline) {
        this.dropSlow(conn);
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private onMessage(conn: Connection, data: WebSocket.RawData, _isBinary: boolean): void {
    const text = rawToString(data);
    // `batch` only for a non-empty array: `[]` and a broken `[…` get one error object (JSON-RPC 2.0 §6).
    const { messages, diagnostics, batch } = decodeText(text, Buffer.byteLength(text));
    const errors: JsonRpcResponse[] = [];
    for (const d of diagnostics) {
      if (d.kind === 'non-json') {
        this.metrics.invalidMessages.inc({ kind: 'parse' });
        errors.push(errorResponse(null, new ProtocolError('Parse error: the frame is not JSON', { preview: d.preview }, RpcCode.ParseError)));
      } else if (d.kind === 'invalid-message') {
        this.metrics.invalidMessages.inc({ kind: 'invalid' });
        errors.push(errorResponse(d.id ?? null, new ProtocolError(`Invalid Request: ${d.reason}`, { preview: d.preview }, RpcCode.InvalidRequest)));
      }
    }
    // Invalid items count too: each of them would get its own error object.
    const items = messages.length + errors.length;
    if (items > this.maxBatch) {
      // Refused whole, before running anything: one frame must not fan out into unbounded work or replies.
      this.metrics.invalidMessages.inc({ kind: 'batch' });
      const error = new ProtocolError(`Batch of ${items} messages is over the limit of ${this.maxBatch}`, { limit: this.maxBatch }, RpcCode.InvalidRequest);
      this.deliver(conn, stringifyResponse(errorResponse(null, error)));
      return;
    }
    const pending: Array<Promise<JsonRpcResponse | undefined>> = messages.map((m) => this.handle(conn, m));
    if (!batch) {
      for (const e of errors) this.deliver(conn, stringifyResponse(e));
      for (const p of pending) void p.then((r) => r && this.deliver(conn, stringifyResponse(r)));
      return;
    }
    void Promise.all(pending).then((results) => {
      const responses = [...errors, ...results.filter((r): r is JsonRpcResponse => r !== undefined)];
      if (responses.length > 0) this.deliver(conn, `[${responses.map(stringifyResponse).join(',')}]`);
    });
  }

  /** Runs one message; resolves with the response to send (undefined for notifications and responses). */
  private async handle(conn: Connection, message: JsonRpcMessage): Promise<JsonRpcResponse | undefined> {
    if (!isRequest(message) && !isNotification(message)) return undefined; // the browser answers nothing of ours
    const id = isRequest(message) ? message.id : undefined;
    const method = message.method;
    const handler = Object.hasOwn(this.handlers, method) ? this.handlers[method as GatewayMethod] : undefined;
    this.metrics.requests.inc({ method: handler ? method : 'unknown' });
    try {
      if (!handler) throw new ProtocolError(`Method not found: ${method}`, { method }, RpcCode.MethodNotFound);
      const params = message.params;
      if (Array.isArray(params)) throw new InvalidParamsError(`${method}: params must be an object`);
      const result = await handler(conn, params ?? {}, id);
      return id === undefined ? undefined : success(id, result ?? {});
    } catch (error) {
      const e = toIpcError(error);
      this.metrics.requestErrors.inc({ code: e.code });
      return id === undefined ? undefined : errorResponse(id, e);
    }
  }

  // ---------------------------------------------------------------- methods

  private createHandlers(): Record<GatewayMethod, Handler> {
    return {
      'servers/list': (): ServerSnapshot[] => this.host.list().map((b) => b.snapshot()),
      'tools/list': (_c, p) => this.bridge(p).listTools({ refresh: optionalBoolean(p, 'refresh') ?? false }),
      'tools/call': (conn, p, id) => this.callTool(conn, p, id),
      cancel: (conn, p): GatewayResult<'cancel'> => {
        const requestId = p.requestId;
        if (typeof requestId !== 'string' && typeof requestId !== 'number') throw new InvalidParamsError('cancel: "requestId" must be a string or a number');
        const reason = typeof p.reason === 'string' ? p.reason : 'cancelled by client';
        const controller = conn.calls.get(JSON.stringify(requestId));
        if (!controller || controller.signal.aborted) return { cancelled: false };
        controller.abort(reason);
        return { cancelled: true };
      },
      'server/start': async (_c, p) => {
        const bridge = this.bridge(p);
        await bridge.start();
        return bridge.snapshot();
      },
      'server/stop': async (_c, p) => {
        const bridge = this.bridge(p);
        await bridge.stop();
        return bridge.snapshot();
      },
      'server/restart': async (_c, p) => {
        const bridge = this.bridge(p);
        await bridge.restart('restart requested from the gateway');
        return bridge.snapshot();
      },
      'metrics/snapshot': (_c, p) => {
        const server = p.server;
        if (server !== undefined && typeof server !== 'string') throw new InvalidParamsError('metrics/snapshot: "server" must be a string');
        return this.metricsSnapshot(server);
      },
      'events/since': (_c, p) => {
        const seq = p.seq;
        if (typeof seq !== 'number' || !Number.isFinite(seq)) throw new InvalidParamsError('events/since: "seq" must be a number');
        const limit = p.limit;
        if (limit !== undefined && (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0)) {
          throw new InvalidParamsError('events/since: "limit" must be a non-negative number');
        }
        return this.eventsSince(seq, clampLimit(limit, this.historySize));
      },
      'server/stderr': (_c, p) => {
        const lines = p.lines;
        if (lines !== undefined && (typeof lines !== 'number' || !Number.isFinite(lines) || lines < 0)) {
          throw new InvalidParamsError('server/stderr: "lines" must be a non-negative number');
        }
        return this.bridge(p).stderrTail(lines === undefined ? undefined : Math.floor(lines));
      },
      'cache/invalidate': (_c, p) => {
        for (const key of ['server', 'tool', 'uri'] as const) {
          if (p[key] !== undefined && typeof p[key] !== 'string') throw new InvalidParamsError(`cache/invalidate: "${key}" must be a string`);
        }
        const server = p.server === undefined ? undefined : this.bridge(p).name;
        return { dropped: this.host.invalidateCache(server, { tool: p.tool as string | undefined, uri: p.uri as string | undefined }) };
      },
      'approvals/list': () => this.host.approvals.pending(),
      'approvals/answer': (conn, p) => {
        if (typeof p.id !== 'string' || typeof p.approved !== 'boolean') throw new InvalidParamsError('approvals/answer: "id" (a string) and "approved" (true or false) are required');
        return { settled: this.host.approvals.answer(p.id, p.approved, `websocket:${conn.id}`) };
      },
      ping: () => ({}),
    };
  }

  private bridge(p: Record<string, unknown>): McpServerHandle {
    const server = p.server;
    if (typeof server !== 'string' || server === '') throw new InvalidParamsError('"server" (a server name) is required', { available: this.host.names() });
    const bridge = this.host.get(server);
    if (!bridge) throw new InvalidParamsError(`Unknown server "${server}" (available: ${this.host.names().join(', ') || 'none'})`, { server, available: this.host.names() });
    return bridge;
  }

  private metricsSnapshot(server: string | undefined): Record<string, IpcMetricsSnapshot> {
    if (server !== undefined) {
      const bridge = this.bridge({ server });
      return { [bridge.name]: bridge.snapshot().metrics };
    }
    const out: Record<string, IpcMetricsSnapshot> = {};
    for (const b of this.host.list()) out[b.name] = b.snapshot().metrics;
    return out;
  }

  private async callTool(conn: Connection, p: Record<string, unknown>, id: RequestId | undefined): Promise<CallToolResult> {
    const params = parseCallParams(p);
    const bridge = this.bridge(p);
    const key = id === undefined ? undefined : JSON.stringify(id);
    if (key !== undefined && conn.calls.has(key)) throw new ProtocolError(`A call with id ${key} is already in flight on this connection`, { id }, RpcCode.InvalidRequest);
    if (conn.calls.size >= this.maxInFlight) {
      throw new IpcError('QueueFull', `Too many calls in flight on this connection (max ${this.maxInFlight})`, { data: { maxInFlight: this.maxInFlight } });
    }
    const controller = new AbortController();
    // Notifications (no id) are tracked too, under a private key, so a closing connection aborts them.
    const trackKey = key ?? `notification:${Math.random()}`;
    // Each call is a task in the host's ResourceManager (concurrent-tasks limit → ResourceLimit).
    const task = this.host.resources.acquire('task', `gateway:${conn.id}`, () => controller.abort('resource released'), { meta: { tool: params.tool } });
    conn.calls.set(trackKey, controller);
    const signal = controller.signal;
    try {
      const options = {
        signal,
        timeoutMs: params.timeoutMs,
        priority: params.priority,
        retryable: params.retryable,
        origin: { door: 'websocket', client: String(conn.id) },
        stickyKey: `gateway:${conn.id}`, // a pool with sticky: true keeps this connection on one replica
        onProgress:
          params.progressToken === undefined
            ? undefined
            : (progress: Progress) => {
                this.deliver(conn, JSON.stringify(notification('progress', { ...progress, progressToken: params.progressToken })));
              },
      };
      const args = params.arguments ?? {};
      if (params.streamToken === undefined) return await bridge.call(params.tool, args, options);
      // Tracked as a stream while chunks flow (streams are counted, not capped).
      const stream = this.host.resources.acquire('stream', `gateway:${conn.id}`, () => undefined, { meta: { tool: params.tool } });
      try {
        return await this.callStreamed(conn, bridge, params.tool, args, options, params.streamToken, signal);
      } finally {
        this.host.resources.forget(stream.id);
      }
    } finally {
      this.host.resources.forget(task.id);
      if (conn.calls.get(trackKey) === controller) conn.calls.delete(trackKey);
    }
  }

  private async callStreamed(
    conn: Connection,
    bridge: McpServerHandle,
    tool: string,
    args: Record<string, unknown>,
    options: Parameters<McpServerHandle['call']>[2],
    streamToken: string | number,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    let seq = 0;
    const sendChunk = (data: string) =>
      this.deliver(conn, JSON.stringify(notification('stream/chunk', { streamToken, seq: seq++, data })));
    const request = bridge.callStreaming(tool, args, options);
    let pumpError: unknown;
    const pump = (async () => {
      // Forwarded as they come; a client that cannot keep up is dropped by deliver() (bounded
      // send buffer) rather than letting chunks pile up here.
      for await (const chunk of request.chunks) {
        if (signal.aborted || conn.closed || !sendChunk(chunk.data)) break;
      }
    })().catch((error: unknown) => {
      pumpError = error;
    });
    let result: CallToolResult;
    try {
      result = await request.result;
    } catch (error) {
      await pump;
      throw error;
    }
    await pump;
    if (pumpError !== undefined && seq === 0) throw pumpError;
    if (seq > 0) return result; // the server streamed: its final result stands

    // The server answered whole: split its text content into chunks here.
    const text = (result.content ?? [])
      .filter((c) => c.type === 'text' && typeof c.text === 'string')
      .map((c) => c.text as string)
      .join('');
    let bytes = 0;
    for (const piece of splitText(text, this.chunkChars)) {
      if (signal.aborted) throw new CancelledError('Request cancelled while streaming the result', { reason: String(signal.reason ?? 'cancelled'), phase: 'in-flight' });
      await this.writable(conn, signal);
      if (conn.closed) throw new NotConnectedError('Connection closed while streaming the result');
      sendChunk(piece);
      bytes += Buffer.byteLength(piece, 'utf8');
    }
    if (signal.aborted) throw new CancelledError('Request cancelled while streaming the result', { reason: String(signal.reason ?? 'cancelled'), phase: 'in-flight' });
    const content = (result.content ?? []).filter((c) => !(c.type === 'text' && typeof c.text === 'string'));
    return { ...result, content, _meta: { ...result._meta, streamed: { chunks: seq, bytes } } };
  }

  // ---------------------------------------------------------------- shutdown

  private async shutdown(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    for (const b of this.stderrBudget.values()) if (b.timer) clearTimeout(b.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    const sockets = [...this.connections].map((c) => c.ws);
    for (const conn of [...this.connections]) this.dropConnection(conn, 'gateway shutting down');
    const closed = Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolveClosed) => {
            if (ws.readyState === WebSocket.CLOSED) return resolveClosed();
            ws.once('close', () => resolveClosed());
            try {
              ws.close(GatewayCloseCode.ShuttingDown, 'gateway shutting down');
            } catch {
              ws.terminate();
            }
          }),
      ),
    );
    const grace = new Promise<void>((r) => setTimeout(r, 1000).unref());
    await Promise.race([closed, grace]);
    for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    this.wss.close();
    if (!this.started) return;
    await new Promise<void>((resolveClose) => {
      this.server.close(() => resolveClose());
      this.server.closeAllConnections();
    });
  }
}

/** Creates a gateway and starts listening. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const gateway = new Gateway(options);
  await gateway.start();
  return gateway;
}

// ---------------------------------------------------------------- helpers

function parseCallParams(p: Record<string, unknown>): CallParams {
  const tool = p.tool;
  if (typeof tool !== 'string' || tool === '') throw new InvalidParamsError('tools/call: "tool" (a tool name) is required');
  const args = p.arguments;
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    throw new InvalidParamsError('tools/call: "arguments" must be an object');
  }
  for (const key of ['progressToken', 'streamToken'] as const) {
    const v = p[key];
    if (v !== undefined && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new InvalidParamsError(`tools/call: "${key}" must be a string or a number`);
    }
  }
  const timeoutMs = p.timeoutMs;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
    throw new InvalidParamsError('tools/call: "timeoutMs" must be a positive number');
  }
  const priority = p.priority;
  if (priority !== undefined && !PRIORITIES.has(priority as Priority)) throw new InvalidParamsError('tools/call: "priority" must be "high", "normal" or "low"');
  const retryable = optionalBoolean(p, 'retryable');
  return {
    server: p.server as string,
    tool,
    arguments: args as Record<string, unknown> | undefined,
    progressToken: p.progressToken as string | number | undefined,
    streamToken: p.streamToken as string | number | undefined,
    timeoutMs: timeoutMs as number | undefined,
    priority: priority as Priority | undefined,
    retryable,
  };
}

function optionalBoolean(p: Record<string, unknown>, key: string): boolean | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new InvalidParamsError(`"${key}" must be true or false`);
  return v;
}

function clampLimit(limit: number | undefined, max: number): number {
  if (limit === undefined) return max;
  return Math.max(0, Math.min(max, Math.floor(limit)));
}

function optionalInt(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined;
}

/** Splits text into pieces of at most `size` UTF-16 units, never between the halves of a surrogate pair. */
export function splitText(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + size);
    if (end < text.length && end > i + 1) {
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--;
    }
    pieces.push(text.slice(i, end));
    i = end;
  }
  return pieces;
}

function errorResponse(id: RequestId | null, error: IpcError): JsonRpcResponse {
  return failure(id, error.rpcCode, error.message, error.toJSON());
}

function stringifyResponse(response: JsonRpcResponse): string {
  try {
    return JSON.stringify(response);
  } catch {
    // Unserialisable data (cycles, BigInt): keep the error and its code, drop the details.
    if ('error' in response) {
      const data = response.error.data as Partial<IpcErrorJSON> | undefined;
      const slim = typeof data === 'object' && data !== null ? { code: data.code, message: data.message, rpcCode: data.rpcCode } : undefined;
      return JSON.stringify({ ...response, error: { ...response.error, data: slim } });
    }
    return JSON.stringify(errorResponse(response.id, new ProtocolError('Result could not be serialised', undefined, RpcCode.InternalError)));
  }
}

function rawToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
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

/** Refuses an upgrade with a plain HTTP response, before any WebSocket exists. */
function refuse(socket: Duplex, status: number, message: string): void {
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
