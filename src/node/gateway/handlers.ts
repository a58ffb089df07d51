/**
 * The gateway's methods, as plain functions of the host and a Peer (no sockets): the gateway's own
 * (servers, metrics, the event log, host control, `gateway/listen`, `gateway/handle`) and the MCP
 * requests it forwards under MCP's own names, through the allow-list, with the queue, timeouts,
 * cancellation, progress and metrics a tool call has. Also the fan-out of server notifications to
 * the connections that asked for them.
 */
import {
  CancelledError,
  InvalidParamsError,
  IpcError,
  NotConnectedError,
  ProtocolError,
  RpcCode,
} from '../../core/errors.js';
import {
  type CallToolResult,
  type ForwardMeta,
  type GatewayResult,
  HOST_CONTROL_METHODS,
  SERVER_META_KEY,
  STREAMED_META_KEY,
  type ServerSnapshot,
} from '../../core/gateway-protocol.js';
import type { IpcMetricsSnapshot, Progress, RequestOptions } from '../../core/ipc-manager.js';
import { notification, type RequestId } from '../../core/jsonrpc.js';
import { LOGGING_LEVELS, type LoggingLevel } from '../../core/mcp-session.js';
import type { Root } from '../../core/mcp-types.js';
import type { Priority } from '../../core/queue.js';
import type { McpBridge, StreamingCallOptions } from '../mcp-bridge.js';
import type { McpHost } from '../mcp-host.js';
import type { Peer } from './connection.js';
import type { EventLog } from './event-log.js';
import type { ServerRequestRouter } from './server-requests.js';

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
}

/** What the gateway keeps per connection. */
interface PeerState {
  /** Requests in flight by JSON-RPC id (JSON-encoded, so 1 and "1" differ), with the server each runs on. */
  calls: Map<string, { controller: AbortController; server: string; startedAt: number }>;
  /** `server\0method` pairs forwarded to it (`*` wildcards). */
  listens: Set<string>;
  /** Resource subscriptions by `server\0uri`: the unsubscribe function once subscribed. */
  subscriptions: Map<string, Promise<(() => Promise<void>) | undefined>>;
}

type Handler = (peer: Peer, state: PeerState, params: Record<string, unknown>, id: RequestId | undefined) => unknown;

const PRIORITIES = new Set<Priority>(['high', 'normal', 'low']);
/** Server notifications that are never fanned out: per-call ones go to their caller by token. */
const PER_CALL = new Set(['notifications/progress', 'notifications/stream/chunk', 'notifications/cancelled']);
const key2 = (a: string, b: string) => `${a}\u0000${b}`;

export class GatewayHandlers {
  private readonly peers = new Map<Peer, PeerState>();
  private readonly own: Record<string, Handler>;
  private nextNotificationKey = 0;

  constructor(private readonly deps: HandlerDeps) {
    this.own = this.ownMethods();
  }

  /** Starts keeping state for a connection. */
  attach(peer: Peer): void {
    this.peers.set(peer, { calls: new Map(), listens: new Set(), subscriptions: new Map() });
  }

  /** A connection closed: its requests are aborted, its subscriptions and handlers dropped. */
  detach(peer: Peer, reason: string): void {
    const state = this.peers.get(peer);
    if (!state) return;
    this.peers.delete(peer);
    for (const call of state.calls.values()) call.controller.abort(reason);
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

  /** Connections with a request running on `server`, most recent first. */
  busyOn(server: string): Peer[] {
    const found: Array<{ peer: Peer; at: number }> = [];
    for (const [peer, state] of this.peers) {
      let at = -1;
      for (const call of state.calls.values()) if (call.server === server) at = Math.max(at, call.startedAt);
      if (at >= 0) found.push({ peer, at });
    }
    return found.sort((a, b) => b.at - a.at).map((f) => f.peer);
  }

  /**
   * Runs one request (or notification: `id` undefined) and resolves with its result; rejects with
   * the IpcError to answer with. MethodNotFound for methods not offered.
   */
  async handle(peer: Peer, method: string, params: Record<string, unknown>, id: RequestId | undefined): Promise<unknown> {
    const state = this.peers.get(peer);
    if (!state) throw new NotConnectedError('Connection closed');
    if (!this.has(method)) throw new ProtocolError(`Method not found: ${method}`, { method }, RpcCode.MethodNotFound);
    if (Object.hasOwn(this.own, method)) return this.own[method]!(peer, state, params, id);
    return this.deps.router.asCaller(peer, () => this.forward(peer, state, method, params, id));
  }

  /** The browser's `notifications/cancelled` (or `cancel` request): aborts one of its requests. */
  cancel(peer: Peer, requestId: unknown, reason: string): boolean {
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
    const call = this.peers.get(peer)?.calls.get(JSON.stringify(requestId));
    if (!call || call.controller.signal.aborted) return false;
    call.controller.abort(reason);
    return true;
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
      ping: () => ({}),
    };
  }

