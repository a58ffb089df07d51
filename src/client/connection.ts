/**
 * The client's connection to the gateway: one WebSocket at a time (a GatewayLink, the Transport
 * the client's IpcManager runs on), the `hello` handshake, and reconnecting with backoff after an
 * unexpected close — never after the gateway refused the token (4401/4403) or `disconnect()`.
 * Since the gateway speaks MCP's words (`notifications/progress`, `notifications/cancelled`, …), the
 * link passes messages through as they are; it only waits for `hello` and reports what it sees.
 */
import { backoffDelay, sleep } from '../core/backoff.js';
import { type IpcError, NotConnectedError, toIpcError } from '../core/errors.js';
import { BATCH_PROTOCOL, GatewayCloseCode, type HelloParams } from '../core/gateway-protocol.js';
import type { CancelSignal, IpcManager } from '../core/ipc-manager.js';
import { type Diagnostic, type JsonRpcMessage, type JsonRpcNotification, isNotification } from '../core/jsonrpc.js';
import { type Result, err, ok } from '../core/result.js';
import { SENT, type Transport } from '../core/transport.js';
import type { ConnectionPhase, OfflineWaiters } from './offline-waiters.js';
import { type Readable, readonly, writable } from './store.js';
import { type WebSocketConstructor, WebSocketTransport, closeCodeOf } from './websocket-transport.js';

export type ClientState = ConnectionPhase;

/** Subprotocol offered next to the token one; the gateway selects it. */
export const CLIENT_PROTOCOL = 'mcp-ipc';
/** `Sec-WebSocket-Protocol` prefix carrying the access token (keeps it out of URLs and logs). */
export const TOKEN_PROTOCOL_PREFIX = 'mcp-ipc.token.';

const AUTH_CODES: ReadonlySet<number> = new Set([GatewayCloseCode.Unauthorized, GatewayCloseCode.Forbidden]);

export interface ConnectionSettings {
  url: string;
  token?: string;
  protocols?: string[];
  reconnect: boolean;
  reconnectDelayMs: number;
  reconnectMaxDelayMs: number;
  offlineWaitMs: number;
  connectTimeoutMs: number;
  helloTimeoutMs: number;
  WebSocket?: WebSocketConstructor;
  random: () => number;
}

export interface ConnectionHooks {
  /** A new link was made; nothing has arrived on it yet (its `hello` comes through `notification`). */
  opening(link: GatewayLink): void;
  /**
   * A new link said hello (or did not within helloTimeoutMs: `hello` undefined). Restore what the
   * gateway must know about this client before the connection counts as open.
   */
  established(link: GatewayLink, hello: HelloParams | undefined): Promise<void>;
  /** Every notification from the gateway, as it came (before IpcManager sees it). */
  notification(link: GatewayLink, message: JsonRpcNotification): void;
  /** A message is being written … */
  sending?(message: JsonRpcMessage): void;
  /** … and could not be written after all. */
  unsent?(message: JsonRpcMessage): void;
}

