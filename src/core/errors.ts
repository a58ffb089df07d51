/**
 * The `IpcError` family: every failure mcp-ipc reports is one of these, with a stable
 * string `code` (for programs), a JSON-RPC numeric `rpcCode` (for the wire) and optional `data`.
 * Errors survive a trip over the wire: `toJSON()` on one side, `ipcErrorFromJSON()` on the other.
 */

export const IpcErrorCode = {
  Timeout: 'Timeout',
  Cancelled: 'Cancelled',
  QueueFull: 'QueueFull',
  ServerCrashed: 'ServerCrashed',
  NotConnected: 'NotConnected',
  ProtocolError: 'ProtocolError',
  MessageTooLarge: 'MessageTooLarge',
  ResourceLimit: 'ResourceLimit',
  InvalidParams: 'InvalidParams',
  ServerError: 'ServerError',
  StartupFailed: 'StartupFailed',
  UnsupportedProtocolVersion: 'UnsupportedProtocolVersion',
  OutputSchemaMismatch: 'OutputSchemaMismatch',
  ToolDenied: 'ToolDenied',
  Unauthorized: 'Unauthorized',
  Tls: 'Tls',
} as const;
export type IpcErrorCode = (typeof IpcErrorCode)[keyof typeof IpcErrorCode];

/** JSON-RPC 2.0 standard codes, plus the implementation-defined range (-32000..-32099) for ours. */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  // MCP uses -32001 for request timeouts; the rest of the -320xx range is ours.
  Timeout: -32001,
  Cancelled: -32800,
  QueueFull: -32002,
  ServerCrashed: -32003,
  NotConnected: -32004,
  MessageTooLarge: -32005,
  ResourceLimit: -32006,
  StartupFailed: -32007,
  /** MCP's own code (2026-07-28): the server supports none of the protocol versions offered. */
  UnsupportedProtocolVersion: -32022,
  OutputSchemaMismatch: -32012,
  ToolDenied: -32013,
  Unauthorized: -32008,
  Tls: -32009,
} as const;

const RPC_CODE_OF: Record<IpcErrorCode, number> = {
  Timeout: RpcCode.Timeout,
  Cancelled: RpcCode.Cancelled,
  QueueFull: RpcCode.QueueFull,
  ServerCrashed: RpcCode.ServerCrashed,
  NotConnected: RpcCode.NotConnected,
  ProtocolError: RpcCode.InvalidRequest,
  MessageTooLarge: RpcCode.MessageTooLarge,
  ResourceLimit: RpcCode.ResourceLimit,
  InvalidParams: RpcCode.InvalidParams,
  ServerError: RpcCode.InternalError,
  StartupFailed: RpcCode.StartupFailed,
  UnsupportedProtocolVersion: RpcCode.UnsupportedProtocolVersion,
  OutputSchemaMismatch: RpcCode.OutputSchemaMismatch,
  ToolDenied: RpcCode.ToolDenied,
  Unauthorized: RpcCode.Unauthorized,
  Tls: RpcCode.Tls,
};

/** The serialised form of an IpcError (what crosses a WebSocket to the browser). */
export interface IpcErrorJSON {
  code: IpcErrorCode;
  message: string;
  rpcCode: number;
  data?: unknown;
}

export class IpcError extends Error {
  readonly code: IpcErrorCode;
  readonly rpcCode: number;
  readonly data: unknown;

