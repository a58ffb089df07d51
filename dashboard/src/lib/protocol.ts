/**
 * The dashboard's one door to the MCP surface of the browser client: every request, notification
 * and server→client request passes here, so the Messages panel sees all of the page's traffic
 * (recorded in a TrafficLog) and the panels depend on a small, fakeable interface instead of the
 * whole client. Requests use MCP's own method names; the gateway forwards them to the server.
 */
import type { Result } from '../../../src/core/result.js';
import type { Progress } from '../../../src/core/ipc-manager.js';
import type { TrafficLog } from './traffic.js';

/** Options the client's `request` takes that the dashboard uses. */
export interface ProtocolRequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  onProgress?: (progress: Progress) => void;
}

/** `signal` aborts when the server cancels the request or the gateway stops waiting for the answer. */
export type ServerRequestHandler = (params: Record<string, unknown>, context: { server: string; method: string; signal?: AbortSignal }) => unknown;

/**
 * The part of McpIpcClient the protocol panels use (the names are the client's contract).
 * Declared here, structurally, so unit tests pass a fake and the panels need nothing else.
 */
export interface ProtocolClient {
  request(server: string, method: string, params?: Record<string, unknown>, options?: ProtocolRequestOptions): Promise<Result<unknown>>;
  onServerNotification(server: string, method: string, listener: (params: Record<string, unknown>, context: { server: string; method: string }) => void): () => void;
  setRequestHandler(method: string, handler: ServerRequestHandler): unknown;
  /** Subscribes to a resource; the client keeps one server subscription per URI and restores it after reconnects. */
  subscribeResource(server: string, uri: string, listener: (update: Record<string, unknown>) => void): Promise<Result<() => Promise<void>>>;
}

/** Notifications the Messages panel records for every server (those the gateway forwards). */
export const RECORDED_NOTIFICATIONS = [
  'notifications/message',
  'notifications/progress',
  'notifications/resources/updated',
  'notifications/resources/list_changed',
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
] as const;

/** At most this many pages of a paginated list (a server that always returns a cursor must not loop us). */
export const MAX_PAGES = 50;

export class ProtocolConsole {
  private readonly disposers: Array<() => void> = [];

  constructor(
    readonly client: ProtocolClient,
    readonly traffic: TrafficLog,
  ) {
    for (const method of RECORDED_NOTIFICATIONS) {
      this.disposers.push(client.onServerNotification('*', method, (params, context) => this.traffic.record({ server: context.server, direction: 'in', kind: 'notification', method, payload: params })));
    }
  }

  /** A request under its MCP name, recorded with its outcome and duration. */
  async request<T = unknown>(server: string, method: string, params: Record<string, unknown> = {}, options: ProtocolRequestOptions = {}): Promise<Result<T>> {
    return this.trace(server, method, params, () => this.client.request(server, method, params, options) as Promise<Result<T>>);
  }

  /** Records `run` (any call the client makes for `method` on `server`) as a request and its answer. */
  async trace<T>(server: string, method: string, params: unknown, run: () => Promise<Result<T>>): Promise<Result<T>> {
    const requestEntry = this.traffic.record({ server, direction: 'out', kind: 'request', method, payload: params });
    const result = await run();
    this.recordAnswer(server, method, requestEntry, result.ok ? { ok: true, data: result.data } : result);
    return result;
  }

  private recordAnswer(server: string, method: string, requestEntry: number, result: Result<unknown>): void {
    if (result.ok) this.traffic.record({ server, direction: 'in', kind: 'result', method, payload: result.data, requestEntry });
    else this.traffic.record({ server, direction: 'in', kind: 'error', method, payload: { code: result.error.code, message: result.error.message, data: result.error.data }, requestEntry });
  }

  /**
   * Every item of a paginated list (`resources/list` → `resources`, …), following `nextCursor`
   * for at most MAX_PAGES pages.
   */
  async list<T>(server: string, method: string, key: string): Promise<Result<T[]>> {
    const items: T[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await this.request<Record<string, unknown>>(server, method, cursor === undefined ? {} : { cursor });
      if (!result.ok) return result;
      const got = result.data?.[key];
      if (Array.isArray(got)) items.push(...(got as T[]));
      const next = result.data?.nextCursor;
      if (typeof next !== 'string' || next === '') break;
      cursor = next;
    }
    return { ok: true, data: items };
  }

  /**
   * Subscribes to `uri` on `server` through the client (`resources/subscribe`, restored after a
   * reconnect); `onUpdate` gets each `notifications/resources/updated` of it. Resolves with the
   * unsubscribe. The subscribe and unsubscribe are recorded like any request.
   */
  async subscribe(server: string, uri: string, onUpdate: (params: Record<string, unknown>) => void): Promise<Result<() => Promise<void>>> {
    const method = 'resources/subscribe';
    const requestEntry = this.traffic.record({ server, direction: 'out', kind: 'request', method, payload: { uri } });
    const result = await this.client.subscribeResource(server, uri, onUpdate);
    this.recordAnswer(server, method, requestEntry, result.ok ? { ok: true, data: {} } : result);
    if (!result.ok) return result;
    const stop = result.data;
    return {
      ok: true,
      data: async () => {
        const entry = this.traffic.record({ server, direction: 'out', kind: 'request', method: 'resources/unsubscribe', payload: { uri } });
        await stop();
        this.recordAnswer(server, 'resources/unsubscribe', entry, { ok: true, data: {} });
      },
    };
  }

  /** Sets `server`'s MCP log level (`logging/setLevel`; the host carries it per request to a modern server). */
  setLogLevel(server: string, level: string): Promise<Result<unknown>> {
    return this.request(server, 'logging/setLevel', { level });
  }

  /** Completion values for an argument of a prompt or resource template ([] when the server has none or fails). */
  async complete(server: string, ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string }, name: string, value: string, context: Record<string, string> = {}): Promise<string[]> {
    const params: Record<string, unknown> = { ref, argument: { name, value } };
    if (Object.keys(context).length > 0) params.context = { arguments: context };
    const result = await this.request<{ completion?: { values?: unknown } }>(server, 'completion/complete', params);
    const values = result.ok ? result.data?.completion?.values : undefined;
    return Array.isArray(values) ? values.filter((v): v is string => typeof v === 'string').slice(0, 100) : [];
  }

  /** `server`'s notifications of `method`, recorded by the constructor's listeners already. */
  onNotification(server: string, method: string, listener: (params: unknown, server: string) => void): () => void {
    return this.client.onServerNotification(server, method, (params, context) => listener(params, context.server));
  }

  /** Answers server→client requests of `method` with `handler`; the request and the answer are recorded. */
  handle(method: string, handler: ServerRequestHandler): void {
    this.client.setRequestHandler(method, async (params, context) => {
      const requestEntry = this.traffic.record({ server: context.server, direction: 'in', kind: 'request', method, payload: params });
      try {
        const answer = await handler(params, context);
        this.traffic.record({ server: context.server, direction: 'out', kind: 'result', method, payload: answer, requestEntry });
        return answer;
      } catch (error) {
        const e = error as { code?: unknown; message?: unknown };
        this.traffic.record({ server: context.server, direction: 'out', kind: 'error', method, payload: { code: e?.code, message: e?.message ?? String(error) }, requestEntry });
        throw error;
      }
    });
  }

  dispose(): void {
    for (const dispose of this.disposers.splice(0)) dispose();
  }
}