export class ClientConnection {
  /** Connection state. */
  readonly state: Readable<ClientState> & { get(): ClientState };
  /** Why the connection closed or failed last (e.g. auth refused), null while fine. */
  readonly error: Readable<IpcError | null> & { get(): IpcError | null };
  private readonly _state = writable<ClientState>('idle');
  private readonly _error = writable<IpcError | null>(null);
  /** The established link (after hello); `opening` while a connection attempt runs. */
  private link: GatewayLink | undefined;
  private opening: GatewayLink | undefined;
  private userClosed = false;
  private reconnectAbort: AbortController | undefined;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly manager: IpcManager,
    private readonly waiters: OfflineWaiters,
    private readonly hooks: ConnectionHooks,
  ) {
    this.state = readonly(this._state);
    this.error = readonly(this._error);
  }

  get current(): ClientState {
    return this._state.get();
  }

  /** True while `link` is the established one. */
  isCurrent(link: GatewayLink): boolean {
    return this.link === link;
  }

  /** True while `link` is the attempt under way (connected, not yet established). */
  isOpening(link: GatewayLink): boolean {
    return this.opening === link;
  }

  /** Waits for the connection when it is coming (see OfflineWaiters). */
  waitOpen(signal?: CancelSignal): Promise<Result<void>> {
    return this.waiters.wait(this.current, this._error.get(), signal);
  }

  get closedByUser(): boolean {
    return this.userClosed;
  }

  async connect(): Promise<Result<void>> {
    const state = this.current;
    if (state === 'open') return ok(undefined);
    if (state === 'connecting') return this.untilSettled();
    // Reconnecting goes on in the background for as long as it takes; this call waits at most offlineWaitMs.
    if (state === 'reconnecting') return this.untilSettled(this.settings.offlineWaitMs);
    this.userClosed = false;
    this._error.set(null);
    this._state.set('connecting');
    const result = await this.open();
    if (!result.ok) {
      if (this.current === 'connecting') this.closeWith(result.error);
      return result;
    }
    return ok(undefined);
  }

  disconnect(): void {
    this.userClosed = true;
    this.reconnectAbort?.abort();
    this.reconnectAbort = undefined;
    const links = [this.link, this.opening];
    this.link = undefined;
    this.opening = undefined;
    const error = new NotConnectedError('Disconnected by the client');
    this._state.set('closed');
    this.waiters.release(err(error));
    this.manager.failAll(error);
    for (const link of links) void link?.close();
  }

  private untilSettled(timeoutMs?: number): Promise<Result<void>> {
    return new Promise((resolve) => {
      let unsubscribe: (() => void) | undefined;
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stop = (r: Result<void>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        queueMicrotask(() => unsubscribe?.());
        resolve(r);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const why = this._error.get();
          stop(err(new NotConnectedError(`Still reconnecting after ${timeoutMs} ms${why ? `: ${why.message}` : ''}`)));
        }, timeoutMs);
      }
      unsubscribe = this._state.subscribe((s) => {
        if (s === 'open') stop(ok(undefined));
        else if (s === 'closed' || s === 'idle') stop(err(this._error.get() ?? new NotConnectedError('Connection closed')));
      });
      if (settled) unsubscribe();
    });
  }

  /** One connection attempt: socket open + hello + the client's restore step. */
  private async open(): Promise<Result<void>> {
    const s = this.settings;
    // Always offer `mcp-ipc`: it tells the gateway to report a refused token as close code 4401.
    // Independent batches after it: a server that simply takes the first protocol offered (and so
    // does not know them) takes `mcp-ipc`; the gateway prefers them (see GatewayLink.agreeOnBatches).
    const protocols = [...(s.protocols ?? []), CLIENT_PROTOCOL, BATCH_PROTOCOL];
    if (s.token) protocols.push(TOKEN_PROTOCOL_PREFIX + s.token);
    const ws = new WebSocketTransport(s.url, { WebSocket: s.WebSocket, connectTimeoutMs: s.connectTimeoutMs, protocols });
    const link = new GatewayLink(ws, {
      notification: (message) => this.hooks.notification(link, message),
      closed: () => this.linkClosed(link),
      sending: this.hooks.sending,
      unsent: this.hooks.unsent,
    });
    this.opening = link;
    this.hooks.opening(link);
    try {
      await this.manager.attach(link);
    } catch (e) {
      if (this.opening === link) this.opening = undefined;
      return err(toIpcError(e));
    }
    let hello: HelloParams | undefined;
    try {
      hello = await link.hello(s.helloTimeoutMs);
    } catch (e) {
      if (this.opening === link) this.opening = undefined;
      return err(toIpcError(e));
    }
    if (this.opening !== link || this.userClosed) {
      void link.close();
      return err(new NotConnectedError('Disconnected by the client'));
    }
    this.opening = undefined;
    this.link = link;
    await this.hooks.established(link, hello);
    if (this.link !== link) return err(link.closeError ?? new NotConnectedError('Connection closed'));
    this._error.set(null);
    this._state.set('open');
    this.waiters.release(ok(undefined));
    return ok(undefined);
  }

  private linkClosed(link: GatewayLink): void {
    if (link !== this.link) return; // an attempt that failed before hello: `open()` reports it
    this.link = undefined;
    if (this.userClosed) return;
    const error = link.closeError ?? new NotConnectedError('Connection closed');
    const code = closeCodeOf(error);
    if (code !== undefined && AUTH_CODES.has(code)) return this.closeWith(error);
    this._error.set(error);
    if (!this.settings.reconnect) return this.closeWith(error);
    this._state.set('reconnecting');
    void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    const abort = new AbortController();
    this.reconnectAbort = abort;
    const s = this.settings;
    for (let attempt = 0; ; attempt++) {
      const delay = backoffDelay(attempt, { initialMs: s.reconnectDelayMs, maxMs: s.reconnectMaxDelayMs }, s.random);
      try {
        await sleep(delay, abort.signal);
      } catch {
        return;
      }
      if (abort.signal.aborted || this.userClosed) return;
      const result = await this.open();
      if (abort.signal.aborted || this.userClosed) return;
      if (result.ok) {
        this.reconnectAbort = undefined;
        return;
      }
      this._error.set(result.error);
      const code = closeCodeOf(result.error);
      if (code !== undefined && AUTH_CODES.has(code)) {
        this.reconnectAbort = undefined;
        return this.closeWith(result.error);
      }
    }
  }

  private closeWith(error: IpcError): void {
    this._error.set(error);
    this._state.set('closed');
    this.waiters.release(err(new NotConnectedError(`Not connected: ${error.message}`)));
  }
}

