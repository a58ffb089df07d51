/**
 * Option validation (core/options.ts, node/options.ts): every constructor that takes numbers,
 * names or switches refuses a bad value at once with a TypeError naming the option and the value,
 * and still accepts the edge values that mean something (0 = off, Infinity = no limit).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IpcManager } from '../../src/core/ipc-manager.js';
import { McpSession } from '../../src/core/mcp-session.js';
import { MAX_TIMER_MS, checkOptions, describeValue, nonNegativeMs, positiveInt } from '../../src/core/options.js';
import { ConfigError, parseConfig } from '../../src/node/config.js';
import { McpBridge } from '../../src/node/mcp-bridge.js';
import { ProcessManager } from '../../src/node/process-manager.js';
import { ResourceManager } from '../../src/node/resource-manager.js';
import { ServerPool } from '../../src/node/server-pool.js';
import { StdioTransport } from '../../src/node/stdio-transport.js';

const disposers: Array<() => unknown> = [];
afterEach(async () => {
  for (const d of disposers.splice(0)) await d();
});

const resources = (...args: ConstructorParameters<typeof ResourceManager>) => {
  const rm = new ResourceManager(...args);
  disposers.push(() => rm.shutdown());
  return rm;
};

describe('the checks', () => {
  it('describe the bad value so that a reader can tell NaN, -0, "10" and 10 apart', () => {
    expect([NaN, -0, -1, 0.5, Infinity, '10', null, undefined, true, [], {}, () => 1].map(describeValue)).toEqual([
      'NaN', '-0', '-1', '0.5', 'Infinity', '"10"', 'null', 'undefined', 'true', 'an array', 'a object', 'a function',
    ]);
  });

  it('skip absent options (they take their defaults) and refuse a non-object', () => {
    expect(() => checkOptions(undefined, { a: positiveInt() })).not.toThrow();
    expect(() => checkOptions({}, { a: positiveInt() })).not.toThrow();
    expect(() => checkOptions(5 as unknown as object, { a: positiveInt() }, 'queue.')).toThrow(new TypeError('queue must be an object, got 5'));
  });

  it('refuse timer delays that setTimeout would turn into 1 ms', () => {
    expect(() => checkOptions({ d: MAX_TIMER_MS }, { d: nonNegativeMs() })).not.toThrow();
    expect(() => checkOptions({ d: MAX_TIMER_MS + 1 }, { d: nonNegativeMs() })).toThrow(`d must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got ${MAX_TIMER_MS + 1}`);
  });
});

describe('IpcManager', () => {
  it.each([
    ['maxConcurrent', 0, 'maxConcurrent must be an integer ≥ 1 or Infinity, got 0'],
    ['maxConcurrent', 2.5, 'maxConcurrent must be an integer ≥ 1 or Infinity, got 2.5'],
    ['maxQueueSize', -1, 'maxQueueSize must be an integer ≥ 0 or Infinity, got -1'],
    ['timeoutMs', NaN, 'timeoutMs must be a number of ms > 0 or Infinity, got NaN'],
    ['timeoutMs', -5, 'timeoutMs must be a number of ms > 0 or Infinity, got -5'],
    ['timeoutMs', 0, 'timeoutMs must be a number of ms > 0 or Infinity, got 0'],
    ['hardTimeoutMs', '100', 'hardTimeoutMs must be a number of ms > 0 or Infinity, got "100"'],
    ['maxRetries', 1.5, 'maxRetries must be an integer ≥ 0, got 1.5'],
    ['maxRetries', Infinity, 'maxRetries must be an integer ≥ 0, got Infinity'],
    ['retryDelayMs', -1, `retryDelayMs must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got -1`],
    ['maxPendingWrites', 0, 'maxPendingWrites must be an integer ≥ 1 or Infinity, got 0'],
    ['priorityQueue', 'false', 'priorityQueue must be true or false, got "false"'],
    ['bypassMethods', 'ping', 'bypassMethods must be an array of strings, got "ping"'],
    ['metricsIntervalMs', NaN, `metricsIntervalMs must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got NaN`],
    ['now', 5, 'now must be a function, got 5'],
  ])('refuses %s: %s', (key, value, message) => {
    expect(() => new IpcManager(undefined, { [key]: value })).toThrow(new TypeError(message));
  });

  it('accepts the edge values that mean something: no waiting, no retries, no limits, no throttling', () => {
    const ipc = new IpcManager(undefined, {
      maxConcurrent: Infinity,
      maxQueueSize: 0,
      timeoutMs: Infinity,
      hardTimeoutMs: Infinity,
      maxRetries: 0,
      retryDelayMs: 0,
      maxPendingWrites: Infinity,
      metricsIntervalMs: 0,
    });
    expect(ipc.options.maxQueueSize).toBe(0);
    void ipc.close();
  });
});

describe('McpSession', () => {
  it('names a bad probe timeout or round count', () => {
    const ipc = new IpcManager();
    expect(() => new McpSession(ipc, { probeTimeoutMs: 0 })).toThrow(new TypeError(`probeTimeoutMs must be a number of ms > 0 and ≤ ${MAX_TIMER_MS}, got 0`));
    expect(() => new McpSession(ipc, { maxInputRounds: -1 })).toThrow(new TypeError('maxInputRounds must be an integer ≥ 0, got -1'));
    expect(() => new McpSession(ipc, { maxInputRounds: 0 })).not.toThrow();
    void ipc.close();
  });
});

describe('ProcessManager', () => {
  const params = { command: 'never-spawned' };
  it.each([
    ['maxRestarts', -1, 'maxRestarts must be an integer ≥ 0, got -1'],
    ['restartDelayMs', NaN, `restartDelayMs must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got NaN`],
    ['restartMaxDelayMs', 1e12, `restartMaxDelayMs must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got 1000000000000`],
    ['healthCheckIntervalMs', -1, `healthCheckIntervalMs must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got -1`],
    ['healthCheckIntervalMs', Infinity, `healthCheckIntervalMs must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got Infinity`],
    ['healthCheckTimeoutMs', 0, `healthCheckTimeoutMs must be a number of ms > 0 and ≤ ${MAX_TIMER_MS}, got 0`],
    ['healthCheckFailures', 0, 'healthCheckFailures must be an integer ≥ 1, got 0'],
    ['startupTimeoutMs', -1, `startupTimeoutMs must be a number of ms > 0 and ≤ ${MAX_TIMER_MS}, got -1`],
    ['stderrLines', 2.5, 'stderrLines must be an integer ≥ 1, got 2.5'],
    ['stderrLines', 0, 'stderrLines must be an integer ≥ 1, got 0'],
    ['eventHistory', 0, 'eventHistory must be an integer ≥ 1, got 0'],
    ['usageIntervalMs', NaN, `usageIntervalMs must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got NaN`],
    ['memoryLimitMb', 0, 'memoryLimitMb must be a finite number > 0, got 0'],
    ['autoRestart', 1, 'autoRestart must be true or false, got 1'],
    ['maxMessageBytes', 0, 'maxMessageBytes must be an integer ≥ 1, got 0'],
  ])('refuses %s: %s', (key, value, message) => {
    expect(() => new ProcessManager('s', params, {}, { [key]: value })).toThrow(new TypeError(message));
  });

  it('keeps 0 as "off" for the health check and usage sampling, and 0 restarts / 0 ms shutdown', () => {
    expect(() => new ProcessManager('s', params, {}, { healthCheckIntervalMs: 0, usageIntervalMs: 0, maxRestarts: 0, shutdownTimeoutMs: 0, restartWindowMs: Infinity })).not.toThrow();
  });
});

describe('StdioTransport', () => {
  it('names a bad option and keeps 0 ms as "kill at once"', () => {
    expect(() => new StdioTransport({ command: 'never-spawned' }, { maxMessageBytes: 0 })).toThrow(new TypeError('maxMessageBytes must be an integer ≥ 1, got 0'));
    expect(() => new StdioTransport({ command: 'never-spawned' }, { stderrLines: 0 })).toThrow(new TypeError('stderrLines must be an integer ≥ 1, got 0'));
    expect(() => new StdioTransport({ command: 'never-spawned' }, { shutdownTimeoutMs: 0 })).not.toThrow();
  });
});

describe('ResourceManager', () => {
  it.each([
    ['processes', NaN, 'limits.processes must be an integer ≥ 0 or Infinity, got NaN'],
    ['connections', -1, 'limits.connections must be an integer ≥ 0 or Infinity, got -1'],
    ['fileHandles', 1.5, 'limits.fileHandles must be an integer ≥ 0 or Infinity, got 1.5'],
    ['memoryMb', NaN, 'limits.memoryMb must be a finite number > 0, got NaN'],
    ['cleanupTimeoutMs', 0, `limits.cleanupTimeoutMs must be a number of ms > 0 and ≤ ${MAX_TIMER_MS}, got 0`],
  ])('refuses the limit %s: %s', (key, value, message) => {
    expect(() => resources({ [key]: value })).toThrow(new TypeError(message));
  });

  it('takes Infinity as "no limit", 0 as "none allowed", sweepIntervalMs 0 as "no sweep", and an undefined limit as its default', () => {
    const rm = resources({ processes: Infinity, connections: undefined, fileHandles: 0 }, { sweepIntervalMs: 0 });
    expect(() => rm.acquire('file', 'test', () => undefined)).toThrow(/fileHandles/);
    expect(rm.limits.processes).toBe(Infinity);
    expect(rm.limits.connections).toBe(100);
    expect(() => resources({}, { sweepIntervalMs: -1 })).toThrow(new TypeError(`sweepIntervalMs must be a number of ms ≥ 0 and ≤ ${MAX_TIMER_MS}, got -1`));
  });
});

describe('McpBridge and ServerPool: a server config', () => {
  it('names the server and the section', () => {
    expect(() => new McpBridge('demo', { command: 'x', queue: { maxConcurrent: 0 } })).toThrow(
      new TypeError('Server "demo": queue.maxConcurrent must be an integer ≥ 1 or Infinity, got 0'),
    );
    expect(() => new McpBridge('demo', { command: 'x', process: { healthCheckFailures: -1 } })).toThrow(
      new TypeError('Server "demo": process.healthCheckFailures must be an integer ≥ 1, got -1'),
    );
    expect(() => new McpBridge('demo', { command: 'x', probeTimeoutMs: NaN })).toThrow(/probeTimeoutMs must be a number of ms > 0.*got NaN/);
    expect(() => new ServerPool('demo', { command: 'x', replicas: 2, queue: { maxQueueSize: NaN } })).toThrow(
      new TypeError('ServerPool "demo": queue.maxQueueSize must be an integer ≥ 0 or Infinity, got NaN'),
    );
    expect(() => new ServerPool('demo', { command: 'x', replicas: 2, sticky: 'yes' as never })).toThrow(new TypeError('ServerPool "demo": sticky must be true or false, got "yes"'));
  });

  it('accepts the off values', () => {
    expect(() => new McpBridge('demo', { command: 'x', queue: { maxQueueSize: 0 }, process: { healthCheckIntervalMs: 0, usageIntervalMs: 0 } })).not.toThrow();
  });

  it('in a config file is a ConfigError with the full path', () => {
    const parse = (json: unknown) => () => parseConfig(json, '/');
    expect(parse({ mcpServers: { demo: { command: 'x', queue: { maxConcurrent: 0 } } } })).toThrow(
      new ConfigError('mcpServers.demo.queue.maxConcurrent must be an integer ≥ 1 or Infinity, got 0'),
    );
    expect(parse({ mcpServers: { demo: { command: 'x', process: { maxRestarts: 1.5 } } } })).toThrow(new ConfigError('mcpServers.demo.process.maxRestarts must be an integer ≥ 0, got 1.5'));
    expect(parse({ mcpServers: { demo: { command: 'x' } }, limits: { processes: 2.5 } })).toThrow(new ConfigError('limits.processes must be an integer ≥ 0 or Infinity, got 2.5'));
  });
});
