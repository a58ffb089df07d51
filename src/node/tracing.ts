/**
 * Tracing on the host side: the gateway's span around one browser request (continuing the trace
 * context the browser sent in `params._meta`), the bridge's span around one request to a server
 * (its `traceparent` written into the request's `_meta`, so a server that reads it continues the
 * trace) with a child span for the time spent in the queue, and `serve`'s OTLP/HTTP exporter.
 *
 * Every helper checks `tracingActive()` first: without a registered SDK the request runs untouched.
 * Without tracing the gateway still passes a browser's `traceparent` on unchanged (it is part of
 * the forwarded `_meta`), so servers see the browser's context even then.
 */
import { context, propagation, type Span, SpanKind, trace } from '@opentelemetry/api';
import {
  endMcpSpan,
  extractTraceContext,
  injectTraceContext,
  MCP_ATTR,
  type McpSpanTarget,
  mcpTracer,
  refreshTracingActive,
  startMcpSpan,
  tracingActive,
} from '../core/tracing.js';
import { ConfigError } from './config.js';

/**
 * Runs one gateway request inside a SERVER span whose parent is the trace context in
 * `params._meta` (`traceparent` / `tracestate`), when tracing is on and the request names a server
 * (a request that reaches one). Otherwise just `run()`.
 */
export function traceGatewayRequest<T>(method: string, params: Record<string, unknown>, run: () => Promise<T>): Promise<T> {
  if (typeof params.server !== 'string' || !tracingActive()) return run();
  const parent = extractTraceContext(params._meta);
  const span = startMcpSpan({ method, params, server: params.server }, SpanKind.SERVER, parent);
  return settle(span, context.with(trace.setSpan(parent, span), run));
}

/** What the bridge's request looks like from inside the span: `_meta` with the trace context, and the queue hook. */
export interface TracedRequest {
  /** The request's `_meta` with `traceparent` (and `tracestate`) of the bridge's span. */
  meta: Record<string, unknown> | undefined;
  /** Pass as the request's `onSend`: draws the queue-wait span. */
  onSend: ((queuedMs: number) => void) | undefined;
}

/**
 * Runs one request of the bridge to its server inside a CLIENT span (child of the active context:
 * the gateway's span, or the caller's). `run` gets the `_meta` to send (the caller's keys kept) and
 * an `onSend` hook for the IpcManager that records a `queue wait` span. Without tracing: `run`
 * with the caller's `_meta` and no hook.
 */
export function traceBridgeRequest<T>(target: McpSpanTarget, meta: Record<string, unknown> | undefined, run: (request: TracedRequest) => Promise<T>): Promise<T> {
  if (!tracingActive()) return run({ meta, onSend: undefined });
  const span = startMcpSpan(target, SpanKind.CLIENT);
  const active = trace.setSpan(context.active(), span);
  const onSend = (queuedMs: number) => {
    // Drawn after the fact: the queue's own path stays free of tracing work.
    const now = Date.now();
    const queued = mcpTracer().startSpan('queue wait', { kind: SpanKind.INTERNAL, startTime: now - queuedMs, attributes: { [MCP_ATTR.queuedMs]: queuedMs, ...(target.server ? { [MCP_ATTR.server]: target.server } : {}) } }, active);
    queued.end(now);
  };
  let running: Promise<T>;
  try {
    running = context.with(active, () => run({ meta: injectTraceContext(meta, span), onSend }));
  } catch (error) {
    running = Promise.reject(error);
  }
  return settle(span, running);
}

function settle<T>(span: Span, running: Promise<T>): Promise<T> {
  return running.then(
    (result) => {
      endMcpSpan(span, { result });
      return result;
    },
    (error: unknown) => {
      endMcpSpan(span, { error });
      throw error;
    },
  );
}

/** The SDK packages `serve` loads for OTLP export (optional peer dependencies). */
export const OTLP_PACKAGES = ['@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/resources'] as const;

export interface OtlpTracing {
  /** Exports what is buffered now. */
  forceFlush(): Promise<void>;
  /** Flushes what is buffered and stops exporting (bounded by the exporter's own timeout). */
  shutdown(): Promise<void>;
}

export interface OtlpTracingOptions {
  env?: NodeJS.ProcessEnv;
  /** `service.name` when `OTEL_SERVICE_NAME` is not set. @default "mcp-ipc" */
  serviceName?: string;
  /** Loads a package (injectable for tests). @default dynamic `import()` */
  load?: (name: string) => Promise<unknown>;
}

/**
 * Registers a tracer provider exporting over OTLP/HTTP (JSON) when `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; undefined otherwise. The exporter reads the
 * standard `OTEL_EXPORTER_OTLP_*` variables itself (headers, timeout, …). The SDK packages are
 * optional peer dependencies, loaded only here: a missing one is a ConfigError naming what to
 * install.
 */
export async function startOtlpTracing(options: OtlpTracingOptions = {}): Promise<OtlpTracing | undefined> {
  const env = options.env ?? process.env;
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  const load = options.load ?? ((name: string) => import(name));
  const modules: Record<string, unknown> = {};
  const missing: string[] = [];
  for (const name of OTLP_PACKAGES) {
    try {
      modules[name] = await load(name);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new ConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT is set, but ${missing.join(', ')} cannot be loaded: install them (npm install ${OTLP_PACKAGES.join(' ')}) or unset the variable`);
  }
  const sdk = modules['@opentelemetry/sdk-trace-node'] as typeof import('@opentelemetry/sdk-trace-node');
  const { OTLPTraceExporter } = modules['@opentelemetry/exporter-trace-otlp-http'] as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes } = modules['@opentelemetry/resources'] as typeof import('@opentelemetry/resources');
  const provider = new sdk.NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || options.serviceName || 'mcp-ipc' }),
    spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: tracesEndpoint(env) }))],
  });
  // Also installs the async-context manager (spans follow awaits) and the W3C propagator.
  provider.register();
  refreshTracingActive();
  return {
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
        refreshTracingActive();
      }
    },
  };
}

/**
 * Where spans go: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else `OTEL_EXPORTER_OTLP_ENDPOINT`
 * with `/v1/traces` appended (the OpenTelemetry exporter rules). Read from `env` here so an
 * injected environment is honoured.
 */
export function tracesEndpoint(env: NodeJS.ProcessEnv): string {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '';
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}
