/**
 * Which server(s) a command talks to: `--config FILE [--server NAME]`, `-- CMD ARGS...`, or the
 * bundled Python demo server when neither is given.
 */
import { parse as parsePath } from 'node:path';
import { demoServerConfig, loadConfig } from '../config.js';
import type { McpServerConfig } from '../mcp-bridge.js';
import type { McpConfigFile } from '../mcp-host.js';
import { UsageError } from './args.js';

export interface SelectionFlags {
  config?: string;
  server?: string;
}

export const DEMO_SERVER_NAME = 'demo';

/** The server named after a command: `node …/index.js` → "node", `./my-server.py` → "my-server". */
export function serverNameFor(command: string): string {
  return parsePath(command).name || 'server';
}

function commandConfig(command: string[]): McpConfigFile {
  const [cmd, ...args] = command;
  if (cmd === undefined || cmd === '') throw new UsageError('missing server command after "--"');
  return { mcpServers: { [serverNameFor(cmd)]: { command: cmd, args } } };
}

/** Every server a command should host (serve: all of the config, or the one command, or the demo). */
export async function selectServers(flags: SelectionFlags, command: string[] | undefined): Promise<McpConfigFile> {
  if (flags.server !== undefined && flags.config === undefined) throw new UsageError('--server needs --config FILE');
  if (flags.config !== undefined && command !== undefined) throw new UsageError('use either --config FILE or "-- CMD ARGS...", not both');
  if (command !== undefined) return commandConfig(command);
  if (flags.config === undefined) return { mcpServers: { [DEMO_SERVER_NAME]: demoServerConfig() } };
  const config = await loadConfig(flags.config);
  if (flags.server === undefined) return config;
  const server = config.mcpServers[flags.server];
  if (!server) throw new UsageError(`no server "${flags.server}" in ${flags.config} (it has: ${Object.keys(config.mcpServers).join(', ')})`);
  return { ...config, mcpServers: { [flags.server]: server } };
}

/** Exactly one server (call, tools): a config with several needs --server. */
export async function selectServer(flags: SelectionFlags, command: string[] | undefined): Promise<{ name: string; config: McpConfigFile; server: McpServerConfig }> {
  const config = await selectServers(flags, command);
  const names = Object.keys(config.mcpServers);
  const name = names[0];
  if (names.length !== 1 || name === undefined) {
    throw new UsageError(`${flags.config ?? 'the config'} has ${names.length} servers (${names.join(', ')}): pick one with --server NAME`);
  }
  return { name, config, server: config.mcpServers[name] as McpServerConfig };
}
