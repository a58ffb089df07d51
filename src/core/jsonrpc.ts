/**
 * JSON-RPC 2.0 message shapes, builders and validation.
 * Validation is structural and cheap (no schema library on the hot path): it checks exactly what
 * the specification requires and reports why a message is invalid.
 */
import { DEFAULTS } from './defaults.js';

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
  /**
   * A notification for a progress or stream token nobody is waiting for. `token` is the token when it
   * is a string or a number, else a preview of the value (previewValue).
   */
  | { kind: 'unknown-token'; method: string; token: unknown };

const PREVIEW_CHARS = 200;
/** The first 200 characters of a text, with `…` when it was cut. */
export const preview = (text: string) => (text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text);

/** An array or object being written by previewValue: its entries are visited one at a time. */
interface PreviewFrame {
  value: object;
  /** Own keys of an object; undefined for an array. */
  keys: string[] | undefined;
  next: number;
  written: number;
}

/**
 * `preview(JSON.stringify(value))`, but total and bounded: it never recurses (a value nested
 * 100 000 deep cannot exhaust the stack), stops writing after `maxChars`, and never throws —
 * cycles become `"[Circular]"`, BigInts their digits, and a throwing getter or proxy ends the preview.
 * Use it wherever a received value is shown in a diagnostic, an error message or a log.
 */
export function previewValue(value: unknown, maxChars = PREVIEW_CHARS): string {
  let out = '';
  const full = () => out.length > maxChars;
  const stack: PreviewFrame[] = [];
  const open = new Set<object>();
  /** Writes a scalar, or opens a container (its entries follow on later turns of the loop). */
  const write = (v: unknown, inArray: boolean): void => {
    if (typeof v === 'object' && v !== null) {
      if (open.has(v)) {
        out += '"[Circular]"';
        return;
      }
      open.add(v);
      const isArray = Array.isArray(v);
      stack.push({ value: v, keys: isArray ? undefined : Object.keys(v), next: 0, written: 0 });
      out += isArray ? '[' : '{';
      return;
    }
    out += scalarText(v, inArray, maxChars);
  };
  try {
    write(value, false);
    while (stack.length > 0 && !full()) {
      const frame = stack[stack.length - 1]!;
      if (frame.keys === undefined) {
        const items = frame.value as unknown[];
        if (frame.next >= items.length) {
          closeFrame(stack, open);
          out += ']';
          continue;
        }
        if (frame.written++ > 0) out += ',';
        write(items[frame.next++], true);
        continue;
      }
      const object = frame.value as Record<string, unknown>;
      let key: string | undefined;
      let entry: unknown;
      while (frame.next < frame.keys.length) {
        const k = frame.keys[frame.next++]!;
        entry = object[k];
        if (entry !== undefined && typeof entry !== 'function' && typeof entry !== 'symbol') {
          key = k;
          break;
        }
      }
      if (key === undefined) {
        closeFrame(stack, open);
        out += '}';
        continue;
      }
      if (frame.written++ > 0) out += ',';
      out += `${JSON.stringify(key.length > maxChars ? key.slice(0, maxChars) : key)}:`;
      write(entry, false);
    }
  } catch {
    return `${out.slice(0, maxChars)}…`; // a getter or proxy that throws: show what there is
  }
  return out.length > maxChars ? `${out.slice(0, maxChars)}…` : out;
}

function closeFrame(stack: PreviewFrame[], open: Set<object>): void {
  open.delete(stack.pop()!.value);
}

/** JSON text of a scalar as JSON.stringify writes it (a long string only up to `maxChars`). */
function scalarText(v: unknown, inArray: boolean, maxChars: number): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > maxChars ? v.slice(0, maxChars) : v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return inArray ? 'null' : 'undefined';
    default:
      return 'null';
  }
}

/**
 * Whether a value nests arrays and objects more than `limit` levels deep (the value itself is level 1).
 * It stops at the first path over the limit and allocates nothing: its recursion is bounded by
 * `limit` (never by the input), and over RECURSION_LIMIT levels it walks with its own stack instead.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  return limit <= RECURSION_LIMIT ? deeperThan(value, limit) : deeperThanIterative(value, limit);
}

/** Deepest `limit` walked by recursion (a few hundred frames of a small function are far below Node's stack). */
const RECURSION_LIMIT = 1024;

