import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/node/config.js';
import { McpBridge } from '../../src/node/mcp-bridge.js';

const env = { TOKEN: 's3cret', HOST: 'mcp.example.com' };
const remote = (server: Record<string, unknown>) => parseConfig({ mcpServers: { r: server } }, '/etc/mcp', env).mcpServers.r!;
const fails = (server: Record<string, unknown>) => () => remote(server);

describe('parseConfig: remote servers (url)', () => {
  it('reads url, headers, auth and tls, expanding ${env:NAME} and resolving files against the config folder', () => {
    const server = remote({
      type: 'http',
      url: 'https://${env:HOST}/mcp',
      headers: { 'X-Api-Key': '${env:TOKEN}' },
      auth: { type: 'oauth', tokenFile: 'tokens/r.json', clientId: 'me', clientSecret: '${env:TOKEN}', scope: 'mcp' },
      tls: { ca: 'ca.pem', cert: '/pki/client.pem', key: 'client.key' },
      queue: { timeoutMs: 5000 },
    });
    expect(server).toMatchObject({
      url: 'https://mcp.example.com/mcp',
      headers: { 'X-Api-Key': 's3cret' },
      auth: { type: 'oauth', grant: 'client_credentials', tokenFile: '/etc/mcp/tokens/r.json', clientId: 'me', clientSecret: 's3cret', scope: 'mcp' },
      tls: { ca: '/etc/mcp/ca.pem', cert: '/pki/client.pem', key: '/etc/mcp/client.key' },
      queue: { timeoutMs: 5000 },
    });
    expect(server.command).toBeUndefined();
    expect(remote({ url: 'http://127.0.0.1:3001/mcp', auth: { type: 'bearer', token: '${env:TOKEN}' } }).auth).toEqual({ type: 'bearer', token: 's3cret' });
  });

  it('accepts the type spellings common hosts write', () => {
    for (const type of ['http', 'streamable-http', 'streamableHttp']) expect(remote({ type, url: 'https://h/mcp' }).url).toBe('https://h/mcp');
  });

  it('names the path of every mistake', () => {
    expect(fails({ type: 'sse', url: 'https://h/sse' })).toThrow(/mcpServers\.r\.type .*HTTP\+SSE transport is not supported/);
    expect(fails({ url: 'ftp://h/mcp' })).toThrow(/mcpServers\.r\.url must be an http/);
    expect(fails({ url: 'not a url' })).toThrow(/mcpServers\.r\.url is not a valid URL/);
    expect(fails({ url: 'https://h/mcp', command: 'x' })).toThrow(/mcpServers\.r\.command is for local servers/);
    expect(fails({ url: 'https://h/mcp', headers: { a: 1 } })).toThrow(/mcpServers\.r\.headers must map/);
    expect(fails({ url: 'https://${env:MISSING}/mcp' })).toThrow(/mcpServers\.r\.url references \$\{env:MISSING\}/);
    expect(fails({ url: 'https://h/mcp', auth: { type: 'basic' } })).toThrow(/mcpServers\.r\.auth\.type must be "bearer" or "oauth"/);
    expect(fails({ url: 'https://h/mcp', auth: { type: 'oauth' } })).toThrow(/mcpServers\.r\.auth\.tokenFile must be/);
    expect(fails({ url: 'https://h/mcp', auth: { type: 'oauth', tokenFile: 't', grant: 'password' } })).toThrow(/mcpServers\.r\.auth\.grant/);
    expect(fails({ url: 'https://h/mcp', tls: { cert: 'c.pem' } })).toThrow(/mcpServers\.r\.tls\.cert and .*key go together/);
    expect(fails({ command: 'x', headers: {} })).toThrow(/mcpServers\.r\.headers is for remote servers/);
    expect(fails({ url: 'https://h/mcp' })).not.toThrow();
    expect(fails({ type: 'http' })).toThrow(ConfigError);
  });

  it('never switches certificate verification off', () => {
    expect(fails({ url: 'https://h/mcp', tls: { rejectUnauthorized: false } })).toThrow(/verification cannot be switched off/);
    expect(fails({ url: 'https://h/mcp', tls: { insecure: true } })).toThrow(/verification cannot be switched off/);
  });

  it('a bridge needs exactly one of command and url', () => {
    expect(() => new McpBridge('x', {})).toThrow(TypeError);
    expect(() => new McpBridge('x', { command: 'a', url: 'https://h/mcp' })).toThrow(/exactly one of "command"/);
  });
});