  constructor(code: IpcErrorCode, message: string, options: { data?: unknown; rpcCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = code.endsWith('Error') ? code : `${code}Error`;
    this.code = code;
    this.rpcCode = options.rpcCode ?? RPC_CODE_OF[code];
    this.data = options.data;
  }

  toJSON(): IpcErrorJSON {
    const json: IpcErrorJSON = { code: this.code, message: this.message, rpcCode: this.rpcCode };
    if (this.data !== undefined) json.data = this.data;
    return json;
  }
}

export interface TimeoutData {
  method: string;
  /** Which clock fired: no progress for `idleMs`, the hard cap, or too long in the queue. */
  kind: 'idle' | 'hard';
  phase: 'queued' | 'in-flight';
  timeoutMs: number;
  queuedMs: number;
  inFlightMs: number;
}
export class TimeoutError extends IpcError {
  declare readonly data: TimeoutData;
  constructor(message: string, data: TimeoutData) {
    super('Timeout', message, { data });
  }
}

export class CancelledError extends IpcError {
  constructor(message = 'Request cancelled', data?: { reason?: string; phase?: 'queued' | 'in-flight' }) {
    super('Cancelled', message, { data });
  }
}

export class QueueFullError extends IpcError {
  constructor(maxQueueSize: number) {
    super('QueueFull', `Request queue is full (${maxQueueSize} waiting)`, { data: { maxQueueSize } });
  }
}

export interface CrashData {
  exitCode: number | null;
  signal: string | null;
  stderrTail: string[];
  /** True when the request had been written to the server: its outcome is unknown. */
  outcomeUnknown?: boolean;
}
export class ServerCrashedError extends IpcError {
  declare readonly data: CrashData;
  constructor(message: string, data: CrashData) {
    super('ServerCrashed', message, { data });
  }
}

export class NotConnectedError extends IpcError {
  constructor(message = 'Not connected', options: { cause?: unknown } = {}) {
    super('NotConnected', message, options);
  }
}

export class ProtocolError extends IpcError {
  constructor(message: string, data?: unknown, rpcCode?: number) {
    super('ProtocolError', message, { data, rpcCode });
  }
}

export class MessageTooLargeError extends IpcError {
  constructor(bytes: number, limit: number) {
    super('MessageTooLarge', `Message of ${bytes} bytes exceeds the ${limit}-byte limit`, { data: { bytes, limit } });
  }
}

export class ResourceLimitError extends IpcError {
  constructor(resource: string, limit: number, message?: string) {
    super('ResourceLimit', message ?? `Resource limit reached: ${resource} (max ${limit})`, { data: { resource, limit } });
  }
}

export class InvalidParamsError extends IpcError {
  constructor(message: string, data?: unknown) {
    super('InvalidParams', message, { data });
  }
}

/** The server's own JSON-RPC error, kept as it came: `rpcCode` and `data` are the server's. */
export class ServerError extends IpcError {
  constructor(message: string, rpcCode: number, data?: unknown) {
    super('ServerError', message, { rpcCode, data });
  }
}

/** Why a server that was never ready could not be started (see StartupFailedError). */
export interface StartupFailedData {
  /** The server's name. */
  server: string;
  /**
   * What ended the start-up: the command could not be spawned, the process exited, the start-up
   * hook (the MCP handshake) failed, or it did not finish within the start-up timeout.
   */
  phase: 'spawn' | 'exit' | 'handshake' | 'timeout';
  /** The one-line reason (also in the message). */
  reason: string;
  /** The process's exit; null when it never ran, or ended by our signal. */
  exitCode: number | null;
  signal: string | null;
  /** The last stderr lines, read to the end of the stream (bounded wait) before the error was built. */
  stderrTail: string[];
  /** The error that ended the start-up (e.g. the handshake's), in its wire form. */
  cause?: IpcErrorJSON;
}

/**
 * A server that was never ready (it had not reached `running` since `start()`) died, or its
 * start-up hook failed or timed out: retrying the same command would fail the same way, so its
 * first start fails at once instead of walking through the restart backoff. The message names the
 * most telling stderr line (e.g. `ModuleNotFoundError: …`); `cause` is the local original.
 */
export class StartupFailedError extends IpcError {
  declare readonly data: StartupFailedData;
  constructor(message: string, data: StartupFailedData, options: { cause?: unknown } = {}) {
    super('StartupFailed', message, { data, cause: options.cause });
  }
}

export interface UnsupportedProtocolVersionData {
  /** What mcp-ipc asked for last. */
  requested: string;
  /** What the server says it supports (empty when it did not say). */
  supported: string[];
  /** What mcp-ipc could have spoken. */
  offered: string[];
}
/** The server and mcp-ipc share no protocol revision: the connection cannot be used, retrying will not help. */
export class UnsupportedProtocolVersionError extends IpcError {
  declare readonly data: UnsupportedProtocolVersionData;
  constructor(message: string, data: UnsupportedProtocolVersionData) {
    super('UnsupportedProtocolVersion', message, { data });
  }
}

export interface OutputSchemaMismatchData {
  tool: string;
  /** The tool's result as the server sent it. */
  result: unknown;
  /** The validator's findings (JSON Schema 2020-12): where and what. */
  errors: Array<{ instancePath: string; message: string; keyword?: string }>;
}
/** A tool's `structuredContent` does not match the `outputSchema` it declared (or is missing). */
export class OutputSchemaMismatchError extends IpcError {
  declare readonly data: OutputSchemaMismatchData;
  constructor(message: string, data: OutputSchemaMismatchData) {
    super('OutputSchemaMismatch', message, { data });
  }
}

export interface ToolDeniedData {
  server: string;
  tool: string;
  /**
   * Why: `denied` (a `tools.deny` pattern matches), `not-allowed` (`tools.allow` is set and no
   * pattern matches), or, for `tools.confirm` tools, `rejected` (a person said no), `timeout` (nobody
   * answered in time) or `no-approver` (nothing can ask a person, e.g. no dashboard is attached).
   */
  reason: 'denied' | 'not-allowed' | 'rejected' | 'timeout' | 'no-approver';
  /** The pattern that decided (`denied` / `not-allowed` name the config entry, when one matched). */
  pattern?: string;
  /** Who answered a confirmation (e.g. the dashboard connection), when known. */
  by?: string;
}
/**
 * The host's tool policy refused the call (`tools.allow` / `tools.deny` / `tools.confirm` in the
 * server's config). Nothing was sent to the server; retrying will not help unless the policy changes
 * or, for a confirmation, a person approves the next attempt.
 */
export class ToolDeniedError extends IpcError {
  declare readonly data: ToolDeniedData;
  constructor(message: string, data: ToolDeniedData) {
    super('ToolDenied', message, { data });
  }
}

export interface UnauthorizedData {
  /** The remote server's URL. */
  url: string;
  /** The HTTP status that refused us (401, or 403 for a scope the token lacks); null when no request was made. */
  status: number | null;
  /** Why: no credentials, credentials refused after a refresh, or the OAuth flow itself failed. */
  reason: 'no-credentials' | 'refused' | 'oauth-failed' | 'interactive-login-required';
  /** The server's `WWW-Authenticate` header, when it sent one. */
  wwwAuthenticate?: string;
}
/**
 * A remote MCP server refused our credentials (HTTP 401/403), or none could be obtained (the
 * OAuth flow failed, or needs a person to log in). Retrying with the same credentials will not help.
 */
export class UnauthorizedError extends IpcError {
  declare readonly data: UnauthorizedData;
  constructor(message: string, data: UnauthorizedData, options: { cause?: unknown } = {}) {
    super('Unauthorized', message, { data, cause: options.cause });
  }
}

export interface TlsData {
  /** The remote server's URL. */
  url: string;
  /**
   * What failed: the server's certificate chain is not trusted (configure its CA with `tls.ca`),
   * names another host, has expired (or is not yet valid), or the handshake failed otherwise (e.g.
   * the server wants a client certificate: `tls.cert` + `tls.key`).
   */
  reason: 'untrusted' | 'hostname' | 'expired' | 'handshake';
  /** Node's / OpenSSL's code, e.g. `SELF_SIGNED_CERT_IN_CHAIN`, `ERR_TLS_CERT_ALTNAME_INVALID`. */
  osCode: string | null;
}
/** The TLS connection to a remote MCP server could not be established. Verification is never switched off. */
export class TlsError extends IpcError {
  declare readonly data: TlsData;
  constructor(message: string, data: TlsData, options: { cause?: unknown } = {}) {
    super('Tls', message, { data, cause: options.cause });
  }
}

const CODES = new Set<string>(Object.values(IpcErrorCode));

/** The subclass of each code, so that `instanceof TimeoutError` still holds after a trip over the wire. */
const CLASS_OF: Record<IpcErrorCode, { prototype: IpcError }> = {
  Timeout: TimeoutError,
  Cancelled: CancelledError,
  QueueFull: QueueFullError,
  ServerCrashed: ServerCrashedError,
  NotConnected: NotConnectedError,
  ProtocolError,
  MessageTooLarge: MessageTooLargeError,
  ResourceLimit: ResourceLimitError,
  InvalidParams: InvalidParamsError,
  ServerError,
  StartupFailed: StartupFailedError,
  UnsupportedProtocolVersion: UnsupportedProtocolVersionError,
  OutputSchemaMismatch: OutputSchemaMismatchError,
  ToolDenied: ToolDeniedError,
  Unauthorized: UnauthorizedError,
  Tls: TlsError,
};

export function isIpcError(value: unknown): value is IpcError {
  return value instanceof IpcError;
}

/** Rebuilds an IpcError from its JSON form; anything unrecognised becomes a ProtocolError. */
export function ipcErrorFromJSON(json: unknown): IpcError {
  if (typeof json === 'object' && json !== null) {
    const j = json as Partial<IpcErrorJSON>;
    if (typeof j.code === 'string' && CODES.has(j.code) && typeof j.message === 'string') {
      const error = new IpcError(j.code, j.message, { data: j.data, rpcCode: typeof j.rpcCode === 'number' ? j.rpcCode : undefined });
      return Object.setPrototypeOf(error, CLASS_OF[j.code as IpcErrorCode].prototype) as IpcError;
    }
  }
  return new ProtocolError('Malformed error object', json);
}

/** Wraps any thrown value as an IpcError (non-IpcErrors become ServerError -32603 with their message). */
export function toIpcError(value: unknown): IpcError {
  if (value instanceof IpcError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new IpcError('ServerError', message, { rpcCode: RpcCode.InternalError, cause: value });
}
