/**
 * The gateway's request guards: access token (constant-time compare), Host header (DNS-rebinding
 * guard) and Origin (cross-site WebSocket hijacking guard). Pure functions over request headers.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TOKEN_PARAM } from '../../core/gateway-protocol.js';

/** `Sec-WebSocket-Protocol` value carrying the token, for clients that keep it out of the URL. */
export const TOKEN_PROTOCOL_PREFIX = 'mcp-ipc.token.';
/** A plain subprotocol a client may offer next to the token one (preferred when offered). */
export const GATEWAY_PROTOCOL = 'mcp-ipc';

/** 32 random bytes, hex. */
export function generateToken(): string {
  return randomBytes(32).toString('hex');
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time string comparison (both sides hashed first so lengths never leak through timing). */
export function tokensEqual(given: string | undefined | null, expected: string): boolean {
  if (typeof given !== 'string' || given === '') return false;
  return timingSafeEqual(digest(given), digest(expected));
}

/** The WebSocket subprotocols offered by the client (`Sec-WebSocket-Protocol`, comma-separated). */
export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  if (typeof raw !== 'string') return [];
  return raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** The token a WebSocket upgrade carries: `?token=` or a `mcp-ipc.token.<token>` subprotocol. */
export function upgradeToken(req: IncomingMessage, url: URL): string | undefined {
  const fromQuery = url.searchParams.get(TOKEN_PARAM);
  if (fromQuery) return fromQuery;
  const proto = offeredProtocols(req).find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
  return proto ? proto.slice(TOKEN_PROTOCOL_PREFIX.length) : undefined;
}

/** `Authorization: Bearer <token>` only (the MCP endpoint: a token in a URL ends up in logs). */
export function bearerToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  return m ? m[1] : undefined;
}

/** The token an HTTP request carries: `?token=` or `Authorization: Bearer <token>`. */
export function httpToken(req: IncomingMessage, url: URL): string | undefined {
  const fromQuery = url.searchParams.get(TOKEN_PARAM);
  if (fromQuery) return fromQuery;
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  return undefined;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

/** `::1` → `[::1]`; names and IPv4 unchanged; lower-cased. */
export function hostForUrl(hostname: string): string {
  const h = hostname.toLowerCase();
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
}

export interface HostPolicy {
  /** Host names (as they appear in a Host header / URL, IPv6 bracketed) the gateway answers to. */
  names: Set<string>;
  port: number;
  /** Served over TLS: own origins are `https://…` and a Host header without a port means 443. */
  secure?: boolean;
}

/** Loopback names always; plus the bind address (unless a wildcard) and any extra names. */
export function hostPolicy(bindHost: string, port: number, extra: readonly string[] = [], secure = false): HostPolicy {
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  if (!WILDCARDS.has(bindHost.toLowerCase())) names.add(hostForUrl(bindHost));
  for (const e of extra) names.add(hostForUrl(e));
  return { names, port, secure };
}

/** DNS-rebinding guard: the Host header must name this gateway (a known name and its port). */
export function hostAllowed(hostHeader: string | undefined, policy: HostPolicy): boolean {
  if (typeof hostHeader !== 'string' || hostHeader === '') return false;
  let url: URL;
  try {
    url = new URL(`http://${hostHeader}`);
  } catch {
    return false;
  }
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return false;
  const port = url.port === '' ? (policy.secure ? 443 : 80) : Number(url.port);
  return port === policy.port && policy.names.has(url.hostname.toLowerCase());
}

/** The gateway's own origins (`http://name:port` for each allowed name). */
export function ownOrigins(policy: HostPolicy): Set<string> {
  const out = new Set<string>();
  const scheme = policy.secure ? 'https' : 'http';
  for (const name of policy.names) out.add(normalizeOrigin(`${scheme}://${name}:${policy.port}`) ?? '');
  out.delete('');
  return out;
}

export function normalizeOrigin(origin: string): string | undefined {
  try {
    const u = new URL(origin);
    return u.origin === 'null' ? undefined : u.origin;
  } catch {
    return undefined;
  }
}

/**
 * Absent Origin (non-browser clients) is allowed; otherwise it must be one of the gateway's own
 * origins or listed in `allowed` (exact origins; `*` allows any, for development only).
 */
export function originAllowed(origin: string | undefined, own: Set<string>, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*')) return true;
  if (allowed.includes(origin)) return true;
  const normalized = normalizeOrigin(origin);
  if (normalized === undefined) return false;
  if (own.has(normalized)) return true;
  return allowed.some((a) => normalizeOrigin(a) === normalized);
}
