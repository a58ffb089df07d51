/**
 * OpenTelemetry for MCP calls, through `@opentelemetry/api` only (browser-safe; a no-op until an
 * SDK registers a tracer provider). Shared by the browser client, the gateway and the bridge:
 *
 * - span names and attributes after the OpenTelemetry semantic conventions for MCP
 *   (`{mcp.method.name} {target}`, `mcp.method.name`, `gen_ai.tool.name`, `gen_ai.prompt.name`,
 *   `mcp.resource.uri`, `jsonrpc.request.id`, `mcp.protocol.version`, `error.type` — `tool_error`
 *   for a result with `isError`), plus mcp-ipc's own `mcp_ipc.server`, `mcp_ipc.era` and
 *   `mcp_ipc.outcome` (`ok`, `tool_error`, `error`, `cancelled`);
 * - W3C trace context in a request's `params._meta` under the unprefixed `traceparent` and
 *   `tracestate` keys (MCP's convention), written and read here without a registered propagator,
 *   so context crosses every hop even where only the API is loaded.
 *
 * `tracingActive()` is the cheap gate the hot paths check first: without an SDK, nothing else here
 * runs per request.
 */
import {
  type Attributes,
  type Context,
  context,
  createTraceState,
  isSpanContextValid,
  ProxyTracerProvider,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
  TraceFlags,
} from '@opentelemetry/api';

/** The instrumentation scope of every mcp-ipc span. */
export const TRACER_NAME = 'mcp-ipc';

/** Attribute names (OpenTelemetry MCP / GenAI / JSON-RPC conventions, then mcp-ipc's own). */
export const MCP_ATTR = {
  method: 'mcp.method.name',
  tool: 'gen_ai.tool.name',
  prompt: 'gen_ai.prompt.name',
  operation: 'gen_ai.operation.name',
  resourceUri: 'mcp.resource.uri',
  protocolVersion: 'mcp.protocol.version',
  requestId: 'jsonrpc.request.id',
  errorType: 'error.type',
  transport: 'network.transport',
  server: 'mcp_ipc.server',
  era: 'mcp_ipc.era',
  outcome: 'mcp_ipc.outcome',
  queuedMs: 'mcp_ipc.queue.wait_ms',
} as const;

export type McpOutcome = 'ok' | 'tool_error' | 'error' | 'cancelled';

/** `_meta` keys of the W3C trace context (MCP: unprefixed, at the root of `_meta`). */
export const TRACEPARENT_KEY = 'traceparent';
export const TRACESTATE_KEY = 'tracestate';

const NOOP_DELEGATE = new ProxyTracerProvider().getDelegate();
/**
 * Where `@opentelemetry/api` 1.x keeps what was registered (its `GLOBAL_OPENTELEMETRY_API_KEY`).
 * `trace.getTracerProvider()` reads it too, with a version check, at ~60 ns a call; even the bare
 * read of a missing symbol key on the global object costs tens of ns. Too much for every request
 * of a host without tracing, hence the cache below.
 */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');
/** Without a registered provider, the global is read again only every this many checks. */
const RECHECK_EVERY = 256;
let registered: unknown;
let skipChecks = 0;

/**
 * True when a tracer provider is registered (an SDK is set up): the gate every hot path checks
 * before doing any tracing work. Cheap: a counter while nothing is registered (the global is read
 * again every 256 calls, so a provider registered after requests started is seen within 256
 * requests — at once after `refreshTracingActive()`), then one comparison per call.
 */
export function tracingActive(): boolean {
  if (registered === undefined) {
    if (skipChecks > 0) {
      skipChecks--;
      return false;
    }
    registered = (globalThis as { [API_GLOBAL]?: { trace?: unknown } })[API_GLOBAL]?.trace;
    if (registered === undefined) {
      skipChecks = RECHECK_EVERY;
      return false;
    }
  }
  // The API registers its proxy, whose delegate is the SDK's provider (a no-op one until set). A
  // proxy left over from `trace.disable()` still says "active": harmless, spans then come from the
  // API as it is now (no-op ones pass the caller's trace context through unchanged).
  return !(registered instanceof ProxyTracerProvider) || registered.getDelegate() !== NOOP_DELEGATE;
}

/** Makes the next `tracingActive()` read the registration afresh (call it after registering or disabling a provider). */
export function refreshTracingActive(): void {
  registered = undefined;
  skipChecks = 0;
}

export function mcpTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** What a span describes: an MCP request to one server. */
export interface McpSpanTarget {
  method: string;
  /** The MCP params (`name` for tools/call and prompts/get, `uri` for resources/*). */
  params?: Record<string, unknown> | undefined;
  server?: string | undefined;
  era?: string | null | undefined;
  protocolVersion?: string | null | undefined;
}