function deeperThan(value: object, levelsLeft: number): boolean {
  if (levelsLeft <= 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      if (typeof child === 'object' && child !== null && deeperThan(child, levelsLeft - 1)) return true;
    }
    return false;
  }
  const object = value as Record<string, unknown>;
  for (const key in object) {
    const child = object[key];
    // Own keys only (for-in also visits inherited enumerable ones); the check is skipped for scalars.
    if (typeof child === 'object' && child !== null && Object.hasOwn(object, key) && deeperThan(child, levelsLeft - 1)) return true;
  }
  return false;
}

function deeperThanIterative(value: object, limit: number): boolean {
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

export interface Decoded {
  messages: JsonRpcMessage[];
  diagnostics: Diagnostic[];
  /**
   * True when the text was a non-empty JSON array (a JSON-RPC batch): its replies go back as one
   * array. An empty array, or text that is not JSON, is not a batch and gets single error objects.
   */
  batch: boolean;
}

export interface DecodeOptions {
  /** Deepest nesting accepted per message (default DEFAULTS.transport.maxJsonDepth, 512). */
  maxDepth?: number;
}

/** Where decodeInto delivers what it found, in input order. */
export interface DecodeSink {
  message(message: JsonRpcMessage): void;
  diagnostic(diagnostic: Diagnostic): void;
}

/**
 * Parses one framed text (a stdio line or a WebSocket frame) into messages. Batches (JSON arrays)
 * are unrolled. Total: it never throws and never recurses deeper than `maxDepth`, whatever the
 * input's size, depth or shape; anything unusable becomes a diagnostic. Messages nested deeper
 * than `maxDepth` are diagnostics too (with their id, so a too-deep response fails its request at once).
 */
export function decodeText(text: string, bytes = text.length, options: DecodeOptions = {}): Decoded {
  const out: Decoded = { messages: [], diagnostics: [], batch: false };
  out.batch = decodeInto(
    text,
    bytes,
    { message: (m) => out.messages.push(m), diagnostic: (d) => out.diagnostics.push(d) },
    options.maxDepth,
  );
  return out;
}

/**
 * decodeText for hot paths: hands each message (and diagnostic) to `sink` as it is found, so a
 * line holding one message — nearly every line — costs its JSON.parse and a validation, and no
 * arrays or result object. Returns whether the text was a batch (see Decoded.batch).
 */
export function decodeInto(text: string, bytes: number, sink: DecodeSink, maxDepth: number = DEFAULTS.transport.maxJsonDepth): boolean {
  let value: unknown;
  try {
    // V8's JSON.parse does not recurse: depth is safe here and checked below.
    value = JSON.parse(text);
  } catch {
    sink.diagnostic({ kind: 'non-json', preview: preview(text), bytes });
    return false;
  }
  if (!Array.isArray(value)) {
    decodeItem(value, text, false, sink, maxDepth);
    return false;
  }
  if (value.length === 0) {
    sink.diagnostic({ kind: 'invalid-message', preview: preview(text), reason: 'empty batch' });
    return false;
  }
  for (const item of value as unknown[]) decodeItem(item, text, true, sink, maxDepth);
  return true;
}

function decodeItem(item: unknown, text: string, inBatch: boolean, sink: DecodeSink, maxDepth: number): void {
  let reason = validationError(item);
  // Each level takes an opening and a closing bracket: a text of 2 × maxDepth characters or fewer
  // cannot nest deeper, and small messages (most of them) skip the walk.
  if (reason === null && text.length > 2 * maxDepth && nestedDeeperThan(item, maxDepth)) reason = `nested deeper than ${maxDepth} levels`;
  if (reason === null) return sink.message(item as JsonRpcMessage);
  const id = (item as { id?: unknown } | null)?.id;
  // A single message's preview is cut from its own text; a batch item has none, so it is written
  // from the value (never re-stringified whole: that recurses and would copy a 16 MiB item).
  const d: Diagnostic = { kind: 'invalid-message', preview: inBatch ? previewValue(item) : preview(text), reason };
  if (isId(id)) d.id = id;
  sink.diagnostic(d);
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
