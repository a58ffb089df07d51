/** The client registry. Each client module is loaded on first use (a broken one only fails its own runs). */
import type { BenchClient, ClientName, ClientOptions } from './types.js';

export async function createClient(name: ClientName, options?: ClientOptions): Promise<BenchClient> {
  switch (name) {
    case 'raw':
      return (await import('./raw.js')).createRawClient(options);
    case 'sdk':
      return (await import('./sdk.js')).createSdkClient(options);
    case 'mcp-ipc':
      return (await import('./mcp-ipc.js')).createMcpIpcClient(options);
  }
}

export { CLIENT_NAMES, type BenchClient, type ClientName, type ClientOptions } from './types.js';
