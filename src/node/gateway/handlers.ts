/**
 * The gateway's methods, as plain functions of the host and a Peer (no sockets): the gateway's own
 * (servers, metrics, the event log, host control, `gateway/listen`, `gateway/handle`) and the MCP
 * requests it forwards under MCP's own names, through the allow-list, with the queue, timeouts,
 * cancellation, progress and metrics a tool call has. Also the fan-out of server notifications to
 * the connections that asked for them.
 */
import { Cancellation } from '../../core/cancellation.js';
import { InvalidParamsError, IpcError, NotConnectedError, ProtocolError, RpcCode } from '../../core/errors.js';
import { type CallToolResult, type ForwardMeta, type GatewayResult, HOST_CONTROL_METHODS, type ServerSnapshot } from '../../core/gateway-protocol.js';
import type { IpcMetricsSnapshot, Progress, RequestOrigin } from '../../core/ipc-manager.js';
import { notification, type RequestId } from '../../core/jsonrpc.js';
import { LOGGING_LEVELS, type LoggingLevel } from '../../core/mcp-session.js';
import type { StreamingCallOptions } from '../mcp-bridge.js';
import type { HandleRequestOptions, McpServerHandle } from '../server-handle.js';
import type { McpHost } from '../mcp-host.js';
import type { Peer } from './connection.js';
import { checkForwardOptions, clampLimit, type ForwardOptions, optionalBoolean, parseListen, parseMeta, parseMethods, parseRoots, requiredString, tagged } from './params.js';
import { streamToolCall } from './streaming.js';
import type { EventLog } from './event-log.js';
import { originOf, type ServerRequestRouter } from './server-requests.js';

export interface HandlerDeps {
  host: McpHost;
  events: EventLog;
  router: ServerRequestRouter;
  /** MCP methods forwarded to servers. */
  methods: ReadonlySet<string>;
  /** `server/start`, `server/stop`, `server/restart`, `server/setRoots` allowed. */
  allowHostControl: boolean;
  /** Requests one connection may have in flight. */
  maxInFlight: number;
  /** Piece size (characters) when the gateway splits a result's text for a `streamToken` call. */
  chunkChars: number;
  /** A forwarded request was refused by a limit (`maxInFlightPerConnection` or the host's `concurrentTasks`). */
  onRefused?: (limit: 'maxInFlightPerConnection' | 'concurrentTasks') => void;
}

/**
 * One request in flight: its cancel handle (the browser's `notifications/cancelled`, or the
 * connection closing; an AbortSignal is made only for code that needs one), and the server it runs on.
 */
class GatewayCall extends Cancellation {
  constructor(
    readonly server: string,
    /** Start order (for `busyOn`). */
    readonly seq: number,
  ) {
    super();
  }
}

/** What the gateway keeps per connection. */
interface PeerState {
  /** Requests in flight by JSON-RPC id (1 and "1" differ), notifications under a symbol of their own. */
  calls: Map<RequestId | symbol, GatewayCall>;
  /** What its requests carry as `origin` and `stickyKey`, and the owner its tasks are counted for. */
  origin: RequestOrigin;
  stickyKey: string;
  owner: string;
  /** `server\0method` pairs forwarded to it (`*` wildcards). */
  listens: Set<string>;
  /** Resource subscriptions by `server\0uri`: the unsubscribe function once subscribed. */
  subscriptions: Map<string, Promise<(() => Promise<void>) | undefined>>;
}

type Handler = (peer: Peer, state: PeerState, params: Record<string, unknown>, id: RequestId | undefined) => unknown;

/** Server notifications that are never fanned out: per-call ones go to their caller by token. */
const PER_CALL = new Set(['notifications/progress', 'notifications/stream/chunk', 'notifications/cancelled']);
const key2 = (a: string, b: string) => `${a}\u0000${b}`;

/**
 * Relays a call's progress to the browser under its own token. (A function of its own: a closure
 * made inside the call path would give every call a context for the variables it captures.)
 */
