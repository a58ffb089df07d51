/**
 * Gateway: one HTTP server on loopback that lets a browser drive the McpHost.
 * - `GET /`            the dashboard (static files; a placeholder page when it is not built)
 * - `GET /ws`          JSON-RPC 2.0 over WebSocket (src/core/gateway-protocol.ts is the contract)
 * - `GET /metrics`     Prometheus text (token required)
 * - `GET /api/...`     read-only JSON views (token required)
 * - `GET /health`      liveness (no token)
 * - `/mcp/NAME`        each hosted server as an MCP Streamable HTTP endpoint (bearer token; mcp-http.ts)
 *
 * This module wires the parts together: `http.ts` (routing and guards), `connection.ts` (one
 * WebSocket: backpressure, heartbeat, requests to the browser), `dispatch.ts` (frames → handlers),
 * `handlers.ts` (the methods, MCP forwarding, notification fan-out) with `params.ts` and
 * `streaming.ts`, `server-requests.ts` (server→client requests to browsers), `event-log.ts` (the
 * sequenced broadcast log), `mcp-http.ts` (`/mcp/NAME`), `stderr-relay.ts`, `compression.ts`, `security.ts`, `static.ts`,
 * `metrics.ts`, `address-cap.ts`.
 * Closing the gateway never stops the host's servers.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { DEFAULTS } from '../../core/defaults.js';
import { toIpcError } from '../../core/errors.js';
import {
  BATCH_PROTOCOL,
  GATEWAY_PATH,
  GatewayCloseCode,
  type GatewayEventName,
  type GatewayEvents,
  type GatewayOffers,
  type GatewayResult,
  type HelloParams,
  MCP_CLIENT_METHODS,
  MCP_SERVER_REQUEST_METHODS,
} from '../../core/gateway-protocol.js';
import { notification } from '../../core/jsonrpc.js';
import { PACKAGE_ROOT } from '../config.js';
import type { McpHost } from '../mcp-host.js';
import type { ResourceHandle } from '../resource-manager.js';
import { AddressConnections, addressKey } from './address-cap.js';
import { type CompressionOptions, isLoopbackAddress, perMessageDeflate, resolveCompression } from './compression.js';
import { Connection } from './connection.js';
import { FrameDispatcher } from './dispatch.js';
import { EventLog } from './event-log.js';
import { GatewayHandlers } from './handlers.js';
import { HttpRoutes, refuse } from './http.js';
import { McpHttpEndpoint } from './mcp-http.js';
import { GatewayMetrics } from './metrics.js';
import { GATEWAY_PROTOCOL, generateToken, hostForUrl, hostPolicy, ownOrigins, TOKEN_PROTOCOL_PREFIX } from './security.js';
import { ServerRequestRouter } from './server-requests.js';
import { StderrRelay } from './stderr-relay.js';
import { sendJson, StaticFiles } from './static.js';

export { GATEWAY_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from './security.js';
export { splitText } from './streaming.js';
export type { CompressionOptions } from './compression.js';

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
  /** Largest WebSocket message accepted, after decompression (bigger: the socket is closed with 1009). */
  maxMessageBytes?: number;
  /**
   * WebSocket connections one remote address (an IPv4 address, an IPv6 /64) may hold at once; one more
   * is closed right after the handshake with 1013 ("try again later") and a reason saying why. All
   * clients on this machine share the address 127.0.0.1 (or ::1). The host's own limit
   * (`limits.connections`) still caps the total.
   * @default 25 (DEFAULTS.gateway.maxConnectionsPerAddress: a quarter of the default total of 100)
   */
  maxConnectionsPerAddress?: number;
  /**
   * Requests (tool calls and every other forwarded MCP request) one connection may have in flight;
   * more fail at once with QueueFull (its message and `data.limit` name this option). All
   * connections together are capped by the host's `limits.concurrentTasks` (default 256; over it:
   * ResourceLimit naming `concurrentTasks`). Both limits and the refusals are in /metrics
   * (`mcp_ipc_gateway_in_flight_limit`, `mcp_ipc_gateway_task_limit`, `mcp_ipc_gateway_refused_total`).
   * @default 32 (DEFAULTS.gateway.maxInFlightPerConnection)
   */
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
  /**
   * The MCP requests browsers may send to servers (forwarded under MCP's own names). Add a server's
   * own methods here to expose them; anything not listed is "Method not found".
   * @default MCP_CLIENT_METHODS (the whole client-side MCP surface)
   */
  methods?: readonly string[];
  /**
   * Whether browsers may start, stop and restart servers, set their roots and drop cached results
   * (HOST_CONTROL_METHODS: `server/start`, `server/stop`, `server/restart`, `server/setRoots`,
   * `cache/invalidate`). Answering approvals (`approvals/answer`) is what the dashboard is for: always allowed.
   * @default true (the token holder is the host's operator; set false for a read-and-call-only UI)
   */
  allowHostControl?: boolean;
  /**
   * Server→client requests handed to browsers that registered for them (`gateway/handle`). The
   * gateway answers these for every server without a handler of its own, which declares the
   * matching client capability — so start the gateway before the servers connect for legacy
   * servers (they learn capabilities once, in `initialize`).
   * @default MCP_SERVER_REQUEST_METHODS (`sampling/createMessage`, `elicitation/create`, `roots/list`)
   */
  serverRequests?: readonly string[];
  /** How long a browser may take to answer a server→client request (a person may be typing). @default 120 000 */
  serverRequestTimeoutMs?: number;
  /**
   * permessage-deflate on the WebSocket and gzip/br on HTTP responses; `false` turns both off.
   * Peers on this machine (loopback) get neither unless `{ loopback: true }`.
   * @default on for remote peers, see CompressionOptions for the bounds
   */
  compression?: CompressionOptions | false;
  /**
   * Serve over TLS (node:https) with this certificate and key (PEM): the dashboard, the WebSocket
   * (`wss://`) and `/mcp/NAME`. Needed for any bind beyond loopback — a bearer token sent in clear
   * text can be read by anyone on the path.
   * @default plain HTTP
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * `/mcp/NAME`: each hosted server as an MCP Streamable HTTP endpoint (bearer token: the gateway's,
   * or the server's `expose.tokens`); `false` turns it off.
   * @default on, see McpHttpSettings
   */
  mcpHttp?: McpHttpSettings | false;
}

