/**
 * McpIpcClient: the browser side of the gateway (src/core/gateway-protocol.ts) — the whole MCP
 * client surface of every server the host runs, over one WebSocket.
 *
 * - `request(server, method, params, options)` sends any allowed MCP request under MCP's own name;
 *   typed helpers mirror McpBridge (`call`, `listTools`, `listResources`, `readResource`,
 *   `subscribeResource`, `listPrompts`, `getPrompt`, `complete`, `setLogLevel`, tasks).
 * - `onServerNotification(server | '*', method, listener)`: the servers' notifications (logs,
 *   resource updates, list changes), asked of the gateway only while someone listens.
 * - `setRequestHandler(method, handler)`: the page answers the servers' sampling, elicitation and
 *   roots requests (and modern `input_required` rounds).
 * - Stores (Svelte-compatible): `connection`, `servers`, `metrics`, `events`, `missedEvents`,
 *   `requests`, `error`.
 *
 * Correlation, timeouts, the in-flight limit, progress and cancellation are IpcManager's, exactly as
 * for stdio: the gateway speaks MCP's words (`_meta.progressToken`, `notifications/progress`,
 * `notifications/cancelled`). Listens, handlers and resource subscriptions are restored after
 * every reconnect. Every public method returns a Result: failures are values, never throws.
 */
import { DEFAULTS } from '../core/defaults.js';
import { InvalidParamsError, type IpcError, toIpcError } from '../core/errors.js';
import {
  type CallToolResult,
  type GatewayMethod,
  type GatewayOffers,
  type GatewayParams,
  type GatewayResult,
  type HelloParams,
  type SequencedEvent,
  type ServerSnapshot,
  type ToolInfo,
} from '../core/gateway-protocol.js';
import { IpcManager, type IpcMetricsSnapshot } from '../core/ipc-manager.js';
import type { JsonRpcNotification } from '../core/jsonrpc.js';
import type { LoggingLevel } from '../core/mcp-session.js';
import type {
  CompleteResult,
  CompletionReference,
  GetPromptResult,
  PromptInfo,
  ReadResourceResult,
  ResourceInfo,
  ResourceTemplateInfo,
  Root,
} from '../core/mcp-types.js';
import type { Priority } from '../core/queue.js';
import { type Result, err, ok } from '../core/result.js';
import { ClientConnection, type ClientState, type GatewayLink } from './connection.js';
import { EventFeed, isBroadcast } from './event-feed.js';
import { OfflineWaiters } from './offline-waiters.js';
import type { RequestInfo } from './request-log.js';
import { type CallOptions, type RequestOptions, RequestRunner, errorFromWire } from './request-runner.js';
import { type ServerNotificationListener, type ServerRequestHandler, ServerMessages } from './server-messages.js';
import { type Readable, readonly, writable } from './store.js';
import type { WebSocketConstructor } from './websocket-transport.js';

export { CLIENT_PROTOCOL, type ClientState, TOKEN_PROTOCOL_PREFIX } from './connection.js';
export { type CallOptions, type RequestOptions, errorFromWire, reassemble } from './request-runner.js';
export type { RequestInfo, RequestStatus } from './request-log.js';
export type { ServerMessageContext, ServerNotificationListener, ServerRequestHandler } from './server-messages.js';