function progressTo(peer: Peer, progressToken: string | number): (progress: Progress) => void {
  return (progress) => void peer.send(notification('notifications/progress', { ...progress, progressToken }));
}

/** `_meta` as forwarded to the server: the browser's keys but its per-call tokens; undefined when nothing is left. */
function forwardedMeta(meta: ForwardMeta): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const k in meta) {
    if (k === 'progressToken' || k === 'streamToken' || !Object.hasOwn(meta, k)) continue;
    (out ??= {})[k] = (meta as Record<string, unknown>)[k];
  }
  return out;
}

export class GatewayHandlers {
  private readonly peers = new Map<Peer, PeerState>();
  private readonly own: Record<string, Handler>;
  /** Start order of calls, over all connections. */
  private callSeq = 0;

  constructor(private readonly deps: HandlerDeps) {
    this.own = this.ownMethods();
  }

  /** Starts keeping state for a connection. */
  attach(peer: Peer): void {
    this.peers.set(peer, {
      calls: new Map(),
      // Where its requests come from (audit log, approval dialog, per-client cache scope, and the
      // caller of a modern server's input_required rounds), and one replica per connection for a
      // pool with `sticky: true`. An HTTP session is its own door.
      origin: originOf(peer),
      stickyKey: `${peer.door ?? 'gateway'}:${peer.clientId ?? peer.id}`,
      owner: `gateway:${peer.id}`,
      listens: new Set(),
      subscriptions: new Map(),
    });
  }

  /** A connection closed: its requests are aborted, its subscriptions and handlers dropped. */
  detach(peer: Peer, reason: string): void {
    const state = this.peers.get(peer);
    if (!state) return;
    this.peers.delete(peer);
    for (const call of state.calls.values()) call.cancel(reason);
    state.calls.clear();
    for (const pending of state.subscriptions.values()) void pending.then((off) => off?.()).catch(() => undefined);
    state.subscriptions.clear();
    this.deps.router.forget(peer);
  }

  /** True for a method this gateway answers (own, host control when allowed, or forwarded). */
  has(method: string): boolean {
    if (Object.hasOwn(this.own, method)) return !HOST_CONTROL_METHODS.includes(method) || this.deps.allowHostControl;
    return this.deps.methods.has(method);
  }

  /**
   * After a config reload: resource subscriptions on servers that were removed or replaced point at
   * a retired handle (no updates, and they would shadow new subscribes). They are dropped; on a
   * replaced (changed) server each is made again on the new handle once it runs.
   */
  serversReplaced(changed: readonly string[], removed: readonly string[]): void {
    const gone = new Set([...changed, ...removed]);
    if (gone.size === 0) return;
    for (const [peer, state] of this.peers) {
      for (const [k, pending] of [...state.subscriptions]) {
        const cut = k.indexOf('\u0000');
        const server = k.slice(0, cut);
        if (!gone.has(server)) continue;
        state.subscriptions.delete(k);
        // Only drops the listener on the old handle (its process is stopped already).
        void pending.then((off) => off?.()).catch(() => undefined);
        if (changed.includes(server)) void this.resubscribe(peer, state, server, k.slice(cut + 1));
      }
    }
  }

  private async resubscribe(peer: Peer, state: PeerState, server: string, uri: string): Promise<void> {
    const bridge = this.deps.host.get(server);
    if (!bridge) return;
    // The new handle starts after the reload is announced: wait until it runs (or fails, is retired, or the peer goes).
    await new Promise<void>((resolve) => {
      const settled = () => bridge.state === 'running' || bridge.state === 'failed' || bridge.retired || peer.signal.aborted;
      if (settled()) return resolve();
      const finish = () => {
        off();
        peer.signal.removeEventListener('abort', finish);
        resolve();
      };
      const off = bridge.on('state', () => settled() && finish());
      peer.signal.addEventListener('abort', finish, { once: true });
    });
    if (peer.signal.aborted || bridge.state !== 'running' || this.deps.host.get(server) !== bridge || this.peers.get(peer) !== state) return;
    await this.subscribe(peer, state, bridge, uri).catch(() => undefined);
  }