  bridge(p: Record<string, unknown>): McpBridge {
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
      return { [bridge.name]: bridge.ipc.snapshot() };
    }
    const out: Record<string, IpcMetricsSnapshot> = {};
    for (const b of this.deps.host.list()) out[b.name] = b.ipc.snapshot();
    return out;
  }

  // ---------------------------------------------------------------- forwarded MCP requests

  private async forward(peer: Peer, state: PeerState, method: string, p: Record<string, unknown>, id: RequestId | undefined): Promise<unknown> {
    const { server: _server, timeoutMs, priority, retryable, task, _meta, ...mcp } = p;
    const bridge = this.bridge(p);
    const options = parseForwardOptions(method, { timeoutMs, priority, retryable, task });
    const meta = parseMeta(method, _meta);
    const key = id === undefined ? undefined : JSON.stringify(id);
    if (key !== undefined && state.calls.has(key)) throw new ProtocolError(`A request with id ${key} is already in flight on this connection`, { id }, RpcCode.InvalidRequest);
    if (state.calls.size >= this.deps.maxInFlight) {
      throw new IpcError('QueueFull', `Too many requests in flight on this connection (max ${this.deps.maxInFlight})`, { data: { maxInFlight: this.deps.maxInFlight } });
    }
    const controller = new AbortController();
    // Notifications (no id) are tracked too, under a private key, so a closing connection aborts them.
    const trackKey = key ?? `notification:${++this.nextNotificationKey}`;
    // Each request is a task in the host's ResourceManager (concurrent-tasks limit → ResourceLimit).
    const resources = this.deps.host.resources;
    const taskHandle = resources.acquire('task', `gateway:${peer.id}`, () => controller.abort('resource released'), { meta: { method, server: bridge.name } });
    state.calls.set(trackKey, { controller, server: bridge.name, startedAt: Date.now() });
    const signal = controller.signal;
    try {
      const { progressToken, streamToken, ...passMeta } = meta;
      const request: RequestOptions = {
        signal,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.priority !== undefined ? { priority: options.priority } : {}),
        ...(progressToken !== undefined
          ? { onProgress: (progress: Progress) => void peer.send(notification('notifications/progress', { ...progress, progressToken })) }
          : {}),
      };
      const withMeta = (params: Record<string, unknown>) => (Object.keys(passMeta).length > 0 ? { ...params, _meta: passMeta } : params);
      switch (method) {
        case 'tools/call': {
          // `tool` is what gateways before MCP's own names took; still accepted.
          const name = mcp.name ?? mcp.tool;
          if (typeof name !== 'string' || name === '') throw new InvalidParamsError('tools/call: "name" (a tool name) is required');
          const args = mcp.arguments ?? {};
          if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new InvalidParamsError('tools/call: "arguments" must be an object');
          const callOptions: StreamingCallOptions = {
            ...request,
            ...(options.retryable !== undefined ? { retryable: options.retryable } : {}),
            ...(options.task !== undefined ? { task: options.task } : {}),
            ...(Object.keys(passMeta).length > 0 ? { _meta: passMeta } : {}),
          };
          if (streamToken === undefined) return await bridge.call(name, args as Record<string, unknown>, callOptions);
          // Tracked as a stream while chunks flow (streams are counted, not capped).
          const stream = resources.acquire('stream', `gateway:${peer.id}`, () => undefined, { meta: { tool: name } });
          try {
            return await this.callStreamed(peer, bridge, name, args as Record<string, unknown>, callOptions, streamToken, signal);
          } finally {
            resources.forget(stream.id);
          }
        }
        case 'tools/list':
          return { tools: await bridge.listTools({ refresh: optionalBoolean(mcp, 'refresh') ?? false }) };
        case 'resources/list':
          return { resources: await bridge.listResources({ refresh: optionalBoolean(mcp, 'refresh') ?? false }) };
        case 'resources/templates/list':
          return { resourceTemplates: await bridge.listResourceTemplates({ refresh: optionalBoolean(mcp, 'refresh') ?? false }) };
        case 'prompts/list':
          return { prompts: await bridge.listPrompts({ refresh: optionalBoolean(mcp, 'refresh') ?? false }) };
        case 'resources/subscribe':
          return await this.subscribe(peer, state, bridge, requiredString(method, mcp, 'uri'));
        case 'resources/unsubscribe':
          return await this.unsubscribe(state, bridge, requiredString(method, mcp, 'uri'));
        case 'logging/setLevel': {
          const level = mcp.level;
          if (!LOGGING_LEVELS.includes(level as LoggingLevel)) throw new InvalidParamsError(`logging/setLevel: "level" must be one of ${LOGGING_LEVELS.join(', ')}`);
          await bridge.setLogLevel(level as LoggingLevel);
          return {};
        }
        default:
          return await bridge.request(method, withMeta(mcp), request);
      }
    } finally {
      resources.forget(taskHandle.id);
      const current = state.calls.get(trackKey);
      if (current?.controller === controller) state.calls.delete(trackKey);
    }
  }

  /** One subscription per connection and URI, on the host's (shared) subscription of that URI. */
  private async subscribe(peer: Peer, state: PeerState, bridge: McpBridge, uri: string): Promise<Record<string, never>> {
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

  private async unsubscribe(state: PeerState, bridge: McpBridge, uri: string): Promise<Record<string, never>> {
    const k = key2(bridge.name, uri);
    const pending = state.subscriptions.get(k);
    if (!pending) return {};
    state.subscriptions.delete(k);
    const off = await pending.catch(() => undefined);
    await off?.();
    return {};
  }

  /**
   * A `tools/call` whose result travels as `notifications/stream/chunk`. If the server streamed (the
   * mcp-ipc extension), its chunks are forwarded as they come and its final result stands. If it
   * answered whole, each text block's text is sent as chunks here, in content order, and the block
   * stays in its place marked with the chunks that carry it (STREAMED_META_KEY): a result of
   * `[text, image, text]` is rebuilt in that order and with those types.
   */
  private async callStreamed(
    peer: Peer,
    bridge: McpBridge,
    tool: string,
    args: Record<string, unknown>,
    options: StreamingCallOptions,
    streamToken: string | number,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    let seq = 0;
    const sendChunk = (data: string) => peer.send(notification('notifications/stream/chunk', { streamToken, seq: seq++, data }));
    const request = bridge.callStreaming(tool, args, options);
    let pumpError: unknown;
    const pump = (async () => {
      // Forwarded as they come; a client that cannot keep up is dropped (bounded send buffer)
      // rather than letting chunks pile up here.
      for await (const chunk of request.chunks) {
        if (signal.aborted || peer.signal.aborted || !sendChunk(chunk.data)) break;
      }
    })().catch((error: unknown) => {
      pumpError = error;
    });
    let result: CallToolResult;
    try {
      result = await request.result;
    } catch (error) {
      await pump;
      throw error;
    }
    await pump;
    if (pumpError !== undefined && seq === 0) throw pumpError;
    if (seq > 0) return result; // the server streamed: its final result stands

    const stopped = () => {
      if (signal.aborted) throw new CancelledError('Request cancelled while streaming the result', { reason: String(signal.reason ?? 'cancelled'), phase: 'in-flight' });
      if (peer.signal.aborted) throw new NotConnectedError('Connection closed while streaming the result');
    };
    let bytes = 0;
    const content: CallToolResult['content'] = [];
    for (const block of Array.isArray(result.content) ? result.content : []) {
      if (block?.type !== 'text' || typeof block.text !== 'string') {
        content.push(block);
        continue;
      }
      const first = seq;
      for (const piece of splitText(block.text, this.deps.chunkChars)) {
        stopped();
        await peer.writable(signal);
        stopped();
        sendChunk(piece);
        bytes += Buffer.byteLength(piece, 'utf8');
      }
      const blockMeta = typeof block._meta === 'object' && block._meta !== null ? (block._meta as Record<string, unknown>) : {};
      content.push({ ...block, text: '', _meta: { ...blockMeta, [STREAMED_META_KEY]: { first, count: seq - first } } });
    }
    stopped();
    return { ...result, content, _meta: { ...result._meta, streamed: { chunks: seq, bytes } } };
  }
}

