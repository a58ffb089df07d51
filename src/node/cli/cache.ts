/**
 * `mcp-ipc cache clear`: empties the result cache of a running `mcp-ipc serve`, through its
 * gateway (the `cache/invalidate` method) — the same door the dashboard's button uses.
 * The token comes from the URL's `?token=` (the dashboard URL `serve` prints) or MCP_IPC_TOKEN;
 * it is sent as a WebSocket subprotocol, never printed.
 */
import WebSocket from 'ws';
import { DEFAULTS } from '../../core/defaults.js';
import { ipcErrorFromJSON } from '../../core/errors.js';
import { GATEWAY_PATH, TOKEN_PARAM } from '../../core/gateway-protocol.js';
import { TOKEN_PROTOCOL_PREFIX } from '../gateway/security.js';
import { EXIT, noExtra, parse, UsageError } from './args.js';
import { HELP } from './help.js';
import { type CliIo, writeAll } from './runtime.js';

/** How long to wait for the gateway before giving up. */
const CONNECT_TIMEOUT_MS = 10_000;

export async function cacheCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse<{ server?: string; tool?: string; uri?: string; url?: string; help?: boolean }>(argv, {
    server: { type: 'string' },
    tool: { type: 'string' },
    uri: { type: 'string' },
    url: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    await writeAll(io.stdout, `${HELP.cache}\n`);
    return EXIT.ok;
  }
  if (positionals[0] !== 'clear') throw new UsageError(positionals[0] === undefined ? 'missing subcommand: mcp-ipc cache clear' : `unknown subcommand "${positionals[0]}" (only "clear")`);
  noExtra(positionals, 1);
  if ((values.tool !== undefined || values.uri !== undefined) && values.server === undefined) throw new UsageError('--tool and --uri need --server');

  let url: URL;
  try {
    url = new URL(values.url ?? `http://${DEFAULTS.gateway.host}:${DEFAULTS.gateway.port}/`);
  } catch {
    throw new UsageError(`--url: not a URL: ${values.url}`);
  }
  const token = url.searchParams.get(TOKEN_PARAM) ?? (process.env.MCP_IPC_TOKEN || undefined);
  if (!token) throw new UsageError('no token: pass the dashboard URL (with ?token=…) as --url, or set MCP_IPC_TOKEN');
  const ws = new URL(GATEWAY_PATH, url);
  ws.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  ws.search = '';

  const params: Record<string, string> = {};
  for (const key of ['server', 'tool', 'uri'] as const) if (values[key] !== undefined) params[key] = values[key]!;
  const result = await requestOnce(ws.toString(), token, 'cache/invalidate', params);
  const dropped = (result as { dropped?: number }).dropped ?? 0;
  await writeAll(io.stdout, `${JSON.stringify({ dropped })}\n`);
  return EXIT.ok;
}

/** One JSON-RPC request over a fresh WebSocket; rejects with the rebuilt IpcError on an error answer. */
function requestOnce(url: string, token: string, method: string, params: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, [`${TOKEN_PROTOCOL_PREFIX}${token}`]);
    const timer = setTimeout(() => finish(() => reject(new Error(`no answer from ${url} within ${CONNECT_TIMEOUT_MS} ms`))), CONNECT_TIMEOUT_MS);
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      settle();
    };
    socket.on('open', () => socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })));
    socket.on('message', (data) => {
      let message: { id?: unknown; result?: unknown; error?: { message?: string; data?: unknown } };
      try {
        message = JSON.parse(String(data)) as typeof message;
      } catch {
        return;
      }
      if (message.id !== 1) return; // the hello and broadcast notifications
      if (message.error) finish(() => reject(message.error!.data !== undefined ? ipcErrorFromJSON(message.error!.data) : new Error(message.error!.message ?? 'error')));
      else finish(() => resolve(message.result));
    });
    socket.on('unexpected-response', (_req, res) => finish(() => reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    socket.on('error', (error) => finish(() => reject(new Error(`${url}: ${error.message}`))));
    socket.on('close', (code, reason) => finish(() => reject(new Error(`${url} closed the connection (${code} ${String(reason)})`))));
  });
}
