/**
 * Remote MCP servers over Streamable HTTP, with real parts only: server-everything in
 * `streamableHttp` mode behind a local TLS terminator (certificates made with openssl), a small
 * OAuth authorisation server, and a small modern-era HTTP server whose response streams can be cut.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, ServerCrashedError, StartupFailedError } from '../../src/core/errors.js';
import { parseConfig } from '../../src/node/config.js';
import { McpBridge, type McpServerConfig } from '../../src/node/mcp-bridge.js';
import {
  type AuthServer,
  type Certificates,
  freePort,
  makeCertificates,
  type ModernServer,
  startAuthServer,
  startEverything,
  startModernServer,
  startSdkServer,
  startTerminator,
  stopChild,
  type Terminator,
} from '../fixtures/remote-harness.js';

let certs: Certificates;
let everythingPort: number;
let everything: ChildProcess | undefined;
const bridges: McpBridge[] = [];
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  certs = makeCertificates();
  everythingPort = await freePort();
  everything = await startEverything(everythingPort);
});

afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.stop()));
});

afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  await stopChild(everything);
  certs?.remove();
});

function bridge(name: string, config: McpServerConfig): McpBridge {
  const b = new McpBridge(name, { process: { healthCheckIntervalMs: 0, usageIntervalMs: 0 }, ...config });
  bridges.push(b);
  return b;
}

async function terminator(options: Omit<Parameters<typeof startTerminator>[0], 'certs' | 'upstreamPort'> = {}): Promise<Terminator> {
  const t = await startTerminator({ certs, upstreamPort: () => everythingPort, ...options });
  closers.push(() => t.close());
  return t;
}

function startupCause(error: unknown): { code?: string; data?: Record<string, unknown> } {
  expect(error).toBeInstanceOf(StartupFailedError);
  return (error as StartupFailedError).data.cause as { code?: string; data?: Record<string, unknown> };
}

describe('remote server behind TLS', () => {
  it('connects with the CA named in the config and speaks the legacy era with server-everything', async () => {
    const t = await terminator();
    const b = bridge('remote', { url: t.url, tls: { ca: certs.caCert } });
    // Server→client requests arrive on a response stream and are answered with a POST.
    b.setRequestHandler('sampling/createMessage', () => ({ role: 'assistant', model: 'test-model', content: { type: 'text', text: 'sampled over https' } }));
    await b.start();
    expect(b.server.era).toBe('legacy');
    expect(b.snapshot()).toMatchObject({ state: 'running', pid: null });
    expect((await b.listTools()).map((tool) => tool.name)).toContain('echo');
    const result = await b.call('echo', { message: 'over https' });
    expect(JSON.stringify(result.content)).toContain('over https');
    // Progress comes over the response stream like over stdio.
    const progress: number[] = [];
    await b.call('trigger-long-running-operation', { duration: 0.3, steps: 3 }, { onProgress: (p) => progress.push(p.progress) });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    const sampled = await b.call('trigger-sampling-request', { prompt: 'Say hi', maxTokens: 10 });
    expect(JSON.stringify(sampled.content)).toContain('sampled over https');
  });

  it('fails at once with a typed TLS error when the certificate is not trusted (verification is never switched off)', async () => {
    const t = await terminator();
    const b = bridge('untrusted', { url: t.url });
    const error = await b.start().then(() => undefined, (e: unknown) => e);
    const cause = startupCause(error);
    expect(cause.code).toBe('Tls');
    expect(cause.data).toMatchObject({ reason: 'untrusted', url: t.url });
    expect((error as Error).message).toMatch(/not signed by a trusted CA/);
    expect(b.state).toBe('failed');
  });

  it('a CA file that does not exist fails the start at once, naming it', async () => {
    const b = bridge('missing-ca', { url: 'https://127.0.0.1:9/mcp', tls: { ca: join(certs.dir, 'missing.pem') } });
    const error = await b.start().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(StartupFailedError);
    expect((error as StartupFailedError).data.phase).toBe('spawn');
    expect((error as Error).message).toMatch(/Cannot read tls\.ca .*missing\.pem/);
  });

  it('names a certificate issued for another host', async () => {
    const t = await terminator();
    const b = bridge('wrong-host', { url: t.url, tls: { ca: certs.caCert, servername: 'elsewhere.example' } });
    const error = await b.start().then(() => undefined, (e: unknown) => e);
    expect(startupCause(error)).toMatchObject({ code: 'Tls', data: { reason: 'hostname', osCode: 'ERR_TLS_CERT_ALTNAME_INVALID' } });
  });

  it('presents a client certificate when the server asks for one, and says so when it is missing', async () => {
    const t = await terminator({ requireClientCert: true });
    const without = bridge('no-client-cert', { url: t.url, tls: { ca: certs.caCert } });
    const error = await without.start().then(() => undefined, (e: unknown) => e);
    expect(startupCause(error)).toMatchObject({ code: 'Tls', data: { reason: 'handshake' } });
    const withCert = bridge('client-cert', { url: t.url, tls: { ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey } });
    await withCert.start();
    expect(JSON.stringify((await withCert.call('echo', { message: 'mtls' })).content)).toContain('mtls');
  });
});

describe('credentials', () => {
  it('sends a bearer token taken from the environment (${env:NAME} in the config)', async () => {
    const t = await terminator({ authorize: (h) => h === 'Bearer s3cret' });
    const config = parseConfig(
      { mcpServers: { good: { type: 'http', url: t.url, auth: { type: 'bearer', token: '${env:REMOTE_TOKEN}' }, tls: { ca: certs.caCert } } } },
      '/',
      { REMOTE_TOKEN: 's3cret' },
    );
    const good = bridge('bearer', config.mcpServers.good!);
    await good.start();
    expect((await good.listTools()).length).toBeGreaterThan(0);

    const wrong = bridge('bearer-wrong', { url: t.url, headers: { Authorization: 'Bearer nope' }, tls: { ca: certs.caCert } });
    const error = await wrong.start().then(() => undefined, (e: unknown) => e);
    expect(startupCause(error)).toMatchObject({ code: 'Unauthorized', data: { status: 401 } });
  });

  describe('OAuth 2.1 through the SDK provider', () => {
    let as: AuthServer;
    let t: Terminator;
    let dir: string;
    beforeAll(async () => {
      as = await startAuthServer({ id: 'mcp-ipc-test', secret: 'client-secret' });
      closers.push(() => as.close());
      t = await terminator({ authorize: (h) => h?.startsWith('Bearer ') === true && as.accessTokens.has(h.slice(7)), authorizationServer: () => as.url });
      dir = mkdtempSync(join(tmpdir(), 'mcp-ipc-oauth-'));
      closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    });

    it('client_credentials: discovers the authorisation server, gets a token, keeps it in a 0600 file, and gets a new one on 401', async () => {
      const tokenFile = join(dir, 'cc', 'tokens.json');
      const b = bridge('oauth-cc', { url: t.url, tls: { ca: certs.caCert }, auth: { type: 'oauth', tokenFile, clientId: 'mcp-ipc-test', clientSecret: 'client-secret' } });
      await b.start();
      expect(as.issued.client_credentials).toBe(1);
      const saved = JSON.parse(readFileSync(tokenFile, 'utf8')) as { tokens: { access_token: string } };
      expect(as.accessTokens.has(saved.tokens.access_token)).toBe(true);
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      // The token is revoked: the next request gets 401, the provider gets a new token, the call goes through.
      as.accessTokens.clear();
      expect(JSON.stringify((await b.call('echo', { message: 'after 401' })).content)).toContain('after 401');
      expect(as.issued.client_credentials).toBeGreaterThanOrEqual(2);
    });

    it('refresh_token: refreshes an expired access token from the token file on 401 and stores the new pair', async () => {
      const tokenFile = join(dir, 'rt.json');
      as.refreshTokens.add('rt-seeded');
      writeFileSync(tokenFile, JSON.stringify({ tokens: { access_token: 'expired', token_type: 'Bearer', refresh_token: 'rt-seeded' } }), { mode: 0o644 });
      const b = bridge('oauth-rt', { url: t.url, tls: { ca: certs.caCert }, auth: { type: 'oauth', grant: 'refresh_token', tokenFile, clientId: 'mcp-ipc-test', clientSecret: 'client-secret' } });
      await b.start();
      expect(as.issued.refresh_token).toBe(1);
      const saved = JSON.parse(readFileSync(tokenFile, 'utf8')) as { tokens: { access_token: string; refresh_token: string } };
      expect(saved.tokens.refresh_token).not.toBe('rt-seeded');
      expect(as.accessTokens.has(saved.tokens.access_token)).toBe(true);
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    });

    it('a refresh token the authorisation server refuses needs a person: Unauthorized, interactive-login-required', async () => {
      const tokenFile = join(dir, 'revoked.json');
      writeFileSync(tokenFile, JSON.stringify({ tokens: { access_token: 'expired', token_type: 'Bearer', refresh_token: 'rt-unknown' } }));
      const b = bridge('oauth-login', { url: t.url, tls: { ca: certs.caCert }, auth: { type: 'oauth', grant: 'refresh_token', tokenFile, clientId: 'mcp-ipc-test', clientSecret: 'client-secret' } });
      const error = await b.start().then(() => undefined, (e: unknown) => e);
      const cause = startupCause(error);
      expect(cause).toMatchObject({ code: 'Unauthorized', data: { reason: 'interactive-login-required' } });
      expect((error as Error).message).toMatch(/refused the refresh token \(invalid_grant\); log in again/);
    });
  });
});

describe('supervision of a remote server', () => {
  it('reconnects with backoff after the server was killed and restarted', async () => {
    const t = await terminator();
    const b = bridge('restarting', {
      url: t.url,
      tls: { ca: certs.caCert },
      process: { healthCheckIntervalMs: 200, healthCheckTimeoutMs: 1000, healthCheckFailures: 1, restartDelayMs: 100, restartMaxDelayMs: 400, maxRestarts: 50, usageIntervalMs: 0 },
    });
    await b.start();
    const states: string[] = [];
    b.on('state', (s) => states.push(s.state));
    const crashed = new Promise<void>((resolve) => b.on('state', (s) => s.state === 'restarting' && resolve()));
    await stopChild(everything);
    await crashed;
    expect(b.process.history().some((e) => e.type === 'exit' && /Connection ended/.test(e.message))).toBe(true);
    const running = new Promise<void>((resolve) => b.on('state', (s) => s.state === 'running' && resolve()));
    everything = await startEverything(everythingPort);
    await running;
    expect(b.process.restarts).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify((await b.call('echo', { message: 'back' })).content)).toContain('back');
  });

  it('a server restarted between two calls: the refused call (session gone) is resent on a new session', async () => {
    const t = await terminator();
    const b = bridge('new-session', { url: t.url, tls: { ca: certs.caCert }, process: { healthCheckIntervalMs: 0, restartDelayMs: 50, maxRestarts: 50, usageIntervalMs: 0 } });
    await b.start();
    await b.listTools(); // nothing of ours is in flight while the server is away
    await stopChild(everything);
    everything = await startEverything(everythingPort);
    // Not idempotent as far as the caller knows: resent only because the server refused it unread.
    const result = await b.call('echo', { message: 'new session' }, { retryable: false });
    expect(JSON.stringify(result.content)).toContain('new session');
    expect(b.process.restarts).toBe(1);
    expect(b.process.history().some((e) => /no longer knows our session/.test(e.message))).toBe(true);
  });

  it('legacy era: a cut response stream is resumed (Last-Event-ID) and the call completes', async () => {
    const t = await terminator();
    const b = bridge('resume', { url: t.url, tls: { ca: certs.caCert } });
    await b.start();
    const cut = t.cutNext('trigger-long-running-operation');
    const call = b.call('trigger-long-running-operation', { duration: 1, steps: 4 }, { onProgress: () => undefined });
    await cut;
    const result = await call;
    expect(JSON.stringify(result.content)).toMatch(/completed/i);
  });

  it('legacy era: a non-idempotent call whose server died fails with outcome unknown, never resent', async () => {
    const t = await terminator();
    const b = bridge('died', {
      url: t.url,
      tls: { ca: certs.caCert },
      process: { healthCheckIntervalMs: 0, restartDelayMs: 100, maxRestarts: 50, usageIntervalMs: 0 },
    });
    await b.start();
    // The tool is annotated idempotent (it would be resent); the caller says this call is not.
    let running!: () => void;
    const started = new Promise<void>((r) => (running = r));
    const call = b.call('trigger-long-running-operation', { duration: 5, steps: 5 }, { onProgress: () => running(), retryable: false }).then(() => undefined, (e: unknown) => e);
    await started; // the first progress: the call is running on the server
    await stopChild(everything);
    const error = await call;
    expect(error).toBeInstanceOf(ServerCrashedError);
    expect((error as ServerCrashedError).data.outcomeUnknown).toBe(true);
    everything = await startEverything(everythingPort);
  });
});

describe('modern era over HTTP', () => {
  let server: ModernServer;
  beforeAll(async () => {
    server = await startModernServer();
    closers.push(() => server.close());
  });

  it('speaks the modern era, re-issues a side-effect-free request whose stream broke, and never resends a non-idempotent call', async () => {
    const b = bridge('modern', { url: server.url });
    await b.start();
    expect(b.server.era).toBe('modern');
    await b.listTools(); // the background load after the start is done: the cut below is ours

    server.cutNext('tools/list');
    const before = server.methods.get('tools/list') ?? 0;
    const listed = await b.request<{ tools: Array<{ name: string }> }>('tools/list');
    expect(listed.tools.map((t) => t.name)).toEqual(['charge', 'lookup', 'slow']);
    expect(server.methods.get('tools/list')).toBe(before + 2); // cut once, re-issued once

    server.cutNext('tools/call:charge');
    const error = await b.call('charge', {}).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ServerCrashedError);
    expect((error as ServerCrashedError).data.outcomeUnknown).toBe(true);
    expect(server.calls.get('charge')).toBe(1);

    // A tool annotated idempotent is resent (by the IpcManager, as after a crash).
    server.cutNext('tools/call:lookup');
    expect(JSON.stringify((await b.call('lookup', {}, { timeoutMs: 5000 })).content)).toContain('lookup done');
    expect(server.calls.get('lookup')).toBe(2);
    expect(b.state).toBe('running');
  });

  it('a reused socket reset after the request was written: a non-idempotent call is never resent, a read-only request is', async () => {
    const b = bridge('modern-reset', { url: server.url });
    await b.start();
    await b.listTools(); // the keep-alive socket the next requests reuse

    const charged = server.calls.get('charge') ?? 0;
    server.dropNext('tools/call:charge'); // the server charges, then dies before answering
    const error = await b.call('charge', {}).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ServerCrashedError);
    expect((error as ServerCrashedError).data.outcomeUnknown).toBe(true);
    expect(server.calls.get('charge')).toBe(charged + 1);

    await b.listTools();
    server.dropNext('tools/list');
    const before = server.methods.get('tools/list') ?? 0;
    expect((await b.request<{ tools: unknown[] }>('tools/list')).tools).toHaveLength(3);
    expect(server.methods.get('tools/list')).toBe(before + 2);
  });

  it("a gateway's 502/504 may have delivered the call (outcome unknown, never resent); its 503 did not (resent after the reconnect)", async () => {
    const b = bridge('modern-gateway', { url: server.url, process: { healthCheckIntervalMs: 0, usageIntervalMs: 0, restartDelayMs: 20, restartMaxDelayMs: 40, maxRestarts: 50 } });
    await b.start();
    const charged = server.calls.get('charge') ?? 0;
    for (const status of [504, 502]) {
      server.statusNext('tools/call:charge', status);
      const error = await b.call('charge', {}).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ServerCrashedError);
      expect((error as ServerCrashedError).data.outcomeUnknown).toBe(true);
    }
    expect(server.calls.get('charge')).toBe(charged + 2); // each ran once, none twice

    server.statusNext('tools/call:charge', 503);
    expect(JSON.stringify((await b.call('charge', {}, { timeoutMs: 5000 })).content)).toContain('charge done');
    expect(server.calls.get('charge')).toBe(charged + 3);
  });

  it('never lets secrets in the URL (query, userinfo) into events, snapshots, errors or the connection log', async () => {
    const secretUrl = `${server.url.replace('http://', 'http://alice:pa55-SECRET-word@')}?api_key=KEY-SECRET-123`;
    const b = bridge('modern-secret', { url: secretUrl, process: { healthCheckIntervalMs: 0, usageIntervalMs: 0, restartDelayMs: 20, restartMaxDelayMs: 40, maxRestarts: 50 } });
    await b.start();
    // The secrets are used for the requests themselves.
    expect(server.last.url).toBe('/mcp?api_key=KEY-SECRET-123');
    expect(server.last.authorization).toBe(`Basic ${Buffer.from('alice:pa55-SECRET-word').toString('base64')}`);
    const errors: unknown[] = [];
    server.statusNext('tools/call:charge', 504); // the connection "exits" and reconnects
    errors.push(await b.call('charge', {}).catch((e: unknown) => e));
    server.statusNext('tools/call:lookup', 500); // answered with an HTTP error
    errors.push(await b.call('lookup', {}).catch((e: unknown) => e));
    await b.stop();
    errors.push(await b.call('lookup', {}).catch((e: unknown) => e));
    // Never reachable: a start-up failure names the endpoint too.
    const dead = bridge('dead-secret', { url: `http://bob:dead-SECRET@127.0.0.1:${await freePort()}/mcp?token=DEAD-SECRET` });
    errors.push(await dead.start().catch((e: unknown) => e));
    const seen = JSON.stringify({
      history: [...b.process.history(), ...dead.process.history()],
      snapshot: [b.snapshot(), dead.snapshot()],
      errors: errors.map((e) => ({ message: (e as Error).message, json: (e as { toJSON?: () => unknown }).toJSON?.() })),
      stderr: [...b.stderrTail(200), ...dead.stderrTail(200)],
    });
    expect(errors.every((e) => e instanceof Error)).toBe(true);
    expect(seen).toContain('/mcp'); // named, by origin and path
    expect(seen).not.toMatch(/SECRET|alice|bob/);
  });

  it('cancels by closing the request\'s stream (the modern signal), without a notifications/cancelled', async () => {
    const b = bridge('modern-cancel', { url: server.url });
    await b.start();
    const controller = new AbortController();
    const slow = server.nextSlow();
    const call = b.call('slow', {}, { signal: controller.signal }).then(() => undefined, (e: unknown) => e);
    await slow.started;
    controller.abort('user gave up');
    expect(await call).toBeInstanceOf(CancelledError);
    await slow.closed;
    expect(server.notifications.get('notifications/cancelled')).toBeUndefined();
    expect(JSON.stringify((await b.call('lookup', {})).content)).toContain('lookup done');
  });
});

describe('the official SDK server over HTTP (createMcpHandler)', () => {
  it('speaks the modern era with it, and the legacy era when told to', async () => {
    const sdk = await startSdkServer();
    closers.push(() => sdk.close());
    const modern = bridge('sdk-modern', { url: sdk.url });
    await modern.start();
    expect(modern.server).toMatchObject({ era: 'modern', info: { name: 'sdk-http-fixture' } });
    expect(JSON.stringify((await modern.call('echo', { message: 'modern' })).content)).toContain('echo: modern');
    // Its stateless legacy fallback, for a host that offers only handshake revisions.
    const legacy = bridge('sdk-legacy', { url: sdk.url, protocolVersions: ['2025-11-25'] });
    await legacy.start();
    expect(legacy.server.era).toBe('legacy');
    expect(JSON.stringify((await legacy.call('echo', { message: 'legacy' })).content)).toContain('echo: legacy');
  });
});
