/**
 * A remote MCP server over Streamable HTTP, seen by the rest of mcp-ipc as a "process" whose start
 * is a connection and whose exit is a broken connection: the SDK's StreamableHTTPClientTransport
 * (the official client side of the transport, both eras) wrapped as a ProcessTransport, so the
 * ProcessManager supervises it like a stdio server — health checks, reconnect with backoff,
 * StartupFailed when it was never reachable — and the IpcManager keeps its queue, timeouts,
 * cancellation, progress and metrics.
 *
 * Requests and their fate. Every request is one POST; its answer comes as JSON or on an SSE stream.
 * - Not delivered (connection refused, TLS refused, credentials refused, legacy session gone after
 *   a server restart, a proxy's 503): the server is unreachable, which for a remote server is what
 *   an exit is. The connection "exits" (`exitError` says why) and the requests that never reached
 *   the server are reported lost with `delivered: false`, so the IpcManager resends them after the
 *   reconnect.
 * - A proxy's 502/504: the connection exits as well, but the proxy may have handed the request to
 *   the server (504: it did, then gave up waiting), so the request counts as delivered — resent
 *   only if it is side-effect free or the caller marked it retryable, else ServerCrashed with
 *   `outcomeUnknown`.
 * - Reused keep-alive socket reset before any answer: resent at once on a fresh connection if the
 *   request had not been written in full, or if its method has no side effects; otherwise the
 *   server may have read it and died (Node cannot tell the two apart), so it is delivered-and-lost.
 * - Delivered, but the response stream broke before the answer (a legacy server with event ids is
 *   resumed by the SDK first, via `Last-Event-ID`): a modern-era request whose method has no side
 *   effects is re-issued as it was (the modern era is stateless, so the same request is valid on a
 *   new POST); anything else is reported lost with `delivered: true`, and the IpcManager resends it
 *   only if the caller marked it retryable (e.g. a tool annotated idempotent), else fails it with
 *   ServerCrashed and `outcomeUnknown`. A non-idempotent call is never resent blindly.
 * - Secrets in the URL (a `?api_key=` query, `user:password@`) are used for the requests only:
 *   every message, event, error and log line names the endpoint by its redacted form (origin and
 *   path, see `redactUrl`). Userinfo is sent as `Authorization: Basic` (as node:http does) unless
 *   the headers name an Authorization of their own.
 * - Any other HTTP error answers the request with a JSON-RPC error (the server's own body when it
 *   is one, else -32603 naming the status), so a 400 to a `server/discover` probe reads as "not modern".
 */
import type { AuthProvider, OAuthClientProvider, SdkError, SdkHttpError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type IpcError, NotConnectedError, RpcCode, ServerCrashedError, UnauthorizedError } from '../../core/errors.js';
import type { ExitInfo } from '../../core/gateway-protocol.js';
import { type JsonRpcMessage, type JsonRpcRequest, type RequestId, isRequest, isResponse, previewValue } from '../../core/jsonrpc.js';
import { META_PROTOCOL_VERSION } from '../../core/mcp-session.js';
import { createHttpFetch, FetchFailure, type HttpFetch } from '../http-fetch.js';
import { SENT } from '../../core/transport.js';
import type { ProcessTransport } from '../process-manager.js';
import { authProviderFor, InteractiveLoginRequired, type RemoteAuthConfig } from '../remote-auth.js';
import { loadTlsOptions, type RemoteTlsConfig, tlsErrorOf } from '../tls.js';

/** Where and how to reach a remote MCP server (the `url` form of an `mcpServers` entry). */
export interface RemoteServerParams {
  /** The server's MCP endpoint, e.g. `https://mcp.example.com/mcp`. */
  url: string;
  /** Sent with every request (e.g. an API key header). */
  headers?: Record<string, string>;
  /** A bearer token or OAuth 2.1 (see RemoteAuthConfig). */
  auth?: RemoteAuthConfig;
  /** A CA to trust and/or a client certificate. */
  tls?: RemoteTlsConfig;
}

