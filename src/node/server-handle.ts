/**
 * McpServerHandle: what a host, the gateway and the CLI use of one named MCP server, whether it is
 * one supervised process (McpBridge) or a pool of replicas (ServerPool). Code written against this
 * interface needs no pool special cases.
 */
import type { Emitter } from '../core/emitter.js';
import type { CacheStats, CallToolResult, ServerEvent, ServerSnapshot, ServerState, ToolInfo } from '../core/gateway-protocol.js';
import type { RequestHandler, RequestOptions, StreamingRequest } from '../core/ipc-manager.js';
import type { LoggingLevel } from '../core/mcp-session.js';
import type {
  CompleteResult,
  CompletionReference,
  GetPromptResult,
  PromptInfo,
  ReadResourceResult,
  ResourceInfo,
  ResourceTemplateInfo,
  Root,
} from '../core/mcp-types.js';
import type { McpEra } from '../core/mcp-versions.js';
import type { CallOrigin } from './call-guard.js';
import type { BridgeCallOptions, McpBridgeEvents, ResourceUpdate, StreamingCallOptions } from './mcp-bridge.js';

/** What the server said about itself (`server/discover` or `initialize`), and the era spoken. */
export interface ServerIdentityView {
  era: McpEra | null;
  info: { name: string; version: string } | null;
  protocolVersion: string | null;
  capabilities: Record<string, unknown>;
  instructions?: string;
}

/** Options of calls that are not `tools/call` (reads, prompts, completion, raw requests). */
export interface HandleRequestOptions extends RequestOptions {
  /** Pools with `sticky: true` send calls with the same key to the same replica; ignored otherwise. */
  stickyKey?: string;
  /** Where the call came from (audit log, confirmation dialog, per-client cache scope). @default { door: 'api' } */
  origin?: CallOrigin;
}

export interface McpServerHandle extends Pick<Emitter<McpBridgeEvents>, 'on' | 'once' | 'off' | 'listenerCount'> {
  readonly name: string;
  readonly state: ServerState;
  readonly server: ServerIdentityView;
  /** Its `expose` setting (McpServerConfig.expose): false when kept off `/mcp/NAME`, else its own bearer tokens. */
  readonly exposure: false | { tokens: readonly string[] };
  /** Starts the server (every replica of a pool); rejects if it cannot be brought up at all. */
  start(): Promise<void>;
  /** Stops gracefully; everything pending fails with NotConnected. */
  stop(): Promise<void>;
  /** Planned restart (a pool restarts its replicas one after the other and keeps serving). */
  restart(reason?: string): Promise<void>;
  setRequestHandler(method: string, handler: RequestHandler): void;
  removeRequestHandler(method: string): void;
  /** Whether requests of `method` from the server are answered here (a handler, or configured `roots`). */
  hasRequestHandler(method: string): boolean;
  setRoots(roots: Root[]): Promise<void>;
  setLogLevel(level: LoggingLevel): Promise<void>;
  listTools(options?: { refresh?: boolean }): Promise<ToolInfo[]>;
  listResources(options?: { refresh?: boolean }): Promise<ResourceInfo[]>;
  listResourceTemplates(options?: { refresh?: boolean }): Promise<ResourceTemplateInfo[]>;
  listPrompts(options?: { refresh?: boolean }): Promise<PromptInfo[]>;
  readResource(uri: string, options?: HandleRequestOptions): Promise<ReadResourceResult>;
  getPrompt(name: string, args?: Record<string, string>, options?: HandleRequestOptions): Promise<GetPromptResult>;
  complete(
    ref: CompletionReference,
    argument: { name: string; value: string },
    context?: { arguments?: Record<string, string> },
    options?: HandleRequestOptions,
  ): Promise<CompleteResult>;
  subscribeResource(uri: string, listener: (update: ResourceUpdate) => void): Promise<() => Promise<void>>;
  call(tool: string, args?: Record<string, unknown>, options?: BridgeCallOptions): Promise<CallToolResult>;
  callStreaming(tool: string, args?: Record<string, unknown>, options?: StreamingCallOptions): StreamingRequest<CallToolResult>;
  request<T = unknown>(method: string, params?: Record<string, unknown>, options?: HandleRequestOptions): Promise<T>;
  snapshot(): ServerSnapshot;
  history(): ServerEvent[];
  stderrTail(n?: number): string[];
  /** The pids of the server's processes (every replica of a pool); for last-resort kills. */
  pids(): number[];
  /**
   * Drops cached results (every one, or one tool's, or one resource URI's); returns how many were
   * dropped. A pool drops them on every replica.
   */
  invalidateCache(what?: { tool?: string; uri?: string }): number;
  /** The result cache's counters (summed over a pool's replicas); undefined without a `cache` config. */
  cacheStats(): CacheStats | undefined;
}
