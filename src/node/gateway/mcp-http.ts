/**
 * `/mcp/NAME`: each hosted server as an MCP Streamable HTTP endpoint (the session-based transport of
 * protocol versions 2025-03-26 … 2025-11-25, which every MCP client speaks by default), so that any
 * MCP client — or an MCP gateway in front of several mcp-ipc hosts — can use it.
 *
 * - `POST` one JSON-RPC message. `initialize` opens a session (`Mcp-Session-Id` in the answer); every
 *   other message names it. Requests are answered with a JSON body, or with an SSE stream when they
 *   may produce messages first (`tools/call`, or a `progressToken`): progress, and server→client
 *   requests (sampling, elicitation, roots) relayed to the HTTP client. Notifications and responses
 *   get `202 Accepted`.
 * - `GET` opens the session's stream for server notifications (list changes, log messages,
 *   resource updates); `DELETE` ends the session.
 *
 * The endpoint is an MCP server in front of the hosted bridge: `initialize` and `ping` are answered
 * here (with the hosted server's own identity and capabilities); everything else runs through the
 * gateway's handlers — the same allow-list, queue, per-connection in-flight cap, concurrent-task
 * limit, metrics and tool policy as a browser's calls, under the door `http`. Guards (Host, Origin,
 * bearer token) are applied by the caller (http.ts) before a request reaches this module.
 *
 * Not here: the 2026-07-28 revision (no sessions, MRTR instead of server→client requests). A request
 * in that shape gets a plain 400 whose body is not a modern JSON-RPC error, which is the signal the
 * specification gives modern clients to fall back to `initialize`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrotliCompress, Gzip } from 'node:zlib';
import { type IpcError, NotConnectedError, ProtocolError, RpcCode, toIpcError } from '../../core/errors.js';
import { isNotification, isRequest, type JsonRpcMessage, type JsonRpcResponse, decodeText, failure, success } from '../../core/jsonrpc.js';
import { LATEST_LEGACY_PROTOCOL_VERSION, LEGACY_PROTOCOL_VERSIONS } from '../../core/mcp-versions.js';
import type { McpHost } from '../mcp-host.js';
import type { ResourceHandle } from '../resource-manager.js';
import { chooseEncoding, compressesFor, compressor } from './compression.js';
import { errorResponse } from './dispatch.js';
import { stringifyMessage, type Peer } from './connection.js';
import { PeerRequests, type PeerRequestOptions } from './peer-requests.js';
import type { GatewayHandlers } from './handlers.js';
import type { GatewayMetrics } from './metrics.js';
import type { ServerRequestRouter } from './server-requests.js';
import type { HttpCompression } from './static.js';

/** Where the hosted servers are exposed: `/mcp/NAME`. */
export const MCP_HTTP_PREFIX = '/mcp/';
export const SESSION_HEADER = 'mcp-session-id';

export interface McpHttpOptions {
  host: McpHost;
  handlers: GatewayHandlers;
  router: ServerRequestRouter;
  /** MCP methods a client may send (the gateway's allow-list). */
  methods: ReadonlySet<string>;
  metrics: GatewayMetrics;
  /** Largest request body accepted (bigger: 413). */
  maxBodyBytes: number;
  /** Sessions open at once over all servers; one more `initialize` gets 503. */
  maxSessions: number;
  /** A session with nothing in flight and no stream open for this long is closed. */
  sessionIdleMs: number;
  /** How long an HTTP client may take to answer a server→client request. */
  serverRequestTimeoutMs: number;
  /** SSE keep-alive comment interval on open streams (0: none). */
  keepAliveMs: number;
  /**
   * JSON answers of at least `thresholdBytes` are sent gzip/br-encoded when the client accepts it
   * (`compression.http` of the gateway; peers on this machine only with `loopback`); undefined:
   * never. SSE streams are compressed too when the client accepts it, with a flush after every
   * event so none is held back.
   */
  compression?: HttpCompression;
}

/** Methods whose answer comes as an SSE stream: they may send progress or ask the client first. */
const STREAMED = new Set(['tools/call', 'prompts/get', 'completion/complete']);
/** Client capability → the server→client request it lets us relay. */
const CAPABILITY_METHODS: Record<string, string> = { sampling: 'sampling/createMessage', elicitation: 'elicitation/create', roots: 'roots/list' };

