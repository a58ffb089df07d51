/**
 * One browser's WebSocket: what the gateway sends it (bounded by a send-buffer budget — a client
 * that does not read is dropped, the others never wait for it), the heartbeat, and the requests the
 * gateway itself sends it (server→client requests handed to the page), correlated by id.
 *
 * Frames are batched per tick: what is delivered while the event loop runs one round goes out as
 * one WebSocket frame (a JSON-RPC batch array) at `setImmediate`. Each frame costs a syscall, a
 * frame header, a deflate run and, in the browser, a message event: at 64 calls in flight the
 * replies to one read from the server pipe are answered with one frame instead of dozens.
 */
import type { WebSocket } from 'ws';
import { type IpcErrorJSON, NotConnectedError, ProtocolError, RpcCode } from '../../core/errors.js';
import { failure, type JsonRpcMessage, type JsonRpcResponse } from '../../core/jsonrpc.js';
import { GatewayCloseCode } from '../../core/gateway-protocol.js';
import { PeerRequests, type PeerRequestOptions } from './peer-requests.js';

/**
 * What the method handlers need of a connection; implemented by Connection over a WebSocket and by
 * plain objects in unit tests.
 */
export interface Peer {
  readonly id: number;
  /** The door its calls come through, for the tool policy and the audit log. @default 'websocket' */
  readonly door?: string;
  /** Who it is within the door, for the audit log and private cache entries. @default String(id) */
  readonly clientId?: string;
  /** Aborted when the connection closes (its calls and the requests sent to it end then). */
  readonly signal: AbortSignal;
  /** Sends one message; false when it could not be sent (closed, or dropped as a slow consumer). */
  send(message: JsonRpcMessage): boolean;
  /** Resolves once the browser has read most of what is buffered for it (for self-paced output). */
  writable(signal: AbortSignal): Promise<void>;
  /**
   * Sends a request to the browser; resolves with its result, rejects with its error (an IpcError
   * keeping the browser's code), Timeout, Cancelled (`signal`) or NotConnected (the connection closed).
   */
  request(method: string, params: Record<string, unknown>, options: PeerRequestOptions): Promise<unknown>;
}

export interface ConnectionOptions {
  id: number;
  /** Bytes buffered towards the client before it is dropped as a slow consumer. */
  maxSendBufferBytes: number;
  /** `writable()` waits while more than this is buffered. */
  highWaterBytes: number;
  /** How long `writable()` waits for a client that does not read before dropping it. */
  slowConsumerWaitMs: number;
  /** Called once when the connection is dropped for not reading (for metrics). */
  onSlowConsumer?: () => void;
  /**
   * Frames smaller than this many bytes go uncompressed even when permessage-deflate was agreed
   * (ws applies its own threshold only without context takeover, so it would deflate every frame).
   * @default 1024
   */
  compressThresholdBytes?: number;
  /**
   * A batched frame is sent once it holds this many characters (a bigger message goes alone).
   * @default 65536
   */
  maxBatchChars?: number;
  /** Schedules the flush of one tick's frames (injected by tests). @default setImmediate */
  schedule?: (flush: () => void) => void;
}

const MAX_BATCH_CHARS = 64 * 1024;
const COMPRESS_THRESHOLD = 1024;
const COMPRESS = Object.freeze({ compress: true });
const PLAIN = Object.freeze({ compress: false });

const OPEN = 1;

export class Connection implements Peer {
  readonly id: number;
  private readonly controller = new AbortController();
  /** Our requests to the browser (server→client requests routed here). */
  private readonly outgoing = new PeerRequests({ send: (m) => this.send(m), idPrefix: 'gw-', peer: 'the browser' });
  private readonly drainWaiters = new Set<() => void>();
  /** Answered the last ping (the heartbeat drops a connection that did not). */
  private alive = true;
  /** Serialised messages waiting for this tick's flush (each one JSON value: an object or a batch array). */
  private batch: string[] = [];
  /** Characters in `batch`. */
  private batchChars = 0;
  private flushScheduled = false;
  /** permessage-deflate was agreed on this socket (else no frame needs weighing for it). */
  private readonly deflate: boolean;
  private readonly flushBound = () => this.flush();
  private readonly wakeBound = () => this.wakeWriters();

  constructor(
    readonly ws: WebSocket,
    private readonly options: ConnectionOptions,
  ) {
    this.id = options.id;
    this.deflate = ws.extensions.includes('permessage-deflate');
    ws.on('pong', () => (this.alive = true));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get closed(): boolean {
    return this.controller.signal.aborted;
  }

  /**
   * Queues one serialised message (an object or a batch array) for this tick's frame; false when
   * the connection is closed or the client was dropped for not reading.
   */
  deliver(text: string): boolean {
    if (this.closed || this.ws.readyState !== OPEN) return false;
    const max = this.options.maxBatchChars ?? MAX_BATCH_CHARS;
    if (this.batchChars > 0 && this.batchChars + text.length > max) this.flush();
    if (this.closed) return false;
    this.batch.push(text);
    this.batchChars += text.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      (this.options.schedule ?? setImmediate)(this.flushBound);
    }
    return !this.closed;
  }

  send(message: JsonRpcMessage): boolean {
    return this.deliver(stringifyMessage(message));
  }

