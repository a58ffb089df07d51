/**
 * The browser ↔ host protocol: JSON-RPC 2.0 over one WebSocket (text frames, one message or batch
 * per frame). Shared by the Gateway (src/node) and McpIpcClient (src/client); browser-safe.
 *
 * Requests (browser → host):
 * - MCP requests under MCP's own method names (`tools/call`, `resources/read`, `prompts/get`, …, see
 *   MCP_CLIENT_METHODS), with the params MCP defines plus a server selector `server` and the
 *   gateway's call options (ForwardOptions). Only methods on the gateway's allow-list are forwarded.
 * - the gateway's own methods (`GatewayMethods` below): servers, metrics, the event log, host control
 *   and the forwarding of notifications (`gateway/listen`) and server→client requests (`gateway/handle`).
 *
 * Host → browser:
 * - broadcast events (`server/state`, `server/event`, `metrics`, `tools/changed`) carry a gateway-wide
 *   increasing `seq`; they are kept in a bounded log so a reconnecting client calls `events/since`.
 * - per-call notifications, under MCP's names, go only to the connection that made the call:
 *   `notifications/progress` (token = the request's `_meta.progressToken`) and mcp-ipc's
 *   `notifications/stream/chunk` (token = `_meta.streamToken`).
 * - server notifications (`notifications/message`, `notifications/resources/updated`,
 *   `notifications/…/list_changed`, …) to the connections that asked (`gateway/listen`,
 *   `resources/subscribe`), unchanged but for `_meta[SERVER_META_KEY]` naming the server.
 * - server→client requests (`sampling/createMessage`, `elicitation/create`, `roots/list`, modern
 *   `input_required` rounds) as JSON-RPC requests to one connection that registered a handler for
 *   the method (`gateway/handle`), tagged the same way; the browser answers them like any request.
 * A browser cancels its request with `notifications/cancelled { requestId }`, as in MCP.
 */
import type { IpcErrorJSON } from './errors.js';
import type { IpcMetricsSnapshot, Progress } from './ipc-manager.js';
import type { McpEra } from './mcp-versions.js';
import type { Priority } from './queue.js';

export type ServerState = 'starting' | 'running' | 'stopping' | 'stopped' | 'crashed' | 'restarting' | 'failed';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** Epoch ms. */
  at: number;
  /** The exit could not be confirmed within the shutdown budget: the process may still run. */
  unconfirmed?: true;
}

export interface ServerEvent {
  /** Epoch ms. */
  time: number;
  server: string;
  type: 'state' | 'spawn' | 'exit' | 'health' | 'restart' | 'usage' | 'alert' | 'stderr' | 'diagnostic' | 'tools' | 'log';
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data?: unknown;
  /** The replica of a server pool the event comes from (absent for single servers and pool-wide events). */
  replica?: number;
}

export interface ServerSnapshot {
  name: string;
  state: ServerState;
  pid: number | null;
  restarts: number;
  /** ms since the current process started running, 0 when not running. */
  uptimeMs: number;
  lastExit: ExitInfo | null;
  health: { rttMs: number | null; consecutiveFailures: number; lastCheckAt: number | null };
  usage: { cpuPercent: number; memoryBytes: number; at: number } | null;
  /** The MCP era spoken with the server (`modern`: stateless 2026-07-28+; `legacy`: the `initialize` handshake); null before it connected. */
  era: McpEra | null;
  serverInfo: { name: string; version: string } | null;
  protocolVersion: string | null;
  /** The server's capabilities (from `server/discover` or `initialize`); null before it connected. */
  capabilities: Record<string, unknown> | null;
  toolCount: number;
  metrics: IpcMetricsSnapshot;
  /** The result cache's counters, when the server has a `cache` section. */
  cache?: CacheStats;
  /** Reason the server is `failed` / `crashed`, when known. */
  reason: string | null;
  /**
   * Present when the server is a pool of replicas (`replicas` in its config). The fields above then
   * describe the pool as a whole: `state` `running` while any replica runs, `pid` the first running
   * replica's, `restarts` and `usage` summed, `metrics` summed over the replicas plus the pool's own
   * queue (`queueDepth`) and its end-to-end latency and queue wait.
   */
  pool?: PoolSnapshot;
}