// ---------------------------------------------------------------- parsing

/** `params` with `_meta[SERVER_META_KEY]` naming the server (a copy; other `_meta` keys kept). */
export function tagged(params: unknown, server: string): Record<string, unknown> {
  const p = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>) : {};
  const meta = typeof p._meta === 'object' && p._meta !== null && !Array.isArray(p._meta) ? (p._meta as Record<string, unknown>) : {};
  return { ...p, _meta: { ...meta, [SERVER_META_KEY]: server } };
}

function parseForwardOptions(method: string, o: Record<string, unknown>): { timeoutMs?: number; priority?: Priority; retryable?: boolean; task?: boolean } {
  const { timeoutMs, priority } = o;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
    throw new InvalidParamsError(`${method}: "timeoutMs" must be a positive number`);
  }
  if (priority !== undefined && !PRIORITIES.has(priority as Priority)) throw new InvalidParamsError(`${method}: "priority" must be "high", "normal" or "low"`);
  return {
    ...(timeoutMs !== undefined ? { timeoutMs: timeoutMs as number } : {}),
    ...(priority !== undefined ? { priority: priority as Priority } : {}),
    ...(o.retryable !== undefined ? { retryable: optionalBoolean(o, 'retryable') } : {}),
    ...(o.task !== undefined ? { task: optionalBoolean(o, 'task') } : {}),
  };
}