  /** Connections with a request running on `server`, most recent first. */
  busyOn(server: string): Peer[] {
    const found: Array<{ peer: Peer; at: number }> = [];
    for (const [peer, state] of this.peers) {
      let at = -1;
      for (const call of state.calls.values()) if (call.server === server) at = Math.max(at, call.seq);
      if (at >= 0) found.push({ peer, at });
    }
    return found.sort((a, b) => b.at - a.at).map((f) => f.peer);
  }

  /**
   * Runs one request (or notification: `id` undefined) and resolves with its result; rejects with
   * the IpcError to answer with. MethodNotFound for methods not offered.
   */
  handle(peer: Peer, method: string, params: Record<string, unknown>, id: RequestId | undefined): Promise<unknown> {
    // Not `async`: a forwarded request's promise is handed back as it is (no extra promise and turns per call).
    try {
      const state = this.peers.get(peer);
      if (!state) throw new NotConnectedError('Connection closed');
      if (!this.has(method)) throw new ProtocolError(`Method not found: ${method}`, { method }, RpcCode.MethodNotFound);
      if (Object.hasOwn(this.own, method)) return Promise.resolve(this.own[method]!(peer, state, params, id));
      return this.forward(peer, state, method, params, id);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The browser's `notifications/cancelled` (or `cancel` request): aborts one of its requests. */
  cancel(peer: Peer, requestId: unknown, reason: string): boolean {
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
    return this.peers.get(peer)?.calls.get(requestId)?.cancel(reason) ?? false;
  }

  /** A server's notification: to every connection listening for it, tagged with the server's name. */
  serverNotification(server: string, method: string, params: unknown): void {
    if (PER_CALL.has(method)) return;
    const uri = method === 'notifications/resources/updated' ? (params as { uri?: unknown } | undefined)?.uri : undefined;
    let message: ReturnType<typeof notification> | undefined;
    for (const [peer, state] of this.peers) {
      const l = state.listens;
      if (!(l.has(key2(server, method)) || l.has(key2('*', method)) || l.has(key2(server, '*')) || l.has(key2('*', '*')))) continue;
      // Its subscription delivers this one already.
      if (typeof uri === 'string' && state.subscriptions.has(key2(server, uri))) continue;
      message ??= notification(method, tagged(params, server));
      peer.send(message);
    }
  }

  // ---------------------------------------------------------------- the gateway's own methods

  private ownMethods(): Record<string, Handler> {
    const host = this.deps.host;
    return {
      'servers/list': (): ServerSnapshot[] => host.list().map((b) => b.snapshot()),
      cancel: (peer, _state, p): GatewayResult<'cancel'> => {
        const requestId = p.requestId;
        if (typeof requestId !== 'string' && typeof requestId !== 'number') throw new InvalidParamsError('cancel: "requestId" must be a string or a number');
        return { cancelled: this.cancel(peer, requestId, typeof p.reason === 'string' ? p.reason : 'cancelled by client') };
      },
      'server/start': async (_peer, _state, p) => {
        const bridge = this.bridge(p);
        await bridge.start();
        return bridge.snapshot();
      },
      'server/stop': async (_peer, _state, p) => {
        const bridge = this.bridge(p);
        await bridge.stop();
        return bridge.snapshot();
      },
      'server/restart': async (_peer, _state, p) => {
        const bridge = this.bridge(p);
        await bridge.restart('restart requested from the gateway');
        return bridge.snapshot();
      },
      'server/setRoots': async (_peer, _state, p) => {
        const bridge = this.bridge(p);
        await bridge.setRoots(parseRoots(p.roots));
        return {};
      },
      'metrics/snapshot': (_peer, _state, p) => {
        const server = p.server;
        if (server !== undefined && typeof server !== 'string') throw new InvalidParamsError('metrics/snapshot: "server" must be a string');
        return this.metricsSnapshot(server);
      },
      'events/since': (_peer, _state, p) => {
        const seq = p.seq;
        if (typeof seq !== 'number' || !Number.isFinite(seq)) throw new InvalidParamsError('events/since: "seq" must be a number');
        const limit = p.limit;
        if (limit !== undefined && (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0)) {
          throw new InvalidParamsError('events/since: "limit" must be a non-negative number');
        }
        return this.deps.events.since(seq, clampLimit(limit, this.deps.events.maxEvents));
      },
      'server/stderr': (_peer, _state, p) => {
        const lines = p.lines;
        if (lines !== undefined && (typeof lines !== 'number' || !Number.isFinite(lines) || lines < 0)) {
          throw new InvalidParamsError('server/stderr: "lines" must be a non-negative number');
        }
        return this.bridge(p).stderrTail(lines === undefined ? undefined : Math.floor(lines));
      },
      'gateway/listen': (_peer, state, p) => {
        const { server, methods } = parseListen('gateway/listen', p, this.deps.host);
        for (const m of methods) state.listens.add(key2(server, m));
        return {};
      },
      'gateway/unlisten': (_peer, state, p) => {
        const { server, methods } = parseListen('gateway/unlisten', p, this.deps.host);
        for (const m of methods) state.listens.delete(key2(server, m));
        return {};
      },
      'gateway/handle': (peer, _state, p): GatewayResult<'gateway/handle'> => ({ methods: this.deps.router.register(peer, parseMethods('gateway/handle', p)) }),
      'gateway/unhandle': (peer, _state, p) => {
        this.deps.router.unregister(peer, parseMethods('gateway/unhandle', p));
        return {};
      },
      'cache/invalidate': (_peer, _state, p) => {
        for (const key of ['server', 'tool', 'uri'] as const) {
          if (p[key] !== undefined && typeof p[key] !== 'string') throw new InvalidParamsError(`cache/invalidate: "${key}" must be a string`);
        }
        const server = p.server === undefined ? undefined : this.bridge(p).name;
        return { dropped: host.invalidateCache(server, { tool: p.tool as string | undefined, uri: p.uri as string | undefined }) };
      },
      'approvals/list': () => host.approvals.pending(),
      'approvals/answer': (peer, _state, p) => {
        if (typeof p.id !== 'string' || typeof p.approved !== 'boolean') throw new InvalidParamsError('approvals/answer: "id" (a string) and "approved" (true or false) are required');
        // The connection that made the call cannot approve it (an agent holding the token): refused with InvalidParams.
        return { settled: host.approvals.answer(p.id, p.approved, `websocket:${peer.id}`, { door: 'websocket', client: String(peer.id) }) };
      },
      ping: () => ({}),
    };
  }

  bridge(p: Record<string, unknown>): McpServerHandle {
    const host = this.deps.host;
    const server = p.server;
    if (typeof server !== 'string' || server === '') throw new InvalidParamsError('"server" (a server name) is required', { available: host.names() });
    const bridge = host.get(server);
    if (!bridge) throw new InvalidParamsError(`Unknown server "${server}" (available: ${host.names().join(', ') || 'none'})`, { server, available: host.names() });
    return bridge;
  }

  metricsSnapshot(server: string | undefined): Record<string, IpcMetricsSnapshot> {
    if (server !== undefined) {
      const bridge = this.bridge({ server });
      return { [bridge.name]: bridge.snapshot().metrics };
    }
    const out: Record<string, IpcMetricsSnapshot> = {};
    for (const b of this.deps.host.list()) out[b.name] = b.snapshot().metrics;
    return out;
  }

  // ---------------------------------------------------------------- forwarded MCP requests

  /**
   * Checks and counts one forwarded request, runs it and gives its slot back when it settles. Not
   * `async`: the bridge's promise is handed back as it is — an async frame per call (its promise,
   * its saved registers) costs more than the call's own bookkeeping here.
   */
  private forward(peer: Peer, state: PeerState, method: string, p: Record<string, unknown>, id: RequestId | undefined): Promise<unknown> {
    const bridge = this.bridge(p);
    checkForwardOptions(method, p);
    const meta = parseMeta(method, p._meta);
    if (id !== undefined && state.calls.has(id)) {
      throw new ProtocolError(`A request with id ${JSON.stringify(id)} is already in flight on this connection`, { id }, RpcCode.InvalidRequest);
    }
    if (state.calls.size >= this.deps.maxInFlight) {
      this.deps.onRefused?.('maxInFlightPerConnection');
      throw new IpcError('QueueFull', `Too many requests in flight on this connection: the gateway's limit of ${this.deps.maxInFlight} (maxInFlightPerConnection) is reached`, {
        data: { limit: 'maxInFlightPerConnection', maxInFlight: this.deps.maxInFlight },
      });
    }
    // Each request counts as a task of the host's ResourceManager (limits.concurrentTasks →
    // ResourceLimit naming that limit): a counter, not a tracked entry — the call is ended by its
    // connection (detach cancels it), so an id, a release function and two events per call buy nothing.
    const resources = this.deps.host.resources;
    try {
      resources.take('task', state.owner);
    } catch (error) {
      this.deps.onRefused?.('concurrentTasks');
      throw error;
    }
    const call = new GatewayCall(bridge.name, ++this.callSeq);
    // Notifications (no id) are tracked too, under a key of their own, so a closing connection cancels them.
    const key = id ?? Symbol('notification');
    state.calls.set(key, call);
    let running: Promise<unknown>;
    try {
      running = this.run(peer, state, method, p, bridge, meta, call);
    } catch (error) {
      running = Promise.reject(error);
    }
    const release = () => {
      resources.give('task');
      if (state.calls.get(key) === call) state.calls.delete(key);
    };
    // Released before the caller sees the outcome (its reaction comes first); the caller handles the rejection.
    running.then(release, release);
    return running;
  }

  /**
   * Sends one forwarded request to its server (throws or rejects with the error to answer with);
   * `p` holds its MCP params and the gateway's options (checked).
   */
  private run(
    peer: Peer,
    state: PeerState,
    method: string,
    p: Record<string, unknown> & ForwardOptions,
    bridge: McpServerHandle,
    meta: ForwardMeta,
    call: GatewayCall,
  ): Promise<unknown> {
    // No AbortSignal per call: the engine listens to the handle (code that needs a signal makes one from it).
    const request: HandleRequestOptions =
      p.timeoutMs === undefined
        ? { cancel: call, origin: state.origin, stickyKey: state.stickyKey }
        : { cancel: call, origin: state.origin, stickyKey: state.stickyKey, timeoutMs: p.timeoutMs };
    if (p.priority !== undefined) request.priority = p.priority;
    if (meta.progressToken !== undefined) request.onProgress = progressTo(peer, meta.progressToken);
    // What the server gets of `_meta`: the browser's own keys (e.g. `traceparent`), not its tokens.
    const passMeta = forwardedMeta(meta);
    if (method === 'tools/call') {
      // `tool` is what gateways before MCP's own names took; still accepted.
      const name = p.name ?? p.tool;
      if (typeof name !== 'string' || name === '') throw new InvalidParamsError('tools/call: "name" (a tool name) is required');
      const args = p.arguments ?? {};
      if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new InvalidParamsError('tools/call: "arguments" must be an object');
      const callOptions: StreamingCallOptions = request;
      if (p.retryable !== undefined) callOptions.retryable = p.retryable;
      if (p.task !== undefined) callOptions.task = p.task;
      if (passMeta) callOptions._meta = passMeta;
      const streamToken = meta.streamToken;
      if (streamToken === undefined) return bridge.call(name, args as Record<string, unknown>, callOptions);
      return this.stream(peer, state, bridge, name, args as Record<string, unknown>, callOptions, streamToken, call);
    }
    return this.other(peer, state, method, p, bridge, request, passMeta);
  }

  /** A `tools/call` whose result goes to the browser in chunks (`_meta.streamToken`). */
  private async stream(
    peer: Peer,
    state: PeerState,
    bridge: McpServerHandle,
    name: string,
    args: Record<string, unknown>,
    options: StreamingCallOptions,
    streamToken: string | number,
    call: GatewayCall,
  ): Promise<CallToolResult> {
    // Tracked as a stream while chunks flow (streams are counted, not capped).
    const resources = this.deps.host.resources;
    const stream = resources.acquire('stream', state.owner, () => undefined, { meta: { tool: name } });
    try {
      return await streamToolCall(peer, bridge, name, args, options, streamToken, call.signal, this.deps.chunkChars);
    } finally {
      resources.forget(stream.id);
    }
  }

  /** Forwarded requests other than `tools/call`. */
  private async other(
    peer: Peer,
    state: PeerState,
    method: string,
    p: Record<string, unknown>,
    bridge: McpServerHandle,
    request: HandleRequestOptions,
    passMeta: Record<string, unknown> | undefined,
  ): Promise<unknown> {
    switch (method) {
      case 'tools/list':
        return { tools: await bridge.listTools({ refresh: optionalBoolean(p, 'refresh') ?? false }) };
      case 'resources/list':
        return { resources: await bridge.listResources({ refresh: optionalBoolean(p, 'refresh') ?? false }) };
      case 'resources/templates/list':
        return { resourceTemplates: await bridge.listResourceTemplates({ refresh: optionalBoolean(p, 'refresh') ?? false }) };
      case 'prompts/list':
        return { prompts: await bridge.listPrompts({ refresh: optionalBoolean(p, 'refresh') ?? false }) };
      case 'resources/subscribe':
        return await this.subscribe(peer, state, bridge, requiredString(method, p, 'uri'));
      case 'resources/unsubscribe':
        return await this.unsubscribe(state, bridge, requiredString(method, p, 'uri'));
      case 'logging/setLevel': {
        const level = p.level;
        if (!LOGGING_LEVELS.includes(level as LoggingLevel)) throw new InvalidParamsError(`logging/setLevel: "level" must be one of ${LOGGING_LEVELS.join(', ')}`);
        await bridge.setLogLevel(level as LoggingLevel);
        return {};
      }
      default: {
        // The MCP params: the browser's, less the server selector and the gateway's own options.
        const { server: _server, timeoutMs: _t, priority: _p, retryable: _r, task: _k, _meta: _m, ...mcp } = p;
        return await bridge.request(method, passMeta ? { ...mcp, _meta: passMeta } : mcp, request);
      }
    }
  }

  /** One subscription per connection and URI, on the host's (shared) subscription of that URI. */
  private async subscribe(peer: Peer, state: PeerState, bridge: McpServerHandle, uri: string): Promise<Record<string, never>> {
    const k = key2(bridge.name, uri);
    const existing = state.subscriptions.get(k);
    if (existing) {
      await existing;
      return {};
    }
    const server = bridge.name;
    const pending = bridge
      .subscribeResource(uri, (update) => void peer.send(notification('notifications/resources/updated', tagged(update, server))))
      .then(async (off) => {
        // Closed or unsubscribed meanwhile: undo at once.
        if (peer.signal.aborted || state.subscriptions.get(k) !== pending) {
          await off().catch(() => undefined);
          return undefined;
        }
        return off;
      });
    state.subscriptions.set(k, pending);
    try {
      await pending;
    } catch (error) {
      if (state.subscriptions.get(k) === pending) state.subscriptions.delete(k);
      throw error;
    }
    return {};
  }

  private async unsubscribe(state: PeerState, bridge: McpServerHandle, uri: string): Promise<Record<string, never>> {
    const k = key2(bridge.name, uri);
    const pending = state.subscriptions.get(k);
    if (!pending) return {};
    state.subscriptions.delete(k);
    const off = await pending.catch(() => undefined);
    await off?.();
    return {};
  }
}
