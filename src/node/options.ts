/**
 * The option checks of the Node layer (see core/options.ts for the checks themselves): the
 * `ProcessManager` options, the `ResourceManager` limits, and a server's config sections as
 * `McpBridge` and `ServerPool` take them. Each constructor runs its spec once; `parseConfig` runs
 * `checkServerConfig` too, so a config file gets a `ConfigError` with the full path instead.
 */
import {
  IPC_MANAGER_OPTIONS,
  type OptionSpec,
  boolean,
  checkOptions,
  func,
  nonNegativeInt,
  nonNegativeMs,
  numberAbove,
  positiveInt,
  positiveMs,
} from '../core/options.js';
import type { McpServerConfig } from './mcp-bridge.js';
import type { ProcessManagerOptions } from './process-manager.js';
import type { ResourceLimits, ResourceManagerOptions } from './resource-manager.js';
import type { StdioTransportOptions } from './stdio-transport.js';

/** `StdioTransportOptions` (ProcessManager passes its own, already checked, values through). */
export const STDIO_TRANSPORT_OPTIONS: OptionSpec<StdioTransportOptions> = {
  maxMessageBytes: positiveInt(),
  // The rings are indexed modulo their size: 0 would break them, and a crash report needs a tail anyway.
  stderrLines: positiveInt(),
  shutdownTimeoutMs: nonNegativeMs(),
  orphanGuard: boolean(),
};

/** `ProcessManagerOptions`; 0 means "off" for the health-check and usage intervals, as documented there. */
export const PROCESS_MANAGER_OPTIONS: OptionSpec<ProcessManagerOptions> = {
  createTransport: func(),
  autoRestart: boolean(),
  maxRestarts: nonNegativeInt(),
  restartDelayMs: nonNegativeMs(),
  restartMaxDelayMs: nonNegativeMs(),
  // Only compared with timestamps, never handed to a timer: Infinity counts every restart ever.
  restartWindowMs: positiveMs({ infinity: true }),
  stableUptimeMs: positiveMs(),
  healthCheckIntervalMs: nonNegativeMs(),
  healthCheckTimeoutMs: positiveMs(),
  healthCheckFailures: positiveInt(),
  startupTimeoutMs: positiveMs(),
  shutdownTimeoutMs: nonNegativeMs(),
  stderrLines: positiveInt(),
  eventHistory: positiveInt(),
  usageIntervalMs: nonNegativeMs(),
  cpuAlertPercent: numberAbove(0),
  memoryLimitMb: numberAbove(0),
  restartOnMemoryLimit: boolean(),
  maxMessageBytes: positiveInt(),
  random: func(),
};

/**
 * `ResourceLimits`: a count of 0 keeps its meaning "none allowed" (every acquisition fails at once
 * with ResourceLimit — a clear refusal, not a stall; e.g. `fileHandles: 0` serves no static
 * files); `Infinity` means "no limit".
 */
export const RESOURCE_LIMITS: OptionSpec<ResourceLimits> = {
  memoryMb: numberAbove(0),
  processes: nonNegativeInt({ infinity: true }),
  connections: nonNegativeInt({ infinity: true }),
  fileHandles: nonNegativeInt({ infinity: true }),
  concurrentTasks: nonNegativeInt({ infinity: true }),
  cleanupTimeoutMs: positiveMs(),
};

export const RESOURCE_MANAGER_OPTIONS: OptionSpec<ResourceManagerOptions> = {
  sweepIntervalMs: nonNegativeMs(),
  now: func(),
};

/**
 * The numeric and boolean settings of one server's config: `queue` (IpcManager), `process`
 * (ProcessManager) and `inheritEnv`, `sticky`. Messages start with `prefix` (e.g.
 * `mcpServers.demo.`) then the option's path. The MCP settings (`probeTimeoutMs`, …), `cache`,
 * `tools` and `replicas` are checked by the classes that take them.
 */
export function checkServerConfig(config: McpServerConfig, prefix = ''): void {
  checkOptions(config, { inheritEnv: boolean(), sticky: boolean() }, prefix);
  checkOptions(config.queue, IPC_MANAGER_OPTIONS, `${prefix}queue.`);
  checkOptions(config.process, PROCESS_MANAGER_OPTIONS, `${prefix}process.`);
}
