/**
 * Every default of mcp-ipc, in one place (the specification's values). Pure data: safe in browsers.
 * Each options object elsewhere documents its fields and falls back to these.
 */
export const DEFAULTS = {
  queue: {
    /** Requests in flight per server at once. */
    maxConcurrent: 10,
    /** Requests waiting beyond those; one more is rejected at once with QueueFull. */
    maxQueueSize: 100,
    /** Idle timeout: no response and no progress for this long fails the request. */
    timeoutMs: 30_000,
    /** Hard cap from enqueue to settle, always armed: hardTimeoutFactor × the request's timeout. */
    hardTimeoutFactor: 10,
    /** Retries for retryable failures, and the first backoff delay (exponential with jitter). */
    maxRetries: 3,
    retryDelayMs: 1_000,
    retryMaxDelayMs: 30_000,
    /** When off, every request is treated as `normal` (plain FIFO). */
    priorityQueue: true,
    /** Methods that skip the queue and the concurrency limit. */
    bypassMethods: ['ping'] as readonly string[],
    /** Writes awaiting the transport's drain before the queue stops dispatching (backpressure). */
    maxPendingWrites: 16,
    /** How often change events carry a metrics snapshot (only while someone listens). */
    metricsIntervalMs: 1_000,
  },
  process: {
    autoRestart: true,
    maxRestarts: 5,
    restartDelayMs: 2_000,
    restartMaxDelayMs: 60_000,
    /** Restart attempts are counted in this window; uptime this long resets the count. */
    restartWindowMs: 300_000,
    stableUptimeMs: 60_000,
    healthCheckIntervalMs: 15_000,
    healthCheckTimeoutMs: 5_000,
    healthCheckFailures: 3,
    startupTimeoutMs: 30_000,
    shutdownTimeoutMs: 10_000,
    stderrLines: 500,
    eventHistory: 1_000,
    usageIntervalMs: 5_000,
    cpuAlertPercent: 90,
    restartOnMemoryLimit: false,
  },
  pool: {
    /**
     * Scale up (`replicas: {min, max}`) when at least this many calls wait in the pool for a free
     * replica slot, continuously for `scaleUpAfterMs`.
     */
    scaleUpQueueDepth: 1,
    scaleUpAfterMs: 1_000,
    /**
     * Scale down when nothing waits and the calls in flight would fit in one replica fewer at this
     * share of their capacity (maxConcurrent each), continuously for `scaleDownAfterMs`.
     */
    scaleDownUtilization: 0.5,
    scaleDownAfterMs: 30_000,
    /** After any scaling step (and once a new replica runs), no other step for this long. */
    cooldownMs: 5_000,
    /** Sticky keys remembered (least recently used forgotten first). */
    maxStickyKeys: 10_000,
  },
  mcp: {
    /** How long the `server/discover` probe may take before the server is taken for a handshake-era one. */
    probeTimeoutMs: 5_000,
    /** `input_required` rounds one request may take (modern era) before it fails as a protocol error. */
    maxInputRounds: 8,
    /** How often a task's status is polled (`tasks/get`) when the server suggests nothing. */
    taskPollIntervalMs: 1_000,
    /** A task's own deadline, independent of the request timeout. */
    taskTimeoutMs: 3_600_000,
    /**
     * A modern change stream (`subscriptions/listen`) that ends while its server keeps running is
     * reopened after `delayMs`, doubling (with jitter) up to `maxDelayMs`; after `attempts` reopens
     * in a row it is left closed until the server restarts or a subscription changes. A stream that
     * stayed open for `maxDelayMs` starts the count afresh.
     */
    listenReopen: { delayMs: 500, maxDelayMs: 30_000, attempts: 5 },
    /**
     * A call to a tool missing from the cached list re-fetches the list at most this often (a
     * `list_changed` notification refreshes it at once), so calls to unknown tools cannot make
     * every call a paginated `tools/list`.
     */
    unknownToolRefreshMs: 1_000,
  },
  limits: {
    memoryMb: 2_048,
    processes: 10,
    connections: 100,
    fileHandles: 1_000,
    /**
     * Calls running at once through the host's doors (each gateway request counts one): 8
     * connections at the default `gateway.maxInFlightPerConnection`. Over it a call is refused with
     * ResourceLimit naming `concurrentTasks`; /metrics shows it as `mcp_ipc_gateway_task_limit`.
     */
    concurrentTasks: 256,
    cleanupTimeoutMs: 10_000,
  },
  transport: {
    /** Per incoming line; a longer one is skipped to its newline and fails only its request. */
    maxMessageBytes: 16 * 1024 * 1024,
    /**
     * Deepest nesting of arrays and objects in one message (the message object is level 1). A deeper
     * message is a diagnostic (failing its request when it is a response), never handed on: recursive
     * code downstream (JSON.stringify, String(), validators, renderers) would run out of stack on it.
     * Real MCP messages nest a few dozen levels; Jackson's default limit is 1 000, serde_json's 128.
     */
    maxJsonDepth: 512,
  },
  gateway: {
    host: '127.0.0.1',
    port: 7400,
    /** Largest WebSocket message accepted from a browser. */
    maxMessageBytes: 1024 * 1024,
    /**
     * WebSocket connections one remote address (IPv4 address, IPv6 /64) may hold: a quarter of
     * `limits.connections`, so that one client cannot lock the others out. Local clients all share 127.0.0.1.
     */
    maxConnectionsPerAddress: 25,
    /**
     * Calls one browser connection may have in flight (more: QueueFull naming this limit); the
     * host's `limits.concurrentTasks` caps all connections together.
     */
    maxInFlightPerConnection: 32,
    /** Bytes buffered towards a slow browser before it is disconnected. */
    maxSendBufferBytes: 8 * 1024 * 1024,
    /** Events kept for clients that reconnect and ask for what they missed: at most this many, */
    eventHistory: 2_000,
    /** … and at most this many bytes (JSON) in all: tool lists and metrics can be large. */
    eventHistoryBytes: 16 * 1024 * 1024,
    /** Requests in one JSON-RPC batch frame; a larger batch is refused whole. */
    maxBatchSize: 50,
    /** Large results are sent to browsers in pieces of this many characters. */
    chunkChars: 64 * 1024,
  },
  client: {
    reconnect: true,
    reconnectDelayMs: 500,
    reconnectMaxDelayMs: 10_000,
    /** Calls made while disconnected wait this long for the connection, or fail at once when 0. */
    offlineWaitMs: 10_000,
    maxOfflineQueue: 100,
    timeoutMs: 60_000,
  },
  /** The opt-in result cache (a server's `cache` section). */
  cache: {
    /** How long a cached tool result is served. */
    ttlMs: 60_000,
    /** Entries kept per server, least recently used evicted first. */
    maxEntries: 1_000,
    /** Bytes (JSON) kept per server; a single result larger than this is never cached. */
    maxBytes: 32 * 1024 * 1024,
  },
  /** The tool policy (a server's `tools` section). */
  policy: {
    /** How long a `confirm` tool waits for a person before the call is refused. */
    confirmTimeoutMs: 120_000,
  },
  /** The audit log (`serve --audit FILE`). */
  audit: {
    /** The file is rotated (FILE → FILE.1 → …) before a line would take it past this size. */
    maxBytes: 16 * 1024 * 1024,
    /** Rotated files kept (FILE.1 … FILE.N); older ones are deleted. */
    maxFiles: 5,
  },
} as const;

export type Defaults = typeof DEFAULTS;
