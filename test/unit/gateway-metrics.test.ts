/**
 * The gateway's counters by label: counted as plain numbers, exposed by prom-client at scrape time
 * (one series per label value seen, none before), next to the gauges read then.
 */
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/node/gateway/metrics.js';

describe('gateway metrics', () => {
  it('counts requests, errors and refusals by label and shows them on each scrape, with no series for values never counted', async () => {
    const metrics = new GatewayMetrics(() => [], { connections: () => 2, eventLogSize: () => 0, latestSeq: () => 7 });
    const before = await metrics.render();
    expect(before).not.toMatch(/^mcp_ipc_gateway_requests_total\{/m);
    expect(before).toMatch(/^# TYPE mcp_ipc_gateway_requests_total counter$/m);
    for (let i = 0; i < 3; i++) metrics.requests.inc({ method: 'tools/call' });
    metrics.requests.inc({ method: 'unknown' });
    metrics.requestErrors.inc({ code: 'Timeout' });
    metrics.refused.inc({ limit: 'concurrentTasks' }, 2);
    const text = await metrics.render();
    expect(text).toMatch(/^mcp_ipc_gateway_requests_total\{method="tools\/call"\} 3$/m);
    expect(text).toMatch(/^mcp_ipc_gateway_requests_total\{method="unknown"\} 1$/m);
    expect(text).toMatch(/^mcp_ipc_gateway_request_errors_total\{code="Timeout"\} 1$/m);
    expect(text).toMatch(/^mcp_ipc_gateway_refused_total\{limit="concurrentTasks"\} 2$/m);
    expect(text).toMatch(/^mcp_ipc_gateway_connections 2$/m);
    expect(text).toMatch(/^mcp_ipc_gateway_latest_seq 7$/m);
    // A second scrape shows the totals again, not doubled.
    metrics.requests.inc({ method: 'tools/call' });
    expect(await metrics.render()).toMatch(/^mcp_ipc_gateway_requests_total\{method="tools\/call"\} 4$/m);
    expect(metrics.requests.get('tools/call')).toBe(4);
    expect(metrics.requests.get('ping')).toBe(0);
  });
});
