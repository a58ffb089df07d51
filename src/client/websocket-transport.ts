/**
 * A Transport over the standard WebSocket API (browsers; in Node pass `ws`'s WebSocket class).
 * One JSON-RPC message per text frame; frames read may be batches. After `coalesce()` (for a peer
 * that agreed to handle the items of a batch independently) the messages sent in one task go out
 * as one frame, a JSON-RPC batch array. Browser-safe: no Node imports.
 */
import { type IpcError, NotConnectedError } from '../core/errors.js';
import { type JsonRpcMessage, decodeText, type Diagnostic, type RequestId } from '../core/jsonrpc.js';
import { SENT, type Transport } from '../core/transport.js';
import { afterTask, type TaskScheduler } from './after-task.js';

/** The part of the WebSocket API this transport uses (the DOM WebSocket and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  /** The subprotocol the server selected ('' for none; absent in minimal fakes). */
  readonly protocol?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (event: any) => void): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** What a NotConnectedError from this transport carries in `data`. */
export interface CloseInfo {
  /** The WebSocket close code (1006 when the connection failed without a close frame), if known. */
  closeCode: number | undefined;
  closeReason: string;
}

export interface WebSocketTransportOptions {
  /** WebSocket constructor (default `globalThis.WebSocket`). */
  WebSocket?: WebSocketConstructor;
  /** Subprotocols to offer (e.g. a token subprotocol). */
  protocols?: string | string[];
  /** `send()` waits while more than this many bytes are buffered (default 1 MiB). */
  maxBufferedBytes?: number;
  /** `start()` fails when the socket is not open after this long (default 10 000 ms; 0 = no limit). */
  connectTimeoutMs?: number;
  /** Schedules the frame of one task's messages once `coalesce()` is on (injected by tests). @default afterTask */
  schedule?: TaskScheduler;
}

/** Limits of one coalesced frame (see `WebSocketTransport.coalesce`). */
export interface CoalesceLimits {
  /** Messages in one frame (the peer refuses a bigger batch whole). */
  maxItems: number;
  /** Bytes of one frame the peer accepts (a single bigger message still goes alone, as without coalescing). */
  maxBytes: number;
}

/** A coalesced frame stops growing at this many characters, whatever the peer would take. */
const MAX_FRAME_CHARS = 64 * 1024;

const OPEN = 1;
const BUFFER_POLL_MS = 10;

/** A NotConnectedError whose `data` is the close code and reason. */
export function closedError(message: string, info: CloseInfo): NotConnectedError {
  const error = new NotConnectedError(message);
  (error as { data: unknown }).data = info;
  return error;
}

/** The close code in an error's data, when it came from a closed WebSocket. */
export function closeCodeOf(error: unknown): number | undefined {
  const data = (error as { data?: unknown } | null)?.data;
  if (typeof data === 'object' && data !== null && typeof (data as CloseInfo).closeCode === 'number') return (data as CloseInfo).closeCode;
  return undefined;
}

export class WebSocketTransport implements Transport {
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onlost?: (id: RequestId, error: IpcError, delivered: boolean) => void;
  ondiagnostic?: (diagnostic: Diagnostic) => void;

  private ws: WebSocketLike | undefined;
  private readonly Ctor: WebSocketConstructor | undefined;
  private readonly options: WebSocketTransportOptions;
  private opened = false;
  private closed = false;
  private _closeError: NotConnectedError | undefined;
  private rejectStart: ((e: Error) => void) | undefined;
  private readonly decoder = new TextDecoder();
  /** Messages in one frame: 1 until `coalesce()`. */
  private maxItems = 1;
  private maxChars = 0;
  /** Serialised messages waiting for this task's frame, and their characters (commas included). */
  private queued: string[] = [];
  /** The request id of each queued message (undefined for notifications and responses). */
  private queuedIds: Array<RequestId | undefined> = [];
  private queuedChars = 0;
  private flushScheduled = false;
  private readonly flushBound = () => this.flush();