export interface StreamableHttpTransportOptions {
  /** Connection log lines kept (the remote counterpart of a stderr tail). @default 200 */
  stderrLines?: number;
  /** Budget for the graceful close (the legacy session's DELETE). @default 10 000 ms, capped at 2 000 for the DELETE */
  shutdownTimeoutMs?: number;
  /** Re-issues of one side-effect-free modern request whose response stream broke. @default 2 */
  maxReissues?: number;
  /** Overrides the auth provider built from `params.auth` (tests, custom OAuth flows). */
  authProvider?: AuthProvider | OAuthClientProvider;
}

type SdkModule = typeof import('@modelcontextprotocol/client');
/**
 * The SDK's client package, loaded by the first remote connection: it brings zod and the SDK's
 * schemas (~130 ms and ~11 MB of heap), which every host — one of stdio servers only too — would
 * otherwise pay when it imports mcp-ipc. Its error classes are only ever met after it was loaded.
 */
let sdkModule: SdkModule | undefined;
const loadSdk = async (): Promise<SdkModule> => (sdkModule ??= await import('@modelcontextprotocol/client'));

/** Methods without side effects: re-issuing them (after a broken stream in the modern era, or a reset socket in either) cannot do harm. */
const REISSUABLE = new Set([
  'server/discover',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'tasks/get',
  'tasks/list',
  'subscriptions/listen',
]);
/** A proxy's "the server behind me is not there" (503: the request never reached the MCP server). */
const NOT_DELIVERED = 503;
/** A proxy's "bad gateway" / "gateway timeout": the server may have taken the request (504: it did). */
const MAYBE_DELIVERED = new Set([502, 504]);
const STALE_SOCKET_RESENDS = 2;
const LOG_CHARS = 500;

interface Track {
  readonly id: RequestId;
  readonly message: JsonRpcRequest;
  /** Carries the modern `_meta` protocol-version envelope. */
  readonly modern: boolean;
  /** The request body was handed to the socket in full (it may have reached the server). */
  written: boolean;
  /** The answer is an SSE stream (its end is reported by the SDK); else JSON, delivered with the POST. */
  streamed: boolean;
  answered: boolean;
  reissues: number;
  staleResends: number;
  abort: AbortController;
}

export class StreamableHttpTransport implements ProcessTransport {
  readonly pid = null;
  /** A connection, not a process: counted against the `connections` limit. */
  readonly resourceType = 'connection' as const;
  readonly exited: Promise<ExitInfo>;
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onstderr?: (line: string) => void;
  onlost?: (id: RequestId, error: IpcError, delivered: boolean) => void;
  /** A request handed over (SENT) may turn out never to have reached the server: see `connectionLost`. */
  readonly reportsUndelivered = true;

  private readonly params: RemoteServerParams;
  private readonly options: StreamableHttpTransportOptions;
  /** The endpoint the requests go to (query kept, userinfo moved to a header). */
  private readonly url: URL;
  /** The endpoint as every message names it: origin and path, never userinfo or query. */
  private readonly label: string;
  private readonly headers: Record<string, string> | undefined;
  private sdk: StreamableHTTPClientTransport | undefined;
  /** start() was called (it awaits the SDK's first load before `sdk` is set). */
  private starting = false;
  private fetch: HttpFetch | undefined;
  private readonly tracks = new Map<RequestId, Track>();
  private readonly log: string[] = [];
  private _exit: ExitInfo | undefined;
  private _closeError: IpcError | undefined;
  private _exitError: IpcError | undefined;
  private resolveExited!: (info: ExitInfo) => void;