interface LinkHooks {
  notification: (message: JsonRpcNotification) => void;
  closed: () => void;
  sending?: (message: JsonRpcMessage) => void;
  unsent?: (message: JsonRpcMessage) => void;
}

/** The Transport IpcManager runs on: the WebSocket, plus `hello` and a look at what goes by. */
export class GatewayLink implements Transport {
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  ondiagnostic?: (diagnostic: Diagnostic) => void;

  private readonly helloPromise: Promise<HelloParams>;
  private resolveHello!: (hello: HelloParams) => void;
  private rejectHello!: (error: IpcError) => void;

  constructor(
    private readonly ws: WebSocketTransport,
    private readonly hooks: LinkHooks,
  ) {
    this.helloPromise = new Promise<HelloParams>((resolve, reject) => {
      this.resolveHello = resolve;
      this.rejectHello = reject;
    });
    this.helloPromise.catch(() => undefined);
    ws.onmessage = (message) => {
      if (isNotification(message)) {
        if (message.method === 'hello') {
          const hello = message.params as unknown as HelloParams;
          this.agreeOnBatches(hello);
          this.resolveHello(hello);
        }
        this.hooks.notification(message);
      }
      this.onmessage?.(message);
    };
    ws.onerror = (error) => this.onerror?.(error);
    ws.ondiagnostic = (diagnostic) => this.ondiagnostic?.(diagnostic);
    ws.onclose = () => {
      this.rejectHello(this.closeError ?? new NotConnectedError('Connection closed'));
      this.hooks.closed();
      this.onclose?.();
    };
  }

  get closeError(): IpcError | undefined {
    return this.ws.closeError;
  }

  /**
   * The gateway selected BATCH_PROTOCOL and said how big a batch frame may be: from now on the
   * messages of one task go out as one frame. Anything else (an older gateway, no limits): one
   * frame per message, as ever.
   */
  private agreeOnBatches(hello: HelloParams | undefined): void {
    const limits = hello?.batch;
    if (this.ws.protocol !== BATCH_PROTOCOL || typeof limits !== 'object' || limits === null) return;
    const { maxItems, maxBytes } = limits;
    if (typeof maxItems === 'number' && maxItems > 1 && typeof maxBytes === 'number' && maxBytes > 0) this.ws.coalesce({ maxItems, maxBytes });
  }

  /** Resolves with the gateway's hello, or undefined after `timeoutMs`; rejects if the socket closes first. */
  hello(timeoutMs: number): Promise<HelloParams | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
    return Promise.race([this.helloPromise, timeout]).finally(() => clearTimeout(timer));
  }

  start(): Promise<void> {
    return this.ws.start();
  }

  close(): Promise<void> {
    return this.ws.close();
  }

  send(message: JsonRpcMessage): Promise<void> {
    const { sending, unsent } = this.hooks;
    sending?.(message);
    const written = this.ws.send(message);
    // SENT (handed over at once) passes through as it is: the IpcManager recognises that exact promise.
    if (written === SENT || !unsent) return written;
    return written.catch((error: unknown) => {
      unsent(message);
      return Promise.reject(error);
    });
  }
}
