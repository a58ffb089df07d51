/**
 * sdk-v2: `@modelcontextprotocol/client` 2.x (its stdio transport is the `/stdio` subpath), default `legacy` version negotiation (plain initialize) — its Client over its StdioClientTransport, default settings
 * except the read buffer (raised so the 10 MiB result has a figure) and the shared bench environment.
 */
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { ensureGone, trackPid } from './child.js';
import { type BenchClient, type ClientOptions, MAX_BUFFER, textOf } from './types.js';

export class SdkV2Client implements BenchClient {
  readonly name = 'sdk-v2' as const;
  private client: Client | undefined;
  private serverPid: number | undefined;
  private readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
  }

  get pid(): number | undefined {
    return this.serverPid;
  }

  async start(): Promise<void> {
    const { command, args } = this.options.server;
    const transport = new StdioClientTransport({ command, args, env: this.options.env, stderr: 'ignore', maxBufferSize: MAX_BUFFER });
    const client = new Client({ name: 'sdk-v2-bench', version: '0' });
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
    // No timeout: the memory probe keeps these pending on purpose.
    return this.client!.callTool({ name: 'hang', arguments: args }, { timeout: 2 ** 31 - 1 });
  }

  async stop(): Promise<void> {
    const client = this.client;
    const pid = this.serverPid;
    this.client = undefined;
    this.serverPid = undefined;
    if (client) await client.close();
    // The SDK escalates to SIGKILL only after seconds; make sure the server is gone before returning.
    if (pid !== undefined) await ensureGone(pid);
  }
}