function parseMeta(method: string, meta: unknown): ForwardMeta {
  if (meta === undefined) return {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new InvalidParamsError(`${method}: "_meta" must be an object`);
  const m = meta as Record<string, unknown>;
  for (const key of ['progressToken', 'streamToken'] as const) {
    const v = m[key];
    if (v !== undefined && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new InvalidParamsError(`${method}: "_meta.${key}" must be a string or a number`);
    }
  }
  return m as ForwardMeta;
}

function parseMethods(method: string, p: Record<string, unknown>): string[] {
  const methods = p.methods;
  if (!Array.isArray(methods) || methods.length > 100 || !methods.every((m) => typeof m === 'string' && m !== '' && m.length <= 200)) {
    throw new InvalidParamsError(`${method}: "methods" must be a list of method names`);
  }
  return methods as string[];
}

function parseListen(method: string, p: Record<string, unknown>, host: McpHost): { server: string; methods: string[] } {
  const server = p.server ?? '*';
  if (typeof server !== 'string' || (server !== '*' && !host.get(server))) {
    throw new InvalidParamsError(`${method}: "server" must be "*" or a server name (available: ${host.names().join(', ') || 'none'})`, { server });
  }
  return { server, methods: parseMethods(method, p) };
}

function parseRoots(value: unknown): Root[] {
  if (!Array.isArray(value) || !value.every((r) => typeof r === 'object' && r !== null && typeof (r as Root).uri === 'string')) {
    throw new InvalidParamsError('server/setRoots: "roots" must be a list of { uri, name? }');
  }
  return (value as Root[]).map((r) => ({ uri: r.uri, ...(typeof r.name === 'string' ? { name: r.name } : {}) }));
}

function requiredString(method: string, p: Record<string, unknown>, key: string): string {
  const v = p[key];
  if (typeof v !== 'string' || v === '') throw new InvalidParamsError(`${method}: "${key}" is required`);
  return v;
}

function optionalBoolean(p: Record<string, unknown>, key: string): boolean | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new InvalidParamsError(`"${key}" must be true or false`);
  return v;
}

export function clampLimit(limit: number | undefined, max: number): number {
  if (limit === undefined) return max;
  return Math.max(0, Math.min(max, Math.floor(limit)));
}

/** Splits text into pieces of at most `size` UTF-16 units, never between the halves of a surrogate pair. */
export function splitText(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + size);
    if (end < text.length && end > i + 1) {
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--;
    }
    pieces.push(text.slice(i, end));
    i = end;
  }
  return pieces;
}