/** A server pool: its settings, its own queue and every replica (see ServerSnapshot.pool). */
export interface PoolSnapshot {
  /** Replicas the pool keeps at least / may grow to (equal for a fixed `replicas: N`). */
  min: number;
  max: number;
  sticky: boolean;
  /** Calls waiting in the pool for a free replica slot (all priorities, sticky ones included). */
  queued: number;
  /** Calls moved to another replica after theirs was lost (crash, stop) before they could complete. */
  rerouted: number;
  scaleUps: number;
  scaleDowns: number;
  replicas: ReplicaSnapshot[];
}

/** One process of a server pool. */
export interface ReplicaSnapshot {
  /** Stable while the replica lives; the lowest free number is reused (bounded `replica` metric label). */
  id: number;
  state: ServerState;
  pid: number | null;
  restarts: number;
  uptimeMs: number;
  lastExit: ExitInfo | null;
  health: ServerSnapshot['health'];
  usage: ServerSnapshot['usage'];
  reason: string | null;
  /** Being drained to stop (scale-down): takes no new calls. */
  retiring: boolean;
  /** Pool calls running on the replica, and calls waiting in the pool for it (sticky keys held by it). */
  load: { inFlight: number; queued: number };
  /** Resource subscriptions of the pool held on this replica (each is held on one replica). */
  subscriptions: number;
  /** The replica's own engine metrics (its requests, latency, …). */
  metrics: IpcMetricsSnapshot;
}

/** Counters and gauges of a server's result cache. */
export interface CacheStats {
  hits: number;
  misses: number;
  /** Entries dropped to stay within maxEntries / maxBytes (expiry and invalidation are not evictions). */
  evictions: number;
  /** Requests that joined an identical one in flight instead of sending their own. */
  coalesced: number;
  entries: number;
  /** Bytes (JSON text) held. */
  bytes: number;
}

