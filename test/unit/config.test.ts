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
