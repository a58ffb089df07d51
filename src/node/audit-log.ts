/**
 * The audit log (`serve --audit FILE`, or McpHost's `audit` option): one JSON line per call made
 * through the host — time, door, client, server, tool or method, a hash of the arguments, outcome,
 * duration — appended to FILE and rotated by size (FILE → FILE.1 → … → FILE.N, the oldest deleted).
 *
 * Each line is written with one synchronous `write(2)` on a file opened for appending: it is in the
 * kernel before `record()` returns, so a host that crashes (even SIGKILL) loses no line it
 * recorded, and concurrent writers never interleave partial lines.
 *
 * Never the token, never raw arguments: arguments are reduced to an HMAC-SHA256 of their canonical
 * JSON, keyed by `hashKey` (random per log unless given), so equal calls can be correlated within a
 * log but a short secret cannot be recovered by hashing guesses.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { canonicalJson } from '../core/canonical-json.js';
import { DEFAULTS } from '../core/defaults.js';

/** One audit line. */
export interface AuditRecord {
  /** ISO 8601, when the call started. */
  time: string;
  /** Which way the call came in: `api` (the library), `cli`, `websocket`, `http` (Streamable HTTP), … */
  door: string;
  /** The caller within the door (e.g. the gateway's connection id), when known. */
  client?: string;
  server: string;
  /** The MCP method (`tools/call`, `resources/read`, `prompts/get`, …). */
  method: string;
  /** The tool (tools/call), resource URI (resources/read) or prompt (prompts/get). */
  tool?: string;
  uri?: string;
  prompt?: string;
  /** `hmac-sha256:<hex>` of the canonical JSON of the arguments. */
  argsHash?: string;
  /** `ok`, `isError` (the tool reported a failure), or the IpcError code (`ToolDenied`, `Timeout`, …). */
  outcome: string;
  /** True when the answer came from the result cache. */
  cached?: boolean;
  durationMs: number;
}

/** Where the bridge hands its records (AuditLog, or anything else that stores them). */
export interface AuditSink {
  record(record: AuditRecord): void;
  /** The hash written for `args`. */
  hashArguments(args: unknown): string;
}

export interface AuditLogOptions {
  /** Rotate before a line would take the file past this many bytes. @default 16 MiB (DEFAULTS.audit.maxBytes) */
  maxBytes?: number;
  /** Rotated files kept. @default 5 (DEFAULTS.audit.maxFiles) */
  maxFiles?: number;
  /** The HMAC key of argument hashes (e.g. from MCP_IPC_AUDIT_KEY to correlate across restarts). @default 32 random bytes */
  hashKey?: string | Buffer;
  /** Called when a line cannot be written (disk full, …); auditing never fails a call. @default console.error */
  onError?: (error: Error) => void;
}

export class AuditLog implements AuditSink {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly maxFiles: number;
  private readonly hashKey: string | Buffer;
  private readonly onError: (error: Error) => void;
  private fd: number | undefined;
  private size = 0;
  private closed = false;

  /** Opens (creates) `path` for appending. @throws the open error (a bad path fails at start, not at the first call) */
  constructor(path: string, options: AuditLogOptions = {}) {
    this.path = path;
    this.maxBytes = options.maxBytes ?? DEFAULTS.audit.maxBytes;
    this.maxFiles = options.maxFiles ?? DEFAULTS.audit.maxFiles;
    if (!(this.maxBytes > 0)) throw new TypeError(`AuditLog: maxBytes must be a positive number (got ${String(this.maxBytes)})`);
    if (!Number.isInteger(this.maxFiles) || this.maxFiles < 0) throw new TypeError(`AuditLog: maxFiles must be a non-negative integer (got ${String(this.maxFiles)})`);
    this.hashKey = options.hashKey ?? randomBytes(32);
    this.onError = options.onError ?? ((error) => console.error(`mcp-ipc: audit log ${path}: ${error.message}`));
    this.open();
  }

  hashArguments(args: unknown): string {
    let text: string;
    try {
      text = canonicalJson(args ?? {});
    } catch {
      text = String(args);
    }
    return `hmac-sha256:${createHmac('sha256', this.hashKey).update(text).digest('hex')}`;
  }

  record(record: AuditRecord): void {
    if (this.closed) return;
    try {
      const line = `${JSON.stringify(record)}\n`;
      const bytes = Buffer.byteLength(line, 'utf8');
      if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
      if (this.fd === undefined) this.open();
      writeSync(this.fd!, line);
      this.size += bytes;
    } catch (error) {
      this.onError(error as Error);
    }
  }

  /** Closes the file; later records are dropped. */
  close(): void {
    this.closed = true;
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
  }

  private open(): void {
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  /** FILE.(N-1) → FILE.N, …, FILE → FILE.1, then a new FILE. With maxFiles 0 the old file is simply removed. */
  private rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.maxFiles === 0) rmSync(this.path, { force: true });
    else {
      rmSync(`${this.path}.${this.maxFiles}`, { force: true });
      for (let i = this.maxFiles - 1; i >= 1; i--) {
        if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      }
      renameSync(this.path, `${this.path}.1`);
    }
    this.open();
  }
}