export interface McpIpcClientOptions {
  /** Gateway WebSocket URL, e.g. `ws://127.0.0.1:7400/ws?token=…`. */
  url: string;
  /** Access token, sent as the subprotocol `mcp-ipc.token.<token>` (alternative to `?token=` in the URL). */
  token?: string;
  /** Extra subprotocols to offer. */
  protocols?: string[];
  /** Default server for `call(tool, …)` (else the first server the gateway lists). */
  server?: string;
  /** Reconnect after an unexpected close. @default true */
  reconnect?: boolean;
  /** @default 500 */
  reconnectDelayMs?: number;
  /** @default 10 000 */
  reconnectMaxDelayMs?: number;
  /** Requests made while (re)connecting wait this long for the connection; 0 = fail at once. @default 10 000 */
  offlineWaitMs?: number;
  /** Requests that may wait for the connection at once; one more fails with QueueFull. @default 100 */
  maxOfflineQueue?: number;
  /** Per-request timeout default (ms), also sent to the gateway. @default 60 000 */
  timeoutMs?: number;
  /** A connection attempt fails when the WebSocket handshake takes longer. @default 10 000 */
  connectTimeoutMs?: number;
  /** How long to wait for `hello` after the socket opens before listing servers instead. @default 5 000 */
  helloTimeoutMs?: number;
  /** Broadcast events kept in the `events` store. @default 500 */
  maxEvents?: number;
  /** On the first connection, load this many past events into `events` (0 = start empty). @default 200 */
  initialEvents?: number;
  /** Finished requests kept in the `requests` store. @default 100 */
  maxFinishedRequests?: number;
  /** Requests in flight at once on the connection. @default the gateway's per-connection limit (32) */
  maxConcurrent?: number;
  /**
   * WebSocket constructor. Browsers and Node 22+ have a global one; Node 20 does not, so there pass
   * `ws`'s (`import { WebSocket } from 'ws'`), else every connect fails with NotConnected.
   * @default globalThis.WebSocket
   */
  WebSocket?: WebSocketConstructor;
  /** Randomness for reconnect jitter and generated keys. @default Math.random */
  random?: () => number;
}

export interface RpcOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  priority?: Priority;
}

/** Any host → client notification (gateway broadcasts, `hello`, …). */
export type NotificationListener = (params: unknown, method: string) => void;

/** A modern or legacy task, as `tasks/get` reports it. */
export interface TaskInfo {
  taskId: string;
  status: string;
  statusMessage?: string;
  [k: string]: unknown;
}

export class McpIpcClient {
  /** Connection state. */
  readonly connection: Readable<ClientState> & { get(): ClientState };
  /** Server snapshots: from `hello`, patched by `server/state`, replaced by `metrics`. */
  readonly servers: Readable<ServerSnapshot[]> & { get(): ServerSnapshot[] };
  /** IPC metrics per server (from the server snapshots). */
  readonly metrics: Readable<Record<string, IpcMetricsSnapshot>> & { get(): Record<string, IpcMetricsSnapshot> };
  /** The last broadcast events (bounded), in arrival order, no seq twice. */
  readonly events: Readable<SequencedEvent[]> & { get(): SequencedEvent[] };
  /**
   * Events known to be lost: the gateway had already dropped them from its log when this client
   * caught up after a reconnect (or catching up failed). 0 while the `events` history is complete.
   */
  readonly missedEvents: Readable<number> & { get(): number };
  /** Requests made through the client (running ones and the last finished ones). */
  readonly requests: Readable<RequestInfo[]> & { get(): RequestInfo[] };
  /** Why the connection closed or failed last (e.g. auth refused), null while fine. */
  readonly error: Readable<IpcError | null> & { get(): IpcError | null };
  /**
   * What the connected gateway offers (its allow-list of MCP methods, host control, the server
   * requests a page may answer), from `hello`; null before the first connection or from older gateways.
   */
  readonly offers: Readable<GatewayOffers | null> & { get(): GatewayOffers | null };

  private readonly opts: { server?: string; timeoutMs: number; random: () => number };
  private readonly manager: IpcManager;
  private readonly conn: ClientConnection;
  private readonly feed: EventFeed;
  private readonly runner: RequestRunner;
  private readonly listeners = new Map<string, Set<NotificationListener>>();
  private readonly messages: ServerMessages;
  private readonly _offers = writable<GatewayOffers | null>(null);

