/**
 * Server→client requests handed to browsers. For each method on its list the router answers, on
 * every server that has no handler of its own for it (a configured `roots` list stays the host's),
 * by asking a browser connection that registered for the method (`gateway/handle`):
 * 1. the connection whose request caused it, when it handles the method — known exactly for modern
 *    `input_required` rounds (their context carries the `origin` the gateway gave the request, see
 *    `originOf`), and for legacy requests when that connection is the one with a call running on
 *    the server;
 * 2. else the connection that registered most recently.
 * None → the server gets -32601 (Method not found). Each request has a timeout; a connection
 * that closes fails the requests it was asked at once, so nothing is left waiting for it.
 */
import { ProtocolError, RpcCode } from '../../core/errors.js';
import { SERVER_META_KEY } from '../../core/gateway-protocol.js';
import type { RequestContext, RequestOrigin } from '../../core/ipc-manager.js';
import type { McpHost } from '../mcp-host.js';
import type { McpServerHandle } from '../server-handle.js';
import type { Peer } from './connection.js';

export interface ServerRequestRouterOptions {
  /** Methods handed to browsers (each also declares its client capability to the servers). */
  methods: readonly string[];
  /** How long a browser may take to answer (a person may be answering). */
  timeoutMs: number;
  /** Connections with a request running on `server`, most recent first (the likely cause of a legacy request). */
  busyOn: (server: string) => Peer[];
}

const origins = new WeakMap<Peer, RequestOrigin>();

/**
 * The `origin` of a connection's requests (audit log, approvals, per-client cache scope): its door
 * and its id within it, one object per connection. Requests carry it down to the server's session,
 * which hands it back with the `input_required` rounds of that request: that is how the router
 * finds the caller, by identity, without tracking async context (an AsyncLocalStorage would make
 * Node run hooks for every promise of every call).
 */
export function originOf(peer: Peer): RequestOrigin {
  let origin = origins.get(peer);
  if (!origin) origins.set(peer, (origin = { door: peer.door ?? 'websocket', client: peer.clientId ?? String(peer.id) }));
  return origin;
}

export class ServerRequestRouter {
  /** method → registered connections, in registration order (the last is the most recent). */
  private readonly handlers = new Map<string, Peer[]>();
  /** What `install` added, by handle: a replaced server's name now names another handle. */
  private readonly installed: Array<{ bridge: McpServerHandle; method: string }> = [];
  private readonly methods: ReadonlySet<string>;

  constructor(
    private readonly host: McpHost,
    private readonly options: ServerRequestRouterOptions,
  ) {
    this.methods = new Set(options.methods);
  }

  /** Installs the forwarding handlers on every server that has none of its own for a method. */
  install(): void {
    // Handles the host no longer holds (removed or replaced by a reload) are forgotten.
    const current = new Set(this.host.list());
    for (let i = this.installed.length - 1; i >= 0; i--) if (!current.has(this.installed[i]!.bridge)) this.installed.splice(i, 1);
    for (const bridge of current) {
      for (const method of this.methods) {
        if (bridge.hasRequestHandler(method)) continue;
        bridge.setRequestHandler(method, (params, context) => this.route(bridge.name, method, params, context));
        this.installed.push({ bridge, method });
      }
    }
  }

  /** Removes what `install` added (never a handler set since on a new handle of the same name). */
  uninstall(): void {
    for (const { bridge, method } of this.installed.splice(0)) bridge.removeRequestHandler(method);
  }

  /** `peer` answers `methods` from now on (the most recent registration wins ties). Returns the methods accepted. */
  register(peer: Peer, methods: readonly string[]): string[] {
    const accepted: string[] = [];
    for (const method of methods) {
      if (!this.methods.has(method)) continue;
      const list = (this.handlers.get(method) ?? []).filter((p) => p !== peer);
      list.push(peer);
      this.handlers.set(method, list);
      accepted.push(method);
    }
    return accepted;
  }

  unregister(peer: Peer, methods: readonly string[]): void {
    for (const method of methods) {
      const list = this.handlers.get(method)?.filter((p) => p !== peer);
      if (list && list.length > 0) this.handlers.set(method, list);
      else this.handlers.delete(method);
    }
  }

  /** Forgets a closed connection (its outstanding requests fail through the connection itself). */
  forget(peer: Peer): void {
    this.unregister(peer, [...this.handlers.keys()]);
  }

  /**
   * The connection that should answer `method` for `server` now, if any; `origin` is that of the
   * request whose `input_required` round asks (RequestContext.origin).
   */
  pick(server: string, method: string, origin?: RequestOrigin): Peer | undefined {
    const registered = (this.handlers.get(method) ?? []).filter((p) => !p.signal.aborted);
    if (registered.length === 0) return undefined;
    const caller = origin && registered.find((p) => origins.get(p) === origin);
    if (caller) return caller;
    const busy = this.options.busyOn(server).find((p) => registered.includes(p));
    return busy ?? registered[registered.length - 1];
  }

  private async route(server: string, method: string, params: unknown, context: RequestContext): Promise<unknown> {
    const peer = this.pick(server, method, context.origin);
    if (!peer) throw new ProtocolError(`Method not found: ${method} (no browser answers it)`, { method }, RpcCode.MethodNotFound);
    const p = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>) : {};
    const meta = typeof p._meta === 'object' && p._meta !== null ? (p._meta as Record<string, unknown>) : {};
    return peer.request(method, { ...p, _meta: { ...meta, [SERVER_META_KEY]: server } }, { timeoutMs: this.options.timeoutMs, signal: context.signal });
  }
}
