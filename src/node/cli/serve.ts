/** `mcp-ipc serve`: the host, the gateway and the dashboard until SIGINT/SIGTERM. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DEFAULTS } from '../../core/defaults.js';
import { AuditLog } from '../audit-log.js';
import { PACKAGE_ROOT, parseConfigText } from '../config.js';
import { watchConfigFile } from '../config-watcher.js';
import { describeHostReload, reloadRejected } from '../../core/gateway-protocol.js';
import { oneLine } from './progress.js';
import { startGateway } from '../gateway.js';
import { McpHost } from '../mcp-host.js';
import { startOtlpTracing } from '../tracing.js';
import { EXIT, noExtra, parse, parseInteger, splitCommand, UsageError } from './args.js';
import { HELP } from './help.js';
import { type CliIo, killChildren, onInterrupt, writeAll } from './runtime.js';
import { selectServers } from './select.js';

export const DASHBOARD_DIR = resolve(PACKAGE_ROOT, 'dashboard', 'dist');

export async function serveCommand(argv: string[], io: CliIo): Promise<number> {
  const { args, command } = splitCommand(argv);
  const { values, positionals } = parse<{
    config?: string;
    port?: string;
    host?: string;
    audit?: string;
    'tls-cert'?: string;
    'tls-key'?: string;
    insecure?: boolean;
    'allow-host'?: string[];
    'compress-loopback'?: boolean;
    help?: boolean;
    'no-watch'?: boolean;
  }>(args, {
    config: { type: 'string' },
    'no-watch': { type: 'boolean' },
    audit: { type: 'string' },
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    insecure: { type: 'boolean' },
    'allow-host': { type: 'string', multiple: true },
    'compress-loopback': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    await writeAll(io.stdout, `${HELP.serve}\n`);
    return EXIT.ok;
  }
  noExtra(positionals, 0);
  const port = parseInteger('--port', values.port, 0, 65_535) ?? DEFAULTS.gateway.port;
  const hostname = values.host ?? DEFAULTS.gateway.host;
  const tls = await readTls(values['tls-cert'], values['tls-key']);
  // Beyond loopback the bearer token (and every call) would cross the network in clear text.
  if (!isLoopback(hostname) && !tls && !values.insecure) {
    throw new UsageError(
      `refusing to listen on ${hostname} without TLS: the access token and every call would cross the network in clear text. ` +
        'Give --tls-cert FILE --tls-key FILE, or --insecure if a TLS proxy in front of this host does it.',
    );
  }
  const config = await selectServers({ config: values.config }, command);
  // What the servers were started from: the watcher reports only changes from this text.
  const configText = values.config === undefined ? undefined : await readFile(values.config, 'utf8').catch(() => undefined);

  const staticDir = existsSync(resolve(DASHBOARD_DIR, 'index.html')) ? DASHBOARD_DIR : undefined;
  if (!staticDir) await writeAll(io.stderr, `mcp-ipc: the dashboard is not built (${DASHBOARD_DIR}); run "npm run build". Serving the API only.\n`);

  // Opened before anything starts: an unwritable audit file is an error now, not a silent gap later.
  // MCP_IPC_AUDIT_KEY (optional) keys the argument hashes, so equal calls match across restarts.
  const audit = values.audit === undefined ? undefined : new AuditLog(resolve(values.audit), { hashKey: process.env.MCP_IPC_AUDIT_KEY || undefined });
  // OpenTelemetry: an OTLP/HTTP exporter when OTEL_EXPORTER_OTLP_ENDPOINT is set (before any span).
  let tracing: Awaited<ReturnType<typeof startOtlpTracing>>;
  try {
    tracing = await startOtlpTracing();
  } catch (error) {
    audit?.close();
    throw error;
  }
  const host = new McpHost(config, { audit });
  // The gateway first: a taken port fails before any server is spawned.
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    // A fixed token (e.g. for a bookmarked URL) comes from the environment, never argv (visible in ps).
    const token = process.env.MCP_IPC_TOKEN || undefined;
    // Names clients reach this host by (a gateway in front, a DNS name): the Host check refuses others.
    const allowedHosts = (values['allow-host'] ?? []).flatMap((h) => h.split(',')).map((h) => h.trim()).filter(Boolean);
    // Peers on this machine get nothing compressed unless asked (a proxy on this host relaying remote browsers).
    const compression = values['compress-loopback'] ? { compression: { loopback: true } } : {};
    gateway = await startGateway({ host, hostname, port, staticDir, token, allowedHosts, ...compression, ...(tls ? { tls } : {}) });
  } catch (error) {
    await host.stopAll();
    audit?.close();
    await tracing?.shutdown();
    throw error;
  }

  let shuttingDown: Promise<void> | undefined;
  let stopWatching: (() => void) | undefined;
  const shutdown = (): Promise<void> =>
    (shuttingDown ??= (async () => {
      stopWatching?.();
      await Promise.allSettled([gateway.close()]);
      await host.stopAll();
      audit?.close();
      // Flushes the spans still buffered (bounded by the exporter's timeout).
      await tracing?.shutdown().catch(() => undefined);
    })());
  const done = new Promise<number>((resolveDone) => {
    const dispose = onInterrupt(
      (signal) => {
        io.stderr.write(`\nmcp-ipc: ${signal}: shutting down (again to force)\n`);
        void shutdown().then(
          () => {
            dispose();
            resolveDone(EXIT.ok);
          },
          (error: unknown) => {
            // Never leave the process waiting for a second Ctrl-C because a shutdown step failed.
            io.stderr.write(`mcp-ipc: shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
            killChildren(host);
            dispose();
            resolveDone(EXIT.failure);
          },
        );
      },
      () => {
        io.stderr.write('mcp-ipc: forced exit\n');
        killChildren(host);
        process.exit(EXIT.interrupted);
      },
    );
  });

  await writeAll(io.stdout, `mcp-ipc dashboard: ${gateway.url}\n`);
  // The token is in the dashboard URL above; MCP clients send it as "Authorization: Bearer".
  await writeAll(io.stdout, `mcp-ipc MCP endpoints: ${gateway.origin}/mcp/NAME (${host.names().join(', ')})\n`);
  await host.startAll();
  if (!shuttingDown) {
    const lines = host.list().map((bridge) => {
      const s = bridge.snapshot();
      const detail = [s.pid !== null ? `pid ${s.pid}` : '', s.toolCount ? `${s.toolCount} tools` : '', s.reason ?? ''].filter(Boolean).join(', ');
      return `mcp-ipc server ${s.name}: ${s.state}${detail ? ` (${detail})` : ''}\n`;
    });
    await writeAll(io.stdout, lines.join(''));
  }
  const configPath = values.config;
  if (configPath !== undefined && !values['no-watch'] && !shuttingDown) {
    // Hot reload: each settled edit is applied (only the servers whose config changed are touched);
    // a file that does not parse or validate is rejected and the running set is kept.
    try {
      stopWatching = watchConfigFile(
        configPath,
        async (change) => {
          if (shuttingDown) return;
          const reload = await host.reload(async () => {
            if (change.error) throw change.error;
            return parseConfigText(change.text as string, configPath);
          }, configPath);
          if (shuttingDown) return;
          await writeAll(reloadRejected(reload) ? io.stderr : io.stdout, `mcp-ipc: ${oneLine(describeHostReload(reload))}\n`);
        },
        configText,
      );
    } catch (error) {
      // E.g. the system's limit of file watchers: serving goes on, without hot reload.
      await writeAll(io.stderr, `mcp-ipc: not watching ${configPath} for changes: ${oneLine(error instanceof Error ? error.message : String(error))}\n`);
    }
  }
  return done;
}

/** 127.0.0.0/8, ::1 and localhost: binds that only this machine can reach. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

async function readTls(certPath: string | undefined, keyPath: string | undefined): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  const read = async (flag: string, path: string) => {
    try {
      return await readFile(resolve(path));
    } catch (error) {
      throw new UsageError(`${flag}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  return { cert: await read('--tls-cert', certPath), key: await read('--tls-key', keyPath) };
}
