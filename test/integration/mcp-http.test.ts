/**
 * `/mcp/NAME` with real parts: McpHost running the demo server (Python) and the ops fixture, the
 * gateway on an ephemeral loopback port, and the official MCP SDK clients — v2
 * (`@modelcontextprotocol/client`) and v1 (`@modelcontextprotocol/sdk`) — connecting unchanged.
 */
import { execFile } from 'node:child_process';
import { type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, type AuditRecord } from '../../src/node/audit-log.js';
import { demoServerConfig, parseConfig } from '../../src/node/config.js';
import { type Gateway, startGateway } from '../../src/node/gateway.js';
import type { McpBridge } from '../../src/node/mcp-bridge.js';
import { McpHost } from '../../src/node/mcp-host.js';

const OPS = resolve(import.meta.dirname, '../fixtures/ops-server.mjs');
const OPS_TOKEN = 'ops-only-token-0123456789abcdef';
const quiet = { healthCheckIntervalMs: 0, usageIntervalMs: 0 };

let host: McpHost;
let gateway: Gateway;
let dir: string;
let audit: AuditLog;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-http-'));
  audit = new AuditLog(join(dir, 'audit.jsonl'));
  host = new McpHost(
    {
      mcpServers: {
        demo: demoServerConfig({ process: quiet }),
        ops: { command: process.execPath, args: [OPS], process: quiet, tools: { deny: ['delete_*'] }, expose: { tokens: [OPS_TOKEN] } },
        hidden: { command: process.execPath, args: [OPS], process: quiet, expose: false },
        pool: { command: process.execPath, args: [OPS], process: quiet, replicas: 2 },
      },
    },
    { audit },
  );
  // The compression tests below run over loopback, where the gateway compresses nothing by default.
  gateway = await startGateway({ host, port: 0, compression: { loopback: true } });
  await host.startAll();
});
afterAll(async () => {
  await gateway?.close();
  await host?.stopAll();
  audit?.close();
  rmSync(dir, { recursive: true, force: true });
});

const bearer = (token: string) => ({ requestInit: { headers: { Authorization: `Bearer ${token}` } } });

async function v2(server: string, token = gateway.token, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'test-v2', version: '1.0.0' }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl(server)), bearer(token)));
  return client;
}

