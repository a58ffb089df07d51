import { context, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTraceContext, injectTraceContext, mcpSpanName, refreshTracingActive, startMcpSpan, traceContextMeta, tracingActive } from '../../src/core/tracing.js';
import { ConfigError } from '../../src/node/config.js';
import { startOtlpTracing, traceBridgeRequest, traceGatewayRequest, tracesEndpoint } from '../../src/node/tracing.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

function register() {
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  refreshTracingActive();
  return exporter;
}

afterEach(() => {
  trace.disable();
  context.disable();
  refreshTracingActive();
});

describe('trace context in _meta', () => {
  it('reads a W3C traceparent (+ tracestate) as a remote parent, and writes it back unchanged', () => {
    const ctx = extractTraceContext({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'congo=t61rcWkgMzE', other: 1 }, ROOT_CONTEXT);
    const spanContext = trace.getSpanContext(ctx)!;
    expect(spanContext).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: 1, isRemote: true });
    expect(traceContextMeta(spanContext)).toEqual({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'congo=t61rcWkgMzE' });
  });

  it('ignores what is not a valid traceparent', () => {
    for (const traceparent of [
      undefined,
      42,
      'garbage',
      `ff-${TRACE}-${SPAN}-01`, // version ff is invalid
      `00-${'0'.repeat(32)}-${SPAN}-01`, // all-zero trace id
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE}-${SPAN}-01-extra`, // version 00 has exactly four fields
    ]) {
      expect(trace.getSpanContext(extractTraceContext({ traceparent }, ROOT_CONTEXT)), String(traceparent)).toBeUndefined();
    }
    expect(trace.getSpanContext(extractTraceContext(null, ROOT_CONTEXT))).toBeUndefined();
    // A future version may append fields.
    expect(trace.getSpanContext(extractTraceContext({ traceparent: `01-${TRACE}-${SPAN}-00-more` }, ROOT_CONTEXT))?.traceId).toBe(TRACE);
  });

  it('names spans {method} {tool or prompt}', () => {
    expect(mcpSpanName('tools/call', { name: 'echo' })).toBe('tools/call echo');
    expect(mcpSpanName('prompts/get', { name: 'summary' })).toBe('prompts/get summary');
    expect(mcpSpanName('resources/read', { uri: 'file:///x' })).toBe('resources/read');
  });
});

describe('without an SDK', () => {
  it('is inactive, and the helpers only run the request (the caller\'s _meta untouched)', async () => {
    expect(tracingActive()).toBe(false);
    const meta = { traceparent: `00-${TRACE}-${SPAN}-01` };
    const seen = await traceBridgeRequest({ method: 'tools/call', params: { name: 'x' } }, meta, async (r) => r);
    expect(seen).toEqual({ meta, onSend: undefined });
    expect(await traceGatewayRequest('tools/call', { server: 's' }, async () => 'ran')).toBe('ran');
  });
});

describe('with an SDK', () => {
  it('gateway span continues the browser\'s trace; the bridge span is its child, writes its own traceparent and records the queue wait', async () => {
    const exporter = register();
    expect(tracingActive()).toBe(true);
    let sent: Record<string, unknown> | undefined;
    await traceGatewayRequest('tools/call', { server: 'demo', name: 'echo', _meta: { traceparent: `00-${TRACE}-${SPAN}-01` } }, () =>
      traceBridgeRequest({ method: 'tools/call', params: { name: 'echo' }, server: 'demo', era: 'legacy' }, { traceparent: 'stale', keep: 1 }, async ({ meta, onSend }) => {
        sent = meta;
        onSend?.(12);
        return { content: [], isError: true };
      }),
    );
    const spans = exporter.getFinishedSpans();
    const gateway = spans.find((s) => s.kind === SpanKind.SERVER)!;
    const bridge = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const queue = spans.find((s) => s.name === 'queue wait')!;
    expect(gateway.spanContext().traceId).toBe(TRACE);
    expect(gateway.parentSpanContext?.spanId).toBe(SPAN);
    expect(bridge.parentSpanContext?.spanId).toBe(gateway.spanContext().spanId);
    expect(queue.parentSpanContext?.spanId).toBe(bridge.spanContext().spanId);
    expect(queue.attributes['mcp_ipc.queue.wait_ms']).toBe(12);
    expect(sent).toEqual({ keep: 1, traceparent: `00-${TRACE}-${bridge.spanContext().spanId}-01` });
    // A result with isError: the call worked, the tool failed.
    expect(bridge.attributes).toMatchObject({ 'mcp_ipc.outcome': 'tool_error', 'error.type': 'tool_error', 'mcp_ipc.era': 'legacy' });
    expect(gateway.attributes['mcp_ipc.outcome']).toBe('tool_error');
  });

  it('records an error\'s code as error.type and rethrows it', async () => {
    const exporter = register();
    const failure = Object.assign(new Error('too slow'), { code: 'Timeout' });
    await expect(traceBridgeRequest({ method: 'resources/read', params: { uri: 'file:///a' } }, undefined, () => Promise.reject(failure))).rejects.toBe(failure);
    const [span] = exporter.getFinishedSpans();
    expect(span?.attributes).toMatchObject({ 'mcp.method.name': 'resources/read', 'mcp.resource.uri': 'file:///a', 'error.type': 'Timeout', 'mcp_ipc.outcome': 'error' });
    expect(span?.status.code).toBe(2);
  });

  it('injects over the caller\'s trace keys only', () => {
    register();
    const span = startMcpSpan({ method: 'ping' });
    expect(injectTraceContext({ tracestate: 'old=1', a: 2 }, span)).toEqual({ a: 2, traceparent: `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01` });
    span.end();
  });
});

describe('tracingActive', () => {
  it('sees a provider registered late within 256 checks (at once after a refresh), and its removal after a refresh', () => {
    expect(tracingActive()).toBe(false);
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    let checks = 1;
    while (!tracingActive()) checks++;
    expect(checks).toBeLessThanOrEqual(257);
    trace.disable();
    refreshTracingActive();
    expect(tracingActive()).toBe(false);
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    refreshTracingActive();
    expect(tracingActive()).toBe(true);
  });
});

describe('startOtlpTracing', () => {
  it('does nothing without OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    expect(await startOtlpTracing({ env: {}, load: () => Promise.reject(new Error('must not load')) })).toBeUndefined();
  });

  it('names the packages to install when the SDK is missing', async () => {
    const load = (name: string) => (name.includes('exporter') ? Promise.reject(new Error('Cannot find package')) : import(name));
    const failure = startOtlpTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, load });
    await expect(failure).rejects.toThrow(ConfigError);
    await expect(failure).rejects.toThrow(/@opentelemetry\/exporter-trace-otlp-http cannot be loaded: install them \(npm install @opentelemetry\/sdk-trace-node/);
  });

  it('sends to /v1/traces under the endpoint, or to the traces endpoint as given', () => {
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe('http://collector:4318/v1/traces');
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b/traces' })).toBe('http://b/traces');
  });
});