  /** Sends what this tick delivered as one frame (one message as it is; several as one batch array). */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.batchChars = 0;
    if (this.closed || this.ws.readyState !== OPEN) return;
    const text = batch.length === 1 ? batch[0]! : joinBatch(batch);
    // Counting the new frame too; a single frame over the budget still goes out to an idle socket.
    const buffered = this.ws.bufferedAmount;
    if (buffered > 0 && buffered + text.length > this.options.maxSendBufferBytes) {
      this.dropSlow();
      return;
    }
    // The callback runs once the frame is handed to the socket: the event `writable()` waits for.
    const compress = this.deflate && worthCompressing(text, this.options.compressThresholdBytes ?? COMPRESS_THRESHOLD);
    this.ws.send(text, compress ? COMPRESS : PLAIN, this.wakeBound);
  }

  async writable(signal: AbortSignal): Promise<void> {
    const highWater = this.options.highWaterBytes;
    if (this.ws.bufferedAmount + this.batchChars <= highWater) return;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (this.closed || signal.aborted || this.ws.readyState !== OPEN || this.ws.bufferedAmount + this.batchChars <= highWater) done();
      };
      const timer = setTimeout(() => {
        this.dropSlow();
        done();
      }, this.options.slowConsumerWaitMs);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        this.drainWaiters.delete(check);
        signal.removeEventListener('abort', done);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      this.drainWaiters.add(check);
      signal.addEventListener('abort', done, { once: true });
      this.signal.addEventListener('abort', done, { once: true });
    });
  }

  request(method: string, params: Record<string, unknown>, options: PeerRequestOptions): Promise<unknown> {
    if (this.closed) return Promise.reject(new NotConnectedError('The browser connection is closed'));
    return this.outgoing.request(method, params, options);
  }

  /** The browser answered one of our requests; false when the id is not ours (or no longer pending). */
  answer(response: JsonRpcResponse): boolean {
    return this.outgoing.answer(response);
  }

  /** One heartbeat tick: false when the client missed the previous ping (the caller drops it). */
  beat(): boolean {
    if (!this.alive) return false;
    this.alive = false;
    try {
      this.ws.ping();
    } catch {
      // closing anyway
    }
    return true;
  }

  /** Marks the connection closed: aborts `signal`, fails the requests sent to the browser. Idempotent. */
  dispose(reason: string): void {
    if (this.closed) return;
    this.controller.abort(reason);
    const error = new NotConnectedError(`The browser connection closed (${reason})`);
    this.outgoing.failAll(error);
    this.wakeWriters();
  }

  close(code: number, reason: string): void {
    // What this tick delivered goes before the close frame (an error reply, a last notification).
    this.flush();
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
  }

  private dropSlow(): void {
    if (this.closed) return;
    const buffered = this.ws.bufferedAmount;
    this.options.onSlowConsumer?.();
    this.dispose('slow consumer');
    this.close(GatewayCloseCode.SlowConsumer, `slow consumer: ${buffered} bytes unsent`);
    // The close frame queues behind the unsent data: do not wait for a client that does not read.
    setTimeout(() => this.ws.terminate(), 1000).unref();
  }

  private wakeWriters(): void {
    for (const check of [...this.drainWaiters]) check();
  }
}

/**
 * One JSON-RPC batch array of serialised messages; a message that is itself a batch (the replies
 * to a batch request) is spliced in, so the frame stays one flat array the client already reads.
 */
export function joinBatch(texts: readonly string[]): string {
  const n = texts.length;
  if (n === 0) return '[]';
  const parts = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const t = texts[i]!;
    parts[i] = t.charCodeAt(0) === 0x5b /* [ */ ? t.slice(1, -1) : t;
  }
  // One join: the frame is built as one flat string (concatenating would leave a rope of two
  // pieces per message, flattened again when the frame is encoded).
  parts[0] = `[${parts[0]!}`;
  parts[n - 1] = `${parts[n - 1]!}]`;
  return parts.join(',');
}

/** At least `threshold` bytes of UTF-8: characters are a lower bound, so most frames need no count. */
export function worthCompressing(text: string, threshold: number): boolean {
  if (text.length >= threshold) return true;
  if (text.length * 3 < threshold) return false;
  return Buffer.byteLength(text) >= threshold;
}

/** The browser's JSON-RPC error, kept as it came (code and data), so the MCP server gets the page's answer. */
/** JSON text of a message; a response whose data cannot be serialised keeps its error and code. */
export function stringifyMessage(message: JsonRpcMessage): string {
  try {
    return JSON.stringify(message);
  } catch {
    if ('error' in message) {
      const data = message.error.data as Partial<IpcErrorJSON> | undefined;
      const slim = typeof data === 'object' && data !== null ? { code: data.code, message: data.message, rpcCode: data.rpcCode } : undefined;
      return JSON.stringify({ ...message, error: { ...message.error, data: slim } });
    }
    if ('id' in message && !('method' in message)) {
      const error = new ProtocolError('Result could not be serialised', undefined, RpcCode.InternalError);
      return JSON.stringify(failure(message.id, error.rpcCode, error.message, error.toJSON()));
    }
    return JSON.stringify({ jsonrpc: '2.0', method: 'method' in message ? message.method : 'unknown', params: {} });
  }
}