/** One SSE response: events are written as they come; closed by the final response or the client. */
class SseStream {
  closed = false;
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private zip: Gzip | BrotliCompress | undefined;

  constructor(
    private readonly res: ServerResponse,
    keepAliveMs: number,
    onClose: () => void,
  ) {
    // Compressed when the client accepts it, flushed after every event so none is held back.
    const encoding = compressFrom.has(res) ? chooseEncoding(res.req) : undefined;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // Reverse proxies (nginx) would otherwise hold events back.
      'X-Accel-Buffering': 'no',
      Vary: 'Accept-Encoding',
      ...(encoding ? { 'Content-Encoding': encoding } : {}),
    });
    res.flushHeaders();
    if (encoding) {
      const zip = compressor(encoding);
      zip.on('error', () => res.destroy());
      zip.pipe(res);
      this.zip = zip;
    }
    res.on('close', () => {
      this.stop();
      onClose();
    });
    if (keepAliveMs > 0) {
      this.keepAlive = setInterval(() => this.write(':\n\n'), keepAliveMs);
      this.keepAlive.unref();
    }
  }

  send(message: JsonRpcMessage): boolean {
    return this.write(`event: message\ndata: ${stringifyMessage(message)}\n\n`);
  }

  end(): void {
    if (this.closed) return;
    this.stop();
    if (this.zip) this.zip.end();
    else this.res.end();
  }

  private write(text: string): boolean {
    if (this.closed || this.res.writableEnded || this.res.destroyed) return false;
    if (this.zip) {
      this.zip.write(text);
      this.zip.flush(); // sync flush: the event reaches the client now, compressed against the ones before
    } else this.res.write(text);
    return true;
  }

  private stop(): void {
    this.closed = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
  }
}

/** One MCP session over HTTP: a Peer of the gateway's handlers, like a browser's WebSocket. */
class HttpSession implements Peer {
  readonly door = 'http';
  readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  /** The GET stream (server notifications), while open. */
  notifications: SseStream | undefined;
  /** SSE streams of requests in flight, by progress token and in start order. */
  readonly streams = new Set<SseStream>();
  readonly byProgressToken = new Map<string | number, SseStream>();
  /** Our requests to the HTTP client (server→client requests routed here). */
  private readonly outgoing = new PeerRequests({ send: (m) => this.send(m), idPrefix: 'srv-', peer: 'the HTTP client' });
  inFlight = 0;
  lastActive = Date.now();
  initialized = false;

  constructor(
    readonly id: number,
    readonly sessionId: string,
    readonly server: string,
    readonly protocolVersion: string,
    readonly resource: ResourceHandle,
    private readonly timeoutMs: number,
  ) {}

  get clientId(): string {
    // The audit log names the session by a prefix: enough to follow one client, not a credential.
    return this.sessionId.slice(0, 8);
  }

  send(message: JsonRpcMessage): boolean {
    if (this.signal.aborted) return false;
    const token = message && 'method' in message && message.method === 'notifications/progress' ? (message.params as { progressToken?: string | number } | undefined)?.progressToken : undefined;
    if (token !== undefined) {
      const stream = this.byProgressToken.get(token);
      return stream ? stream.send(message) : false;
    }
    // Requests to the client ride on a request stream (the call that caused them, most likely the
    // newest one) or the GET stream; other notifications on the GET stream only (they are not
    // related to one request, the transport says they must not ride on a request's stream).
    if ('id' in message && 'method' in message) {
      const newest = [...this.streams].reverse().find((s) => !s.closed);
      if (newest) return newest.send(message);
    }
    return this.notifications?.send(message) ?? false;
  }

  writable(): Promise<void> {
    return Promise.resolve();
  }

  request(method: string, params: Record<string, unknown>, options: PeerRequestOptions): Promise<unknown> {
    if (this.signal.aborted) return Promise.reject(new NotConnectedError('The HTTP session is closed'));
    return this.outgoing.request(method, params, { ...options, timeoutMs: Math.min(options.timeoutMs, this.timeoutMs) });
  }

  answer(response: JsonRpcResponse): boolean {
    return this.outgoing.answer(response);
  }

