/** sdk: the official `@modelcontextprotocol/sdk` Client over its StdioClientTransport, default settings. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ECHO_SERVER } from '../paths.js';
import { ensureGone, trackPid } from './child.js';
import { type BenchClient, type ClientOptions, textOf } from './types.js';

export const SDK_MAX_BUFFER = 64 * 1024 * 1024;

export class SdkClient implements BenchClient {
  readonly name = 'sdk' as const;
  private client: Client | undefined;
  private transport: StdioClientTransport | undefined;
  private serverPid: number | undefined;
  private readonly serverPath: string;

  constructor(options: ClientOptions = {}) {
    this.serverPath = options.serverPath ?? ECHO_SERVER;
  }

  get pid(): number | undefined {
    return this.serverPid;
  }

  async start(): Promise<void> {
    // maxBufferSize: the SDK's default (10 MiB) rejects a 10 MiB result ("Connection closed"); raised so
    // the large-result comparison has a number. Everything else is the SDK's default.
    const transport = new StdioClientTransport({ command: process.execPath, args: [this.serverPath], stderr: 'ignore', maxBufferSize: SDK_MAX_BUFFER });
    const client = new Client({ name: 'sdk-bench', version: '0' });
    this.transport = transport;
    this.client = client;
    await client.connect(transport);
    this.serverPid = transport.pid ?? undefined;
    trackPid(this.serverPid);
  }

  async call(text: string): Promise<string> {
    return textOf(await this.client!.callTool({ name: 'echo', arguments: { text } }));
  }

  async callBlob(bytes: number): Promise<number> {
    return textOf(await this.client!.callTool({ name: 'blob', arguments: { bytes } })).length;
  }

  hang(args: Record<string, unknown>): Promise<unknown> {
    return this.client!.callTool({ name: 'hang', arguments: args });
  }

  async stop(): Promise<void> {
    const client = this.client;
    const pid = this.serverPid;
    this.client = undefined;
    this.transport = undefined;
    this.serverPid = undefined;
    if (client) await client.close();
    // The SDK escalates to SIGKILL only after 4 s; make sure it is gone before returning.
    if (pid !== undefined) await ensureGone(pid);
  }
}

export const createSdkClient = (options?: ClientOptions): BenchClient => new SdkClient(options);
