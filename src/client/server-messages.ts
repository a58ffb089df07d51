/**
 * What the servers send the page through the gateway: their notifications (`gateway/listen`, asked
 * only while someone listens), resource updates (per `server` and URI), and their requests to the
 * client (`gateway/handle`: sampling, elicitation, roots, modern `input_required` rounds), answered
 * by the page's handlers. Keeps the registrations so that a new connection restores them.
 *
 * Each registration reaches each connection exactly once: one made before a connection's restore
 * requests were taken is in them; one made afterwards is sent on that connection as it is made (also
 * while the restore is still under way, before the connection counts as open). A removal made in
 * that window is sent after the restore, so it wins; one made with no connection is simply not restored.
 */
import { type GatewayMethod, type GatewayParams, SERVER_META_KEY } from '../core/gateway-protocol.js';
import type { IpcManager } from '../core/ipc-manager.js';
import { type Result, ok } from '../core/result.js';

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

type Registration = 'gateway/listen' | 'gateway/unlisten' | 'gateway/handle' | 'gateway/unhandle' | 'resources/unsubscribe';

export interface ServerMessagesDeps {
  manager: IpcManager;
  /** True while `link` (as given to `restoreRequests`) is the connection in use. */
  isCurrent: (link: object) => boolean;
  /**
   * Sends a registration on the connection in use, never waiting for another one (NotConnected when
   * it is gone: the next connection gets the restore instead).
   */
  send: <M extends Registration>(method: M, params: RegistrationParams<M>) => Promise<Result<unknown>>;
}

type RegistrationParams<M extends Registration> = M extends GatewayMethod ? GatewayParams<M> : { server: string; uri: string };

/** A resource's update listeners; `subscribed` once the gateway acknowledged a subscription (restored from then on). */
interface ResourceEntry {
  listeners: Set<(update: Record<string, unknown>) => void>;
  subscribed: boolean;
  /** The first listener's subscribe request, while it runs. */
  subscribing?: Promise<Result<unknown>>;
}

const key2 = (a: string, b: string) => `${a}\u0000${b}`;

export class ServerMessages {
  /** `server\0method` → listeners of server notifications. */
  private readonly listeners = new Map<string, Set<ServerNotificationListener>>();
  private readonly handlers = new Map<string, ServerRequestHandler>();
  /** `server\0uri` → resource update listeners. */
  private readonly resources = new Map<string, ResourceEntry>();
  /** Registrations not yet acknowledged by the gateway (see `synced`). */
  private readonly registering = new Set<Promise<unknown>>();
  /** The connection the last restore requests were taken for: changes go out on it while it is in use. */
  private restoredOn: object | undefined;

  constructor(private readonly deps: ServerMessagesDeps) {}

  listen(server: string, method: string, listener: ServerNotificationListener): () => void {
    const k = key2(server, method);
    let set = this.listeners.get(k);
    if (!set) {
      this.listeners.set(k, (set = new Set()));
      void this.register('gateway/listen', { server, methods: [method] });
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(k);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(k);
      void this.register('gateway/unlisten', { server, methods: [method] });
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
    if (isNew) void this.register('gateway/handle', { methods: [method] });
  }

  removeHandler(method: string): void {
    if (!this.handlers.delete(method)) return;
    this.deps.manager.removeRequestHandler(method);
    void this.register('gateway/unhandle', { methods: [method] });
  }

  /**
   * Adds a resource update listener. The first for a URI subscribes with `subscribe` (the caller's
   * request); listeners added while it runs share its outcome, later ones succeed at once. On
   * failure the caller removes its listener. Restored on later connections once subscribed — not
   * before, as the caller's own request (which may wait for the connection) subscribes then.
   */
  addResourceListener(
    server: string,
    uri: string,
    listener: (update: Record<string, unknown>) => void,
    subscribe: () => Promise<Result<unknown>>,
  ): Promise<Result<unknown>> {
    const k = key2(server, uri);
    let entry = this.resources.get(k);
    if (!entry) this.resources.set(k, (entry = { listeners: new Set(), subscribed: false }));
    entry.listeners.add(listener);
    if (entry.subscribed) return Promise.resolve(ok(undefined));
    // The first listener, or one added after a failed attempt whose listeners are still being removed.
    const pending = entry;
    pending.subscribing ??= subscribe().then((r) => {
      pending.subscribing = undefined;
      if (r.ok) pending.subscribed = true;
      return r;
    });
    return pending.subscribing;
  }

  /**
   * Removes one; with the last one for that URI, unsubscribes on the connection in use when it was
   * subscribed there. Resolves once the gateway acknowledged (at once when nothing was to be sent).
   */
  async removeResourceListener(server: string, uri: string, listener: (update: Record<string, unknown>) => void): Promise<void> {
    const k = key2(server, uri);
    const entry = this.resources.get(k);
    if (!entry?.listeners.delete(listener) || entry.listeners.size > 0) return;
    this.resources.delete(k);
    if (entry.subscribed) await this.register('resources/unsubscribe', { server, uri });
  }

  /** Resolves once the gateway has acknowledged every registration sent so far. */
  async synced(): Promise<void> {
    while (this.registering.size > 0) await Promise.allSettled([...this.registering]);
  }

  /**
   * The requests that tell `link`, a new connection, about every current registration. Changes made
   * from now on are sent on it as they are made (see the module comment): take these as the
   * connection becomes current, and send them before anything else.
   */
  restoreRequests(link: object): Array<{ method: string; params: Record<string, unknown> }> {
    this.restoredOn = link;
    const out: Array<{ method: string; params: Record<string, unknown> }> = [];
    const methods = [...this.handlers.keys()];
    if (methods.length > 0) out.push({ method: 'gateway/handle', params: { methods } });
    const byServer = new Map<string, string[]>();
    for (const k of this.listeners.keys()) {
      const [server, method] = k.split('\u0000') as [string, string];
      byServer.set(server, [...(byServer.get(server) ?? []), method]);
    }
    for (const [server, list] of byServer) out.push({ method: 'gateway/listen', params: { server, methods: list } });
    for (const [k, entry] of this.resources) {
      if (!entry.subscribed) continue;
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
      for (const listener of [...(this.resources.get(key2(server, clean.uri))?.listeners ?? [])]) run(listener);
    }
    for (const k of [key2(server, method), key2('*', method), key2(server, '*'), key2('*', '*')]) {
      for (const listener of [...(this.listeners.get(k) ?? [])]) run(listener);
    }
    return true;
  }

  /**
   * Sends a change on the connection whose restore is taken, while it is in use; without one the
   * change is simply part of the next restore. Resolves once the gateway answered.
   */
  private register<M extends Registration>(method: M, params: RegistrationParams<M>): Promise<void> {
    if (this.restoredOn === undefined || !this.deps.isCurrent(this.restoredOn)) return Promise.resolve();
    const sent: Promise<void> = this.deps.send(method, params).then((r) => {
      this.registering.delete(sent);
      // Not connected: nothing to do now, the current registrations are restored on reconnect.
      if (!r.ok && r.error.code !== 'NotConnected') console.warn(`mcp-ipc: ${method} failed`, r.error);
    });
    this.registering.add(sent);
    return sent;
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
