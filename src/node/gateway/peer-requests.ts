/**
 * The gateway's own requests to a client (sampling, elicitation, roots/list asked by a server and
 * routed to a browser tab or an HTTP client): one table of what is outstanding, shared by the
 * WebSocket connection (connection.ts) and the HTTP session (mcp-http.ts).
 *
 * A request ends exactly once: answered (`answer`), timed out, cancelled by its signal, not sent, or
 * failed with the rest when the peer goes (`failAll`). A timeout or a cancel also tells the peer to
 * stop (MCP's `notifications/cancelled`), so a dialog does not stay open for an answer nobody reads.
 */
import { CancelledError, type IpcError, NotConnectedError, RpcCode, ServerError, TimeoutError } from '../../core/errors.js';
import type { JsonRpcMessage, JsonRpcResponse, RequestId } from '../../core/jsonrpc.js';

export interface PeerRequestOptions {
  /** Hard deadline for the answer. */
  timeoutMs: number;
  /** Aborting it cancels the request (the server that asked gave up). */
  signal?: AbortSignal;
}

export interface PeerRequestsConfig {
  /** Sends one message to the peer; false when it could not be sent. */
  send(message: JsonRpcMessage): boolean;
  /** Prefix of our request ids, so they never collide with the peer's own ids ("gw-", "srv-"). */
  idPrefix: string;
  /** The peer in error messages: "the browser", "the HTTP client". */
  peer: string;
}

interface Outgoing {
  method: string;
  sentAt: number;
  timer: ReturnType<typeof setTimeout>;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve: (value: unknown) => void;
  reject: (error: IpcError) => void;
}

export class PeerRequests {
  private readonly outgoing = new Map<RequestId, Outgoing>();
  private nextId = 1;

  constructor(private readonly config: PeerRequestsConfig) {}

  /** Requests outstanding. */
  get size(): number {
    return this.outgoing.size;
  }

  /** Sends a request to the peer; resolves with its result, rejects with a typed error. */
  request(method: string, params: Record<string, unknown>, options: PeerRequestOptions): Promise<unknown> {
    const id = `${this.config.idPrefix}${this.nextId++}`;
    const { peer } = this.config;
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted) {
        reject(new CancelledError(`${method} cancelled by the server`, { reason: String(signal.reason ?? 'cancelled'), phase: 'queued' }));
        return;
      }
      const timer = setTimeout(() => {
        const o = this.settle(id);
        if (!o) return;
        this.tellCancelled(id, 'timed out');
        const inFlightMs = Date.now() - o.sentAt;
        o.reject(new TimeoutError(`${capitalise(peer)} did not answer ${method} within ${options.timeoutMs} ms`, { method, kind: 'hard', phase: 'in-flight', timeoutMs: options.timeoutMs, queuedMs: 0, inFlightMs }));
      }, options.timeoutMs);
      timer.unref?.();
      const onAbort = signal
        ? () => {
            const o = this.settle(id);
            if (!o) return;
            const reason = String(signal.reason ?? 'cancelled');
            this.tellCancelled(id, reason);
            o.reject(new CancelledError(`${method} cancelled by the server`, { reason, phase: 'in-flight' }));
          }
        : undefined;
      if (signal && onAbort) signal.addEventListener('abort', onAbort, { once: true });
      this.outgoing.set(id, { method, sentAt: Date.now(), timer, signal, onAbort, resolve, reject });
      if (!this.config.send({ jsonrpc: '2.0', id, method, params })) {
        this.settle(id)?.reject(new NotConnectedError(`Could not send ${method} to ${peer}: no open connection or stream`));
      }
    });
  }

  /** The peer answered; false when the id is not one of ours that is still outstanding. */
  answer(response: JsonRpcResponse): boolean {
    if (response.id === null) return false;
    const o = this.settle(response.id);
    if (!o) return false;
    if ('error' in response) o.reject(peerError(response.error, this.config.peer));
    else o.resolve(response.result);
    return true;
  }

  /** Fails every outstanding request with `error` (the peer went away). */
  failAll(error: IpcError): void {
    for (const id of [...this.outgoing.keys()]) this.settle(id)?.reject(error);
  }

  /** Removes `id` and its timer and listener; the record, or undefined when it already ended. */
  private settle(id: RequestId): Outgoing | undefined {
    const o = this.outgoing.get(id);
    if (!o) return undefined;
    this.outgoing.delete(id);
    clearTimeout(o.timer);
    if (o.signal && o.onAbort) o.signal.removeEventListener('abort', o.onAbort);
    return o;
  }

  private tellCancelled(id: RequestId, reason: string): void {
    this.config.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } });
  }
}

/** The peer's JSON-RPC error as a ServerError, code and data kept (a broken code becomes InternalError). */
function peerError(error: { code: number; message: string; data?: unknown }, peer: string): IpcError {
  const message = typeof error.message === 'string' ? error.message : `Error from ${peer}`;
  const rpcCode = typeof error.code === 'number' && Number.isInteger(error.code) ? error.code : RpcCode.InternalError;
  return new ServerError(message, rpcCode, error.data);
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