  constructor(
    readonly url: string,
    WebSocketOrOptions?: WebSocketConstructor | WebSocketTransportOptions,
  ) {
    this.options = typeof WebSocketOrOptions === 'function' ? { WebSocket: WebSocketOrOptions } : (WebSocketOrOptions ?? {});
    this.Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  /**
   * While coalescing, a request's `send()` resolves before its frame is written: one that never left
   * (the socket closed first, or the frame failed) is reported through `onlost` as not delivered, so
   * the IpcManager must keep its params to resend it.
   */
  get reportsUndelivered(): boolean {
    return this.maxItems > 1;
  }

  get closeError(): NotConnectedError | undefined {
    return this._closeError;
  }

  /** The socket's buffered bytes (0 when not open). */
  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** The subprotocol the server selected ('' before the socket opened, or for none). */
  get protocol(): string {
    return this.ws?.protocol ?? '';
  }

  /**
   * From now on, the messages sent in one task go out as one frame (a JSON-RPC batch array of at
   * most `maxItems` messages and `maxBytes` bytes; more make more frames). Only for a peer that
   * answers the items of a batch independently (JSON-RPC 2.0 itself answers a batch with one array
   * once every item is done: a fast call would wait for a slow one). `maxItems` ≤ 1 turns it off.
   */
  coalesce(limits: CoalesceLimits): void {
    if (!(limits.maxItems >= 1) || !(limits.maxBytes > 0)) throw new TypeError(`coalesce: maxItems ${limits.maxItems} and maxBytes ${limits.maxBytes} must be positive`);
    this.flush();
    this.maxItems = Math.floor(limits.maxItems);
    // Characters are at most a third of the bytes they encode to (UTF-8): under this, no frame is too big.
    this.maxChars = Math.max(1, Math.min(MAX_FRAME_CHARS, Math.floor(limits.maxBytes / 3)));
  }

  start(): Promise<void> {
    if (this.ws) return Promise.reject(new NotConnectedError('WebSocketTransport already started'));
    if (this.closed) return Promise.reject(new NotConnectedError('WebSocketTransport is closed'));
    const Ctor = this.Ctor;
    if (!Ctor) return Promise.reject(new NotConnectedError('No WebSocket implementation available: pass the WebSocket option (in Node 20, the one of the ws package)'));
    return new Promise<void>((resolve, reject) => {
      this.rejectStart = reject;
      let ws: WebSocketLike;
      try {
        ws = new Ctor(this.url, this.options.protocols);
      } catch (error) {
        this.closed = true;
        const e = closedError(`Could not open WebSocket ${this.url}: ${error instanceof Error ? error.message : String(error)}`, {
          closeCode: undefined,
          closeReason: '',
        });
        this._closeError = e;
        return reject(e);
      }
      this.ws = ws;
      ws.binaryType = 'arraybuffer';
      let errorTimer: ReturnType<typeof setTimeout> | undefined;
      let errorMessage = '';
      // A peer that accepts TCP but never completes the handshake must not leave start() pending.
      const connectMs = this.options.connectTimeoutMs ?? 10_000;
      const connectTimer =
        connectMs > 0
          ? setTimeout(() => {
              try {
                ws.close();
              } catch {
                // not open yet in some implementations: finish() below settles anyway
              }
              this.finish(`WebSocket ${this.url} could not connect within ${connectMs} ms`, { closeCode: undefined, closeReason: '' }, reject);
            }, connectMs)
          : undefined;

      ws.addEventListener('open', () => {
        clearTimeout(connectTimer);
        if (this.closed) return;
        this.opened = true;
        this.rejectStart = undefined;
        resolve();
      });
      ws.addEventListener('message', (event: { data: unknown }) => {
        if (this.ws !== ws || this.closed) return;
        this.receive(event.data);
      });
      ws.addEventListener('error', (event: { message?: unknown; error?: unknown }) => {
        if (this.closed) return;
        const detail = event.error instanceof Error ? event.error.message : typeof event.message === 'string' ? event.message : 'WebSocket error';
        errorMessage = detail;
        if (!this.opened) {
          // A close event (with its code) normally follows; fail anyway if it does not.
          errorTimer ??= setTimeout(() => this.finish(`WebSocket ${this.url} failed: ${detail}`, { closeCode: undefined, closeReason: '' }, reject), 1_000);
        } else {
          this.onerror?.(new NotConnectedError(`WebSocket error: ${detail}`));
        }
      });
      ws.addEventListener('close', (event: { code?: number; reason?: string }) => {
        clearTimeout(errorTimer);
        clearTimeout(connectTimer);
        const info: CloseInfo = { closeCode: typeof event.code === 'number' ? event.code : undefined, closeReason: typeof event.reason === 'string' ? event.reason : '' };
        const what = this.opened ? 'closed' : 'could not connect';
        const why = info.closeReason || errorMessage;
        this.finish(`WebSocket ${what} (code ${info.closeCode ?? 'unknown'}${why ? `: ${why}` : ''})`, info, reject);
      });
    });
  }

  /**
   * Hands one message to the socket. Returns the shared `SENT` promise when the socket has room
   * (the common case), so the IpcManager settles its bookkeeping synchronously; waits while more
   * than `maxBufferedBytes` are buffered, else.
   */
  send(message: JsonRpcMessage): Promise<void> {
    const ws = this.ws;
    if (!ws || this.closed || ws.readyState !== OPEN) return Promise.reject(this._closeError ?? new NotConnectedError('WebSocket is not open'));
    try {
      const text = JSON.stringify(message);
      if (this.maxItems > 1) this.enqueue(text, 'method' in message && 'id' in message ? message.id : undefined);
      else ws.send(text);
    } catch (error) {
      return Promise.reject(error);
    }
    const limit = this.options.maxBufferedBytes ?? 1024 * 1024;
    return ws.bufferedAmount + this.queuedChars > limit ? this.drained(ws, limit) : SENT;
  }

  /** Adds a message to this task's frame (sending the frame first when the message would not fit). */
  private enqueue(text: string, id: RequestId | undefined): void {
    const n = this.queued.length;
    if (n > 0 && (n >= this.maxItems || this.queuedChars + text.length + 1 > this.maxChars)) this.flush();
    this.queued.push(text);
    this.queuedIds.push(id);
    this.queuedChars += text.length + 1;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      (this.options.schedule ?? afterTask)(this.flushBound);
    }
  }

