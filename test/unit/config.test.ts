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
    expect(config.mcpServers).toMatchObject({ a: { command: 'a' }, b: { command: 'b', args: ['-x'], env: { K: 'v' } } });
    expect(parseConfig({ servers: { only: { command: 'c' } } }, '/base', {}).mcpServers).toMatchObject({ only: { command: 'c' } });
  });

  it('refuses what it cannot host, naming the path', () => {
    expect(parseConfig({ servers: { r: { type: 'http', url: 'https://x.example/mcp' } } }).mcpServers.r).toMatchObject({ url: 'https://x.example/mcp' });
    expect(() => parseConfig({ servers: { r: { type: 'sse', url: 'https://x.example/sse' } } })).toThrow(/servers\.r\.type must be "http" \(Streamable HTTP\) or "stdio"/);
    expect(() => parseConfig({ servers: { s: { type: 'stdio', command: 'c', env: { KEY: '${input:key}' } } } })).toThrow(/servers\.s references \$\{input:key\}: VS Code "inputs" are not supported/);
    expect(() => parseConfig({ mcpServers: { s: { command: 'a' } }, servers: { s: { command: 'b' } } })).toThrow(/servers\.s: "s" is also in "mcpServers"/);
    expect(() => parseConfig({ servers: { w: { command: 'node', args: ['${workspaceFolder}/server.js'] } } })).toThrow(/servers\.w references \$\{workspaceFolder\}: only \$\{env:NAME\} is expanded/);
    expect(parseConfig({ servers: { e: { command: 'node', args: ['${env:HOME_DIR}/x', '$${literal}'] } } }, '/base', { HOME_DIR: '/h' }).mcpServers.e?.args).toEqual(['/h/x', '$${literal}']);
    expect(() => parseConfig({ servers: {} })).toThrow(/"servers" names no server/);
    expect(() => parseConfig({ servers: [] })).toThrow(ConfigError);
  });
});

describe('parseConfig: cache and tool policy', () => {
  it('keeps the cache and tools sections', () => {
    const server = one({
      cache: { tools: 'readOnly', ttlMs: 5000, maxEntries: 10, maxBytes: 1024 },
      tools: { allow: ['read_*'], deny: ['read_secret'], confirm: ['read_big*'], confirmTimeoutMs: 30000 },
    });
    expect(server.cache).toEqual({ tools: 'readOnly', ttlMs: 5000, maxEntries: 10, maxBytes: 1024 });
    expect(server.tools).toEqual({ allow: ['read_*'], deny: ['read_secret'], confirm: ['read_big*'], confirmTimeoutMs: 30000 });
    expect(one({ cache: { tools: ['search'] } }).cache).toEqual({ tools: ['search'] });
  });

  it('names the exact path of a bad value', () => {
    expect(() => one({ cache: { tools: 'all' } })).toThrow(/mcpServers\.s\.cache\.tools must be "readOnly" or an array/);
    expect(() => one({ cache: { ttlMs: 0 } })).toThrow(/cache\.ttlMs must be a positive number/);
    expect(() => one({ cache: { ttl: 5 } })).toThrow(/cache\.ttl is not a cache setting/);
    expect(() => one({ tools: { deny: 'rm' } })).toThrow(/tools\.deny must be an array/);
    expect(() => one({ tools: { deny: [''] } })).toThrow(ConfigError);
    expect(() => one({ tools: { block: ['x'] } })).toThrow(/tools\.block is not a tool policy setting/);
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
