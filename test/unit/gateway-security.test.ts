import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { bearerToken, hostAllowed, hostPolicy, originAllowed, ownOrigins } from '../../src/node/gateway/security.js';
import { isLoopback } from '../../src/node/cli/serve.js';

const req = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

describe('gateway security over TLS', () => {
  it('own origins are https:// and a Host without a port means 443 when served over TLS', () => {
    const secure = hostPolicy('0.0.0.0', 443, ['mcp.example'], true);
    expect(ownOrigins(secure)).toContain('https://mcp.example');
    expect(ownOrigins(secure)).not.toContain('http://mcp.example:443');
    expect(hostAllowed('mcp.example', secure)).toBe(true);
    expect(originAllowed('https://mcp.example', ownOrigins(secure), [])).toBe(true);
    expect(originAllowed('http://mcp.example:443', ownOrigins(secure), [])).toBe(false);
    const plain = hostPolicy('0.0.0.0', 443, ['mcp.example']);
    expect(hostAllowed('mcp.example', plain)).toBe(false);
    expect(ownOrigins(plain)).toContain('http://mcp.example:443');
  });

  it('bearerToken reads Authorization: Bearer only', () => {
    expect(bearerToken(req('Bearer abc'))).toBe('abc');
    expect(bearerToken(req('bearer   abc  '))).toBe('abc');
    expect(bearerToken(req('Basic abc'))).toBeUndefined();
    expect(bearerToken(req())).toBeUndefined();
  });

  it('isLoopback: 127/8, ::1 and localhost only', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.5', 'example.com', '127.0.0.1.example.com']) expect(isLoopback(h)).toBe(false);
  });
});