/** Settings of the `/mcp/NAME` endpoints. */
export interface McpHttpSettings {
  /** MCP sessions open at once over all servers (each also counts against `limits.connections`). @default 100 */
  maxSessions?: number;
  /** A session with nothing in flight and no stream open is closed after this long. @default 1 800 000 (30 min) */
  sessionIdleMs?: number;
  /** Largest POST body. @default 16 MiB (the stdio line limit: nothing larger could reach a server) */
  maxBodyBytes?: number;
  /** SSE keep-alive comments on open streams, so that proxies do not drop quiet ones (0: none). @default 15 000 */
  keepAliveMs?: number;
}

const VERSION = readVersion();
const SLOW_CONSUMER_WAIT_MS = 30_000;
const SERVER_REQUEST_TIMEOUT_MS = 120_000;

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

interface Accepted {
  conn: Connection;
  /** Tracked in the host's ResourceManager (connections limit); forgotten when the socket closes. */
  resource: ResourceHandle;
  /** The remote address key its per-address slot is counted under (see addressKey). */
  address: string;
}

export class Gateway {
  readonly host: McpHost;
  readonly metrics: GatewayMetrics;
  private readonly hostname: string;
  private readonly requestedPort: number;
  private readonly accessToken: string;
  private readonly allowedHosts: string[];
  private readonly maxSendBufferBytes: number;
  private readonly chunkChars: number;
  private readonly compressThresholdBytes: number;
  private readonly heartbeatMs: number;
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  /** The one for peers on this machine (no permessage-deflate unless `compression.loopback`). */
  private readonly wssLoopback: WebSocketServer;
  private readonly connections = new Map<Connection, Accepted>();
  private readonly perAddress: AddressConnections;
  private readonly events: EventLog;
  private readonly handlers: GatewayHandlers;
  private readonly router: ServerRequestRouter;
  private readonly dispatcher: FrameDispatcher;
  private readonly http: HttpRoutes;
  /** Identifies this gateway run in `hello` (see HelloParams.instance). */
  private readonly instance = generateToken().slice(0, 16);
  private readonly unsubscribe: Array<() => void> = [];
  private readonly stderr: StderrRelay;
  private readonly offers: GatewayOffers;
  /** Told (in `hello`) to connections that agreed on BATCH_PROTOCOL. */
  private readonly batchLimits: NonNullable<HelloParams['batch']>;
  private readonly secure: boolean;
  private readonly mcpHttp: McpHttpEndpoint | undefined;
  private nextConnectionId = 1;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private started = false;
  private closing: Promise<void> | undefined;

