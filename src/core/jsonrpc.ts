/**
 * JSON-RPC 2.0 message shapes, builders and validation.
 * Validation is structural and cheap (no schema library on the hot path): it checks exactly what
 * the specification requires and reports why a message is invalid.
 */

export type RequestId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: RequestId;
  method: string;
  params?: Record<string, unknown> | unknown[];
}
export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown> | unknown[];
}
export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}
export interface JsonRpcSuccess {
  jsonrpc: '2.0';
  id: RequestId;
  result: unknown;
}
export interface JsonRpcFailure {
  jsonrpc: '2.0';
  /** null only when the request's id could not be read (parse error / invalid request). */
  id: RequestId | null;
  error: JsonRpcErrorObject;
}
export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export const isRequest = (m: JsonRpcMessage): m is JsonRpcRequest => 'method' in m && 'id' in m;
export const isNotification = (m: JsonRpcMessage): m is JsonRpcNotification => 'method' in m && !('id' in m);
export const isResponse = (m: JsonRpcMessage): m is JsonRpcResponse => !('method' in m);
export const isFailure = (m: JsonRpcResponse): m is JsonRpcFailure => 'error' in m;

export const request = (id: RequestId, method: string, params?: JsonRpcRequest['params']): JsonRpcRequest =>
  params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
export const notification = (method: string, params?: JsonRpcNotification['params']): JsonRpcNotification =>
  params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
export const success = (id: RequestId, result: unknown): JsonRpcSuccess => ({ jsonrpc: '2.0', id, result });
export const failure = (id: RequestId | null, code: number, message: string, data?: unknown): JsonRpcFailure => ({
  jsonrpc: '2.0',
  id,
  error: data === undefined ? { code, message } : { code, message, data },
});

const isId = (v: unknown): v is RequestId => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
const isParams = (v: unknown) => v === undefined || (typeof v === 'object' && v !== null);

/** Why a value is not a JSON-RPC 2.0 message, or null when it is one. */
export function validationError(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  if ('method' in m) {
    if (typeof m.method !== 'string' || m.method === '') return 'method must be a non-empty string';
    if (!isParams(m.params)) return 'params must be an object or an array';
    if ('id' in m && !isId(m.id)) return 'id must be a string or a finite number';
    return null;
  }
  if (!('id' in m)) return 'neither a request, a notification nor a response';
  const hasResult = 'result' in m;
  const hasError = 'error' in m;
  if (hasResult === hasError) return 'a response has exactly one of result and error';
  if (hasResult) return isId(m.id) ? null : 'response id must be a string or a finite number';
  if (m.id !== null && !isId(m.id)) return 'response id must be a string, a number or null';
  const e = m.error as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null) return 'error must be an object';
  if (typeof e.code !== 'number' || !Number.isInteger(e.code)) return 'error.code must be an integer';
  if (typeof e.message !== 'string') return 'error.message must be a string';
  return null;
}

/** What a receiver could not use, reported instead of thrown. */
export type Diagnostic =
  /** A line that is not JSON (typically a server logging to stdout). */
  | { kind: 'non-json'; preview: string; bytes: number }
  /** JSON, but not a JSON-RPC 2.0 message. */
  | { kind: 'invalid-message'; preview: string; reason: string; id?: RequestId }
  /** A message over the size limit, skipped; `id` is recovered from its head or tail when possible. */
  | { kind: 'oversized'; bytes: number; limit: number; preview: string; id?: RequestId }
  /**
   * A response whose id matches no pending request: `late` (its request already timed out or was
   * cancelled: dropped as designed), `duplicate` (already answered) or `unknown` (never sent).
   */
  | { kind: 'unknown-id'; id: RequestId | null; reason: 'late' | 'duplicate' | 'unknown'; preview: string }
  /** A notification for a progress or stream token nobody is waiting for. */
  | { kind: 'unknown-token'; method: string; token: unknown };

const PREVIEW_CHARS = 200;
export const preview = (text: string) => (text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text);

export interface Decoded {
  messages: JsonRpcMessage[];
  diagnostics: Diagnostic[];
}

/**
 * Parses one framed text (a stdio line or a WebSocket frame) into messages. Batches (JSON arrays)
 * are unrolled. Never throws: anything unusable becomes a diagnostic.
 */
export function decodeText(text: string, bytes = text.length): Decoded {
  const out: Decoded = { messages: [], diagnostics: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    out.diagnostics.push({ kind: 'non-json', preview: preview(text), bytes });
    return out;
  }
  const items = Array.isArray(value) ? value : [value];
  if (Array.isArray(value) && value.length === 0) {
    out.diagnostics.push({ kind: 'invalid-message', preview: preview(text), reason: 'empty batch' });
  }
  for (const item of items) {
    const reason = validationError(item);
    if (reason === null) out.messages.push(item as JsonRpcMessage);
    else {
      const id = (item as { id?: unknown } | null)?.id;
      const d: Diagnostic = { kind: 'invalid-message', preview: preview(safeStringify(item)), reason };
      if (isId(id)) d.id = id;
      out.diagnostics.push(d);
    }
  }
  return out;
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

const ID_VALUE = String.raw`(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"(?:[^"\\]|\\.)*")`;
const HEAD_ID = new RegExp(String.raw`"id"\s*:\s*` + ID_VALUE);
const TAIL_ID = new RegExp(String.raw`"id"\s*:\s*` + ID_VALUE + String.raw`\s*\}\s*$`);

function parseId(raw: string | undefined): RequestId | undefined {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as RequestId;
  } catch {
    return undefined;
  }
}

/**
 * Best-effort id of a *response* too large to parse, from its first and last bytes. Only a
 * top-level id counts: in the head before the first nested value (`{"jsonrpc":"2.0","id":7,"result":{…`),
 * or as the very last key (`…},"id":7}`, how the MCP TypeScript SDK writes). A nested `"id"`, or a
 * top-level `"method"` (the server's own request, another id space) gives undefined: failing the
 * wrong request would be worse than letting the right one time out.
 */
export function sniffResponseId(head: string, tail: string): RequestId | undefined {
  const nested = head.slice(1).search(/[{[]/);
  const headTop = nested === -1 ? head : head.slice(0, nested + 1);
  if (/"method"\s*:/.test(headTop)) return undefined;
  const fromHead = parseId(HEAD_ID.exec(headTop)?.[1]);
  if (fromHead !== undefined) return fromHead;
  const body = tail.replace(/\}\s*$/, '');
  const tailTop = body.slice(Math.max(body.lastIndexOf('}'), body.lastIndexOf(']')) + 1);
  if (/"method"\s*:/.test(tailTop)) return undefined;
  return parseId(TAIL_ID.exec(tail)?.[1]);
}