  /** Sends the messages queued in this task: one as it is, several as one batch array. */
  private flush(): void {
    this.flushScheduled = false;
    const queued = this.queued;
    if (queued.length === 0) return;
    const ids = this.queuedIds;
    this.queued = [];
    this.queuedIds = [];
    this.queuedChars = 0;
    const ws = this.ws;
    if (!ws || this.closed || ws.readyState !== OPEN) {
      // Never written: the requests among them are safe to send again.
      this.lose(ids, this._closeError ?? new NotConnectedError('WebSocket closed before the frame was sent'));
      return;
    }
    const n = queued.length;
    if (n > 1) {
      // Brackets on the first and last items, then one join: the frame is made as one flat string
      // (`'[' + join + ']'` would be a rope that the socket's UTF-8 encoding copies once more).
      queued[0] = `[${queued[0]!}`;
      queued[n - 1] = `${queued[n - 1]!}]`;
    }
    try {
      ws.send(n === 1 ? queued[0]! : queued.join(','));
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      this.lose(ids, new NotConnectedError(`WebSocket send failed: ${e.message}`));
      this.onerror?.(e);
    }
  }

  /** Reports the requests of a frame that was never written as lost and not delivered. */
  private lose(ids: ReadonlyArray<RequestId | undefined>, error: NotConnectedError): void {
    for (const id of ids) if (id !== undefined) this.onlost?.(id, error, false);
  }

  private async drained(ws: WebSocketLike, limit: number): Promise<void> {
    // Polled, and only while over the limit: a browser WebSocket fires no event when its buffer
    // drains (no 'drain', no send callback), so there is nothing to wait on.
    while (ws.bufferedAmount + this.queuedChars > limit && !this.closed && ws.readyState === OPEN) {
      await new Promise((r) => setTimeout(r, BUFFER_POLL_MS));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const ws = this.ws;
    // What this task sent (a cancellation, a last notification) goes before the close frame.
    this.flush();
    try {
      ws?.close(1000, 'client closing');
    } catch {
      // already closing
    }
    this.finish('WebSocket closed by the client', { closeCode: 1000, closeReason: 'client closing' });
  }

  private finish(message: string, info: CloseInfo, reject?: (e: Error) => void): void {
    if (this.closed) return;
    this.closed = true;
    const error = closedError(message, info);
    this._closeError = error;
    // A frame still waiting for the end of this task never left: its requests are reported before
    // onclose, so the IpcManager resends them rather than calling their outcome unknown.
    if (this.queued.length > 0) this.flush();
    if (!this.opened) {
      (reject ?? this.rejectStart)?.(error);
      this.rejectStart = undefined;
      return; // onclose is for connections that were up
    }
    this.onclose?.();
  }

  private receive(data: unknown): void {
    let text: string;
    if (typeof data === 'string') text = data;
    else if (data instanceof ArrayBuffer) text = this.decoder.decode(data);
    else if (ArrayBuffer.isView(data)) text = this.decoder.decode(data);
    else {
      this.ondiagnostic?.({ kind: 'non-json', preview: `[unsupported frame: ${Object.prototype.toString.call(data)}]`, bytes: 0 });
      return;
    }
    const { messages, diagnostics } = decodeText(text);
    for (const d of diagnostics) this.ondiagnostic?.(d);
    for (const m of messages) {
      if (this.closed) return;
      this.onmessage?.(m);
    }
  }
}
