import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/node/config.js';

const one = (server: Record<string, unknown>) => parseConfig({ mcpServers: { s: { command: 'x', ...server } } }).mcpServers.s!;

describe('parseConfig: MCP settings', () => {
  it('keeps roots, capabilities, protocolVersions and probeTimeoutMs (they used to be dropped)', () => {
    const server = one({
      roots: [{ uri: 'file:///home/me/project', name: 'project' }, { uri: 'file:///tmp' }],
      capabilities: { sampling: {}, elicitation: { form: {} } },
      protocolVersions: ['2025-11-25'],
      probeTimeoutMs: 1500,
    });
    expect(server.roots).toEqual([{ uri: 'file:///home/me/project', name: 'project' }, { uri: 'file:///tmp' }]);
    expect(server.capabilities).toEqual({ sampling: {}, elicitation: { form: {} } });
    expect(server.protocolVersions).toEqual(['2025-11-25']);
    expect(server.probeTimeoutMs).toBe(1500);
  });

  it('names the bad value', () => {
    expect(() => one({ roots: [{ uri: 'not a uri' }] })).toThrow(/mcpServers\.s\.roots\[0\]\.uri/);
    expect(() => one({ roots: { uri: 'file:///x' } })).toThrow(ConfigError);
    expect(() => one({ capabilities: { sampling: true } })).toThrow(/mcpServers\.s\.capabilities/);
    expect(() => one({ protocolVersions: ['2030-01-01'] })).toThrow(/protocolVersions/);
    expect(() => one({ probeTimeoutMs: 0 })).toThrow(/probeTimeoutMs/);
  });
});

describe('parseConfig: server pools', () => {
  it('keeps replicas (a count or min/max settings) and sticky', () => {
    expect(one({ replicas: 3 }).replicas).toBe(3);
    expect(one({ replicas: { min: 1, max: 4, scaleUpAfterMs: 500 }, sticky: true })).toMatchObject({ replicas: { min: 1, max: 4, scaleUpAfterMs: 500 }, sticky: true });
  });

  it('names the bad value', () => {
    const bad = (server: Record<string, unknown>) => () => one(server);
    expect(bad({ replicas: 0 })).toThrow(/mcpServers\.s\.replicas must be an integer ≥ 1/);
    expect(bad({ replicas: 1.5 })).toThrow(ConfigError);
    expect(bad({ replicas: '2' })).toThrow(/mcpServers\.s\.replicas must be/);
    expect(bad({ replicas: { min: 3, max: 2 } })).toThrow(/mcpServers\.s\.replicas: max must be an integer ≥ min/);
    expect(bad({ replicas: { min: 1, max: 2, scaleUp: 1 } })).toThrow(/mcpServers\.s\.replicas\.scaleUp is not a setting/);
    expect(bad({ replicas: { min: 1, max: 2, cooldownMs: 'soon' } })).toThrow(/cooldownMs must be a number/);
    expect(bad({ replicas: 2, sticky: 'yes' })).toThrow(/sticky must be true or false/);
    expect(bad({ sticky: true })).toThrow(/sticky needs "replicas"/);
  });
});
