/**
 * StdioTransport: an MCP server as a child process speaking newline-delimited JSON-RPC on
 * stdin/stdout (the MCP stdio transport), done carefully:
 * - spawned without a shell, in its own process group (POSIX), with an allow-listed environment
 *   carrying a tree cookie (`MCP_IPC_TREE`), watched by an orphan guard;
 * - stdout framed by the linear LineDecoder (non-JSON and oversized lines become diagnostics);
 * - stderr always read (a full stderr pipe would block the child) into a bounded ring of lines;
 * - writes honour the pipe's drain, so backpressure reaches the IpcManager;
 * - close(): end stdin → wait → SIGTERM to the tree → wait → SIGKILL to the tree, every wait bounded;
 * - when the server exits, what is left of its tree (the group, and descendants that left it but
 *   carry the cookie) is ended too;
 * - an unexpected exit closes with a ServerCrashedError (exit code, signal, stderr tail), reported
 *   once stdout and stderr were read to their end (bounded), so the tail is complete;
 * - a server that closes its stdin is noticed at once (not at the next write) and ended like a crash.
 * The OS specifics (group vs. parent links, signals vs. taskkill, /proc vs. ps) are the Platform's.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { DEFAULTS } from '../core/defaults.js';
import { type IpcError, NotConnectedError, ServerCrashedError } from '../core/errors.js';
import { encodeMessage, LineDecoder } from '../core/framing.js';
import { type DecodeSink, type Diagnostic, decodeInto, type JsonRpcMessage, preview, sniffResponseId } from '../core/jsonrpc.js';
import { SENT, type Transport } from '../core/transport.js';
import type { ExitInfo } from '../core/gateway-protocol.js';
import { lineText } from './line-text.js';
import { guardTree, type OrphanGuard } from './orphan-guard.js';
import { childEnvironment, currentPlatform, newTreeCookie, type Platform, type ServerTree } from './platform/index.js';
import { checkOptions } from '../core/options.js';
import { STDIO_TRANSPORT_OPTIONS } from './options.js';

export interface StdioServerParams {
  command: string;
  args?: string[];
  /**
   * The server's own variables, on top of an allow-listed part of the host's environment (PATH,
   * HOME, USER, SHELL, TERM, locale, temp dirs; on Windows the SDK's list plus PATHEXT, COMSPEC,
   * TMP, WINDIR). Naming `MCP_IPC_TOKEN` here is the only way a server gets the gateway token.
   */
  env?: Record<string, string>;
  /**
   * Pass the host's whole environment instead of the allow-list (`MCP_IPC_TOKEN` still withheld
   * unless `env` names it).
   * @default false
   */
  inheritEnv?: boolean;
  cwd?: string;
}

export interface StdioTransportOptions {
  /** Largest stdout line accepted in bytes. @default 16 MiB (DEFAULTS.transport.maxMessageBytes) */
  maxMessageBytes?: number;
  /** stderr lines kept for crash reports. @default 500 */
  stderrLines?: number;
  /** Total time close() may take before the group is SIGKILLed (0: at once). @default 10000 */
  shutdownTimeoutMs?: number;
  /** Watchdog that kills the tree if the host dies. @default true */
  orphanGuard?: boolean;
  /** The OS specifics (spawn, tree listing and kill, watchdog). @default currentPlatform() */
  platform?: Platform;
  /** Where the allow-listed environment and the outer tree cookie come from. @default process.env */
  hostEnv?: NodeJS.ProcessEnv;
}

const STDERR_LINE_MAX = 16 * 1024;
/**
 * After the exit, how long stdout and stderr may take to reach their end before the close is
 * reported anyway (a descendant that escaped the process group can hold them open for ever).
 */
const STDIO_DRAIN_MS = 1_000;

/** The part of libuv's stream handle under `child.stdin` used to notice the server's hang-up. */
interface StreamHandle {
  readStart(): number;
  readStop(): number;
  onread: (buffer?: ArrayBuffer) => void;
}

export class StdioTransport implements Transport {
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  ondiagnostic?: (diagnostic: Diagnostic) => void;
  /** Every stderr line as it arrives (also kept in the ring). */
  onstderr?: (line: string) => void;

  private readonly params: StdioServerParams;
  private readonly opts: Required<StdioTransportOptions>;
  private readonly platform: Platform;
  private child: ChildProcessWithoutNullStreams | undefined;
  private guard: OrphanGuard | undefined;
  private _tree: ServerTree | undefined;
  /** Ending what the leader left behind; close() waits for it. */
  private sweep: Promise<void> | undefined;
  private readonly ring: string[] = [];
  private ringStart = 0;
  /**
   * Set once a shutdown began. `error` is what requests still pending fail with; none means the
   * server closed its stdin: its exit is then reported as the crash it is (code, signal, stderr).
   */
  private closing: { reason: string; error: IpcError | undefined; signalled: boolean } | undefined;
  private _closeError: IpcError | undefined;
  private closed = false;
  private drainWaiters: Array<() => void> = [];
  private exitInfo: ExitInfo | undefined;
  private readonly exitedPromise: Promise<ExitInfo>;
  private resolveExited!: (info: ExitInfo) => void;

