/**
 * A `fetch` for remote MCP servers built on node:http/node:https, for two reasons Node's global
 * fetch (undici) cannot serve without the `undici` package: a custom CA and a client certificate
 * need an agent of our own, and deciding whether a lost request may be resent needs to know how far
 * it got — refused before the connection was made, reset on a reused keep-alive socket before any
 * answer (and whether the request had been written by then), or lost after it was written (may have run). Every failure
 * is a FetchFailure saying which.
 *
 * It does what the SDK's Streamable HTTP transport asks of a fetch: string / URLSearchParams bodies,
 * streamed response bodies, AbortSignal, and no redirect following (the SDK follows same-origin
 * redirects itself and reports the others).
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { TlsOptions } from './tls.js';

/** How far a failed request got. */
export type FetchFailurePhase =
  /** Before a connection existed (DNS, refused, TLS handshake): the server never saw the request. */
  | 'connect'
  /**
   * A reused keep-alive socket was reset before any answer. Usually the server had closed it and
   * never read the request — but a server that read it and then died looks the same (Node reports
   * both as ECONNRESET), so `written` says whether the request had been handed over in full.
   */
  | 'stale-socket'
  /** After the request was written: the server may have run it. */
  | 'sent'
  /** Cancelled by our own AbortSignal. */
  | 'aborted';

export class FetchFailure extends Error {
  readonly phase: FetchFailurePhase;
  /** The system error code (ECONNREFUSED, ECONNRESET, SELF_SIGNED_CERT_IN_CHAIN, …). */
  readonly code: string | undefined;
  /** The request had been handed to the socket in full ('finish'): the server may have read it. */
  readonly written: boolean;
  constructor(message: string, phase: FetchFailurePhase, cause: unknown, written = false) {
    super(message, { cause });
    this.name = 'FetchFailure';
    this.phase = phase;
    this.code = (cause as NodeJS.ErrnoException | undefined)?.code;
    this.written = written;
  }
}

export interface HttpFetchOptions {
  tls?: TlsOptions;
  /** Keep connections open between requests. @default true */
  keepAlive?: boolean;
}

export type HttpFetch = ((input: string | URL | Request, init?: RequestInit) => Promise<Response>) & {
  /** Ends the kept-alive connections. */
  close(): void;
};

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Per-call observations, keyed by the `init` the caller passed. */
export interface HttpFetchHooks {
  /** The request was handed to the socket in full (it may reach the server from now on). */
  onWritten?: (init: RequestInit | undefined) => void;
  /** The response head arrived. */
  onResponse?: (init: RequestInit | undefined, response: Response) => void;
}

/** A fetch with its own agents (one per protocol, kept-alive connections, the TLS options). */
export function createHttpFetch(options: HttpFetchOptions = {}, hooks: HttpFetchHooks = {}): HttpFetch {
  const keepAlive = options.keepAlive ?? true;
  const httpAgent = new http.Agent({ keepAlive });
  const httpsAgent = new https.Agent({ keepAlive, ...options.tls });
  const fetchImpl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // Request normalises the headers and body (URLSearchParams get their content type).
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`Unsupported URL scheme ${url.protocol}`);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => (headers[name] = value));
    if (body) headers['content-length'] = String(body.length);
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) throw new FetchFailure('Request aborted', 'aborted', signal.reason);
    const secure = url.protocol === 'https:';
    return new Promise<Response>((resolve, reject) => {
      let answered = false;
      const req = (secure ? https : http).request(url, { method: request.method, headers, agent: secure ? httpsAgent : httpAgent, signal }, (res) => {
        answered = true;
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (Array.isArray(value)) for (const v of value) responseHeaders.append(name, v);
          else if (value !== undefined) responseHeaders.set(name, value);
        }
        const status = res.statusCode ?? 500;
        const empty = NULL_BODY.has(status) || request.method === 'HEAD';
        if (empty) res.resume();
        // A reset mid-body errors the stream: the SDK reports the response stream as broken.
        const stream = empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        const response = new Response(stream, { status, statusText: res.statusMessage ?? '', headers: responseHeaders });
        hooks.onResponse?.(init, response);
        resolve(response);
      });
      let connected = false;
      req.on('socket', (socket) => {
        // A reused socket is connected already; a new one once its (TLS) handshake is done.
        if (req.reusedSocket) connected = true;
        else socket.once(secure ? 'secureConnect' : 'connect', () => (connected = true));
      });
      let written = false;
      req.on('finish', () => {
        written = true;
        hooks.onWritten?.(init);
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (answered) return; // the response stream carries it
        let phase: FetchFailurePhase;
        if (signal?.aborted) phase = 'aborted';
        // TLS alerts (e.g. "certificate required" in TLS 1.3) can arrive after the client thought the
        // handshake done: the server refused the connection, not the request.
        else if (!connected || /^(ERR_SSL_|ERR_TLS_)/.test(error.code ?? '')) phase = 'connect';
        // Node's advice for keep-alive races: a reset on a reused socket before any answer usually
        // means the server had closed it. Only usually: `written` lets the caller tell whether the
        // server may have read the request (and resend only what is safe to resend).
        else if (req.reusedSocket && error.code === 'ECONNRESET') phase = 'stale-socket';
        else phase = 'sent';
        reject(new FetchFailure(`${request.method} ${url.origin}${url.pathname} failed: ${error.message}`, phase, error, written));
      });
      req.end(body);
    });
  };
  return Object.assign(fetchImpl, {
    close(): void {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  });
}
