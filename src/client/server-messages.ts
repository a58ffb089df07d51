/**
 * What the servers send the page through the gateway: their notifications (`gateway/listen`, asked
 * only while someone listens), resource updates (per `server` and URI), and their requests to the
 * client (`gateway/handle`: sampling, elicitation, roots, modern `input_required` rounds), answered
 * by the page's handlers. Keeps the registrations so that a new connection restores them.
 */
import { type GatewayParams, SERVER_META_KEY } from '../core/gateway-protocol.js';
import type { IpcManager } from '../core/ipc-manager.js';
import type { Result } from '../core/result.js';

/** Which server and method a notification or server→client request came from. */
export interface ServerMessageContext {
  server: string;
  method: string;
}

/** A server notification's params (without the gateway's server tag) and where it came from. */
export type ServerNotificationListener = (params: Record<string, unknown>, context: ServerMessageContext) => void;

/**
 * Answers a server→client request (`sampling/createMessage`, `elicitation/create`, `roots/list`):
 * return the MCP result, or throw (an IpcError keeps its code) to answer with an error. `signal`
 * is aborted when the server cancels or the gateway gives up waiting.
 */
export type ServerRequestHandler = (params: Record<string, unknown>, context: ServerMessageContext & { signal: AbortSignal }) => unknown;

type Registration = 'gateway/listen' | 'gateway/unlisten' | 'gateway/handle' | 'gateway/unhandle';

export interface ServerMessagesDeps {
  manager: IpcManager;
  /** True while connected (registrations are sent then; otherwise restored on connect). */
  isOpen: () => boolean;
  /** Sends a registration to the gateway. */
  send: <M extends Registration>(method: M, params: GatewayParams<M>) => Promise<Result<unknown>>;
}

const key2 = (a: string, b: string) => `${a}\u0000${b}`;

export class ServerMessages {
  /** `server\0method` → listeners of server notifications. */
  private readonly listeners = new Map<string, Set<ServerNotificationListener>>();
  private readonly handlers = new Map<string, ServerRequestHandler>();
  /** `server\0uri` → resource update listeners. */
  private readonly resources = new Map<string, Set<(update: Record<string, unknown>) => void>>();
  /** Registrations not yet acknowledged by the gateway (see `synced`). */
  private readonly registering = new Set<Promise<unknown>>();

  constructor(private readonly deps: ServerMessagesDeps) {}

  listen(server: string, method: string, listener: ServerNotificationListener): () => void {
    const k = key2(server, method);
    let set = this.listeners.get(k);
    if (!set) {
      this.listeners.set(k, (set = new Set()));
      this.register('gateway/listen', { server, methods: [method] });
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(k);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(k);
      this.register('gateway/unlisten', { server, methods: [method] });
    };
  }

  setHandler(method: string, handler: ServerRequestHandler): void {
    const isNew = !this.handlers.has(method);
    this.handlers.set(method, handler);
    this.deps.manager.setRequestHandler(method, (params, context) => {
      const p = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>) : {};
      const { params: clean, server } = untag(p);
      return handler(clean, { server, method, signal: context.signal });
    });
    if (isNew) this.register('gateway/handle', { methods: [method] });
  }

  removeHandler(method: string): void {
    if (!this.handlers.delete(method)) return;
    this.deps.manager.removeRequestHandler(method);
    this.register('gateway/unhandle', { methods: [method] });
  }

  /** Adds a resource update listener; true when it is the first for that URI (subscribe on the gateway). */
  addResourceListener(server: string, uri: string, listener: (update: Record<string, unknown>) => void): boolean {
    const k = key2(server, uri);
    let set = this.resources.get(k);
    const first = !set;
    if (!set) this.resources.set(k, (set = new Set()));
    set.add(listener);
    return first;
  }

  /** Removes one; true when it was the last for that URI (unsubscribe on the gateway). */
  removeResourceListener(server: string, uri: string, listener: (update: Record<string, unknown>) => void): boolean {
    const k = key2(server, uri);
    const set = this.resources.get(k);
    if (!set?.delete(listener) || set.size > 0) return false;
    this.resources.delete(k);
    return true;
  }

  /** Resolves once the gateway has acknowledged every registration sent so far. */
  async synced(): Promise<void> {
    while (this.registering.size > 0) await Promise.allSettled([...this.registering]);
  }

  /** The requests that tell a new connection about every current registration. */
  restoreRequests(): Array<{ method: string; params: Record<string, unknown> }> {
    const out: Array<{ method: string; params: Record<string, unknown> }> = [];
    const methods = [...this.handlers.keys()];
    if (methods.length > 0) out.push({ method: 'gateway/handle', params: { methods } });
    const byServer = new Map<string, string[]>();
    for (const k of this.listeners.keys()) {
      const [server, method] = k.split('\u0000') as [string, string];
      byServer.set(server, [...(byServer.get(server) ?? []), method]);
    }
    for (const [server, list] of byServer) out.push({ method: 'gateway/listen', params: { server, methods: list } });
    for (const k of this.resources.keys()) {
      const [server, uri] = k.split('\u0000') as [string, string];
      out.push({ method: 'resources/subscribe', params: { server, uri } });
    }
    return out;
  }

  /** A notification from the gateway: true when it was a server's (tagged with its name) and delivered. */
  deliver(method: string, params: unknown): boolean {
    const p = (params ?? {}) as Record<string, unknown>;
    const meta = p._meta as Record<string, unknown> | undefined;
    if (typeof meta?.[SERVER_META_KEY] !== 'string') return false;
    const { params: clean, server } = untag(p);
    const context = { server, method };
    const run = (listener: (params: Record<string, unknown>, context: ServerMessageContext) => void) => {
      try {
        listener(clean, context);
      } catch (error) {
        console.error(`mcp-ipc: listener for ${method} of "${server}" threw`, error);
      }
    };
    if (method === 'notifications/resources/updated' && typeof clean.uri === 'string') {
      for (const listener of [...(this.resources.get(key2(server, clean.uri)) ?? [])]) run(listener);
    }
    for (const k of [key2(server, method), key2('*', method), key2(server, '*'), key2('*', '*')]) {
      for (const listener of [...(this.listeners.get(k) ?? [])]) run(listener);
    }
    return true;
  }

  private register<M extends Registration>(method: M, params: GatewayParams<M>): void {
    if (!this.deps.isOpen()) return; // restored when the connection opens
    const sent: Promise<unknown> = this.deps.send(method, params).then((r) => {
      this.registering.delete(sent);
      // Not connected: nothing to do now, the current registrations are restored on reconnect.
      if (!r.ok && r.error.code !== 'NotConnected') console.warn(`mcp-ipc: ${method} failed`, r.error);
    });
    this.registering.add(sent);
  }
}

/** A tagged message's params without the tag, and the server it names. */
export function untag(p: Record<string, unknown>): { params: Record<string, unknown>; server: string } {
  const meta = typeof p._meta === 'object' && p._meta !== null ? (p._meta as Record<string, unknown>) : undefined;
  const server = typeof meta?.[SERVER_META_KEY] === 'string' ? (meta[SERVER_META_KEY] as string) : '';
  if (!meta) return { params: p, server };
  const { [SERVER_META_KEY]: _server, ...restMeta } = meta;
  const { _meta: _drop, ...rest } = p;
  return { params: Object.keys(restMeta).length > 0 ? { ...rest, _meta: restMeta } : rest, server };
}