  constructor(params: RemoteServerParams, options: StreamableHttpTransportOptions = {}) {
    this.params = params;
    this.options = options;
    const url = new URL(params.url);
    this.label = redactUrl(url);
    this.headers = params.headers;
    if (url.username || url.password) {
      const named = Object.keys(params.headers ?? {}).some((name) => name.toLowerCase() === 'authorization');
      const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
      if (!named) this.headers = { ...params.headers, Authorization: `Basic ${basic}` };
      url.username = '';
      url.password = '';
    }
    this.url = url;
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  get exit(): ExitInfo | undefined {
    return this._exit;
  }
  /** Why in-flight requests failed when the connection ended (ServerCrashed: their outcome is unknown). */
  get closeError(): IpcError | undefined {
    return this._closeError;
  }
  /** Why the connection ended, typed (TlsError, UnauthorizedError, NotConnectedError); undefined after a planned close. */
  get exitError(): IpcError | undefined {
    return this._exitError;
  }
  /** The legacy session id the server gave, if any. */
  get sessionId(): string | undefined {
    return this.sdk?.sessionId;
  }

  async start(): Promise<void> {
    if (this.sdk || this.starting) throw new Error('StreamableHttpTransport already started');
    this.starting = true;
    const { StreamableHTTPClientTransport } = await loadSdk();
    // Files are read per connection, so renewed certificates are picked up on reconnect. A missing
    // file keeps its ENOENT as the cause: the ProcessManager then fails at once instead of retrying.
    const tls = loadTlsOptions(this.params.tls);
    this.fetch = createHttpFetch(
      { tls },
      {
        onWritten: (init) => {
          const track = this.trackOf(init);
          if (track) track.written = true;
        },
        onResponse: (init, response) => {
          const track = this.trackOf(init);
          if (track) track.streamed = (response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
        },
      },
    );
    const sdk = new StreamableHTTPClientTransport(this.url, {
      fetch: this.fetch,
      authProvider: this.options.authProvider ?? authProviderFor(this.params.auth),
      requestInit: this.headers ? { headers: { ...this.headers } } : undefined,
    });
    sdk.onmessage = (message) => this.receive(message as JsonRpcMessage);
    sdk.onerror = (error) => this.note(`${error.message}`);
    this.sdk = sdk;
    await sdk.start();
    this.note(`connecting to ${this.label}`);
  }

  send(message: JsonRpcMessage): Promise<void> {
    const sdk = this.sdk;
    if (!sdk || this._exit) return Promise.reject(new NotConnectedError(`Not connected to ${this.label}`));
    if (isRequest(message)) {
      const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
      const track: Track = {
        id: message.id,
        message,
        modern: typeof meta?.[META_PROTOCOL_VERSION] === 'string',
        written: false,
        streamed: false,
        answered: false,
        reissues: 0,
        staleResends: 0,
        abort: new AbortController(),
      };
      this.tracks.set(message.id, track);
      void this.post(track);
      // Handed over: whatever happens to it now is reported per request (answer, onlost) or by the exit.
      return SENT;
    }
    if ('method' in message && message.method === 'notifications/cancelled') {
      const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      const track = id === undefined ? undefined : this.tracks.get(id);
      if (track) {
        this.tracks.delete(track.id);
        // Modern era: closing the request's stream is the cancellation (the spec's signal).
        if (track.modern) {
          track.abort.abort('cancelled');
          return Promise.resolve();
        }
        // Legacy: tell the server, then drop the stream (a disconnect alone is not a cancel there).
        return this.sendOther(sdk, message).finally(() => track.abort.abort('cancelled'));
      }
    }
    return this.sendOther(sdk, message);
  }

  /** Graceful: ends the legacy session (DELETE, bounded), then the connection. Pending requests fail with NotConnected. */
  async close(reason = 'closed'): Promise<void> {
    if (this._exit) return;
    const sdk = this.sdk;
    if (sdk?.sessionId) {
      const budget = Math.min(this.options.shutdownTimeoutMs ?? 10_000, 2_000);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sdk.terminateSession().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, budget)))]);
      clearTimeout(timer);
    }
    this.finish(new NotConnectedError(`Connection to ${this.label} closed: ${reason}`), undefined, reason);
  }

  /** The connection is judged broken (failed health checks, start-up timeout): pending requests fail with ServerCrashed. */
  async terminate(reason: string): Promise<void> {
    if (this._exit) return;
    this.finish(this.crashError(reason), undefined, reason);
  }

  stderrTail(n = 20): string[] {
    return this.log.slice(-n);
  }

  // ---------------------------------------------------------------- requests

  private async post(track: Track): Promise<void> {
    const sdk = this.sdk!;
    track.written = false;
    track.streamed = false;
    try {
      await sdk.send(track.message as never, { requestSignal: track.abort.signal, onRequestStreamEnd: () => this.streamEnded(track) });
    } catch (error) {
      return this.postFailed(track, error);
    }
    // A JSON answer was delivered before send() resolved; a stream reports its own end.
    if (!track.streamed && !track.answered && this.tracks.get(track.id) === track) {
      this.lost(track, this.crashError(`the server's reply to ${track.message.method} did not contain its response`));
    }
  }

  private streamEnded(track: Track): void {
    if (track.answered || this.tracks.get(track.id) !== track || this._exit) return;
    this.lost(track, this.crashError(`the response stream of ${track.message.method} ended before its response`));
  }

  private postFailed(track: Track, error: unknown): void {
    if (track.answered || track.abort.signal.aborted || this.tracks.get(track.id) !== track || this._exit) return;
    const failure = findCause(error, FetchFailure);
    if (failure) {
      // A reset on a reused socket is the keep-alive race only while the request was not written in
      // full; once it was, the server may have read it and died, and only a side-effect-free
      // request may go again (else it is lost after delivery: the IpcManager's retryable rule decides).
      const resendable = failure.phase === 'stale-socket' && (!failure.written || REISSUABLE.has(track.message.method));
      if (resendable && track.staleResends < STALE_SOCKET_RESENDS) {
        track.staleResends++;
        this.note(`${track.message.method}: keep-alive connection was closed by the server; resending on a new one`);
        void this.post(track);
        return;
      }
      if (failure.phase === 'connect' || resendable) {
        const cause = failure.cause ?? failure;
        return this.connectionLost(tlsErrorOf(cause, this.label) ?? new NotConnectedError(`Cannot reach ${this.label}: ${messageOf(cause)}`, { cause }));
      }
      return this.lost(track, this.crashError(`the connection broke while waiting for ${track.message.method}: ${messageOf(failure.cause ?? failure)}`));
    }
    // Refused unread (credentials, session gone, nobody behind the proxy): this request was not
    // delivered, though written, and the connection is no good.
    const auth = this.authError(error);
    if (auth) return this.connectionLost(auth, track);
    const sdk = sdkModule;
    const status = sdk && error instanceof sdk.SdkHttpError ? error.status : undefined;
    if (status !== undefined) {
      if (this.sessionGone(status, error as SdkHttpError)) return this.connectionLost(new NotConnectedError(`${this.label}: the server no longer knows our session (HTTP ${status}); reconnecting`), track);
      if (status === NOT_DELIVERED) return this.connectionLost(new NotConnectedError(`${this.label} is unavailable (HTTP ${status})`), track);
      if (MAYBE_DELIVERED.has(status)) {
        // Unreachable for now, but this request may have run: it stays written (lost with the
        // connection, as delivered) unless resending it cannot do harm.
        const unavailable = new NotConnectedError(`${this.label} is unavailable (HTTP ${status} from a gateway; the request may have reached the server)`);
        return this.connectionLost(unavailable, REISSUABLE.has(track.message.method) ? track : undefined);
      }
      return this.answerWithError(track, status, error as SdkHttpError);
    }
    if (sdk && error instanceof sdk.SdkError) return this.answerWithError(track, null, error);
    this.lost(track, this.crashError(`${track.message.method} failed: ${messageOf(error)}`));
  }

  /**
   * The legacy session is gone (the server restarted): the spec's answer is 404; the SDK's own
   * example servers (server-everything among them) answer 400 "No valid session ID provided". Either
   * way the request was refused unread, and a new connection (a new `initialize`) is the cure.
   */
  private sessionGone(status: number, error: SdkHttpError): boolean {
    if (!this.sdk?.sessionId) return false;
    if (status === 404) return true;
    const text = (error as { data?: { text?: unknown } }).data?.text;
    return status === 400 && typeof text === 'string' && /session/i.test(text);
  }

  /** The response was lost after the request may have run. */
  private lost(track: Track, error: IpcError): void {
    if (track.modern && REISSUABLE.has(track.message.method) && track.reissues < (this.options.maxReissues ?? 2)) {
      track.reissues++;
      this.note(`${track.message.method}: response stream broke; re-issuing it (${track.reissues})`);
      track.abort = new AbortController();
      void this.post(track);
      return;
    }
    this.tracks.delete(track.id);
    this.note(error.message);
    this.onlost?.(track.id, error, track.written);
  }

  /** An HTTP error that is the server's answer: a JSON-RPC error response for the request. */
  private answerWithError(track: Track, status: number | null, error: SdkError): void {
    this.tracks.delete(track.id);
    const raw = (error as { data?: { text?: unknown } }).data?.text;
    const text = typeof raw === 'string' ? raw : undefined;
    let rpc: { code: number; message: string; data?: unknown } | undefined;
    if (text) {
      try {
        const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; data?: unknown } };
        if (typeof body.error?.code === 'number' && typeof body.error.message === 'string') rpc = { code: body.error.code, message: body.error.message, data: body.error.data };
      } catch {
        // not JSON: described below
      }
    }
    rpc ??= { code: RpcCode.InternalError, message: `HTTP ${status ?? ''} from ${this.label}: ${error.message}`.replace('HTTP  ', 'HTTP '), data: { httpStatus: status, body: text === undefined ? undefined : previewValue(text, 500) } };
    this.onmessage?.({ jsonrpc: '2.0', id: track.id, error: rpc });
  }

  private sendOther(sdk: StreamableHTTPClientTransport, message: JsonRpcMessage): Promise<void> {
    return sdk.send(message as never).catch((error: unknown) => {
      const failure = findCause(error, FetchFailure);
      const auth = this.authError(error);
      const ipc = auth ?? (failure?.phase === 'connect' ? (tlsErrorOf(failure.cause, this.label) ?? undefined) : undefined);
      if (ipc || failure?.phase === 'connect') {
        const lostError = ipc ?? new NotConnectedError(`Cannot reach ${this.label}: ${messageOf(failure!.cause)}`);
        queueMicrotask(() => this.connectionLost(lostError));
        throw lostError;
      }
      throw new NotConnectedError(`Could not send ${'method' in message ? message.method : 'a response'} to ${this.label}: ${messageOf(error)}`, { cause: error });
    });
  }

  // ---------------------------------------------------------------- receiving

  private receive(message: JsonRpcMessage): void {
    if (this._exit) return;
    if (isResponse(message) && message.id !== null) {
      const track = this.tracks.get(message.id);
      if (track) {
        track.answered = true;
        this.tracks.delete(message.id);
        // Legacy: later requests carry the negotiated revision in their MCP-Protocol-Version header.
        if (track.message.method === 'initialize' && 'result' in message) {
          const version = (message.result as { protocolVersion?: unknown } | null)?.protocolVersion;
          if (typeof version === 'string') this.sdk?.setProtocolVersion(version);
        }
      }
    }
    this.onmessage?.(message);
  }

  private trackOf(init: RequestInit | undefined): Track | undefined {
    if (init?.method !== 'POST' || typeof init.body !== 'string' || this.tracks.size === 0) return undefined;
    try {
      const body = JSON.parse(init.body) as { id?: RequestId; method?: unknown };
      if (body.id === undefined || typeof body.method !== 'string') return undefined;
      return this.tracks.get(body.id);
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------- the end

  /** The server cannot be reached: the remote counterpart of a process exit. `refused` was answered unread. */
  private connectionLost(error: IpcError, refused?: Track): void {
    if (this._exit) return;
    // What never reached the server is safe to resend after the reconnect, whatever it is.
    for (const track of [...this.tracks.values()]) {
      if (track.written && track !== refused) continue;
      this.tracks.delete(track.id);
      this.onlost?.(track.id, error, false);
    }
    this.finish(this.crashError(error.message), error, error.message);
  }

  private finish(closeError: IpcError, exitError: IpcError | undefined, reason: string): void {
    if (this._exit) return;
    this._closeError = closeError;
    this._exitError = exitError;
    this.note(`connection ended: ${reason}`);
    this._exit = { code: null, signal: null, at: Date.now() };
    for (const track of this.tracks.values()) track.abort.abort(reason);
    this.tracks.clear();
    const sdk = this.sdk;
    void sdk?.close().catch(() => undefined);
    this.fetch?.close();
    this.onclose?.();
    this.resolveExited(this._exit);
  }

  private crashError(reason: string): ServerCrashedError {
    return new ServerCrashedError(`Remote server ${this.label}: ${reason}`, { exitCode: null, signal: null, stderrTail: this.stderrTail(20) });
  }

  private authError(error: unknown): UnauthorizedError | undefined {
    const url = this.label;
    const login = findCause(error, InteractiveLoginRequired);
    if (login) return new UnauthorizedError(`${url}: ${login.message}`, { url, status: 401, reason: 'interactive-login-required' }, { cause: error });
    const sdk = sdkModule;
    if (sdk && error instanceof sdk.UnauthorizedError) {
      return new UnauthorizedError(`${url} refused our credentials (HTTP 401)${this.params.auth ? '' : '; configure "auth" or an Authorization header'}`, { url, status: 401, reason: this.params.auth || this.params.headers ? 'refused' : 'no-credentials' }, { cause: error });
    }
    if (sdk && error instanceof sdk.SdkHttpError && (error.status === 401 || error.status === 403)) {
      return new UnauthorizedError(`${url} refused our credentials (HTTP ${error.status}) after re-authorising`, { url, status: error.status, reason: 'refused' }, { cause: error });
    }
    const oauth = sdk && findCause(error, sdk.OAuthError);
    if (oauth?.code === 'invalid_grant' && this.params.auth?.type === 'oauth' && this.params.auth.grant === 'refresh_token') {
      const message = `${url}: the authorisation server refused the refresh token (invalid_grant); log in again and store the new tokens in ${this.params.auth.tokenFile}`;
      return new UnauthorizedError(message, { url, status: null, reason: 'interactive-login-required' }, { cause: error });
    }
    const name = (error as Error | undefined)?.name ?? '';
    if (oauth || /OAuth|InsufficientScope|Issuer|AuthorizationServer|InsecureTokenEndpoint|Registration/.test(name)) {
      return new UnauthorizedError(`${url}: OAuth failed: ${messageOf(error)}`, { url, status: null, reason: 'oauth-failed' }, { cause: error });
    }
    return undefined;
  }

  private note(line: string): void {
    const text = line.length > LOG_CHARS ? `${line.slice(0, LOG_CHARS)}…` : line;
    this.log.push(text);
    if (this.log.length > (this.options.stderrLines ?? 200)) this.log.shift();
    this.onstderr?.(text);
  }
}

/**
 * A remote endpoint as messages, events and logs name it: origin and path only. Userinfo and the
 * query (where API keys often ride) are left out; the real URL is used for the requests alone.
 * An unparsable URL is named by what it is, not by its text.
 */
export function redactUrl(url: string | URL): string {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** The first error of `type` in the `cause` chain (the SDK wraps some errors). */
function findCause<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) if (e instanceof type) return e;
  return undefined;
}
