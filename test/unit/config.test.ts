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

describe("parseConfig: VS Code's servers format", () => {
  it('reads "servers" entries of type stdio beside "mcpServers", ignoring "inputs"', () => {
    const config = parseConfig(
      { inputs: [{ id: 'key', type: 'promptString' }], mcpServers: { a: { command: 'a' } }, servers: { b: { type: 'stdio', command: 'b', args: ['-x'], env: { K: 'v' } } } },
      '/base',
      {},
    );
    expect(config.mcpServers).toEqual({ a: { command: 'a' }, b: { command: 'b', args: ['-x'], env: { K: 'v' } } });
    expect(parseConfig({ servers: { only: { command: 'c' } } }, '/base', {}).mcpServers).toEqual({ only: { command: 'c' } });
  });

  it('refuses what it cannot host, naming the path', () => {
    expect(() => parseConfig({ servers: { r: { type: 'http', url: 'https://x.example/mcp' } } })).toThrow(/servers\.r\.type is "http"/);
    expect(() => parseConfig({ servers: { s: { type: 'stdio', command: 'c', env: { KEY: '${input:key}' } } } })).toThrow(/servers\.s references \$\{input:key\}: VS Code "inputs" are not supported/);
    expect(() => parseConfig({ mcpServers: { s: { command: 'a' } }, servers: { s: { command: 'b' } } })).toThrow(/servers\.s: "s" is also in "mcpServers"/);
    expect(() => parseConfig({ servers: { w: { command: 'node', args: ['${workspaceFolder}/server.js'] } } })).toThrow(/servers\.w references \$\{workspaceFolder\}: only \$\{env:NAME\} is expanded/);
    expect(parseConfig({ servers: { e: { command: 'node', args: ['${env:HOME_DIR}/x', '$${literal}'] } } }, '/base', { HOME_DIR: '/h' }).mcpServers.e?.args).toEqual(['/h/x', '$${literal}']);
    expect(() => parseConfig({ servers: {} })).toThrow(/"servers" names no server/);
    expect(() => parseConfig({ servers: [] })).toThrow(ConfigError);
  });
});
