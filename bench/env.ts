/**
 * One environment for every contender's server. Node's start-up reads its environment (NODE_OPTIONS,
 * locale, …), so a client that strips the host's environment starts its server faster than one
 * that passes it whole; the old bench gave the SDK a stripped one and mcp-ipc the full one. Here every
 * contender passes exactly this: mcp-ipc's own allow-list (which contains the SDK's), plus the host's
 * MCP_IPC_TREE when set, so the test run's leftover check sees the bench's servers too.
 *
 * What each contender adds on top, so the reader can judge: the SDKs (v1, v2) merge their own
 * allow-list (`getDefaultEnvironment()`, a subset of this one, same values: no change); mcp-ipc puts
 * its tree cookie in MCP_IPC_TREE (one variable); the floor and vscode-jsonrpc pass it as is.
 */
import { defaultEnvironment, TREE_VARIABLE } from '../src/node/platform/environment.js';

export function benchEnvironment(hostEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env = defaultEnvironment(hostEnv);
  const tree = hostEnv[TREE_VARIABLE];
  if (tree) env[TREE_VARIABLE] = tree;
  return env;
}
