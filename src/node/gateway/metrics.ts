/**
 * Prometheus exposition for the gateway (`GET /metrics`): a private prom-client Registry (never the
 * global one) whose per-server values are read from each server's `snapshot()` at scrape time. The
 * gateway's own counters by label (requests by method, errors by code, …) are plain numbers until
 * then too (LabelCounter): counting a request costs a Map update, not prom-client's label hashing.
 *
 * A server pool has one series per replica, labelled `replica="ID"` (a single server's series carry
 * no `replica` label), so `sum by (server)` adds a pool's replicas up without counting anything
 * twice; the pool's own values are `mcp_ipc_pool_*` series with only the `server` label.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { ServerSnapshot, ServerState } from '../../core/gateway-protocol.js';
import type { IpcMetricsSnapshot } from '../../core/ipc-manager.js';
import type { HistogramSnapshot } from '../../core/metrics.js';

const STATES: ServerState[] = ['starting', 'running', 'stopping', 'stopped', 'crashed', 'restarting', 'failed'];
/** The series of a server: one per replica for a pool, else the server itself. */
function series(s: ServerSnapshot): Array<{ labels: { server: string; replica?: string }; s: ServerSnapshot }> {
  if (!s.pool) return [{ labels: { server: s.name }, s }];
  return s.pool.replicas.map((r) => ({
    labels: { server: s.name, replica: String(r.id) },
    s: { ...s, state: r.state, pid: r.pid, restarts: r.restarts, uptimeMs: r.uptimeMs, lastExit: r.lastExit, health: r.health, usage: r.usage, metrics: r.metrics, pool: undefined },
  }));
}

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.95', 'p95'],
  ['0.99', 'p99'],
] as const;

/**
 * A counter by one label, counted in a plain Map and handed to prom-client only when scraped: the
 * gateway counts every request, and prom-client's own `inc` hashes the labels object each time.
 */
export class LabelCounter<L extends string> {
  private readonly counts = new Map<string, number>();

  constructor(name: string, help: string, private readonly label: L, registers: Registry[]) {
    const counts = this.counts;
    const metric: Counter<L> = new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect: () => {
        metric.reset();
        for (const [value, n] of counts) metric.inc({ [label]: value } as Record<L, string>, n);
      },
    });
  }

  inc(labels: Readonly<Record<L, string>>, value = 1): void {
    const key = labels[this.label];
    this.counts.set(key, (this.counts.get(key) ?? 0) + value);
  }

  /** The count for one label value (0 when never counted). */
  get(value: string): number {
    return this.counts.get(value) ?? 0;
  }
}

/** Gateway-side counters the Gateway updates directly. */
export interface GatewayCounters {
  connections: () => number;
  eventLogSize: () => number;
  latestSeq: () => number;
  /** Open `/mcp/NAME` sessions (MCP Streamable HTTP). */
  mcpSessions?: () => number;
  /** Tasks (calls) running on the host now, and its `limits.concurrentTasks`. */
  tasks?: () => number;
  taskLimit?: () => number;
  /** The per-connection in-flight limit (`maxInFlightPerConnection`). */
  inFlightLimit?: () => number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  /** WebSocket connections accepted since start. */
  readonly connectionsTotal: Counter<never>;
  /** Requests from MCP clients on `/mcp/NAME`, by method (`unknown` for methods not offered). */
  readonly mcpRequests: LabelCounter<'method'>;
  /** Upgrades / HTTP requests refused by the guards, by reason (token, origin, host). */
  readonly rejected: LabelCounter<'reason'>;
  /** Frames that were not usable JSON-RPC (parse errors, invalid requests). */
  readonly invalidMessages: LabelCounter<'kind'>;
  /** Messages over the size limit (the socket is closed with 1009). */
  readonly oversized: Counter<never>;
  readonly slowConsumers: Counter<never>;
  /** Requests received from browsers, by method (unknown methods counted as "unknown"). */
  readonly requests: LabelCounter<'method'>;
  readonly requestErrors: LabelCounter<'code'>;
  readonly eventsBroadcast: LabelCounter<'event'>;
  /** Forwarded requests refused by a limit, by limit (`concurrentTasks`, `maxInFlightPerConnection`). */
  readonly refused: LabelCounter<'limit'>;
  private current: ServerSnapshot[] | undefined;

