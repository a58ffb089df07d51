/** The contender registry. Each module is loaded on first use (a broken one only fails its own runs). */
import type { BenchClient, ClientOptions, ContenderName } from './types.js';

export async function createClient(name: ContenderName, options: ClientOptions): Promise<BenchClient> {
  switch (name) {
    case 'floor':
      return new (await import('./floor.js')).FloorClient(options);
    case 'sdk-v1':
      return new (await import('./sdk.js')).SdkV1Client(options);
    case 'sdk-v2':
      return new (await import('./sdk2.js')).SdkV2Client(options);
    case 'vscode-jsonrpc':
      return new (await import('./vscode.js')).VscodeClient(options);
    case 'mcp-ipc':
    case 'mcp-ipc-tuned':
      return new (await import('./mcp-ipc.js')).McpIpcBenchClient(name, options);
  }
}

export { CONTENDERS, CONTENDER_LABELS, type BenchClient, type ClientOptions, type ContenderName } from './types.js';