  constructor(options: McpIpcClientOptions) {
    const d = DEFAULTS.client;
    const random = options.random ?? Math.random;
    const timeoutMs = options.timeoutMs ?? d.timeoutMs;
    this.opts = { server: options.server, timeoutMs, random };
    const maxOfflineQueue = options.maxOfflineQueue ?? d.maxOfflineQueue;
    this.manager = new IpcManager(undefined, {
      maxConcurrent: options.maxConcurrent ?? DEFAULTS.gateway.maxInFlightPerConnection,
      maxQueueSize: Math.max(DEFAULTS.queue.maxQueueSize, maxOfflineQueue),
      timeoutMs,
      maxRetries: 0, // resending is decided here, per request (see `retryable`)
      random,
      // Registrations must not wait behind a full window of calls (a call may need its handler to finish).
      bypassMethods: ['ping', 'gateway/listen', 'gateway/unlisten', 'gateway/handle', 'gateway/unhandle'],
    });
    this.feed = new EventFeed({ maxEvents: options.maxEvents ?? 500, initialEvents: options.initialEvents ?? 200 });
    const offlineWaitMs = options.offlineWaitMs ?? d.offlineWaitMs;
    this.conn = new ClientConnection(
      {
        url: options.url,
        token: options.token,
        protocols: options.protocols,
        reconnect: options.reconnect ?? d.reconnect,
        reconnectDelayMs: options.reconnectDelayMs ?? d.reconnectDelayMs,
        reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? d.reconnectMaxDelayMs,
        offlineWaitMs,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        helloTimeoutMs: options.helloTimeoutMs ?? 5_000,
        WebSocket: options.WebSocket,
        random,
      },
      this.manager,
      new OfflineWaiters({ offlineWaitMs, maxOfflineQueue }),
      {
        // Live events wait from the start of every connection until it has caught up (see EventFeed).
        opening: () => this.feed.hold(),
        established: (link, hello) => this.established(link, hello),
        notification: (link, message) => this.incoming(link, message),
        sending: (message) => this.runner.sending(message),
        unsent: (message) => this.runner.unsent(message),
      },
    );
    this.connection = this.conn.state;
    this.error = this.conn.error;
    this.servers = this.feed.servers;
    this.metrics = this.feed.metrics;
    this.events = this.feed.events;
    this.missedEvents = this.feed.missedEvents;
    this.runner = new RequestRunner({ manager: this.manager, maxFinishedRequests: options.maxFinishedRequests ?? 100, connection: this.conn, timeoutMs, random });
    this.requests = this.runner.requests;
    this.offers = readonly(this._offers);
    this.messages = new ServerMessages({
      manager: this.manager,
      isCurrent: (link) => this.conn.isCurrent(link as GatewayLink),
      // On the link as it is now, never waiting for another one: the next one gets the restore instead.
      send: (method, params) => this.manager.request(method, params as Record<string, unknown>, { timeoutMs: this.opts.timeoutMs }).then(ok, (e: unknown) => err(errorFromWire(e))),
    });
  }

  /** Current connection state. */
  get state(): ClientState {
    return this.conn.current;
  }

  // ------------------------------------------------------------------ connection

  /**
   * Connects (resolves once the gateway said `hello`). Afterwards the client reconnects by itself
   * with backoff, unless the gateway refused the token (4401/4403) or `disconnect()` was called.
   * A failed first connect returns the error and leaves the client `closed` (call again to retry).
   */
  connect(): Promise<Result<void>> {
    return this.conn.connect();
  }

  /** Closes the connection for good (no reconnect); pending and waiting requests fail with NotConnected. */
  disconnect(): void {
    this.conn.disconnect();
  }

  /**
   * A link became the established one (its hello, if any, was read as it arrived: see `incoming`):
   * restore what the gateway must know of this client, catch up on missed events, and list the
   * servers when no hello came.
   */
  private async established(link: GatewayLink, hello: HelloParams | undefined): Promise<void> {
    const request = <T>(method: string, params: Record<string, unknown>) => this.manager.request<T>(method, params, { timeoutMs: this.opts.timeoutMs });
    // Taken as the link becomes current, before any await: a registration made from now on is sent
    // on this link as it is made, one made before is in these requests — never both, never neither.
    const restored = Promise.allSettled(this.messages.restoreRequests(link).map(({ method, params }) => request(method, params)));
    void this.feed.catchUp(
      (seq, limit) => request<GatewayResult<'events/since'>>('events/since', { seq, limit }).then(ok, (e: unknown) => err(errorFromWire(e))),
      () => this.conn.isCurrent(link),
    );
    if (!hello) {
      const listed = await request<ServerSnapshot[]>('servers/list', {}).catch(() => undefined);
      if (listed && this.conn.isCurrent(link)) this.feed.setServers(listed);
    }
    // Restored before the connection counts as open, so that nothing sent afterwards outruns them.
    const failed = (await restored).filter((r) => r.status === 'rejected');
    if (failed.length > 0) console.warn(`mcp-ipc: ${failed.length} listens, handlers or subscriptions could not be restored`, (failed[0] as PromiseRejectedResult).reason);
  }

  // ------------------------------------------------------------------ requests

