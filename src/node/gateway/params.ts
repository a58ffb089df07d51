/**
 * Checking what a browser sends the gateway: the forwarding options and `_meta` tokens of an MCP
 * request, method lists, roots, limits. Each problem is an InvalidParamsError naming the field.
 */
import { InvalidParamsError } from '../../core/errors.js';
import { type ForwardMeta, SERVER_META_KEY } from '../../core/gateway-protocol.js';
import type { Root } from '../../core/mcp-types.js';
import type { Priority } from '../../core/queue.js';
import type { McpHost } from '../mcp-host.js';

const PRIORITIES = new Set<Priority>(['high', 'normal', 'low']);

/** `params` with `_meta[SERVER_META_KEY]` naming the server (a copy; other `_meta` keys kept). */
export function tagged(params: unknown, server: string): Record<string, unknown> {
  const p = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>) : {};
  const meta = typeof p._meta === 'object' && p._meta !== null && !Array.isArray(p._meta) ? (p._meta as Record<string, unknown>) : {};
  return { ...p, _meta: { ...meta, [SERVER_META_KEY]: server } };
}

/** The gateway's own options of a forwarded request, beside its MCP params. */
export interface ForwardOptions {
  timeoutMs?: number;
  priority?: Priority;
  retryable?: boolean;
  task?: boolean;
}

/**
 * Checks the gateway's own options of a forwarded request (`timeoutMs`, `priority`, `retryable`,
 * `task`) where they are, in its params: read from there afterwards, nothing is copied per call.
 */
export function checkForwardOptions(method: string, o: Record<string, unknown>): asserts o is Record<string, unknown> & ForwardOptions {
  const { timeoutMs, priority } = o;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
    throw new InvalidParamsError(`${method}: "timeoutMs" must be a positive number`);
  }
  if (priority !== undefined && !PRIORITIES.has(priority as Priority)) throw new InvalidParamsError(`${method}: "priority" must be "high", "normal" or "low"`);
  optionalBoolean(o, 'retryable');
  optionalBoolean(o, 'task');
}

const NO_META: ForwardMeta = Object.freeze({});

export function parseMeta(method: string, meta: unknown): ForwardMeta {
  if (meta === undefined) return NO_META;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new InvalidParamsError(`${method}: "_meta" must be an object`);
  const m = meta as Record<string, unknown>;
  for (const key of ['progressToken', 'streamToken'] as const) {
    const v = m[key];
    if (v !== undefined && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new InvalidParamsError(`${method}: "_meta.${key}" must be a string or a number`);
    }
  }
  return m as ForwardMeta;
}

export function parseMethods(method: string, p: Record<string, unknown>): string[] {
  const methods = p.methods;
  if (!Array.isArray(methods) || methods.length > 100 || !methods.every((m) => typeof m === 'string' && m !== '' && m.length <= 200)) {
    throw new InvalidParamsError(`${method}: "methods" must be a list of method names`);
  }
  return methods as string[];
}

export function parseListen(method: string, p: Record<string, unknown>, host: McpHost): { server: string; methods: string[] } {
  const server = p.server ?? '*';
  if (typeof server !== 'string' || (server !== '*' && !host.get(server))) {
    throw new InvalidParamsError(`${method}: "server" must be "*" or a server name (available: ${host.names().join(', ') || 'none'})`, { server });
  }
  return { server, methods: parseMethods(method, p) };
}

export function parseRoots(value: unknown): Root[] {
  if (!Array.isArray(value) || !value.every((r) => typeof r === 'object' && r !== null && typeof (r as Root).uri === 'string')) {
    throw new InvalidParamsError('server/setRoots: "roots" must be a list of { uri, name? }');
  }
  return (value as Root[]).map((r) => ({ uri: r.uri, ...(typeof r.name === 'string' ? { name: r.name } : {}) }));
}

export function requiredString(method: string, p: Record<string, unknown>, key: string): string {
  const v = p[key];
  if (typeof v !== 'string' || v === '') throw new InvalidParamsError(`${method}: "${key}" is required`);
  return v;
}

export function optionalBoolean(p: Record<string, unknown>, key: string): boolean | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new InvalidParamsError(`"${key}" must be true or false`);
  return v;
}

export function clampLimit(limit: number | undefined, max: number): number {
  if (limit === undefined) return max;
  return Math.max(0, Math.min(max, Math.floor(limit)));
}

