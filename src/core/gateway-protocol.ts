/**
 * The browser ↔ host protocol: JSON-RPC 2.0 over one WebSocket (text frames, one message or batch
 * per frame). Shared by the Gateway (src/node) and McpIpcClient (src/client); browser-safe.
 *
 * Requests (browser → host) are the `GatewayMethods` below. Host → browser notifications:
 * - broadcast events (`server/state`, `server/event`, `metrics`, `tools/changed`) carry a gateway-wide
 *   increasing `seq`; they are kept in a bounded log so a reconnecting client calls `events/since`.
 * - per-call notifications (`progress`, `stream/chunk`) go only to the connection that made the call.
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

export interface CallParams {
  server: string;
  tool: string;
  arguments?: Record<string, unknown>;
  /** Client-chosen token; progress notifications for this call carry it. */
  progressToken?: string | number;
  /** Client-chosen token; when set the result text arrives as `stream/chunk` notifications before the response. */
  streamToken?: string | number;
  timeoutMs?: number;
  priority?: Priority;
  /** The caller declares the call safe to resend after a server restart. */
  retryable?: boolean;
}

/** method → [params, result] */
export interface GatewayMethods {
  'servers/list': [Record<string, never> | undefined, ServerSnapshot[]];
  'tools/list': [{ server: string; refresh?: boolean }, ToolInfo[]];
  /**
   * With `streamToken`, the call's payload text arrives as `stream/chunk` notifications (seq 0, 1, …)
   * before the response, so no frame carries a huge result. If the MCP server streamed it (mcp-ipc
   * stream extension), the chunks are the server's and the result is the server's final one; if it
   * did not, the gateway splits the concatenated text content into chunks and returns the result with
   * `content: []` and `_meta.streamed = { chunks, bytes }`. Either way: payload = chunks joined in order.
   */
  'tools/call': [CallParams, CallToolResult];
  /** Cancels a call of this connection by the JSON-RPC id of its `tools/call` request. */
  cancel: [{ requestId: string | number; reason?: string }, { cancelled: boolean }];
  'server/start': [{ server: string }, ServerSnapshot];
  'server/stop': [{ server: string }, ServerSnapshot];
  'server/restart': [{ server: string }, ServerSnapshot];
  'metrics/snapshot': [{ server?: string } | undefined, Record<string, IpcMetricsSnapshot>];
  /** Events after `seq` (exclusive), oldest first. `truncated` when some were already dropped from the log. */
  'events/since': [{ seq: number; limit?: number }, { events: SequencedEvent[]; latestSeq: number; truncated: boolean }];
  /** Recent stderr lines of a server. */
  'server/stderr': [{ server: string; lines?: number }, string[]];
  /** Drops cached results: every server's, one server's, or one tool's / resource's on it. */
  'cache/invalidate': [{ server?: string; tool?: string; uri?: string } | undefined, { dropped: number }];
  /** Calls to `tools.confirm` tools waiting for a person. */
  'approvals/list': [Record<string, never> | undefined, ApprovalRequest[]];
  /** A person's answer; `settled: false` when it was already answered elsewhere or timed out. */
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
  /** A call to a `tools.confirm` tool waits for a person: show it, answer with `approvals/answer`. */
  'approval/requested': ApprovalRequest;
  /** It was answered, timed out or cancelled: take it off the screen. */
  'approval/settled': ApprovalSettled;
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
/**
 * A broadcast event as logged: `time` is when the gateway logged it (epoch ms), so a client catching
 * up shows when it happened, not when it arrived. (Optional only for gateways older than the field.)
 */
export type SequencedEvent = { [K in GatewayEventName]: { seq: number; time?: number; method: K; params: GatewayEvents[K] } }[GatewayEventName];

/** Per-call notifications (host → the calling client only). */
export interface GatewayCallNotifications {
  progress: Progress & { progressToken: string | number };
  'stream/chunk': { streamToken: string | number; seq: number; data: string };
}

/** Sent once per connection right after it opens (notification `hello`). */
export interface HelloParams {
  version: string;
  /** Random per gateway start: a change tells a reconnecting client that `seq` started over. */
  instance?: string;
  latestSeq: number;
  servers: ServerSnapshot[];
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
export const TOKEN_PARAM = 'token';

/**
 * Params of a broadcast notification: the notification's `method` is the GatewayEventName and its
 * params are `{ seq, time, data }`, `data` being that event's payload (GatewayEvents[method]) and `time` when the gateway logged it (epoch ms).
 */
export type BroadcastParams<K extends GatewayEventName = GatewayEventName> = { seq: number; time?: number; data: GatewayEvents[K] };

/** Every broadcast notification name. */
export const GATEWAY_EVENTS: GatewayEventName[] = ['server/state', 'server/event', 'metrics', 'tools/changed', 'approval/requested', 'approval/settled'];