  /** @throws TypeError when an option is out of range (the message names it and its value). */
  constructor(params: StdioServerParams, options: StdioTransportOptions = {}) {
    checkOptions(options, STDIO_TRANSPORT_OPTIONS);
    this.params = params;
    this.opts = {
      maxMessageBytes: options.maxMessageBytes ?? DEFAULTS.transport.maxMessageBytes,
      stderrLines: options.stderrLines ?? DEFAULTS.process.stderrLines,
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? DEFAULTS.process.shutdownTimeoutMs,
      orphanGuard: options.orphanGuard ?? true,
      platform: options.platform ?? currentPlatform(),
      hostEnv: options.hostEnv ?? process.env,
    };
    this.platform = this.opts.platform;
    this.exitedPromise = new Promise((resolve) => (this.resolveExited = resolve));
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Resolves when the process has exited (after start()). */
  get exited(): Promise<ExitInfo> {
    return this.exitedPromise;
  }

  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  get closeError(): IpcError | undefined {
    return this._closeError;
  }

  /** The server's tree (leader pid and cookie), once spawned. */
  get tree(): ServerTree | undefined {
    return this._tree;
  }

  /** Live pids of the server's tree: its group, and descendants that left it but carry its cookie. */
  treePids(): Promise<number[]> {
    return this._tree ? this.platform.treeMembers(this._tree) : Promise.resolve([]);
  }

  /** Spawns the process; resolves once it runs, rejects (NotConnected) when it cannot be spawned. */
  start(): Promise<void> {
    if (this.child) return Promise.reject(new NotConnectedError('StdioTransport already started'));
    const { command, args = [], cwd } = this.params;
    const hostEnv = this.opts.hostEnv;
    const cookie = newTreeCookie(hostEnv);
    const env = childEnvironment(this.params, cookie, hostEnv, this.platform.os, (h) => this.platform.defaultEnvironment(h));
    return new Promise<void>((resolve, reject) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = this.platform.spawn(command, args, { cwd, env });
      } catch (error) {
        reject(new NotConnectedError(`Cannot start ${command}: ${(error as Error).message}`));
        return;
      }
      this.child = child;
      // The pid is known at once when the spawn succeeded: a close() racing start() can still reach the tree.
      if (child.pid) this._tree = { leader: child.pid, cookie };
      child.once('spawn', () => {
        if (this._tree && this.opts.orphanGuard) this.guard = guardTree(this._tree, Math.max(1000, this.opts.shutdownTimeoutMs / 4), this.platform);
        resolve();
      });
      child.once('error', (error) => {
        // Spawn failure (ENOENT, EACCES): no 'exit' follows.
        if (child.pid === undefined) {
          const failure = new NotConnectedError(`Cannot start ${command}: ${error.message}`, { cause: error });
          this.finish({ code: null, signal: null, at: Date.now() }, failure);
          reject(failure);
        } else this.onerror?.(error);
      });
      this.wireStdout(child);
      this.wireStderr(child);
      this.watchStdinHangup(child);
      // EPIPE: the child closed its stdin or died; stdinLost() handles both.
      child.stdin.on('error', () => this.stdinLost());
      child.stdin.on('drain', () => this.releaseDrain());
      child.once('exit', (code, signal) => this.onExit(code, signal));
    });
  }

  /** Resolves once the line is handed to the pipe and the pipe has room (drain). */
  send(message: JsonRpcMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || this.closed || this.closing || !stdin.writable) {
      return Promise.reject(new NotConnectedError('Server stdin is closed'));
    }
    // Messages sent in the same tick go out as one write: one syscall (and one read on the server's
    // side) per burst instead of per message, the main cost at high call rates.
    this.batch.push(encodeMessage(message));
    if (this.batch.length === 1) process.nextTick(this.flush);
    if (!stdin.writableNeedDrain) return SENT;
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private batch: string[] = [];
  private readonly flush = (): void => {
    const stdin = this.child?.stdin;
    const lines = this.batch;
    if (lines.length === 0) return;
    this.batch = [];
    if (stdin?.writable) stdin.write(lines.length === 1 ? lines[0]! : lines.join(''));
    else this.stdinLost();
  };

  /** Graceful shutdown of the whole group; resolves when the process has exited. */
  close(reason = 'transport closed'): Promise<void> {
    return this.shutdown(new NotConnectedError(`Server closed: ${reason}`), reason);
  }

  /**
   * Like close(), but in-flight requests fail with ServerCrashed: used when the supervisor kills
   * a server it considers broken (failed health checks, memory limit).
   */
  terminate(reason: string, timeoutMs = this.opts.shutdownTimeoutMs): Promise<void> {
    const error = new ServerCrashedError(`Server terminated: ${reason}`, { exitCode: null, signal: null, stderrTail: this.stderrTail(20), outcomeUnknown: true });
    return this.shutdown(error, reason, timeoutMs);
  }

  /** Immediate signal to the whole tree (SIGTERM asks, anything else forces). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this._tree && !this.exitInfo) void this.platform.signalTree(this._tree, signal === 'SIGTERM' ? 'SIGTERM' : 'SIGKILL');
  }

  /** The last `n` stderr lines (all kept ones by default). */
  stderrTail(n = this.opts.stderrLines): string[] {
    const lines = this.ring.length < this.opts.stderrLines ? this.ring : [...this.ring.slice(this.ringStart), ...this.ring.slice(0, this.ringStart)];
    return lines.slice(Math.max(0, lines.length - n));
  }

  // ---------------------------------------------------------------- internals

  private async shutdown(error: IpcError | undefined, reason: string, timeoutMs = this.opts.shutdownTimeoutMs): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo) {
      if (error) this.finishIfIdle(error);
      return;
    }
    if (!this.closing) {
      const closing = { reason, error, signalled: false };
      this.closing = closing;
      // Lines waiting for drain were handed to the stream already (and close() still flushes them):
      // they count as written, so their requests end as "outcome unknown", never resent blindly.
      this.releaseDrain();
      const tree = this._tree; // none: the spawn failed, and its 'error' event finishes the transport
      // Thirds of the budget: EOF on stdin (MCP's polite "please exit"), then SIGTERM, then SIGKILL.
      const step = Math.max(50, Math.floor(timeoutMs / 3));
      this.flush();
      child.stdin.end();
      if (tree && !(await this.waitExit(step))) {
        closing.signalled = true;
        await this.platform.signalTree(tree, 'SIGTERM');
        if (!(await this.waitExit(step))) {
          await this.platform.signalTree(tree, 'SIGKILL');
          // Bounded even now: where the kill cannot work (or cannot be seen to), close() still ends.
          if (!(await this.waitExit(Math.min(step, 2_000)))) {
            this.onerror?.(new Error(`Server process ${tree.leader} did not confirm its exit after SIGKILL; it may still run`));
            const failure =
              error ?? new ServerCrashedError(`Server closed its stdin and did not exit: ${reason}`, { exitCode: null, signal: null, stderrTail: this.stderrTail(20), outcomeUnknown: true });
            this.finish({ code: null, signal: null, at: Date.now(), unconfirmed: true }, failure);
          }
        }
      }
    }
    await this.exitedPromise;
    await this.sweep;
  }

  private waitExit(ms: number): Promise<boolean> {
    if (this.exitInfo) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void this.exitedPromise.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private wireStdout(child: ChildProcessWithoutNullStreams): void {
    // Messages go on as they are decoded (no per-line arrays). A batch's diagnostics then come in
    // item order, interleaved with its messages, rather than all first.
    const sink: DecodeSink = {
      message: (m) => this.onmessage?.(m),
      diagnostic: (d) => this.ondiagnostic?.(d),
    };
    const decoder = new LineDecoder({
      maxLineBytes: this.opts.maxMessageBytes,
      reusesChunks: false, // a child's stdout gives a fresh Buffer per read
      joinText: lineText,
      onLine: (line, bytes) => decodeInto(line, bytes, sink),
      onOversized: ({ bytes, limit, head, tail }) => {
        const d: Diagnostic = { kind: 'oversized', bytes, limit, preview: preview(head) };
        const id = sniffResponseId(head, tail);
        if (id !== undefined) d.id = id;
        this.ondiagnostic?.(d);
      },
    });
    child.stdout.on('data', (chunk: Buffer) => decoder.push(chunk));
    child.stdout.on('end', () => decoder.end());
  }

  private wireStderr(child: ChildProcessWithoutNullStreams): void {
    const decoder = new LineDecoder({
      maxLineBytes: STDERR_LINE_MAX,
      onLine: (line) => this.pushStderr(line),
      onOversized: ({ bytes, head }) => this.pushStderr(`${head}… [${bytes} bytes]`),
    });
    child.stderr.on('data', (chunk: Buffer) => decoder.push(chunk));
    child.stderr.on('end', () => decoder.end());
  }

  private pushStderr(line: string): void {
    if (this.ring.length < this.opts.stderrLines) this.ring.push(line);
    else {
      this.ring[this.ringStart] = line;
      this.ringStart = (this.ringStart + 1) % this.opts.stderrLines;
    }
    this.onstderr?.(line);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    const info: ExitInfo = { code, signal, at: Date.now() };
    // The leader is gone; anything it left (a wrapper's children, a daemonized helper) goes too.
    // Platform operations never throw; if one did, the watchdog (not dismissed) would still cover the tree.
    if (this._tree) this.sweep = this.sweepTree(this._tree).catch(() => undefined);
    else this.guard?.dismiss();
    // Report once stdout and stderr reached their end: a response written just before the exit is
    // delivered, and the crash report's stderr tail is complete (the exit often arrives first).
    void this.stdioDrained().then(() => {
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      const message = this.closing?.signalled ? `Server closed its stdin and was ended (${how})` : `Server exited unexpectedly (${how})`;
      const error = this.closing?.error ?? new ServerCrashedError(message, { exitCode: code, signal, stderrTail: this.stderrTail(20), outcomeUnknown: true });
      this.finish(info, error);
    });
  }

  /** Resolves when stdout and stderr both ended, or after STDIO_DRAIN_MS. */
  private stdioDrained(): Promise<void> {
    const child = this.child;
    if (!child) return Promise.resolve();
    const ended = (stream: NodeJS.ReadableStream & { readableEnded: boolean; destroyed: boolean }) =>
      stream.readableEnded || stream.destroyed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            // Registered after the decoders' own 'end' listeners: their last partial line is in by now.
            stream.once('end', resolve);
            stream.once('close', resolve);
          });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, STDIO_DRAIN_MS)));
    return Promise.race([Promise.all([ended(child.stdout), ended(child.stderr)]).then(() => undefined), bound]).finally(() => clearTimeout(timer));
  }

  private finish(info: ExitInfo, error: IpcError): void {
    if (this.closed) return;
    this.closed = true;
    this.exitInfo = info;
    this._closeError = error;
    this.releaseDrain(); // written, see shutdown(): the requests fail with this exit's error instead
    this.resolveExited(info);
    this.onclose?.();
  }

  /**
   * After the leader's exit: SIGTERM to what is left of the tree, a bounded grace, SIGKILL. The
   * watchdog keeps guarding until this is done. Polling, because a process that is not our child
   * sends us no event when it ends.
   */
  private async sweepTree(tree: ServerTree): Promise<void> {
    let left = await this.platform.treeMembers(tree);
    if (left.length > 0) {
      await this.platform.signalTree(tree, 'SIGTERM');
      const deadline = Date.now() + Math.min(1_000, Math.max(50, this.opts.shutdownTimeoutMs / 3));
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        left = await this.platform.treeMembers(tree);
      }
      if (left.length > 0) await this.platform.signalTree(tree, 'SIGKILL');
    }
    this.guard?.dismiss();
  }

  private finishIfIdle(error: IpcError): void {
    if (!this.child && !this.closed) this.finish({ code: null, signal: null, at: Date.now() }, error);
  }

  /**
   * Notices at once when the server closes its stdin. A request written just before that close is
   * dropped with the pipe's buffer and no write fails for it; EPIPE would only come with the next
   * write, which may never come, leaving the request to wait for its timeout. libuv hands a child
   * its stdio as Unix socket pairs, so our end of stdin reports the server's close as EOF when
   * read: we read it (Node's stdin stream is write-only and never does) and take EOF or a read
   * error as the hang-up. Windows' stdin pipe is outbound-only: there the next write's EPIPE
   * remains the signal.
   */
  private watchStdinHangup(child: ChildProcessWithoutNullStreams): void {
    if (this.platform.os === 'win32') return;
    const handle = (child.stdin as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
    if (!handle || typeof handle.readStart !== 'function' || typeof handle.readStop !== 'function') return;
    const previous = handle.onread;
    handle.onread = (buffer) => {
      if (buffer !== undefined) return; // a server writing to its own stdin: nothing we need
      handle.readStop!();
      this.stdinLost();
    };
    if (handle.readStart() !== 0) handle.onread = previous;
  }

  /**
   * stdin is gone (hang-up or EPIPE): either the server closed it and lives on — nothing can reach
   * it any more — or it is exiting and the kernel closed it first. Both take the same path at once,
   * a shutdown without a verdict: its first step waits for the exit, then it signals. Whatever ends
   * the process, its exit is reported as a crash with its real code, signal and stderr, and written
   * requests end as ServerCrashed (outcome unknown) instead of waiting for their timeouts.
   */
  private stdinLost(): void {
    if (!this.child || this.exitInfo || this.closing) return;
    void this.shutdown(undefined, 'server closed its stdin');
  }

  private releaseDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

}
