/**
 * The inbound side of a JSON-RPC connection: what the peer asks of us and tells us. Keeps the
 * request-handler registry (unknown methods → -32601), the abort controllers of requests being
 * answered (the peer may cancel them, a lost connection aborts them all) and the notification
 * fan-out. IpcManager owns one; the MCP session layer reuses its handlers to answer the modern
 * era's `input_required` rounds exactly as it answers legacy server→client requests.
 */
import { IpcError, RpcCode } from './errors.js';
import { type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, type RequestId, failure, success } from './jsonrpc.js';

/** Who made a request: the door it came through (`api`, `cli`, `websocket`, `http`, …) and the client within that door. */
export interface RequestOrigin {
  door: string;
  /** The caller within the door (e.g. a gateway connection). */
  client?: string;
}

export interface RequestContext {
  id: RequestId;
  method: string;
  /** Aborted when the peer cancels the request or the connection closes. */
  signal: AbortSignal;
  /**
   * Answering an `input_required` round of a modern request: the `origin` that request was made
   * with, if any — so that a handler can put the question to whoever caused it (the gateway asks
   * that browser). Undefined for the peer's own requests (legacy server→client requests carry no
   * link to the call that caused them).
   */
  origin?: RequestOrigin;
}
export type RequestHandler = (params: unknown, context: RequestContext) => unknown;
export type NotificationHandler = (params: unknown, message: JsonRpcNotification) => void;

export class Inbound {
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly notificationHandlers = new Map<string, Set<NotificationHandler>>();
  private readonly incoming = new Map<RequestId, AbortController>();
  private readonly handlersChanged = new Set<() => void>();

  /** @param onListenerError where a throwing notification handler is reported (it never breaks the fan-out). */
  constructor(private readonly onListenerError: (error: unknown) => void) {}

  /** Answers the peer's requests for `method` (replaces any previous handler). */
  setRequestHandler(method: string, handler: RequestHandler): void {
    this.requestHandlers.set(method, handler);
    for (const listener of this.handlersChanged) listener();
  }

  removeRequestHandler(method: string): void {
    if (this.requestHandlers.delete(method)) for (const listener of this.handlersChanged) listener();
  }

  hasRequestHandler(method: string): boolean {
    return this.requestHandlers.has(method);
  }

  /** Called whenever a request handler is set or removed (e.g. to re-declare client capabilities). */
  onHandlersChanged(listener: () => void): () => void {
    this.handlersChanged.add(listener);
    return () => this.handlersChanged.delete(listener);
  }

  /** Subscribes to the peer's notifications (`'*'` for all); returns the unsubscribe function. */
  onNotification(method: string, handler: NotificationHandler): () => void {
    let set = this.notificationHandlers.get(method);
    if (!set) this.notificationHandlers.set(method, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /**
   * Runs the handler for `method` and returns its result; rejects with the IpcError to answer with
   * (MethodNotFound when no handler is registered). Used for embedded requests, which have no id
   * of their own on the wire (`input_required` rounds).
   */
  async handle(method: string, params: unknown, context: RequestContext): Promise<unknown> {
    const handler = this.requestHandlers.get(method);
    if (!handler) throw new IpcError('ServerError', `Method not found: ${method}`, { rpcCode: RpcCode.MethodNotFound });
    return (await handler(params, context)) ?? {};
  }

  /** Answers one request from the peer; undefined when the peer cancelled it (MCP: no response then). */
  async answer(message: JsonRpcRequest): Promise<JsonRpcResponse | undefined> {
    const handler = this.requestHandlers.get(message.method);
    if (!handler) return failure(message.id, RpcCode.MethodNotFound, `Method not found: ${message.method}`);
    const controller = new AbortController();
    this.incoming.set(message.id, controller);
    let reply: JsonRpcResponse;
    try {
      const result = await handler(message.params, { id: message.id, method: message.method, signal: controller.signal });
      reply = success(message.id, result ?? {});
    } catch (error) {
      reply =
        error instanceof IpcError
          ? failure(message.id, error.rpcCode, error.message, error.data)
          : failure(message.id, RpcCode.InternalError, error instanceof Error ? error.message : String(error));
    } finally {
      this.incoming.delete(message.id);
    }
    return controller.signal.aborted ? undefined : reply;
  }

  /** The peer cancelled one of its requests (`notifications/cancelled`). */
  cancel(id: RequestId, reason: string): void {
    this.incoming.get(id)?.abort(reason);
  }

  /** Aborts every request being answered (the connection is gone). */
  abortAll(reason: string): void {
    for (const controller of this.incoming.values()) controller.abort(reason);
    this.incoming.clear();
  }

  /** Delivers a notification to the handlers of its method, then to `'*'` handlers. */
  dispatch(message: JsonRpcNotification): void {
    for (const key of [message.method, '*']) {
      const set = this.notificationHandlers.get(key);
      if (!set) continue;
      for (const handler of [...set]) {
        try {
          handler(message.params, message);
        } catch (error) {
          this.onListenerError(error);
        }
      }
    }
  }
}