/** The MCP tool description, as listed by the server. */
export interface ToolInfo {
  name: string;
  title?: string;
  description?: string;
  inputSchema: { type: 'object'; properties?: Record<string, unknown>; required?: string[]; [k: string]: unknown };
  outputSchema?: Record<string, unknown>;
  annotations?: { title?: string; readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  /** How the tool may run: `taskSupport` `required` / `optional` means as a task (2025-11-25). */
  execution?: { taskSupport?: 'forbidden' | 'optional' | 'required'; [k: string]: unknown };
}

/** MCP `tools/call` result. */
export interface CallToolResult {
  content: Array<{ type: string; text?: string; [k: string]: unknown }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * The gateway's options of a forwarded request, next to the MCP params (the gateway removes them, and
 * `server`, before the request goes to the server).
 */
export interface ForwardOptions {
  /** Idle timeout of the request on the host (reset by progress). @default the server's queue setting */
  timeoutMs?: number;
  priority?: Priority;
  /** The caller declares a `tools/call` safe to resend after a server restart. */
  retryable?: boolean;
  /** Run a `tools/call` as a task when the tool allows it (`taskSupport: 'optional'`). */
  task?: boolean;
}

/**
 * `_meta` of a forwarded request: MCP's `progressToken` and mcp-ipc's `streamToken` are the browser's
 * own tokens (the per-call notifications carry them back); other keys are passed to the server.
 */
export interface ForwardMeta {
  progressToken?: string | number;
  /** With it, a `tools/call` result's text arrives as `notifications/stream/chunk` before the response. */
  streamToken?: string | number;
  [key: string]: unknown;
}

/** A forwarded MCP request's params: MCP's own, plus the server selector and ForwardOptions. */
export type ForwardParams<P extends object = Record<string, unknown>> = P & ForwardOptions & { server: string; _meta?: ForwardMeta };

/** `tools/call` through the gateway: MCP's `{ name, arguments }` plus the selector and options. */
export type CallParams = ForwardParams<{ name: string; arguments?: Record<string, unknown> }>;

/**
 * `_meta` key naming the server on everything the gateway forwards from one (notifications,
 * server→client requests). An MCP `_meta` key: a `mcp-ipc/` prefix keeps it out of MCP's namespace.
 */
export const SERVER_META_KEY = 'mcp-ipc/server';

/**
 * `_meta` key on a text content block whose text was sent as stream chunks: `{ first, count }` are
 * the `seq` of its first chunk and how many chunks it took. The block keeps its place in `content`
 * (with `text: ''`), so a result of `[text, image, text]` is rebuilt in that order (see `reassemble`).
 */
export const STREAMED_META_KEY = 'mcp-ipc/streamed';

/**
 * The MCP requests a client sends a server — the whole client-side surface — and so the gateway's
 * default allow-list of forwarded methods. `logging/setLevel` is included (a server's log level is
 * what a console sets); nothing here starts, stops or reconfigures the host.
 */
export const MCP_CLIENT_METHODS: readonly string[] = [
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
];

/** Server→client requests the gateway can hand to a browser by default (`gateway/handle`). */
export const MCP_SERVER_REQUEST_METHODS: readonly string[] = ['sampling/createMessage', 'elicitation/create', 'roots/list'];

/** Host-control methods (`allowHostControl`): they change what the host runs or keeps, not what a server says. */
export const HOST_CONTROL_METHODS: readonly string[] = ['server/start', 'server/stop', 'server/restart', 'server/setRoots', 'cache/invalidate'];

/** method → [params, result] */
export interface GatewayMethods {
  'servers/list': [Record<string, never> | undefined, ServerSnapshot[]];
  /** The server's tools (cached by the host; `refresh` asks the server again). */
  'tools/list': [ForwardParams<{ refresh?: boolean; cursor?: string }>, { tools: ToolInfo[] }];
  /**
   * With `_meta.streamToken`, the call's payload text arrives as `notifications/stream/chunk`
   * (seq 0, 1, …) before the response, so no frame carries a huge result. If the MCP server streamed
   * it (mcp-ipc stream extension), the chunks are the server's and the result is the server's final
   * one; if it did not, the gateway sends each text block's text as chunks and returns every block in
   * its place, a streamed text block as `{ type: 'text', text: '', _meta: { [STREAMED_META_KEY]:
   * { first, count } } }`, with `_meta.streamed = { chunks, bytes }` on the result.
   */
  'tools/call': [CallParams, CallToolResult];
  /** Cancels a request of this connection by its JSON-RPC id (older clients; `notifications/cancelled` does the same). */
  cancel: [{ requestId: string | number; reason?: string }, { cancelled: boolean }];
  'server/start': [{ server: string }, ServerSnapshot];
  'server/stop': [{ server: string }, ServerSnapshot];
  'server/restart': [{ server: string }, ServerSnapshot];
  /** Replaces the roots offered to a server (a legacy server is told `roots/list_changed`). Host control. */
  'server/setRoots': [{ server: string; roots: Array<{ uri: string; name?: string }> }, Record<string, never>];
  /**
   * Forward these server notifications to this connection (`server` `'*'` or absent: every server;
   * a method `'*'`: every notification). Progress and stream chunks of the connection's own calls
   * come without asking; `notifications/resources/updated` for a URI it subscribed to as well.
   */
  'gateway/listen': [{ server?: string; methods: string[] }, Record<string, never>];
  'gateway/unlisten': [{ server?: string; methods: string[] }, Record<string, never>];
  /**
   * This connection answers these server→client requests (`sampling/createMessage`,
   * `elicitation/create`, `roots/list`, …; modern `input_required` rounds alike). A request goes to
   * the connection whose call caused it when that one handles the method, else to the connection
   * that registered most recently; none → the server gets -32601.
   */
  'gateway/handle': [{ methods: string[] }, { methods: string[] }];
  'gateway/unhandle': [{ methods: string[] }, Record<string, never>];
  'metrics/snapshot': [{ server?: string } | undefined, Record<string, IpcMetricsSnapshot>];
  /** Events after `seq` (exclusive), oldest first. `truncated` when some were already dropped from the log. */
  'events/since': [{ seq: number; limit?: number }, { events: SequencedEvent[]; latestSeq: number; truncated: boolean }];
  /** Recent stderr lines of a server. */
  'server/stderr': [{ server: string; lines?: number }, string[]];
  /** Drops cached results: every server's, one server's, or one tool's / resource's on it. */
  'cache/invalidate': [{ server?: string; tool?: string; uri?: string } | undefined, { dropped: number }];
  /** Calls to `tools.confirm` tools waiting for a person. */
  'approvals/list': [Record<string, never> | undefined, ApprovalRequest[]];
  /**
   * A person's answer; `settled: false` when it was already answered elsewhere or timed out. The
   * connection that made the call cannot answer it (InvalidParams, `data.reason: 'self-approval'`).
   */
  'approvals/answer': [{ id: string; approved: boolean }, { settled: boolean }];
  ping: [Record<string, never> | undefined, Record<string, never>];
}
export type GatewayMethod = keyof GatewayMethods;
export type GatewayParams<M extends GatewayMethod> = GatewayMethods[M][0];
export type GatewayResult<M extends GatewayMethod> = GatewayMethods[M][1];

/** Broadcast notifications (host → every client), logged with `seq`. */
export interface GatewayEvents {
  'server/state': { server: string; state: ServerState; previous: ServerState | null; reason: string | null };
  'server/event': ServerEvent;
  metrics: { server: string; snapshot: ServerSnapshot };
  'tools/changed': { server: string; tools: ToolInfo[] };
  /** The host's server set was reloaded from its config (or a reload was rejected: `errors`). */
  'host/reload': HostReload;
  /** A call to a `tools.confirm` tool waits for a person: show it, answer with `approvals/answer`. */
  'approval/requested': ApprovalRequest;
  /** It was answered, timed out or cancelled: take it off the screen. */
  'approval/settled': ApprovalSettled;
}

/**
 * One config reload: which servers were started (`added`), stopped (`removed`) and restarted with
 * their new settings (`changed`). A rejected reload (the file does not parse or validate) has
 * `errors` and changes nothing: the running set is kept. `notes` are settings read but not applied
 * at run time (e.g. host-wide `limits`).
 */
export interface HostReload {
  /** Where the config came from (a file path), when known. */
  source?: string;
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
  errors: string[];
  notes: string[];
}

/** A call waiting for a person's approval (`tools.confirm`). */
export interface ApprovalRequest {
  /** What `approvals/answer` takes. */
  id: string;
  server: string;
  tool: string;
  /** The call's arguments: what the person approves. */
  arguments: Record<string, unknown>;
  /** Where the call came from (`websocket`, `cli`, `api`, …) and which client, when known. */
  door?: string;
  client?: string;
  /** Epoch ms. */
  requestedAt: number;
  /** Epoch ms: refused after this. */
  expiresAt: number;
}

/** How an approval request ended. */
export interface ApprovalSettled {
  id: string;
  server: string;
  tool: string;
  outcome: 'approved' | 'rejected' | 'timeout' | 'cancelled';
  /** Who answered, when known. */
  by?: string;
}
export type GatewayEventName = keyof GatewayEvents;

/** True when a reload changed nothing because its config was rejected. */
export function reloadRejected(reload: HostReload): boolean {
  return reload.errors.length > 0 && reload.added.length + reload.removed.length + reload.changed.length === 0;
}

/** A reload in one line: what changed, or why the edit was rejected (the CLI's and the dashboard's wording). */
export function describeHostReload(reload: HostReload): string {
  if (reloadRejected(reload)) return `config reload rejected (the running servers are kept): ${reload.errors.join('; ')}`;
  const parts = [
    reload.added.length ? `added ${reload.added.join(', ')}` : '',
    reload.removed.length ? `removed ${reload.removed.join(', ')}` : '',
    reload.changed.length ? `restarted ${reload.changed.join(', ')}` : '',
  ].filter(Boolean);
  const extra = [...reload.errors, ...reload.notes];
  return `config reloaded${reload.source ? ` from ${reload.source}` : ''}: ${parts.join('; ') || 'no server changed'}${extra.length ? ` (${extra.join('; ')})` : ''}`;
}

/**
 * A broadcast event as logged: `time` is when the gateway logged it (epoch ms), so a client catching
 * up shows when it happened, not when it arrived. (Optional only for gateways older than the field.)
 */
export type SequencedEvent = { [K in GatewayEventName]: { seq: number; time?: number; method: K; params: GatewayEvents[K] } }[GatewayEventName];

/** Per-call notifications (host → the calling client only), under MCP's names. */
export interface GatewayCallNotifications {
  'notifications/progress': Progress & { progressToken: string | number };
  'notifications/stream/chunk': { streamToken: string | number; seq: number; data: string };
}

/** Sent once per connection right after it opens (notification `hello`). */
export interface HelloParams {
  version: string;
  /** Random per gateway start: a change tells a reconnecting client that `seq` started over. */
  instance?: string;
  latestSeq: number;
  servers: ServerSnapshot[];
  /** What this gateway offers (absent from gateways before it): a UI hides what it cannot do. */
  offers?: GatewayOffers;
  /**
   * Only on a connection that agreed on BATCH_PROTOCOL: the limits of one batch frame from the client
   * (a bigger batch is refused whole; a bigger frame closes the connection with 1009).
   */
  batch?: { maxItems: number; maxBytes: number };
}

/** The gateway's configuration a page needs to know (sent in `hello`). */
export interface GatewayOffers {
  /** MCP requests forwarded to servers (the allow-list). */
  methods: string[];
  /** `server/start`, `server/stop`, `server/restart`, `server/setRoots` allowed. */
  hostControl: boolean;
  /** Server→client requests a page may answer (`gateway/handle`). */
  serverRequests: string[];
}

/** Gateway errors use IpcError codes; `data` of the JSON-RPC error is the IpcErrorJSON. */
export type GatewayErrorData = IpcErrorJSON;

/** Names of the WebSocket close codes the gateway uses (4000-4999 is the application range). */
export const GatewayCloseCode = {
  Unauthorized: 4401,
  Forbidden: 4403,
  TooLarge: 1009,
  SlowConsumer: 4408,
  ShuttingDown: 1001,
  /** Over a connection limit (the host's total, or the gateway's per-address cap): retry later. */
  TryAgainLater: 1013,
} as const;

export const GATEWAY_PATH = '/ws';

/**
 * WebSocket subprotocol of mcp-ipc's independent batches: on a connection that selected it, the
 * gateway runs each item of a batch frame on its own and sends each reply when it is ready (the
 * gateway's replies of one tick share a frame anyway), instead of JSON-RPC 2.0's one array once
 * every item is done — so a client can send the messages of one tick as one frame without making a
 * fast call wait for a slow one. A client offers it next to `mcp-ipc`; a gateway that does not know
 * it selects `mcp-ipc`, and batches keep their JSON-RPC meaning.
 */
export const BATCH_PROTOCOL = 'mcp-ipc.batch';
export const TOKEN_PARAM = 'token';

/**
 * Params of a broadcast notification: the notification's `method` is the GatewayEventName and its
 * params are `{ seq, time, data }`, `data` being that event's payload (GatewayEvents[method]) and `time` when the gateway logged it (epoch ms).
 */
export type BroadcastParams<K extends GatewayEventName = GatewayEventName> = { seq: number; time?: number; data: GatewayEvents[K] };

/** Every broadcast notification name. */
export const GATEWAY_EVENTS: GatewayEventName[] = ['server/state', 'server/event', 'metrics', 'tools/changed', 'approval/requested', 'approval/settled'];
