import type { IpcError } from './errors.js';
import type { Diagnostic, JsonRpcMessage, RequestId } from './jsonrpc.js';

export interface TransportSendOptions {
  /** The request this message belongs to (MCP SDK field; used for routing on multiplexed transports). */
  relatedRequestId?: RequestId;
}

/**
 * A message pipe. Same shape as the MCP TypeScript SDK's `Transport`, so SDK transports plug in.
 *
 * Contract:
 * - `send()` resolves once the message has been handed to the underlying channel and the channel
 *   has room for more (i.e. after `drain` when it was full). This is how backpressure reaches
 *   the IpcManager; it rejects if the message could not be written (the request is then retryable).
 * - `onclose` fires exactly once, after which the transport is unusable.
 * - Messages delivered to `onmessage` are already validated JSON-RPC 2.0 (batches unrolled).
 */
export interface Transport {
  start(): Promise<void>;
  send(message: JsonRpcMessage, options?: TransportSendOptions): Promise<void>;
  close(): Promise<void>;
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  // ---- mcp-ipc extensions (optional; SDK transports simply lack them) ----
  /** Input that could not be used (non-JSON lines, oversized lines, invalid messages). */
  ondiagnostic?: (diagnostic: Diagnostic) => void;
  /**
   * Why the transport closed, read when `onclose` fires. In-flight requests fail with this error
   * (e.g. a ServerCrashedError with exit code, signal and stderr tail); a NotConnectedError otherwise.
   */
  readonly closeError?: IpcError;
  /**
   * Set by the IpcManager: one request was lost while the transport stays usable (a remote
   * server's response stream broke). `delivered: false` when the peer certainly never received it:
   * it is resent whatever it is; else only if the caller marked it retryable, and otherwise it
   * fails with the error (a ServerCrashedError becomes `outcomeUnknown`).
   */
  onlost?: (id: RequestId, error: IpcError, delivered: boolean) => void;
  /**
   * `onlost` may report a request whose `send()` succeeded as not delivered (a transport that learns
   * only later whether the message arrived, as an HTTP POST). The IpcManager then keeps every
   * request's params for a resend; otherwise it lets go of them once a request not marked
   * `retryable` is written, and one reported undelivered after that fails with the error instead.
   */
  readonly reportsUndelivered?: boolean;
}

/**
 * What a transport may return from `send()` when the message was handed over at once and the
 * channel has room (the common case). The IpcManager recognises this exact promise and does its
 * bookkeeping synchronously, saving a promise reaction (two closures and a promise) per message.
 * Any other promise works as before.
 */
export const SENT: Promise<void> = Promise.resolve();