  close(reason: string): void {
    if (this.signal.aborted) return;
    this.controller.abort(reason);
    const error = new NotConnectedError(`The HTTP session closed (${reason})`);
    this.outgoing.failAll(error);
    this.notifications?.end();
    for (const s of this.streams) s.end();
  }
}

export class McpHttpEndpoint {
  private readonly sessions = new Map<string, HttpSession>();
  private readonly sweep: ReturnType<typeof setInterval>;
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: McpHttpOptions) {
    // Idle sessions are closed: a client that never sends DELETE must not hold a slot for ever.
    this.sweep = setInterval(() => this.closeIdle(), Math.max(1000, Math.min(60_000, options.sessionIdleMs / 2)));
    this.sweep.unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Answers one request to `/mcp/NAME` (already through the Host, Origin and token guards). */
  async handle(req: IncomingMessage, res: ServerResponse, server: string): Promise<void> {
    if (this.closed) return plain(res, 503, 'Service Unavailable: shutting down');
    const c = this.options.compression;
    if (c && compressesFor(req, c.loopback)) compressFrom.set(res, c.thresholdBytes);
    if (!this.options.host.get(server)) return plain(res, 404, `Not Found: no server "${server}" here`);
    if (req.method === 'POST') return this.post(req, res, server);
    if (req.method === 'GET') return this.get(req, res, server);
    if (req.method === 'DELETE') return this.delete(req, res, server);
    return plain(res, 405, 'Method Not Allowed', { Allow: 'GET, POST, DELETE' });
  }

  /** Ends every session (their streams close, their requests are aborted). */
  close(): void {
    this.closed = true;
    clearInterval(this.sweep);
    for (const session of [...this.sessions.values()]) this.end(session, 'gateway shutting down');
  }

  // ---------------------------------------------------------------- POST

  private async post(req: IncomingMessage, res: ServerResponse, server: string): Promise<void> {
    const accept = String(req.headers.accept ?? '');
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return rpcError(res, 406, null, new ProtocolError('Not Acceptable: the client must accept both application/json and text/event-stream', undefined, RpcCode.InvalidRequest));
    }
    if (!String(req.headers['content-type'] ?? '').includes('application/json')) {
      return rpcError(res, 415, null, new ProtocolError('Unsupported Media Type: the body must be application/json', undefined, RpcCode.InvalidRequest));
    }
    const body = await readBody(req, this.options.maxBodyBytes);
    if (body === undefined) {
      return rpcError(res, 413, null, new ProtocolError(`Payload Too Large: at most ${this.options.maxBodyBytes} bytes`, undefined, RpcCode.InvalidRequest));
    }
    const decoded = decodeText(body, Buffer.byteLength(body));
    if (decoded.batch) {
      return rpcError(res, 400, null, new ProtocolError('Invalid Request: batches are not accepted (protocol 2025-06-18 and later send one message per POST)', undefined, RpcCode.InvalidRequest));
    }
    const message = decoded.messages[0];
    if (!message) {
      const d = decoded.diagnostics[0];
      const parse = d?.kind === 'non-json';
      return rpcError(res, 400, null, new ProtocolError(parse ? 'Parse error: the body is not JSON' : `Invalid Request: ${d && 'reason' in d ? d.reason : 'not a JSON-RPC message'}`, undefined, parse ? RpcCode.ParseError : RpcCode.InvalidRequest));
    }

    if (isRequest(message) && message.method === 'initialize') return this.initialize(req, res, server, message.id, asObject(message.params));

    const sessionId = headerValue(req.headers[SESSION_HEADER]);
    if (sessionId === undefined) {
      // Also what a 2026-07-28 client (no sessions) gets: a plain 400, not a modern error, tells it to fall back to initialize.
      return plain(res, 400, 'Bad Request: Mcp-Session-Id header is required (send initialize first)');
    }
    const session = this.sessions.get(sessionId);
    // Unknown (expired, ended, or another server's): 404 tells the client to start a new session.
    if (!session || session.server !== server) return rpcError(res, 404, null, new ProtocolError('Session not found: send initialize again', undefined, RpcCode.InvalidRequest));
    const version = headerValue(req.headers['mcp-protocol-version']);
    if (version !== undefined && version !== session.protocolVersion && !(LEGACY_PROTOCOL_VERSIONS as readonly string[]).includes(version)) {
      return plain(res, 400, `Bad Request: unsupported MCP-Protocol-Version ${version}`);
    }
    session.lastActive = Date.now();

    if (!isRequest(message)) {
      if (isNotification(message)) this.notification(session, message.method, asObject(message.params));
      else session.answer(message as JsonRpcResponse);
      res.writeHead(202).end();
      return;
    }
    const { id, method } = message;
    const params = asObject(message.params);
    const offered = method === 'ping' || this.options.methods.has(method);
    this.options.metrics.mcpRequests.inc({ method: offered ? method : 'unknown' });
    if (method === 'ping') return json(res, success(id, {}));
    if (!offered) {
      this.options.metrics.requestErrors.inc({ code: 'ProtocolError' });
      return json(res, errorResponse(id, new ProtocolError(`Method not found: ${method}`, { method }, RpcCode.MethodNotFound)));
    }
    const progressToken = (asObject(params._meta) as { progressToken?: unknown }).progressToken;
    const hasToken = typeof progressToken === 'string' || typeof progressToken === 'number';
    const streamed = STREAMED.has(method) || hasToken;
    let stream: SseStream | undefined;
    if (streamed) {
      stream = new SseStream(res, this.options.keepAliveMs, () => {
        session.streams.delete(stream!);
        if (hasToken && session.byProgressToken.get(progressToken) === stream) session.byProgressToken.delete(progressToken);
      });
      session.streams.add(stream);
      if (hasToken) session.byProgressToken.set(progressToken, stream);
    }
    session.inFlight++;
    let response: JsonRpcResponse;
    try {
      // The endpoint's own settings (`server`) win over whatever the client put there.
      const result = await this.options.handlers.handle(session, method, { ...params, server }, id);
      response = success(id, result);
    } catch (error) {
      const e = toIpcError(error);
      this.options.metrics.requestErrors.inc({ code: e.code });
      response = errorResponse(id, e);
    } finally {
      session.inFlight--;
      session.lastActive = Date.now();
    }
    if (stream) {
      stream.send(response);
      stream.end();
    } else json(res, response);
  }

  private initialize(req: IncomingMessage, res: ServerResponse, server: string, id: JsonRpcResponse['id'] & {}, params: Record<string, unknown>): void {
    if (headerValue(req.headers[SESSION_HEADER]) !== undefined) {
      return rpcError(res, 400, id, new ProtocolError('Invalid Request: initialize must not name a session', undefined, RpcCode.InvalidRequest));
    }
    if (this.sessions.size >= this.options.maxSessions) {
      return rpcError(res, 503, id, new ProtocolError(`Too many MCP sessions (max ${this.options.maxSessions}); try again later`, undefined, RpcCode.InternalError), { 'Retry-After': '5' });
    }
    const bridge = this.options.host.get(server)!;
    const requested = typeof params.protocolVersion === 'string' ? params.protocolVersion : '';
    // The client's version when we speak it (the legacy era's rule); else our newest, and the client decides.
    const protocolVersion = (LEGACY_PROTOCOL_VERSIONS as readonly string[]).includes(requested) ? requested : LATEST_LEGACY_PROTOCOL_VERSION;
    const sessionId = randomUUID();
    let resource: ResourceHandle;
    try {
      // A session counts against the host's connection limit, like a WebSocket.
      resource = this.options.host.resources.acquire('connection', 'gateway', () => this.end(this.sessions.get(sessionId), 'host shutting down'), {
        meta: { kind: 'mcp-http', server },
      });
    } catch (error) {
      return rpcError(res, 503, id, toIpcError(error), { 'Retry-After': '5' });
    }
    const session = new HttpSession(this.nextId++, sessionId, server, protocolVersion, resource, this.options.serverRequestTimeoutMs);
    this.sessions.set(sessionId, session);
    this.options.handlers.attach(session);
    // Server notifications of this server reach the session's GET stream, as an MCP client expects.
    void this.options.handlers.handle(session, 'gateway/listen', { server, methods: ['*'] }, undefined).catch(() => undefined);
    // Server→client requests the client declared it can answer are relayed to it.
    const capabilities = asObject(params.capabilities);
    const relayed = Object.entries(CAPABILITY_METHODS)
      .filter(([capability]) => capabilities[capability] !== undefined)
      .map(([, method]) => method);
    if (relayed.length > 0) this.options.router.register(session, relayed);

    const identity = bridge.server;
    const result = {
      protocolVersion,
      capabilities: identity.capabilities,
      serverInfo: identity.info ?? { name: server, version: '0.0.0' },
      ...(identity.instructions !== undefined ? { instructions: identity.instructions } : {}),
    };
    json(res, success(id, result), { 'Mcp-Session-Id': sessionId });
  }

  private notification(session: HttpSession, method: string, params: Record<string, unknown>): void {
    if (method === 'notifications/initialized') session.initialized = true;
    else if (method === 'notifications/cancelled') this.options.handlers.cancel(session, params.requestId, typeof params.reason === 'string' ? params.reason : 'cancelled by client');
    // Anything else (roots/list_changed, …) concerns the host's own client role, not this session.
  }

  // ---------------------------------------------------------------- GET, DELETE

  private get(req: IncomingMessage, res: ServerResponse, server: string): void {
    if (!String(req.headers.accept ?? '').includes('text/event-stream')) return plain(res, 406, 'Not Acceptable: GET opens an SSE stream (Accept: text/event-stream)');
    const session = this.lookup(req, res, server);
    if (!session) return;
    if (session.notifications && !session.notifications.closed) return plain(res, 409, 'Conflict: this session already has its notification stream open');
    session.lastActive = Date.now();
    const stream = new SseStream(res, this.options.keepAliveMs, () => {
      if (session.notifications === stream) session.notifications = undefined;
      session.lastActive = Date.now();
    });
    session.notifications = stream;
  }

  private delete(req: IncomingMessage, res: ServerResponse, server: string): void {
    const session = this.lookup(req, res, server);
    if (!session) return;
    this.end(session, 'ended by the client');
    res.writeHead(200).end();
  }

  private lookup(req: IncomingMessage, res: ServerResponse, server: string): HttpSession | undefined {
    const sessionId = headerValue(req.headers[SESSION_HEADER]);
    if (sessionId === undefined) {
      plain(res, 400, 'Bad Request: Mcp-Session-Id header is required');
      return undefined;
    }
    const session = this.sessions.get(sessionId);
    if (!session || session.server !== server) {
      plain(res, 404, 'Not Found: no such session');
      return undefined;
    }
    return session;
  }

  private end(session: HttpSession | undefined, reason: string): void {
    if (!session || !this.sessions.has(session.sessionId)) return;
    this.sessions.delete(session.sessionId);
    this.options.host.resources.forget(session.resource.id);
    session.close(reason);
    this.options.handlers.detach(session, reason);
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const session of [...this.sessions.values()]) {
      const busy = session.inFlight > 0 || (session.notifications !== undefined && !session.notifications.closed);
      if (!busy && now - session.lastActive >= this.options.sessionIdleMs) this.end(session, 'idle');
    }
  }
}

/** The request body as text; undefined when it is larger than `max` (reading stops there). */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function asObject(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

/** Responses whose JSON answers may be compressed, with the size from which they are. */
const compressFrom = new WeakMap<ServerResponse, number>();

function json(res: ServerResponse, message: JsonRpcMessage, headers: Record<string, string> = {}, status = 200): void {
  const body = stringifyMessage(message);
  const threshold = compressFrom.get(res);
  const encoding = threshold !== undefined && body.length >= threshold ? chooseEncoding(res.req) : undefined;
  if (!encoding) {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', Vary: 'Accept-Encoding', ...headers }).end(body);
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Encoding': encoding, 'Cache-Control': 'no-store', Vary: 'Accept-Encoding', ...headers });
  const zip = compressor(encoding, Buffer.byteLength(body));
  zip.on('error', () => res.destroy());
  zip.pipe(res);
  zip.end(body);
}

function rpcError(res: ServerResponse, status: number, id: JsonRpcResponse['id'], error: IpcError, headers: Record<string, string> = {}): void {
  json(res, failure(id, error.rpcCode, error.message, error.toJSON()), headers, status);
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }).end(`${text}\n`);
}
