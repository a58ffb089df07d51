/**
 * Config loading: the `mcpServers` JSON used by common MCP hosts (or VS Code's `servers`), plus optional per-server
 * `queue`, `process`, `limits` sections, MCP settings (`roots`, `capabilities`,
 * `protocolVersions`, `probeTimeoutMs`), the result `cache` and the tool policy (`tools`), a server
 * pool's `replicas` and `sticky`, and a host-wide `limits` section. Errors name the exact path.
 *
 * A server is local (`command`, `args`, `env`, `cwd`) or remote (`url`, with optional `type`
 * "http", `headers`, `auth` and `tls`: an MCP server over Streamable HTTP).
 *
 * `command`, `args`, `cwd`, `env`, `url`, header values and secrets may reference the host's environment as `${env:NAME}`
 * (e.g. `"env": { "API_KEY": "${env:MY_API_KEY}" }`): servers get an allow-listed environment, so
 * this is how a config hands a server a secret the host holds. A reference to an unset variable is
 * a ConfigError naming the path; `$${env:NAME}` stands for a literal `${env:NAME}`.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSIONS } from '../core/mcp-versions.js';
import type { ExposeConfig, McpServerConfig } from './mcp-bridge.js';
import type { CacheConfig } from './result-cache.js';
import { type ToolPolicyConfig, compileGlob } from './tool-policy.js';
import type { McpConfigFile } from './mcp-host.js';
import { replicaSettings } from './pool/scaler.js';
import type { RemoteAuthConfig } from './remote-auth.js';
import type { RemoteTlsConfig } from './tls.js';

export class ConfigError extends Error {
  readonly code = 'ConfigError';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The package root: the nearest folder above this module with a package.json (src/node or dist/src/node). */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(resolve(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}
export const DEMO_SERVER_PATH = resolve(PACKAGE_ROOT, 'examples', 'python-server', 'server.py');
export const DEMO_DOCUMENTS_DIR = resolve(PACKAGE_ROOT, 'examples', 'python-server', 'documents');

/** The bundled Python demo MCP server (standard library only). */
export function demoServerConfig(overrides: Partial<McpServerConfig> = {}): McpServerConfig {
  return { command: process.env.MCP_IPC_PYTHON ?? 'python3', args: [DEMO_SERVER_PATH], ...overrides };
}

export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<McpConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${path}: ${(error as Error).message}`);
  }
  return parseConfigText(text, path, env);
}

/** `loadConfig` on text already read from `path` (relative `cwd`s resolve against its folder). */
export function parseConfigText(text: string, path: string, env: NodeJS.ProcessEnv = process.env): McpConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(json, dirname(resolve(path)), env);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates a parsed config; relative `cwd`s are resolved against `baseDir`, `${env:NAME}`
 * references against `env`.
 *
 * Two shapes are accepted, alone or side by side (a name in both is an error): the `mcpServers`
 * object of most MCP hosts, and VS Code's `servers` object (`.vscode/mcp.json`), whose entries
 * carry `"type": "stdio"`. VS Code's `inputs` (values it prompts the user for) are ignored: a
 * `${input:ID}` reference is a ConfigError, since a host has nobody to prompt; use `${env:NAME}`.
 * So is any other VS Code variable (`${workspaceFolder}`, …): they are not expanded here.
 */
export function parseConfig(json: unknown, baseDir = process.cwd(), env: NodeJS.ProcessEnv = process.env): McpConfigFile {
  if (!isObject(json) || (!isObject(json.mcpServers) && !isObject(json.servers))) {
    throw new ConfigError('Config must be an object with an "mcpServers" object (or VS Code\'s "servers" object)');
  }
  if (json.mcpServers !== undefined && !isObject(json.mcpServers)) throw new ConfigError('"mcpServers" must be an object');
  if (json.servers !== undefined && !isObject(json.servers)) throw new ConfigError('"servers" must be an object');
  const servers: Record<string, McpServerConfig> = {};
  for (const [name, raw] of Object.entries((json.mcpServers ?? {}) as Record<string, unknown>)) {
    servers[name] = parseServer(`mcpServers.${name}`, raw, baseDir, env);
  }
  for (const [name, raw] of Object.entries((json.servers ?? {}) as Record<string, unknown>)) {
    const path = `servers.${name}`;
    if (Object.hasOwn(servers, name)) throw new ConfigError(`${path}: "${name}" is also in "mcpServers" (a server name must be unique)`);
    servers[name] = parseServer(path, vscodeEntry(path, raw), baseDir, env);
  }
  if (Object.keys(servers).length === 0) throw new ConfigError(`${isObject(json.mcpServers) ? '"mcpServers"' : '"servers"'} names no server`);
  const config: McpConfigFile = { mcpServers: servers };
  if (json.limits !== undefined) config.limits = numbers('limits', json.limits);
  return config;
}

const INPUT_REFERENCE = /\$\{input:[^}]*\}/;
/** VS Code's other variables (`${workspaceFolder}`, `${userHome}`, `${config:…}`, …): not `${env:…}`, not escaped. */
const VSCODE_VARIABLE = /(?<!\$)\$\{(?!env:)[^}]*\}/;

/**
 * A VS Code `servers` entry: the same shape as an `mcpServers` one (`"type": "stdio"` with a
 * command, `"type": "http"` with a url), but `${input:…}` and VS Code's own variables are refused.
 */
function vscodeEntry(path: string, raw: unknown): unknown {
  if (!isObject(raw)) return raw;
  const rest = raw;
  const found = JSON.stringify(rest).match(INPUT_REFERENCE);
  if (found) {
    throw new ConfigError(`${path} references ${found[0]}: VS Code "inputs" are not supported (nobody is there to prompt); use \${env:NAME} instead`);
  }
  const variable = JSON.stringify(rest).match(VSCODE_VARIABLE);
  if (variable) throw new ConfigError(`${path} references ${variable[0]}: only \${env:NAME} is expanded here (give a path relative to the config file's folder in "cwd" instead)`);
  return rest;
}

function parseServer(path: string, raw: unknown, baseDir: string, hostEnv: NodeJS.ProcessEnv): McpServerConfig {
  if (!isObject(raw)) throw new ConfigError(`${path} must be an object`);
  const server = raw.url !== undefined || (typeof raw.type === 'string' && raw.type !== 'stdio') ? parseRemote(path, raw, baseDir, hostEnv) : parseLocal(path, raw, baseDir, hostEnv);
  if (raw.queue !== undefined) server.queue = numbers(`${path}.queue`, raw.queue, ['priorityQueue']);
  if (raw.process !== undefined) server.process = numbers(`${path}.process`, raw.process, ['autoRestart', 'restartOnMemoryLimit', 'orphanGuard']);
  if (raw.limits !== undefined) {
    const limits = numbers(`${path}.limits`, raw.limits) as { memoryMb?: number };
    if (limits.memoryMb !== undefined) server.process = { ...server.process, memoryLimitMb: limits.memoryMb };
  }
  if (raw.retryableTools !== undefined) {
    if (!Array.isArray(raw.retryableTools) || !raw.retryableTools.every((t) => typeof t === 'string')) {
      throw new ConfigError(`${path}.retryableTools must be an array of strings`);
    }
    server.retryableTools = raw.retryableTools as string[];
  }
  parseMcpSettings(path, raw, server);
  if (raw.cache !== undefined) server.cache = parseCache(`${path}.cache`, raw.cache);
  if (raw.tools !== undefined) server.tools = parseToolPolicy(`${path}.tools`, raw.tools);
  if (raw.expose !== undefined) server.expose = parseExpose(`${path}.expose`, raw.expose, hostEnv);
  parsePool(path, raw, server);
  return server;
}

/** A local server: `command`, `args`, `env`, `inheritEnv`, `cwd`. */
function parseLocal(path: string, raw: Record<string, unknown>, baseDir: string, hostEnv: NodeJS.ProcessEnv): McpServerConfig {
  if (typeof raw.command !== 'string' || raw.command === '') throw new ConfigError(`${path}.command must be a non-empty string (or give "url" for a remote server)`);
  for (const key of ['headers', 'auth', 'tls']) {
    if (raw[key] !== undefined) throw new ConfigError(`${path}.${key} is for remote servers (with "url"), not for a command`);
  }
  const server: McpServerConfig = { command: expandEnv(raw.command, `${path}.command`, hostEnv) };
  if (raw.args !== undefined) {
    if (!Array.isArray(raw.args) || !raw.args.every((a) => typeof a === 'string')) throw new ConfigError(`${path}.args must be an array of strings`);
    server.args = (raw.args as string[]).map((a, i) => expandEnv(a, `${path}.args[${i}]`, hostEnv));
  }
  if (raw.env !== undefined) {
    if (!isObject(raw.env) || !Object.values(raw.env).every((v) => typeof v === 'string')) throw new ConfigError(`${path}.env must map names to strings`);
    server.env = Object.fromEntries(Object.entries(raw.env as Record<string, string>).map(([k, v]) => [k, expandEnv(v, `${path}.env.${k}`, hostEnv)]));
  }
  if (raw.inheritEnv !== undefined) {
    if (typeof raw.inheritEnv !== 'boolean') throw new ConfigError(`${path}.inheritEnv must be true or false`);
    server.inheritEnv = raw.inheritEnv;
  }
  if (raw.cwd !== undefined) {
    if (typeof raw.cwd !== 'string') throw new ConfigError(`${path}.cwd must be a string`);
    server.cwd = resolve(baseDir, expandEnv(raw.cwd, `${path}.cwd`, hostEnv));
  }
  return server;
}

/** The spellings of Streamable HTTP that common MCP hosts write in `type`. */
const HTTP_TYPES = new Set(['http', 'streamable-http', 'streamableHttp', 'streamable_http']);

/**
 * A remote server: `url` (+ `type`, `headers`, `auth`, `tls`). `${env:NAME}` works in the URL,
 * header values, the bearer token and the OAuth client secret; file paths are resolved against
 * the config's folder.
 */
function parseRemote(path: string, raw: Record<string, unknown>, baseDir: string, hostEnv: NodeJS.ProcessEnv): McpServerConfig {
  if (raw.type !== undefined && !HTTP_TYPES.has(raw.type as string)) {
    const hint = raw.type === 'sse' ? ' (the deprecated HTTP+SSE transport is not supported; servers that speak it usually speak Streamable HTTP at another path, often /mcp)' : '';
    throw new ConfigError(`${path}.type must be "http" (Streamable HTTP) or "stdio"${hint}`);
  }
  if (typeof raw.url !== 'string' || raw.url === '') throw new ConfigError(`${path}.url must be a non-empty string (the server's Streamable HTTP endpoint)`);
  for (const key of ['command', 'args', 'env', 'inheritEnv', 'cwd']) {
    if (raw[key] !== undefined) throw new ConfigError(`${path}.${key} is for local servers; a server with "url" is remote`);
  }
  const url = expandEnv(raw.url, `${path}.url`, hostEnv);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The text as written (`${env:…}` unexpanded): the expanded one may carry a secret.
    throw new ConfigError(`${path}.url is not a valid URL: ${JSON.stringify(raw.url)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ConfigError(`${path}.url must be an http:// or https:// URL`);
  const server: McpServerConfig = { url };
  if (raw.headers !== undefined) {
    if (!isObject(raw.headers) || !Object.values(raw.headers).every((v) => typeof v === 'string')) throw new ConfigError(`${path}.headers must map header names to strings`);
    server.headers = Object.fromEntries(Object.entries(raw.headers as Record<string, string>).map(([k, v]) => [k, expandEnv(v, `${path}.headers.${k}`, hostEnv)]));
  }
  if (raw.auth !== undefined) server.auth = parseAuth(`${path}.auth`, raw.auth, baseDir, hostEnv);
  if (raw.tls !== undefined) server.tls = parseTls(`${path}.tls`, raw.tls, baseDir, hostEnv);
  return server;
}

function parseAuth(path: string, raw: unknown, baseDir: string, hostEnv: NodeJS.ProcessEnv): RemoteAuthConfig {
  if (!isObject(raw)) throw new ConfigError(`${path} must be an object`);
  const text = (key: string, required = false): string | undefined => {
    const value = raw[key];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string' || value === '') throw new ConfigError(`${path}.${key} must be a non-empty string`);
    return expandEnv(value, `${path}.${key}`, hostEnv);
  };
  if (raw.type === 'bearer') return { type: 'bearer', token: text('token', true)! };
  if (raw.type === 'oauth') {
    const grant = raw.grant ?? 'client_credentials';
    if (grant !== 'client_credentials' && grant !== 'refresh_token') throw new ConfigError(`${path}.grant must be "client_credentials" or "refresh_token"`);
    const auth: RemoteAuthConfig = { type: 'oauth', grant, tokenFile: resolve(baseDir, text('tokenFile', true)!) };
    for (const key of ['clientId', 'clientSecret', 'scope', 'redirectUrl'] as const) {
      const value = text(key);
      if (value !== undefined) auth[key] = value;
    }
    return auth;
  }
  throw new ConfigError(`${path}.type must be "bearer" or "oauth"`);
}

function parseTls(path: string, raw: unknown, baseDir: string, hostEnv: NodeJS.ProcessEnv): RemoteTlsConfig {
  if (!isObject(raw)) throw new ConfigError(`${path} must be an object`);
  if (raw.rejectUnauthorized !== undefined || raw.insecure !== undefined) {
    throw new ConfigError(`${path}: certificate verification cannot be switched off; name the server's CA in ${path}.ca instead`);
  }
  const file = (key: string, value: unknown): string => {
    if (typeof value !== 'string' || value === '') throw new ConfigError(`${path}.${key} must be a file path`);
    return resolve(baseDir, expandEnv(value, `${path}.${key}`, hostEnv));
  };
  const tls: RemoteTlsConfig = {};
  if (raw.ca !== undefined) tls.ca = Array.isArray(raw.ca) ? raw.ca.map((f, i) => file(`ca[${i}]`, f)) : file('ca', raw.ca);
  if (raw.cert !== undefined) tls.cert = file('cert', raw.cert);
  if (raw.key !== undefined) tls.key = file('key', raw.key);
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new ConfigError(`${path}.cert and ${path}.key go together (a client certificate and its private key)`);
  if (raw.passphrase !== undefined) {
    if (typeof raw.passphrase !== 'string') throw new ConfigError(`${path}.passphrase must be a string`);
    tls.passphrase = expandEnv(raw.passphrase, `${path}.passphrase`, hostEnv);
  }
  if (raw.servername !== undefined) {
    if (typeof raw.servername !== 'string' || raw.servername === '') throw new ConfigError(`${path}.servername must be a host name`);
    tls.servername = raw.servername;
  }
  return tls;
}

/** `expose: false | { token: "..." } | { tokens: [...] }`; token values may be `${env:NAME}`. */
function parseExpose(path: string, raw: unknown, hostEnv: NodeJS.ProcessEnv): ExposeConfig | false {
  if (raw === false) return false;
  if (raw === true) return {};
  if (!isObject(raw)) throw new ConfigError(`${path} must be false or an object ({ "token": "..." } or { "tokens": [...] })`);
  for (const key of Object.keys(raw)) if (key !== 'token' && key !== 'tokens') throw new ConfigError(`${path}.${key} is not an expose setting (token, tokens)`);
  const given: Array<[string, unknown]> = [];
  if (raw.token !== undefined) given.push([`${path}.token`, raw.token]);
  if (raw.tokens !== undefined) {
    if (!Array.isArray(raw.tokens)) throw new ConfigError(`${path}.tokens must be an array of strings`);
    raw.tokens.forEach((t, i) => given.push([`${path}.tokens[${i}]`, t]));
  }
  const tokens = given.map(([p, t]) => {
    if (typeof t !== 'string') throw new ConfigError(`${p} must be a string`);
    const value = expandEnv(t, p, hostEnv);
    // A short token is guessable over the network; the gateway's own is 64 hex characters.
    if (value.length < 16) throw new ConfigError(`${p} must be at least 16 characters (use a random token, e.g. "openssl rand -hex 32")`);
    return value;
  });
  return tokens.length > 0 ? { tokens } : {};
}

const stringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((t) => typeof t === 'string' && t !== '');

/** `cache: { tools: [...] | "readOnly", ttlMs, maxEntries, maxBytes }`. */
function parseCache(path: string, raw: unknown): CacheConfig {
  if (!isObject(raw)) throw new ConfigError(`${path} must be an object (e.g. { "tools": "readOnly", "ttlMs": 60000 })`);
  const known = ['tools', 'ttlMs', 'maxEntries', 'maxBytes'];
  for (const key of Object.keys(raw)) if (!known.includes(key)) throw new ConfigError(`${path}.${key} is not a cache setting (${known.join(', ')})`);
  const cache: CacheConfig = {};
  if (raw.tools !== undefined) {
    if (raw.tools !== 'readOnly' && !stringArray(raw.tools)) throw new ConfigError(`${path}.tools must be "readOnly" or an array of tool names`);
    cache.tools = raw.tools;
  }
  for (const key of ['ttlMs', 'maxEntries', 'maxBytes'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) throw new ConfigError(`${path}.${key} must be a positive number`);
    cache[key] = value;
  }
  return cache;
}

/** `tools: { allow: [...], deny: [...], confirm: [...], confirmTimeoutMs }` (glob patterns). */
function parseToolPolicy(path: string, raw: unknown): ToolPolicyConfig {
  if (!isObject(raw)) throw new ConfigError(`${path} must be an object (e.g. { "deny": ["delete_*"] })`);
  const known = ['allow', 'deny', 'confirm', 'confirmTimeoutMs'];
  for (const key of Object.keys(raw)) if (!known.includes(key)) throw new ConfigError(`${path}.${key} is not a tool policy setting (${known.join(', ')})`);
  const policy: ToolPolicyConfig = {};
  for (const key of ['allow', 'deny', 'confirm'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    if (!stringArray(value)) throw new ConfigError(`${path}.${key} must be an array of tool name patterns (e.g. ["read_*", "search"])`);
    for (const [i, pattern] of value.entries()) {
      try {
        compileGlob(pattern);
      } catch (error) {
        throw new ConfigError(`${path}.${key}[${i}]: ${(error as Error).message}`);
      }
    }
    policy[key] = value;
  }
  if (raw.confirmTimeoutMs !== undefined) {
    const value = raw.confirmTimeoutMs;
    if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) throw new ConfigError(`${path}.confirmTimeoutMs must be a positive number`);
    policy.confirmTimeoutMs = value;
  }
  return policy;
}

/** `replicas` (a count, or `{min, max, …}` scaling settings) and `sticky`. */
function parsePool(path: string, raw: Record<string, unknown>, server: McpServerConfig): void {
  if (raw.replicas !== undefined) {
    const replicas = raw.replicas;
    if (typeof replicas === 'number') {
      if (!Number.isInteger(replicas) || replicas < 1) throw new ConfigError(`${path}.replicas must be an integer ≥ 1, or { "min": …, "max": … }`);
      server.replicas = replicas;
    } else if (isObject(replicas)) {
      const known = ['min', 'max', 'scaleUpQueueDepth', 'scaleUpAfterMs', 'scaleDownUtilization', 'scaleDownAfterMs', 'cooldownMs'];
      for (const [key, value] of Object.entries(replicas)) {
        if (!known.includes(key)) throw new ConfigError(`${path}.replicas.${key} is not a setting (${known.join(', ')})`);
        if (typeof value !== 'number') throw new ConfigError(`${path}.replicas.${key} must be a number`);
      }
      try {
        replicaSettings(replicas as never);
      } catch (error) {
        throw new ConfigError(`${path}.${(error as Error).message}`);
      }
      server.replicas = replicas as never;
    } else throw new ConfigError(`${path}.replicas must be an integer ≥ 1, or { "min": …, "max": … }`);
  }
  if (raw.sticky !== undefined) {
    if (typeof raw.sticky !== 'boolean') throw new ConfigError(`${path}.sticky must be true or false`);
    if (raw.replicas === undefined) throw new ConfigError(`${path}.sticky needs "replicas" (it routes calls among a pool's replicas)`);
    server.sticky = raw.sticky;
  }
}

const ENV_REFERENCE = /\$(\$?)\{env:([^}]*)\}/g;

/**
 * Replaces each `${env:NAME}` in `value` by the host's variable; `$${env:NAME}` is kept as a
 * literal `${env:NAME}`. An unset variable, or a malformed name, is a ConfigError naming `path`.
 */
export function expandEnv(value: string, path: string, hostEnv: NodeJS.ProcessEnv = process.env): string {
  return value.replace(ENV_REFERENCE, (match: string, escaped: string, name: string) => {
    if (escaped) return match.slice(1);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`${path}: "\${env:${name}}" is not a valid variable reference`);
    const resolved = hostEnv[name];
    if (resolved === undefined) throw new ConfigError(`${path} references \${env:${name}}, but ${name} is not set in the host's environment`);
    return resolved;
  });
}

