/**
 * One WebSocket frame in, its replies out: JSON-RPC 2.0 decoding with the nesting guard, the batch
 * rules (§6: an empty or broken batch gets one error object; a batch over the limit is refused
 * whole before anything runs; replies to a batch go out as one array), requests and notifications
 * to the handlers, and the browser's answers to the gateway's own requests back to the connection.
 *
 * On a connection that agreed on independent batches (BATCH_PROTOCOL, chosen at the handshake) the
 * items of a batch run as if each had come in a frame of its own: each reply goes out when it is
 * ready, so a fast call never waits for a slow one in the same frame. The batch limit and the
 * one-error answer to an empty or broken batch stay as they are.
 */
import { InvalidParamsError, type IpcError, ProtocolError, RpcCode, toIpcError } from '../../core/errors.js';
import { decodeText, failure, isNotification, isRequest, type JsonRpcMessage, type JsonRpcResponse, success } from '../../core/jsonrpc.js';
import { stringifyMessage } from './connection.js';
import type { Peer } from './connection.js';
import type { GatewayHandlers } from './handlers.js';
import type { GatewayMetrics } from './metrics.js';
import { traceGatewayRequest } from '../tracing.js';

export interface DispatchTarget extends Peer {
  /** Sends an already serialised frame. */
  deliver(text: string): boolean;
  /** A response from the browser to a request of ours; false when it answers nothing pending. */
  answer(response: JsonRpcResponse): boolean;
}

export class FrameDispatcher {
  constructor(
    private readonly handlers: GatewayHandlers,
    private readonly metrics: GatewayMetrics,
    /** Messages allowed in one batch frame; a bigger batch is refused whole. */
    readonly maxBatch: number,
  ) {}

  /**
   * Handles one text frame; replies are delivered to `conn` as they are ready — a batch's all at
   * once, as one array, unless `independentBatches` (then each on its own, as it is ready).
   */
  dispatch(conn: DispatchTarget, text: string, independentBatches = false): void {
    // `batch` only for a non-empty array: `[]` and a broken `[…` get one error object (JSON-RPC 2.0 §6).
    const { messages, diagnostics, batch } = decodeText(text);
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
      conn.deliver(stringifyMessage(errorResponse(null, error)));
      return;
    }
    if (!batch || independentBatches) {
      for (const e of errors) conn.deliver(stringifyMessage(e));
      for (const m of messages) void this.answer(conn, m);
      return;
    }
    const pending = messages.map((m) => this.handle(conn, m));
    void Promise.all(pending).then((results) => {
      const responses = [...errors, ...results.filter((r): r is JsonRpcResponse => r !== undefined)];
      if (responses.length > 0) conn.deliver(`[${responses.map(stringifyMessage).join(',')}]`);
    });
  }

  /** Runs one message and delivers its response (if it has one) as soon as it is ready. */
  private async answer(conn: DispatchTarget, message: JsonRpcMessage): Promise<void> {
    const response = await this.handle(conn, message);
    if (response) conn.deliver(stringifyMessage(response));
  }

  /** Runs one message; resolves with the response to send (undefined for notifications and responses). */
  async handle(conn: DispatchTarget, message: JsonRpcMessage): Promise<JsonRpcResponse | undefined> {
    if (!isRequest(message) && !isNotification(message)) {
      conn.answer(message); // the browser answering a server→client request; strays are ignored
      return undefined;
    }
    if (isNotification(message) && message.method === 'notifications/cancelled') {
      const p = (message.params ?? {}) as { requestId?: unknown; reason?: unknown };
      this.handlers.cancel(conn, p.requestId, typeof p.reason === 'string' ? p.reason : 'cancelled by client');
      return undefined;
    }
    const id = isRequest(message) ? message.id : undefined;
    const method = message.method;
    const known = this.handlers.has(method);
    this.metrics.requests.inc({ method: known ? method : 'unknown' });
    try {
      const params = message.params;
      if (known && Array.isArray(params)) throw new InvalidParamsError(`${method}: params must be an object`);
      const p = (params as Record<string, unknown> | undefined) ?? {};
      // A span per request that reaches a server, continuing the browser's trace (`_meta.traceparent`).
      const result = await traceGatewayRequest(method, p, () => this.handlers.handle(conn, method, p, id));
      return id === undefined ? undefined : success(id, result ?? {});
    } catch (error) {
      const e = toIpcError(error);
      this.metrics.requestErrors.inc({ code: e.code });
      return id === undefined ? undefined : errorResponse(id, e);
    }
  }
}

export function errorResponse(id: JsonRpcResponse['id'], error: IpcError): JsonRpcResponse {
  return failure(id, error.rpcCode, error.message, error.toJSON());
}