  /** Any gateway method, typed. Waits for the connection like requests do. */
  async rpc<M extends GatewayMethod>(method: M, params: GatewayParams<M>, options: RpcOptions = {}): Promise<Result<GatewayResult<M>>> {
    const ready = await this.conn.waitOpen(options.signal);
    if (!ready.ok) return ready;
    try {
      const data = await this.manager.request<GatewayResult<M>>(method, params as Record<string, unknown> | undefined, {
        timeoutMs: options.timeoutMs ?? this.opts.timeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.priority ? { priority: options.priority } : {}),
      });
      return ok(data);
    } catch (e) {
      return err(errorFromWire(e));
    }
  }

  /**
   * Sends an MCP request to `server` under MCP's own method name (`resources/read`, `prompts/get`,
   * `tasks/get`, or a server's own method the gateway allows). With the queue, timeout, progress
   * and cancellation of a tool call; listed in `requests`.
   * @example
   * const r = await client.request('demo', 'resources/read', { uri: 'file:///notes.md' });
   * if (r.ok) show(r.data); else report(r.error);
   */
  request<T = unknown>(server: string, method: string, params: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<Result<T>> {
    return this.runner.track<T>(server, method, method, params, options);
  }

  /**
   * Calls a tool: `call(server, tool, args?, options?)`, or `call(tool, args?, options?)` on the
   * default server (the `server` option, else the first one the gateway lists). Never rejects:
   * failures are `{ ok: false, error }`; a tool's own failure is a result with `isError`.
   */
  call(server: string, tool: string, args?: Record<string, unknown>, options?: CallOptions): Promise<Result<CallToolResult>>;
  call(tool: string, args?: Record<string, unknown>, options?: CallOptions): Promise<Result<CallToolResult>>;
  call(
    first: string,
    second?: string | Record<string, unknown>,
    third?: Record<string, unknown> | CallOptions,
    fourth?: CallOptions,
  ): Promise<Result<CallToolResult>> {
    if (typeof second === 'string') return this.callTool(first, second, (third as Record<string, unknown> | undefined) ?? {}, fourth ?? {});
    return this.callOn(undefined, first, second ?? {}, (third as CallOptions | undefined) ?? {});
  }

  /** `tools/call` on a named server (what `call(server, tool, …)` does). */
  callTool(server: string, tool: string, args: Record<string, unknown> = {}, options: CallOptions = {}): Promise<Result<CallToolResult>> {
    const params: Record<string, unknown> = { name: tool, arguments: args };
    if (options.task !== undefined) params.task = options.task;
    return this.runner.track<CallToolResult>(server, 'tools/call', tool, params, options);
  }

  /** A tool call on the default server, which may only be known once connected. */
  async callOn(server: string | undefined, tool: string, args: Record<string, unknown>, options: CallOptions = {}): Promise<Result<CallToolResult>> {
    const target = await this.resolveServer(server, options.signal);
    if (!target.ok) return target;
    return this.callTool(target.data, tool, args, options);
  }

  /**
   * Cancels a request by key: the gateway gets `notifications/cancelled` and the request settles at
   * once with Cancelled. False when no such request is running.
   */
  cancel(key: string, reason = 'cancelled by the client'): boolean {
    return this.runner.cancel(key, reason);
  }

  /** The server's tools (cached by the host; `refresh` asks the server again). */
  async listTools(server: string, options: { refresh?: boolean } = {}): Promise<Result<ToolInfo[]>> {
    return mapResult(await this.request<{ tools: ToolInfo[] }>(server, 'tools/list', refreshParam(options)), (r) => r.tools);
  }

  /** `resources/list`, every page (cached by the host until the server says the list changed). */
  async listResources(server: string, options: { refresh?: boolean } = {}): Promise<Result<ResourceInfo[]>> {
    return mapResult(await this.request<{ resources: ResourceInfo[] }>(server, 'resources/list', refreshParam(options)), (r) => r.resources);
  }

  /** `resources/templates/list`, every page. */
  async listResourceTemplates(server: string, options: { refresh?: boolean } = {}): Promise<Result<ResourceTemplateInfo[]>> {
    return mapResult(await this.request<{ resourceTemplates: ResourceTemplateInfo[] }>(server, 'resources/templates/list', refreshParam(options)), (r) => r.resourceTemplates);
  }

  /** `resources/read`: text or base64 `blob` contents. */
  readResource(server: string, uri: string, options: RequestOptions = {}): Promise<Result<ReadResourceResult>> {
    return this.request<ReadResourceResult>(server, 'resources/read', { uri }, options);
  }

  /**
   * Calls `listener` with each `notifications/resources/updated` of `uri` on `server` until the
   * returned function is called (then re-read the resource). Re-established after reconnects.
   * @example
   * const sub = await client.subscribeResource('demo', 'file:///notes.md', () => reload());
   * if (sub.ok) later(() => sub.data());
   */
  async subscribeResource(server: string, uri: string, listener: (update: Record<string, unknown>) => void): Promise<Result<() => Promise<void>>> {
    const r = await this.messages.addResourceListener(server, uri, listener, () => this.request(server, 'resources/subscribe', { uri }));
    if (!r.ok) {
      await this.messages.removeResourceListener(server, uri, listener);
      return r;
    }
    let done = false;
    return ok(async () => {
      if (done) return;
      done = true;
      // Unsubscribes on the connection in use; with none, the next one is simply not subscribed again.
      await this.messages.removeResourceListener(server, uri, listener);
    });
  }

  /** `prompts/list`, every page. */
  async listPrompts(server: string, options: { refresh?: boolean } = {}): Promise<Result<PromptInfo[]>> {
    return mapResult(await this.request<{ prompts: PromptInfo[] }>(server, 'prompts/list', refreshParam(options)), (r) => r.prompts);
  }

  /** `prompts/get` with the prompt's arguments (strings, per MCP). */
  getPrompt(server: string, name: string, args: Record<string, string> = {}, options: RequestOptions = {}): Promise<Result<GetPromptResult>> {
    return this.request<GetPromptResult>(server, 'prompts/get', { name, arguments: args }, options);
  }

  /**
   * `completion/complete`: suggestions for one argument of a prompt or resource template;
   * `context.arguments` are the values already chosen for the others.
   */
  complete(
    server: string,
    ref: CompletionReference,
    argument: { name: string; value: string },
    context?: { arguments?: Record<string, string> },
    options: RequestOptions = {},
  ): Promise<Result<CompleteResult>> {
    return this.request<CompleteResult>(server, 'completion/complete', { ref, argument, ...(context ? { context } : {}) }, options);
  }

  /** The level of `notifications/message` the server sends (legacy `logging/setLevel`, or per request when modern). */
  async setLogLevel(server: string, level: LoggingLevel): Promise<Result<void>> {
    return mapResult(await this.request(server, 'logging/setLevel', { level }), () => undefined);
  }

  /** A task's status (`tasks/get`). */
  getTask(server: string, taskId: string, options: RequestOptions = {}): Promise<Result<TaskInfo>> {
    return this.request<TaskInfo>(server, 'tasks/get', { taskId }, options);
  }

  /** The server's tasks (`tasks/list`, legacy servers that offer it). */
  listTasks(server: string, options: RequestOptions = {}): Promise<Result<{ tasks: TaskInfo[]; nextCursor?: string }>> {
    return this.request(server, 'tasks/list', {}, options);
  }

  /** A finished task's result (`tasks/result`; legacy servers block until the task ends). */
  taskResult<T = CallToolResult>(server: string, taskId: string, options: RequestOptions = {}): Promise<Result<T>> {
    return this.request<T>(server, 'tasks/result', { taskId }, options);
  }

  /** Cancels a task (`tasks/cancel`). */
  cancelTask(server: string, taskId: string, options: RequestOptions = {}): Promise<Result<TaskInfo>> {
    return this.request<TaskInfo>(server, 'tasks/cancel', { taskId }, options);
  }

  startServer(name: string): Promise<Result<ServerSnapshot>> {
    return this.rpc('server/start', { server: name });
  }

  stopServer(name: string): Promise<Result<ServerSnapshot>> {
    return this.rpc('server/stop', { server: name });
  }

  restartServer(name: string): Promise<Result<ServerSnapshot>> {
    return this.rpc('server/restart', { server: name });
  }

  /** Replaces the roots the host offers `server` (a legacy server is told the list changed). */
  async setRoots(server: string, roots: Root[]): Promise<Result<void>> {
    return mapResult(await this.rpc('server/setRoots', { server, roots }), () => undefined);
  }

  // ------------------------------------------------------------------ notifications and server requests

  /**
   * Calls `listener` with each notification `method` (`'*'`: all) from `server` (`'*'`: every
   * server): `notifications/message`, `notifications/resources/list_changed`, … The gateway is asked
   * for them while at least one listener is registered. Returns the unsubscribe function.
   * @example
   * const off = client.onServerNotification('*', 'notifications/message', (log, { server }) => show(server, log));
   */
  onServerNotification(server: string, method: string, listener: ServerNotificationListener): () => void {
    return this.messages.listen(server, method, listener);
  }

  /**
   * Answers the servers' `method` requests from this page (`sampling/createMessage`,
   * `elicitation/create`, `roots/list`; modern `input_required` rounds too). The gateway sends a
   * request to the page whose call caused it, else to the page that registered last. Replaces a
   * previous handler for the method.
   * @example
   * client.setRequestHandler('elicitation/create', async (params) => ({ action: 'accept', content: await askUser(params) }));
   */
  setRequestHandler(method: string, handler: ServerRequestHandler): void {
    this.messages.setHandler(method, handler);
  }

  removeRequestHandler(method: string): void {
    this.messages.removeHandler(method);
  }

  /**
   * Resolves once the gateway has acknowledged every `onServerNotification` and `setRequestHandler`
   * change made so far (they are sent in the background; after a reconnect they are restored
   * before the connection counts as open).
   * @example
   * client.setRequestHandler('elicitation/create', ask);
   * await client.synced();   // a server request from now on reaches this page
   */
  synced(): Promise<void> {
    return this.messages.synced();
  }

  /** Any host → client notification as it came (`'*'` for all); the handler gets its params. Returns unsubscribe. */
  onNotification(method: string, handler: NotificationListener): () => void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  private incoming(link: GatewayLink, message: JsonRpcNotification): void {
    const { method, params } = message;
    for (const key of [method, '*']) {
      for (const handler of [...(this.listeners.get(key) ?? [])]) {
        try {
          handler(params, method);
        } catch (error) {
          console.error(`mcp-ipc: notification handler for "${method}" threw`, error);
        }
      }
    }
    if (method === 'hello') {
      const hello = params as HelloParams | undefined;
      if (this.conn.isOpening(link)) this.welcome(hello);
      // A hello on an established connection (unexpected): take its servers.
      else if (this.conn.isCurrent(link) && hello && Array.isArray(hello.servers)) this.feed.setServers(hello.servers);
      return;
    }
    if (isBroadcast(method)) return this.feed.receive(method, params);
    this.messages.deliver(method, params);
  }

  // ------------------------------------------------------------------ helpers

  /**
   * A new connection's hello, read as it arrives — before any later message of that connection
   * (and so before the restore round trip): the live events that follow it must patch its server
   * snapshots, not be overwritten by them, and must not count as seen before the catch-up they follow.
   */
  private welcome(hello: HelloParams | undefined): void {
    if (!hello || typeof hello !== 'object') return;
    if (Array.isArray(hello.servers)) this.feed.setServers(hello.servers);
    this._offers.set(hello.offers ?? null);
    this.feed.afterHello(hello);
  }

  /**
   * The named server, else the `server` option, else the first server the gateway lists. Without a
   * connection there is no list yet: wait for it like requests do, and say NotConnected when it does
   * not come (an empty list is only the gateway's answer once connected).
   */
  private async resolveServer(server: string | undefined, signal?: AbortSignal): Promise<Result<string>> {
    const known = server ?? this.opts.server ?? this.feed.servers.get()[0]?.name;
    if (known) return ok(known);
    if (this.state !== 'open') {
      const ready = await this.conn.waitOpen(signal);
      if (!ready.ok) return ready;
      const listed = this.feed.servers.get()[0]?.name;
      if (listed) return ok(listed);
    }
    return err(new InvalidParamsError('No server given and the gateway lists none'));
  }

}

function refreshParam(options: { refresh?: boolean }): Record<string, unknown> {
  return options.refresh ? { refresh: true } : {};
}

function mapResult<T, U>(result: Result<T>, f: (data: T) => U): Result<U> {
  if (!result.ok) return result;
  try {
    return ok(f(result.data));
  } catch (e) {
    return err(toIpcError(e));
  }
}
