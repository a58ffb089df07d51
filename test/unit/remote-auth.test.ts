import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { authProviderFor, FileOAuthProvider, InteractiveLoginRequired } from '../../src/node/remote-auth.js';
import { loadTlsOptions, tlsErrorOf } from '../../src/node/tls.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-auth-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('FileOAuthProvider', () => {
  it('keeps tokens in a file only its owner can read, written atomically, and narrows a wider existing file', () => {
    const dir = tempDir();
    const tokenFile = join(dir, 'nested', 'tokens.json');
    const provider = new FileOAuthProvider({ type: 'oauth', tokenFile, clientId: 'c' });
    expect(provider.tokens()).toBeUndefined();
    provider.saveTokens({ access_token: 'a1', token_type: 'Bearer' });
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(provider.tokens()).toMatchObject({ access_token: 'a1' });
    writeFileSync(tokenFile, readFileSync(tokenFile), { mode: 0o644 });
    provider.saveCodeVerifier('v');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(provider.tokens()).toMatchObject({ access_token: 'a1' }); // other entries kept
    expect(readdirSync(join(dir, 'nested'))).toEqual(['tokens.json']); // no temp file left
  });

  it('client_credentials is non-interactive (no redirect URL, a token request of its own); refresh_token is not', () => {
    const tokenFile = join(tempDir(), 't.json');
    const cc = new FileOAuthProvider({ type: 'oauth', tokenFile, clientId: 'c', clientSecret: 's', scope: 'mcp' });
    expect(cc.redirectUrl).toBeUndefined();
    expect(cc.prepareTokenRequest?.()?.toString()).toBe('grant_type=client_credentials&scope=mcp');
    expect(cc.clientMetadata).toMatchObject({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' });
    const rt = new FileOAuthProvider({ type: 'oauth', grant: 'refresh_token', tokenFile, clientId: 'c' });
    expect(rt.redirectUrl).toBe('http://127.0.0.1/oauth/callback');
    expect(rt.prepareTokenRequest).toBeUndefined();
    expect(() => rt.redirectToAuthorization(new URL('https://as.example/authorize?x=1'))).toThrow(InteractiveLoginRequired);
  });

  it('the configured client wins over a saved registration, keeping the issuer the SDK stamped', () => {
    const tokenFile = join(tempDir(), 't.json');
    const provider = new FileOAuthProvider({ type: 'oauth', tokenFile, clientId: 'configured', clientSecret: 's' });
    provider.saveClientInformation({ client_id: 'registered', issuer: 'https://as.example' } as never);
    expect(provider.clientInformation()).toMatchObject({ client_id: 'configured', client_secret: 's', issuer: 'https://as.example' });
    expect(new FileOAuthProvider({ type: 'oauth', tokenFile }).clientInformation()).toMatchObject({ client_id: 'registered' });
  });

  it('a bearer config is a provider that only yields its token', async () => {
    const provider = authProviderFor({ type: 'bearer', token: 't0k' }) as { token: () => Promise<string> };
    await expect(provider.token()).resolves.toBe('t0k');
  });
});

describe('TLS settings and errors', () => {
  const error = (code: string) => Object.assign(new Error(`boom ${code}`), { code });

  it('classifies what Node reports', () => {
    const url = 'https://h/mcp';
    expect(tlsErrorOf(error('SELF_SIGNED_CERT_IN_CHAIN'), url)?.data).toEqual({ url, reason: 'untrusted', osCode: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(tlsErrorOf(error('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), url)?.data.reason).toBe('untrusted');
    expect(tlsErrorOf(error('ERR_TLS_CERT_ALTNAME_INVALID'), url)?.data.reason).toBe('hostname');
    expect(tlsErrorOf(error('CERT_HAS_EXPIRED'), url)?.data.reason).toBe('expired');
    const handshake = tlsErrorOf(error('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), url);
    expect(handshake?.data.reason).toBe('handshake');
    expect(handshake?.message).toMatch(/client certificate/);
    expect(tlsErrorOf(error('ECONNREFUSED'), url)).toBeUndefined();
    expect(tlsErrorOf(new Error('no code'), url)).toBeUndefined();
  });

  it('extra CAs add to the built-in roots; a client certificate needs its key; unreadable files are named', () => {
    const dir = tempDir();
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const options = loadTlsOptions({ ca });
    expect(options!.ca!.length).toBeGreaterThan(100);
    expect(options!.ca!.at(-1)).toContain('MIIB');
    expect(() => loadTlsOptions({ cert: ca })).toThrow(/go together/);
    expect(() => loadTlsOptions({ ca: join(dir, 'missing.pem') })).toThrow(/Cannot read tls\.ca .*missing\.pem/);
    expect(loadTlsOptions(undefined)).toBeUndefined();
  });
});