describe('/mcp/NAME with the SDK v2 client', () => {
  it('lists and calls the demo server tools, reads a resource and receives progress', async () => {
    const client = await v2('demo');
    try {
      expect(client.getServerVersion()?.name).toBeTruthy();
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['search', 'process_document']));
      const found = await client.callTool({ name: 'search', arguments: { query: 'grappling', limit: 2 } });
      expect(found.isError).toBeFalsy();
      expect((found.content as Array<{ type: string; text: string }>)[0]!.text).toMatch(/grappl/i);
      const read = await client.readResource({ uri: 'demo://documents/adventure.md' });
      expect((read.contents[0] as { text: string }).text.length).toBeGreaterThan(0);
      const progress: number[] = [];
      const doc = await client.callTool({ name: 'process_document', arguments: { file_path: 'adventure.md', delay_ms: 0 } }, { onprogress: (p) => progress.push(p.progress) });
      expect(doc.isError).toBeFalsy();
      expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await client.close();
    }
  });

  it('relays the server\'s elicitation request to the HTTP client that made the call, and the answer back', async () => {
    const client = await v2('demo', gateway.token, { elicitation: { form: {} } });
    const asked: string[] = [];
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(String((request.params as { message?: string }).message));
      return { action: 'accept', content: { name: 'Ada', class: 'wizard' } };
    });
    try {
      const rolled = await client.callTool({ name: 'roll_character', arguments: {} });
      expect(asked).toEqual(['Who is your new character?']);
      expect((rolled.content as Array<{ text: string }>)[0]!.text).toMatch(/^Ada the wizard: /);
    } finally {
      await client.close();
    }
  });

  it('falls back to a session when the client probes for the 2026-07-28 revision first (versionNegotiation auto)', async () => {
    const client = new Client({ name: 'test-auto', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.mcpUrl('ops')), bearer(gateway.token)));
    try {
      expect((await client.callTool({ name: 'count', arguments: {} })).content).toMatchObject([{ type: 'text', text: expect.stringMatching(/^count #/) }]);
    } finally {
      await client.close();
    }
  });

  it('serves a pool of replicas behind one endpoint', async () => {
    const client = await v2('pool');
    try {
      const texts = await Promise.all([1, 2, 3, 4].map(() => client.callTool({ name: 'count', arguments: {} }).then((r) => (r.content as Array<{ text: string }>)[0]!.text)));
      expect(texts).toHaveLength(4);
      for (const t of texts) expect(t).toMatch(/^count #\d+$/);
    } finally {
      await client.close();
    }
  });

  it('counts the calls in the server metrics, like a browser call', async () => {
    const before = (host.get('demo') as McpBridge).ipc.snapshot().requests;
    const client = await v2('demo');
    try {
      await client.callTool({ name: 'search', arguments: { query: 'dragon' } });
    } finally {
      await client.close();
    }
    expect((host.get('demo') as McpBridge).ipc.snapshot().requests).toBeGreaterThan(before);
    const text = await gateway.metrics.render();
    expect(text).toMatch(/^mcp_ipc_gateway_mcp_requests_total\{method="tools\/call"\} [1-9]/m);
    expect(text).toMatch(/^mcp_ipc_gateway_mcp_sessions \d+/m);
  });
});

describe('/mcp/NAME with the SDK v1 client', () => {
  it('connects unchanged, lists and calls tools, reads a resource', async () => {
    const client = new ClientV1({ name: 'test-v1', version: '1.0.0' });
    await client.connect(new TransportV1(new URL(gateway.mcpUrl('demo')), bearer(gateway.token)));
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('search');
      const found = await client.callTool({ name: 'search', arguments: { query: 'death saves' } });
      expect((found.content as Array<{ text: string }>)[0]!.text).toMatch(/death/i);
      const read = await client.readResource({ uri: 'demo://documents/adventure.md' });
      expect(read.contents).toHaveLength(1);
      const progress: number[] = [];
      await client.callTool({ name: 'process_document', arguments: { file_path: 'adventure.md', delay_ms: 0 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(progress).toHaveLength(10);
    } finally {
      await client.close();
    }
  });
});

describe('/mcp/NAME guards', () => {
  const post = (server: string, headers: Record<string, string>) =>
    fetch(gateway.mcpUrl(server), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });

  it('answers 401 with WWW-Authenticate without a token or with a wrong one, and the SDK client fails', async () => {
    const attempts: Array<Record<string, string>> = [{}, { Authorization: 'Bearer wrong-token' }, { Authorization: `Bearer ${OPS_TOKEN}` }];
    for (const headers of attempts) {
      const res = await post('demo', headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      await res.body?.cancel();
    }
    await expect(v2('demo', 'wrong-token')).rejects.toThrow();
  });

  it('a per-server token opens that server only; the gateway token opens every exposed one', async () => {
    const client = await v2('ops', OPS_TOKEN);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('count');
    await client.close();
    expect((await post('demo', { Authorization: `Bearer ${OPS_TOKEN}` })).status).toBe(401);
    const res = await post('ops', { Authorization: `Bearer ${gateway.token}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeTruthy();
    await res.body?.cancel();
  });

  it('refuses a foreign Origin with 403 and lets the own origin through', async () => {
    const bad = await post('demo', { Authorization: `Bearer ${gateway.token}`, Origin: 'https://evil.example' });
    expect(bad.status).toBe(403);
    await bad.body?.cancel();
    const own = await post('demo', { Authorization: `Bearer ${gateway.token}`, Origin: gateway.origin });
    expect(own.status).toBe(200);
    expect(own.headers.get('access-control-allow-origin')).toBe(gateway.origin);
    await own.body?.cancel();
  });

  it('refuses an unexpected Host header with 403 (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolveStatus, reject) => {
      const req = request(gateway.mcpUrl('demo'), { method: 'POST', headers: { Host: 'attacker.example', Authorization: `Bearer ${gateway.token}` } }, (res) => {
        res.resume();
        resolveStatus(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(403);
  });

  it('has no endpoint for a server with expose: false, nor for an unknown one', async () => {
    for (const name of ['hidden', 'nope']) {
      const res = await post(name, { Authorization: `Bearer ${gateway.token}` });
      expect(res.status).toBe(404);
      await res.body?.cancel();
    }
  });

  it('refuses a denied tool through this door and the audit log names the door', async () => {
    const client = await v2('ops', OPS_TOKEN);
    try {
      const denied = await client.callTool({ name: 'delete_all', arguments: {} }).then(
        (r) => r,
        (e: unknown) => e,
      );
      expect(String((denied as Error).message ?? JSON.stringify(denied))).toMatch(/denied|not allowed/i);
      expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('delete_all');
    } finally {
      await client.close();
    }
    // AuditLog writes each line synchronously: it is in the file already.
    const records = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord);
    const record = records.find((r) => (r as { tool?: string }).tool === 'delete_all');
    expect(record).toMatchObject({ door: 'http' });
  });

  it('ends a session with DELETE: the next request on it gets 404', async () => {
    const headers = { Authorization: `Bearer ${gateway.token}` };
    const init = await post('demo', headers);
    const session = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    const del = await fetch(gateway.mcpUrl('demo'), { method: 'DELETE', headers: { ...headers, 'Mcp-Session-Id': session } });
    expect(del.status).toBe(200);
    const after = await fetch(gateway.mcpUrl('demo'), {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': session },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(after.status).toBe(404);
    await after.body?.cancel();
  });
});

describe('/mcp/NAME compression', () => {
  /** One POST through node:http, which (unlike fetch) leaves the body as it came off the wire. */
  function rawPost(body: unknown, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; wire: Buffer }> {
    return new Promise((resolveRes, reject) => {
      const url = new URL(gateway.mcpUrl('demo'));
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${gateway.token}`, ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolveRes({ status: res.statusCode ?? 0, headers: res.headers, wire: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  it('answers a large tools/call (an SSE stream) and a large JSON answer gzip- or br-encoded when accepted, and plain otherwise', async () => {
    const init = await rawPost({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }, {});
    const session = String(init.headers['mcp-session-id']);
    const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'generate_large_result', arguments: { size: 200_000 } } };
    const gz = await rawPost(call, { 'Mcp-Session-Id': session, 'Accept-Encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    const text = gunzipSync(gz.wire).toString('utf8');
    expect(text).toMatch(/^event: message\ndata: /);
    expect(gz.wire.length).toBeLessThan(text.length / 4);
    const br = await rawPost({ ...call, id: 3 }, { 'Mcp-Session-Id': session, 'Accept-Encoding': 'br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.wire).toString('utf8')).toContain('"result"');
    const plainCall = await rawPost({ ...call, id: 4 }, { 'Mcp-Session-Id': session });
    expect(plainCall.headers['content-encoding']).toBeUndefined();
    expect(plainCall.wire.toString('utf8')).toContain('"result"');
    // tools/list is answered as JSON; the demo's list is over the 1 KiB threshold.
    const list = await rawPost({ jsonrpc: '2.0', id: 5, method: 'tools/list' }, { 'Mcp-Session-Id': session, 'Accept-Encoding': 'gzip' });
    expect(list.headers['content-type']).toMatch(/application\/json/);
    expect(list.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(list.wire).toString('utf8'))).toMatchObject({ id: 5, result: { tools: expect.any(Array) } });
  });
});

it('parses expose settings from a config file', () => {
  const config = parseConfig(
    { mcpServers: { a: { command: 'x', expose: { token: '${env:T}' } }, b: { command: 'x', expose: false } } },
    '/',
    { T: 'abcdefghijklmnop-1234' },
  );
  expect(config.mcpServers.a!.expose).toEqual({ tokens: ['abcdefghijklmnop-1234'] });
  expect(config.mcpServers.b!.expose).toBe(false);
  expect(() => parseConfig({ mcpServers: { a: { command: 'x', expose: { token: 'short' } } } })).toThrow(/at least 16/);
  expect(() => parseConfig({ mcpServers: { a: { command: 'x', expose: { tokn: 'x' } } } })).toThrow(/not an expose setting/);
});

/**
 * MCP Inspector's CLI mode, when it is installed: it is not a dependency of this package (it pulls
 * a web UI in). Point MCP_IPC_INSPECTOR at its launcher (node_modules/@modelcontextprotocol/inspector/
 * clients/launcher/build/index.js after `npm install @modelcontextprotocol/inspector` anywhere).
 */
const INSPECTOR = process.env.MCP_IPC_INSPECTOR;
describe.skipIf(!INSPECTOR || !existsSync(INSPECTOR))('MCP Inspector CLI mode against /mcp/NAME', () => {
  const inspector = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolveRun) => {
      // HOME: its catalog file goes to a scratch directory, not the user's.
      execFile(process.execPath, [INSPECTOR!, '--cli', gateway.mcpUrl('ops'), '--transport', 'http', ...args], { env: { ...process.env, HOME: dir }, timeout: 60_000 }, (error, stdout, stderr) =>
        resolveRun({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('lists and calls tools with the token, and gets nothing without it', async () => {
    const auth = ['--header', `Authorization: Bearer ${OPS_TOKEN}`];
    const list = await inspector([...auth, '--method', 'tools/list']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toContain('count');
    const call = await inspector([...auth, '--method', 'tools/call', '--tool-name', 'count']);
    expect(call.code).toBe(0);
    expect(JSON.parse(call.stdout)).toMatchObject({ content: [{ type: 'text', text: expect.stringMatching(/^count #\d+$/) }] });
    const refused = await inspector(['--method', 'tools/list']);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).not.toMatch(/"tools"/);
  }, 120_000);
});