/** `{mcp.method.name} {target}`: the tool or prompt name where the method has one. */
export function mcpSpanName(method: string, params?: Record<string, unknown>): string {
  const name = params?.name;
  return (method === 'tools/call' || method === 'prompts/get') && typeof name === 'string' ? `${method} ${name}` : method;
}

export function mcpAttributes(target: McpSpanTarget): Attributes {
  const attributes: Attributes = { [MCP_ATTR.method]: target.method };
  const p = target.params;
  const name = p?.name;
  if (typeof name === 'string') {
    if (target.method === 'tools/call') {
      attributes[MCP_ATTR.tool] = name;
      attributes[MCP_ATTR.operation] = 'execute_tool';
    } else if (target.method === 'prompts/get') attributes[MCP_ATTR.prompt] = name;
  }
  if (typeof p?.uri === 'string' && target.method.startsWith('resources/')) attributes[MCP_ATTR.resourceUri] = p.uri;
  if (target.server !== undefined) attributes[MCP_ATTR.server] = target.server;
  if (target.era) attributes[MCP_ATTR.era] = target.era;
  if (target.protocolVersion) attributes[MCP_ATTR.protocolVersion] = target.protocolVersion;
  return attributes;
}

/** Starts a span for an MCP request (kind CLIENT unless told) under `parent` (default: the active context). */
export function startMcpSpan(target: McpSpanTarget, kind: SpanKind = SpanKind.CLIENT, parent: Context = context.active()): Span {
  return mcpTracer().startSpan(mcpSpanName(target.method, target.params), { kind, attributes: mcpAttributes(target) }, parent);
}

/**
 * Ends `span` with the request's outcome: a result with `isError` is `tool_error` (the call
 * succeeded on the wire, the tool failed), an error its `code` (IpcError) as `error.type`.
 */
export function endMcpSpan(span: Span, outcome: { result: unknown } | { error: unknown }): void {
  if ('error' in outcome) {
    const e = outcome.error as { code?: unknown; message?: unknown } | undefined;
    const code = typeof e?.code === 'string' || typeof e?.code === 'number' ? String(e.code) : 'Error';
    span.setAttribute(MCP_ATTR.outcome, code === 'Cancelled' ? 'cancelled' : 'error');
    span.setAttribute(MCP_ATTR.errorType, code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof e?.message === 'string' ? e.message : code });
  } else if ((outcome.result as { isError?: unknown } | null)?.isError === true) {
    span.setAttribute(MCP_ATTR.outcome, 'tool_error');
    span.setAttribute(MCP_ATTR.errorType, 'tool_error');
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'the tool reported an error (isError)' });
  } else {
    span.setAttribute(MCP_ATTR.outcome, 'ok');
  }
  span.end();
}

/** `traceparent` (and `tracestate`) of `spanContext`, or undefined for an invalid one. */
export function traceContextMeta(spanContext: SpanContext): Record<string, string> | undefined {
  if (!isSpanContextValid(spanContext)) return undefined;
  const flags = (spanContext.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
  const meta: Record<string, string> = { [TRACEPARENT_KEY]: `00-${spanContext.traceId}-${spanContext.spanId}-${flags}` };
  const state = spanContext.traceState?.serialize();
  if (state) meta[TRACESTATE_KEY] = state;
  return meta;
}

/** `meta` with the trace context of `span` written in (a copy; other keys kept, earlier trace keys replaced). */
export function injectTraceContext(meta: Record<string, unknown> | undefined, span: Span): Record<string, unknown> | undefined {
  const traceMeta = traceContextMeta(span.spanContext());
  if (!traceMeta) return meta;
  const { [TRACEPARENT_KEY]: _p, [TRACESTATE_KEY]: _s, ...rest } = meta ?? {};
  return { ...rest, ...traceMeta };
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/**
 * The context `meta`'s `traceparent` / `tracestate` describe (a remote parent), on top of `parent`;
 * `parent` itself when there is none or it is malformed (W3C rules: version ff and all-zero ids are
 * invalid; a future version may carry more fields).
 */
export function extractTraceContext(meta: unknown, parent: Context = context.active()): Context {
  if (typeof meta !== 'object' || meta === null) return parent;
  const header = (meta as Record<string, unknown>)[TRACEPARENT_KEY];
  if (typeof header !== 'string') return parent;
  const m = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!m || m[1] === 'ff' || (m[1] === '00' && header.trim().length !== 55)) return parent;
  const state = (meta as Record<string, unknown>)[TRACESTATE_KEY];
  const spanContext: SpanContext = {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: Number.parseInt(m[4]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(typeof state === 'string' && state !== '' ? { traceState: createTraceState(state) } : {}),
  };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(parent, spanContext) : parent;
}

export { SpanKind };
