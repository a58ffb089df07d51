/**
 * The gateway side of the bench's gateway figures, in its own process so its CPU is measured apart
 * from the client's:
 *
 *   node dist/bench/gateway-child.js '<{"server":{command,args},"env":{…},"inFlight":64}>'
 *
 * Starts an McpHost with one server ("bench") and a Gateway on 127.0.0.1 (random port and token),
 * prints `{"url":…,"serverPid":…,"config":…}` on stdout, then answers each `cpu` line on stdin with
 * `{"cpuUs":…}` (its own process.cpuUsage(), user + system). Stops everything when stdin ends.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Gateway } from '../src/node/gateway.js';
import { McpHost } from '../src/node/mcp-host.js';
import type { ClientOptions } from './clients/types.js';

export interface GatewayChildParams extends Omit<ClientOptions, 'maxInFlight'> {
  inFlight: number;
  /**
   * Raise the host's concurrent-task limit to `inFlight` too. Off, the host's resource limits stay
   * at their defaults, and a cap below `inFlight` shows up as failed calls.
   */
  raiseHostLimits: boolean;
  /**
   * Compress for loopback peers too (`compression: { loopback: true }`): the bench's client is on
   * this machine, where the gateway otherwise compresses nothing. For bench/compression.ts.
   */
  compressLoopback?: boolean;
}

export interface GatewayChildReady {
  url: string;
  serverPid: number | null;
  config: Record<string, unknown>;
}

async function main(): Promise<void> {
  const params = JSON.parse(process.argv[2] ?? '') as GatewayChildParams;
  const n = params.inFlight;
  // The limits a user would raise for n calls in flight: the connection's in-flight cap and the
  // server's queue (and, when asked, the host's concurrent tasks).
  const queue = { maxConcurrent: n, maxQueueSize: n + 16 };
  const maxInFlightPerConnection = n;
  const limits = params.raiseHostLimits ? { concurrentTasks: n } : undefined;
  const host = new McpHost({
    mcpServers: { bench: { command: params.server.command, args: params.server.args, env: params.env, queue } },
    ...(limits ? { limits } : {}),
  });
  host.on('event', () => undefined);
  await host.get('bench')!.start();
  const gateway = new Gateway({
    host,
    hostname: '127.0.0.1',
    port: 0,
    token: randomBytes(16).toString('hex'),
    maxInFlightPerConnection,
    ...(params.compressLoopback ? { compression: { loopback: true } } : {}),
  });
  await gateway.start();
  const ready: GatewayChildReady = {
    url: gateway.wsUrl,
    serverPid: host.get('bench')!.pids()[0] ?? null,
    config: { queue, maxInFlightPerConnection, hostLimits: limits ?? 'defaults', compression: params.compressLoopback ? 'on for loopback peers' : 'defaults (none for loopback peers)' },
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() !== 'cpu') return;
    const u = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpuUs: u.user + u.system })}\n`);
  });
  lines.on('close', () => {
    void (async () => {
      await gateway.close().catch(() => undefined);
      await host.stopAll().catch(() => undefined);
      process.exit(0);
    })();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