  constructor(options: GatewayOptions) {
    const d = DEFAULTS.gateway;
    this.host = options.host;
    this.hostname = options.hostname ?? d.host;
    this.requestedPort = options.port ?? d.port;
    this.accessToken = options.token ?? generateToken();
    this.allowedHosts = options.allowedHosts ?? [];
    this.maxSendBufferBytes = options.maxSendBufferBytes ?? d.maxSendBufferBytes;
    this.perAddress = new AddressConnections(options.maxConnectionsPerAddress ?? d.maxConnectionsPerAddress);
    this.chunkChars = Math.max(1, options.chunkChars ?? d.chunkChars);
    this.stderr = new StderrRelay(options.stderrLinesPerSecond ?? 50, (event) => this.broadcast('server/event', event));
    this.heartbeatMs = options.heartbeatMs ?? 30_000;
    if (this.accessToken === '') throw new TypeError('Gateway token must not be empty');
    const serverRequestTimeoutMs = options.serverRequestTimeoutMs ?? SERVER_REQUEST_TIMEOUT_MS;
    if (!(serverRequestTimeoutMs > 0)) throw new TypeError(`serverRequestTimeoutMs must be > 0, got ${serverRequestTimeoutMs}`);
    const compression = resolveCompression(options.compression);
    const maxInFlight = options.maxInFlightPerConnection ?? d.maxInFlightPerConnection;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new TypeError(`maxInFlightPerConnection must be a whole number ≥ 1, got ${maxInFlight}`);
    this.compressThresholdBytes = compression.thresholdBytes;
    this.offers = {
      methods: [...(options.methods ?? MCP_CLIENT_METHODS)],
      hostControl: options.allowHostControl ?? true,
      serverRequests: [...(options.serverRequests ?? MCP_SERVER_REQUEST_METHODS)],
    };

    this.events = new EventLog({ maxEvents: options.eventHistory ?? d.eventHistory, maxBytes: options.eventHistoryBytes ?? d.eventHistoryBytes });
    this.metrics = new GatewayMetrics(() => this.host.list().map((b) => b.snapshot()), {
      connections: () => this.connections.size,
      eventLogSize: () => this.events.size,
      latestSeq: () => this.events.latestSeq,
      mcpSessions: () => this.mcpHttp?.sessionCount ?? 0,
      tasks: () => this.host.resources.count('task'),
      taskLimit: () => this.host.resources.limits.concurrentTasks,
      inFlightLimit: () => maxInFlight,
    });
    this.router = new ServerRequestRouter(this.host, {
      methods: this.offers.serverRequests,
      timeoutMs: serverRequestTimeoutMs,
      busyOn: (server) => this.handlers.busyOn(server),
    });
    this.handlers = new GatewayHandlers({
      host: this.host,
      events: this.events,
      router: this.router,
      methods: new Set(this.offers.methods),
      allowHostControl: this.offers.hostControl,
      maxInFlight,
      chunkChars: this.chunkChars,
      onRefused: (limit) => this.metrics.refused.inc({ limit }),
    });
    this.dispatcher = new FrameDispatcher(this.handlers, this.metrics, Math.max(1, options.maxBatchSize ?? d.maxBatchSize));
    this.batchLimits = { maxItems: this.dispatcher.maxBatch, maxBytes: options.maxMessageBytes ?? d.maxMessageBytes };
    const httpCompression = compression.http ? { thresholdBytes: compression.thresholdBytes, loopback: compression.loopback } : undefined;
    const mcp = options.mcpHttp === false ? undefined : (options.mcpHttp ?? {});
    if (mcp) {
      for (const key of ['maxSessions', 'sessionIdleMs', 'maxBodyBytes'] as const) {
        const v = mcp[key];
        if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new TypeError(`mcpHttp.${key} must be a positive number, got ${v}`);
      }
      this.mcpHttp = new McpHttpEndpoint({
        host: this.host,
        handlers: this.handlers,
        router: this.router,
        methods: new Set(this.offers.methods),
        metrics: this.metrics,
        maxBodyBytes: mcp.maxBodyBytes ?? DEFAULTS.transport.maxMessageBytes,
        maxSessions: mcp.maxSessions ?? 100,
        sessionIdleMs: mcp.sessionIdleMs ?? 30 * 60_000,
        serverRequestTimeoutMs,
        keepAliveMs: mcp.keepAliveMs ?? 15_000,
        ...(httpCompression ? { compression: httpCompression } : {}),
      });
    }
    this.secure = options.tls !== undefined;
    this.http = new HttpRoutes({
      host: this.host,
      metrics: this.metrics,
      files: new StaticFiles(options.staticDir ?? resolve(PACKAGE_ROOT, 'dashboard', 'dist'), options.host.resources, httpCompression),
      events: this.events,
      handlers: this.handlers,
      token: this.accessToken,
      allowedOrigins: options.allowedOrigins ?? [],
      version: VERSION,
      connections: () => this.connections.size,
      compression: httpCompression,
      mcp: this.mcpHttp,
    });

    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      this.http.onRequest(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: toIpcError(error).toJSON() });
        else res.destroy();
      });
    };
    this.server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createServer(onRequest);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    const wsServer = (deflate: boolean) =>
      new WebSocketServer({
        noServer: true,
        maxPayload: options.maxMessageBytes ?? d.maxMessageBytes,
        perMessageDeflate: deflate ? perMessageDeflate(compression) : false,
        clientTracking: false,
        handleProtocols: (protocols: Set<string>) => {
          if (protocols.has(BATCH_PROTOCOL)) return BATCH_PROTOCOL;
          if (protocols.has(GATEWAY_PROTOCOL)) return GATEWAY_PROTOCOL;
          for (const p of protocols) if (p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p;
          return false;
        },
      });
    this.wss = wsServer(compression.websocket);
    // ws negotiates permessage-deflate per server, not per upgrade: peers on this machine get one that offers none.
    this.wssLoopback = compression.websocket && !compression.loopback ? wsServer(false) : this.wss;
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

  /** `http://host:port` (`https://` with TLS; loopback name for wildcard binds). */
  get origin(): string {
    const h = ['0.0.0.0', '::', ''].includes(this.hostname) ? '127.0.0.1' : this.hostname;
    return `${this.secure ? 'https' : 'http'}://${hostForUrl(h)}:${this.port}`;
  }

  /** The MCP Streamable HTTP endpoint of one hosted server (send the token as `Authorization: Bearer`). */
  mcpUrl(server: string): string {
    return `${this.origin}/mcp/${encodeURIComponent(server)}`;
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
    return this.events.latestSeq;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Listens, installs the server→client request forwarding and starts relaying the host's events. */
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
    const policy = hostPolicy(this.hostname, this.port, this.allowedHosts, this.secure);
    this.http.policy = policy;
    this.http.origins = ownOrigins(policy);
    this.router.install();
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
  eventsSince(seq: number, limit?: number): GatewayResult<'events/since'> {
    return this.events.since(seq, limit);
  }

  // ---------------------------------------------------------------- events

  private subscribe(): void {
    const h = this.host;
    // Seed the log with what the servers did before the gateway started (spawn, handshake, …).
    const past = h.list().flatMap((b) => b.history());
    past.sort((a, b) => a.time - b.time);
    for (const event of past.slice(-this.events.maxEvents)) this.broadcast('server/event', event);
    this.unsubscribe.push(
      h.on('state', (payload) => this.broadcast('server/state', payload)),
      h.on('event', (payload) => this.broadcast('server/event', payload)),
      h.on('metrics', (snapshot) => this.broadcast('metrics', { server: snapshot.name, snapshot })),
      h.on('tools', (payload) => this.broadcast('tools/changed', payload)),
      h.on('stderr', ({ server, line }) => this.stderr.line(server, line)),
      h.on('notification', ({ server, method, params }) => this.handlers.serverNotification(server, method, params)),
      h.on('reload', (reload) => {
        // Servers added or replaced at run time get the browser-forwarding request handlers too;
        // what pointed at removed or replaced handles is dropped (subscriptions are made again).
        this.router.install();
        this.handlers.serversReplaced(reload.changed, reload.removed);
        for (const name of reload.removed) this.stderr.forget(name);
        this.broadcast('host/reload', reload);
      }),
      // The dashboard is where a person approves `tools.confirm` calls.
      h.approvals.attachApprover(),
      h.approvals.onRequested((request) => this.broadcast('approval/requested', request)),
      h.approvals.onSettled((settled) => this.broadcast('approval/settled', settled)),
    );
  }

  private broadcast<K extends GatewayEventName>(method: K, data: GatewayEvents[K]): void {
    if (this.closing) return;
    const text = this.events.append(method, data);
    if (text === undefined) return;
    this.metrics.eventsBroadcast.inc({ event: method });
    for (const conn of this.connections.keys()) conn.deliver(text);
  }

  // ---------------------------------------------------------------- WebSocket

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.closing) return refuse(socket, 503, 'Gateway shutting down');
    const verdict = this.http.checkUpgrade(req, this.accessToken);
    const wss = isLoopbackAddress(req.socket.remoteAddress) ? this.wssLoopback : this.wss;
    if (!verdict.ok) {
      if ('closeCode' in verdict) {
        const { closeCode, message } = verdict;
        wss.handleUpgrade(req, socket, head, (ws) => ws.close(closeCode, message));
        return;
      }
      return refuse(socket, verdict.status, verdict.message);
    }
    const address = addressKey(req.socket.remoteAddress);
    wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, address));
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
    const conn = new Connection(ws, {
      id: this.nextConnectionId++,
      maxSendBufferBytes: this.maxSendBufferBytes,
      highWaterBytes: Math.max(this.chunkChars * 4, Math.floor(this.maxSendBufferBytes / 2)),
      slowConsumerWaitMs: SLOW_CONSUMER_WAIT_MS,
      compressThresholdBytes: this.compressThresholdBytes,
      onSlowConsumer: () => {
        this.metrics.slowConsumers.inc();
        this.dropConnection(conn, 'slow consumer');
      },
    });
    this.connections.set(conn, { conn, resource, address });
    this.handlers.attach(conn);
    this.metrics.connectionsTotal.inc();
    // Chosen once, at the handshake: the items of this client's batches run and answer independently.
    const independentBatches = ws.protocol === BATCH_PROTOCOL;
    ws.on('message', (data) => this.dispatcher.dispatch(conn, rawToString(data), independentBatches));
    ws.on('error', (error: Error & { code?: string }) => {
      // ws closes the socket itself after an error (1009 for oversized messages, 1002 for protocol errors).
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.metrics.oversized.inc();
    });
    ws.on('close', () => this.dropConnection(conn, 'connection closed'));
    const hello: HelloParams = {
      version: VERSION,
      instance: this.instance,
      latestSeq: this.events.latestSeq,
      servers: this.host.list().map((b) => b.snapshot()),
      offers: this.offers,
    };
    if (independentBatches) hello.batch = this.batchLimits;
    conn.deliver(JSON.stringify(notification('hello', hello as unknown as Record<string, unknown>)));
  }

  private dropConnection(conn: Connection, reason: string): void {
    const accepted = this.connections.get(conn);
    if (!accepted) return;
    this.connections.delete(conn);
    this.perAddress.release(accepted.address);
    this.host.resources.forget(accepted.resource.id);
    conn.dispose(reason);
    this.handlers.detach(conn, reason);
  }

  private beat(): void {
    for (const conn of [...this.connections.keys()]) {
      if (conn.beat()) continue;
      conn.ws.terminate();
      this.dropConnection(conn, 'heartbeat timeout');
    }
  }

  // ---------------------------------------------------------------- shutdown

  private async shutdown(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    this.stderr.close();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.router.uninstall();
    this.mcpHttp?.close();
    const sockets = [...this.connections.keys()].map((c) => c.ws);
    for (const conn of [...this.connections.keys()]) this.dropConnection(conn, 'gateway shutting down');
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
    if (this.wssLoopback !== this.wss) this.wssLoopback.close();
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

function rawToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