/** The MCP protocol settings of a server: `roots`, `capabilities`, `protocolVersions`, `probeTimeoutMs`. */
function parseMcpSettings(path: string, raw: Record<string, unknown>, server: McpServerConfig): void {
  if (raw.roots !== undefined) {
    if (!Array.isArray(raw.roots)) throw new ConfigError(`${path}.roots must be an array of { "uri": "file:///…", "name"?: "…" }`);
    server.roots = raw.roots.map((root, i) => {
      if (!isObject(root) || typeof root.uri !== 'string' || !/^[a-z][a-z0-9+.-]*:/i.test(root.uri)) {
        throw new ConfigError(`${path}.roots[${i}].uri must be a URI string (e.g. "file:///home/me/project")`);
      }
      if (root.name !== undefined && typeof root.name !== 'string') throw new ConfigError(`${path}.roots[${i}].name must be a string`);
      return root.name === undefined ? { uri: root.uri } : { uri: root.uri, name: root.name };
    });
  }
  if (raw.capabilities !== undefined) {
    if (!isObject(raw.capabilities) || !Object.values(raw.capabilities).every(isObject)) {
      throw new ConfigError(`${path}.capabilities must map capability names to objects (e.g. { "sampling": {} })`);
    }
    server.capabilities = raw.capabilities;
  }
  if (raw.protocolVersions !== undefined) {
    const versions = raw.protocolVersions;
    if (!Array.isArray(versions) || versions.length === 0 || !versions.every((v) => typeof v === 'string' && PROTOCOL_VERSIONS.includes(v))) {
      throw new ConfigError(`${path}.protocolVersions must be a non-empty array of revisions mcp-ipc speaks (${PROTOCOL_VERSIONS.join(', ')})`);
    }
    server.protocolVersions = versions as string[];
  }
  if (raw.probeTimeoutMs !== undefined) {
    if (typeof raw.probeTimeoutMs !== 'number' || !(raw.probeTimeoutMs > 0) || !Number.isFinite(raw.probeTimeoutMs)) {
      throw new ConfigError(`${path}.probeTimeoutMs must be a positive number`);
    }
    server.probeTimeoutMs = raw.probeTimeoutMs;
  }
}

/** A settings section: every value a non-negative number, except the named booleans. */
function numbers(path: string, raw: unknown, booleans: string[] = []): Record<string, never> {
  if (!isObject(raw)) throw new ConfigError(`${path} must be an object`);
  for (const [key, value] of Object.entries(raw)) {
    const ok = booleans.includes(key) ? typeof value === 'boolean' : typeof value === 'number' && Number.isFinite(value) && value >= 0;
    if (!ok) throw new ConfigError(`${path}.${key} must be ${booleans.includes(key) ? 'true or false' : 'a non-negative number'}`);
  }
  return raw as Record<string, never>;
}