  constructor(
    private readonly servers: () => ServerSnapshot[],
    counters: GatewayCounters,
  ) {
    const registers = [this.registry];
    const snaps = () => this.current ?? this.servers();

    const perServerCounter = (name: string, help: string, value: (s: ServerSnapshot) => number) => {
      const metric: Counter<'server' | 'replica'> = new Counter({
        name,
        help,
        labelNames: ['server', 'replica'],
        registers,
        collect: () => {
          metric.reset();
          for (const { labels, s } of snaps().flatMap(series)) {
            const v = value(s);
            metric.inc(labels, Number.isFinite(v) && v > 0 ? v : 0);
          }
        },
      });
    };
    const perServerGauge = (name: string, help: string, value: (s: ServerSnapshot) => number | null | undefined) => {
      const metric: Gauge<'server' | 'replica'> = new Gauge({
        name,
        help,
        labelNames: ['server', 'replica'],
        registers,
        collect: () => {
          metric.reset();
          for (const { labels, s } of snaps().flatMap(series)) {
            const v = value(s);
            if (typeof v === 'number' && Number.isFinite(v)) metric.set(labels, v);
          }
        },
      });
    };
    const m = (f: (x: IpcMetricsSnapshot) => number) => (s: ServerSnapshot) => f(s.metrics);

    perServerCounter('mcp_ipc_requests_total', 'Requests sent to the MCP server.', m((x) => x.requests));
    perServerCounter('mcp_ipc_responses_total', 'Responses received from the MCP server.', m((x) => x.responses));
    perServerCounter('mcp_ipc_errors_total', 'Requests that failed (any error).', m((x) => x.errors));
    perServerCounter('mcp_ipc_timeouts_total', 'Requests that timed out.', m((x) => x.timeouts));
    perServerCounter('mcp_ipc_cancels_total', 'Requests cancelled.', m((x) => x.cancels));
    perServerCounter('mcp_ipc_retries_total', 'Requests resent after a retryable failure.', m((x) => x.retries));
    perServerCounter('mcp_ipc_late_responses_total', 'Responses that arrived after their request was settled.', m((x) => x.lateResponses));
    perServerCounter('mcp_ipc_diagnostics_total', 'Unusable messages from the MCP server.', m((x) => x.diagnostics));
    perServerCounter('mcp_ipc_notifications_total', 'Notifications received from the MCP server.', m((x) => x.notificationsIn));
    perServerCounter('mcp_ipc_restarts_total', 'Restarts of the MCP server process.', (s) => s.restarts);
    perServerGauge('mcp_ipc_in_flight', 'Requests in flight.', m((x) => x.inFlight));
    perServerGauge('mcp_ipc_queue_depth', 'Requests waiting in the queue.', m((x) => x.queueDepth));
    perServerGauge('mcp_ipc_throughput', 'Responses per second (rolling window).', m((x) => x.throughput));
    perServerGauge('mcp_ipc_error_rate', 'Failed / settled requests over the rolling window (0..1).', m((x) => x.errorRate));
    perServerGauge('mcp_ipc_request_latency_max_ms', 'Largest request latency seen (ms).', m((x) => x.latency.max));
    perServerGauge('mcp_ipc_request_latency_mean_ms', 'Mean request latency (ms).', m((x) => x.latency.mean));
    perServerGauge('mcp_ipc_request_latency_count', 'Requests with a recorded latency.', m((x) => x.latency.count));
    perServerGauge('mcp_ipc_up', '1 when the MCP server is running.', (s) => (s.state === 'running' ? 1 : 0));
    perServerGauge('mcp_ipc_uptime_seconds', 'Seconds since the current process started running.', (s) => s.uptimeMs / 1000);
    perServerGauge('mcp_ipc_cpu_percent', 'CPU use of the MCP server process (%).', (s) => s.usage?.cpuPercent);
    perServerGauge('mcp_ipc_memory_bytes', 'Resident memory of the MCP server process (bytes).', (s) => s.usage?.memoryBytes);
    perServerGauge('mcp_ipc_health_rtt_ms', 'Round-trip time of the last health check (ms).', (s) => s.health.rttMs);
    perServerGauge('mcp_ipc_health_failures', 'Consecutive failed health checks.', (s) => s.health.consecutiveFailures);
    perServerGauge('mcp_ipc_tools', 'Tools the MCP server offers.', (s) => s.toolCount);
    // The result cache (servers with a `cache` section).
    perServerCounter('mcp_ipc_cache_hits_total', 'Answers served by the result cache.', (s) => s.cache?.hits ?? 0);
    perServerCounter('mcp_ipc_cache_misses_total', 'Cacheable requests sent to the server.', (s) => s.cache?.misses ?? 0);
    perServerCounter('mcp_ipc_cache_coalesced_total', 'Requests that joined an identical one in flight.', (s) => s.cache?.coalesced ?? 0);
    perServerCounter('mcp_ipc_cache_evictions_total', 'Cache entries evicted to stay within maxEntries / maxBytes.', (s) => s.cache?.evictions ?? 0);
    perServerGauge('mcp_ipc_cache_entries', 'Entries in the result cache.', (s) => s.cache?.entries);
    perServerGauge('mcp_ipc_cache_bytes', 'Bytes (JSON) held by the result cache.', (s) => s.cache?.bytes);

    const quantileGauge = (name: string, help: string, pick: (s: ServerSnapshot) => HistogramSnapshot): void => {
      const gauge: Gauge<'server' | 'replica' | 'quantile'> = new Gauge({
        name,
        help,
        labelNames: ['server', 'replica', 'quantile'],
        registers,
        collect: () => {
          gauge.reset();
          for (const { labels, s } of snaps().flatMap(series)) {
            const h = pick(s);
            for (const [quantile, key] of QUANTILES) gauge.set({ ...labels, quantile }, h[key]);
          }
        },
      });
    };
    quantileGauge('mcp_ipc_request_latency_ms', 'Request latency quantiles, send to settle (ms).', (s) => s.metrics.latency);
    quantileGauge('mcp_ipc_queue_wait_ms', 'Queue wait quantiles, enqueue to send (ms).', (s) => s.metrics.queueWait);
    const state: Gauge<'server' | 'replica' | 'state'> = new Gauge({
      name: 'mcp_ipc_server_state',
      help: '1 for the current state of each MCP server (of each replica of a pool).',
      labelNames: ['server', 'replica', 'state'],
      registers,
      collect: () => {
        state.reset();
        for (const { labels, s } of snaps().flatMap(series)) for (const st of STATES) state.set({ ...labels, state: st }, s.state === st ? 1 : 0);
      },
    });
    const poolGauge = (name: string, help: string, value: (p: NonNullable<ServerSnapshot['pool']>) => number): void => {
      const gauge: Gauge<'server'> = new Gauge({
        name,
        help,
        labelNames: ['server'],
        registers,
        collect: () => {
          gauge.reset();
          for (const s of snaps()) if (s.pool) gauge.set({ server: s.name }, value(s.pool));
        },
      });
    };
    poolGauge('mcp_ipc_pool_replicas', 'Replicas of a server pool (retiring ones included).', (p) => p.replicas.length);
    poolGauge('mcp_ipc_pool_queue_depth', 'Calls waiting in a server pool for a free replica slot.', (p) => p.queued);
    const rerouted: Counter<'server'> = new Counter({
      name: 'mcp_ipc_pool_rerouted_total',
      help: 'Calls moved to another replica of a server pool after theirs was lost.',
      labelNames: ['server'],
      registers,
      collect: () => {
        rerouted.reset();
        for (const s of snaps()) if (s.pool) rerouted.inc({ server: s.name }, s.pool.rerouted);
      },
    });

    const gauge = (name: string, help: string, value: (() => number) | undefined) => {
      if (!value) return;
      const g: Gauge<never> = new Gauge({ name, help, registers, collect: () => g.set(value()) });
    };
    gauge('mcp_ipc_gateway_connections', 'Open WebSocket connections.', counters.connections);
    gauge('mcp_ipc_gateway_event_log_size', 'Events kept for reconnecting clients.', counters.eventLogSize);
    gauge('mcp_ipc_gateway_latest_seq', 'Sequence number of the latest broadcast event.', counters.latestSeq);
    gauge('mcp_ipc_gateway_mcp_sessions', 'Open MCP Streamable HTTP sessions on /mcp/NAME.', () => counters.mcpSessions?.() ?? 0);
    this.mcpRequests = new LabelCounter(
      'mcp_ipc_gateway_mcp_requests_total',
      'JSON-RPC requests from MCP clients on /mcp/NAME, by method (errors are in mcp_ipc_gateway_request_errors_total).',
      'method',
      registers,
    );
    gauge('mcp_ipc_gateway_tasks', 'Calls running on the host now (tasks counted against limits.concurrentTasks).', counters.tasks);
    gauge('mcp_ipc_gateway_task_limit', "The host's concurrent-task limit (limits.concurrentTasks): calls over it are refused with ResourceLimit.", counters.taskLimit);
    gauge('mcp_ipc_gateway_in_flight_limit', 'Requests one connection may have in flight (maxInFlightPerConnection): more are refused with QueueFull.', counters.inFlightLimit);
    this.refused = new LabelCounter('mcp_ipc_gateway_refused_total', 'Forwarded requests refused by a limit (limit: concurrentTasks, maxInFlightPerConnection).', 'limit', registers);
    this.connectionsTotal = new Counter({ name: 'mcp_ipc_gateway_connections_total', help: 'WebSocket connections accepted.', registers });
    this.rejected = new LabelCounter(
      'mcp_ipc_gateway_rejected_total',
      "Requests and upgrades refused (reason: token, origin, host, limit = the host's connection limit, address = the per-address cap).",
      'reason',
      registers,
    );
    this.invalidMessages = new LabelCounter('mcp_ipc_gateway_invalid_messages_total', 'Frames that were not valid JSON-RPC.', 'kind', registers);
    this.oversized = new Counter({ name: 'mcp_ipc_gateway_oversized_messages_total', help: 'Messages over the size limit.', registers });
    this.slowConsumers = new Counter({ name: 'mcp_ipc_gateway_slow_consumers_total', help: 'Connections closed for not reading fast enough.', registers });
    this.requests = new LabelCounter('mcp_ipc_gateway_requests_total', 'JSON-RPC requests from browsers.', 'method', registers);
    this.requestErrors = new LabelCounter('mcp_ipc_gateway_request_errors_total', 'JSON-RPC error responses sent to browsers, by IpcError code.', 'code', registers);
    this.eventsBroadcast = new LabelCounter('mcp_ipc_gateway_events_total', 'Events broadcast to browsers.', 'event', registers);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; one snapshot per server per scrape. */
  async render(): Promise<string> {
    this.current = this.servers();
    try {
      return await this.registry.metrics();
    } finally {
      this.current = undefined;
    }
  }
}
