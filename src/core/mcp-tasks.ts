/**
 * Tool calls as tasks, in both eras. The task has its own deadline, independent of the request
 * timeout, so a long task survives it; its progress token stays valid for the task's whole life;
 * any failure while the task may still run (abort, deadline, a failed handler or poll) sends
 * a bounded, best-effort `tasks/cancel`.
 *
 * - Legacy (2025-11-25 "task-augmented requests", `runAsTask`): `tools/call` with a `task`
 *   parameter answers at once with `{ task }`; the client polls `tasks/get` until the task is
 *   terminal — or needs input, which the server delivers as ordinary server→client requests while
 *   `tasks/result` is pending — then fetches the result with `tasks/result`.
 * - Modern (the `io.modelcontextprotocol/tasks` extension, `followModernTask`): the client declares
 *   the extension; the server may answer `tools/call` with `resultType: "task"` and the task's
 *   fields. `tasks/get` carries the outcome (`result` or `error`) or, when `input_required`, the
 *   `inputRequests`, answered by the request handlers and sent back with `tasks/update`.
 */
import { DEFAULTS } from './defaults.js';
import { CancelledError, InvalidParamsError, ProtocolError, RpcCode, ServerError, TimeoutError } from './errors.js';
import type { IpcManager, Progress, RequestOptions } from './ipc-manager.js';
import type { McpSession } from './mcp-session.js';

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

export interface TaskInfo {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt?: string;
  lastUpdatedAt?: string;
  ttl?: number | null;
  pollInterval?: number;
}

/** A tool's `execution.taskSupport`: whether `tools/call` may, must or must not run as a task. */
export type TaskSupport = 'forbidden' | 'optional' | 'required';

export function taskSupportOf(tool: { execution?: unknown } | undefined): TaskSupport {
  const support = (tool?.execution as { taskSupport?: unknown } | undefined)?.taskSupport;
  return support === 'required' || support === 'optional' ? support : 'forbidden';
}

export interface McpTaskOptions {
  /** Called with each status the task reports (on creation and each poll). */
  onStatus?: (task: TaskInfo) => void;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** The task's own deadline: on expiry it is cancelled and the call fails with Timeout. @default 3 600 000 */
  taskTimeoutMs?: number;
  /** Poll interval when the server suggests none. @default 1000 */
  pollIntervalMs?: number;
  /** How long the server should keep the task and its result (`task.ttl`). */
  ttlMs?: number;
  /** Options for the creating request (priority, request timeout). */
  request?: RequestOptions;
}

const TERMINAL: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);
let nextToken = 1;

/**
 * Runs `method` (normally `tools/call`) as a task and resolves with its final result. Rejects
 * with CancelledError (aborted, or cancelled by the server), TimeoutError (the task's deadline),
 * or the server's own error from `tasks/result`.
 */
export async function runAsTask<T>(session: McpSession, ipc: IpcManager, method: string, params: Record<string, unknown>, options: McpTaskOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.taskTimeoutMs ?? DEFAULTS.mcp.taskTimeoutMs);
  const token = options.onProgress ? `task-progress-${nextToken++}` : undefined;
  const untrack = token && options.onProgress ? ipc.trackProgress(token, options.onProgress) : undefined;
  const meta = { ...(params._meta as Record<string, unknown> | undefined), ...(token ? { progressToken: token } : {}) };
  const task: Record<string, unknown> = options.ttlMs !== undefined ? { ttl: options.ttlMs } : {};
  const control = new AbortController();
  const onAbort = () => control.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let taskId: string | undefined;
  let finished = false;
  try {
    const created = await session.request<Record<string, unknown>>(method, { ...params, task, _meta: meta }, { ...options.request, signal: control.signal });
    if (!isTaskResult(created)) return created as T; // the server ran it at once (allowed for 'optional')
    let info = parseTask(created.task);
    taskId = info.taskId;
    options.onStatus?.(info);
    while (!TERMINAL.has(info.status) && info.status !== 'input_required') {
      await sleep(Math.min(info.pollInterval ?? options.pollIntervalMs ?? DEFAULTS.mcp.taskPollIntervalMs, remaining(deadline)), control.signal);
      if (remaining(deadline) <= 0) throw new TimeoutError(`Task ${info.taskId} did not finish within its deadline`, timeoutData(method, options));
      info = parseTask(await session.request('tasks/get', { taskId: info.taskId }, { priority: 'high', signal: control.signal }));
      options.onStatus?.(info);
    }
    finished = TERMINAL.has(info.status);
    if (info.status === 'cancelled') throw new CancelledError(`Task ${info.taskId} was cancelled by the server${info.statusMessage ? `: ${info.statusMessage}` : ''}`, { reason: info.statusMessage ?? 'cancelled', phase: 'in-flight' });
    // `tasks/result` blocks until the task is terminal; input the task needs arrives meanwhile as
    // server→client requests (answered by the registered handlers). It lives as long as the task.
    const left = remaining(deadline);
    try {
      return await session.request<T>('tasks/result', { taskId: info.taskId }, { timeoutMs: left, hardTimeoutMs: left, signal: control.signal, priority: 'high' });
    } catch (error) {
      // The server's own error is the task's outcome: it is over.
      if (error instanceof ServerError || error instanceof InvalidParamsError) finished = true;
      throw error;
    }
  } catch (error) {
    // Any failure after the task was created, unless the task is known to be over (a terminal
    // status, or the server's own answer to tasks/result), would leave it running: cancel it.
    if (taskId !== undefined && !finished) await cancelTask((m, p, o) => session.request(m, p, o), taskId);
    if (control.signal.aborted && !(error instanceof CancelledError)) throw new CancelledError('Task cancelled', { reason: String(control.signal.reason ?? 'aborted'), phase: 'in-flight' });
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    untrack?.();
  }
}

/** How long a best-effort `tasks/cancel` may take (it never holds up the caller's error for longer). */
const CANCEL_TIMEOUT_MS = 5_000;

/** Best effort: the server may already have finished or forgotten the task. Bounded, never retried, never throws. */
async function cancelTask(request: (method: string, params: Record<string, unknown>, options: RequestOptions) => Promise<unknown>, taskId: string): Promise<void> {
  const options: RequestOptions = { priority: 'high', timeoutMs: CANCEL_TIMEOUT_MS, hardTimeoutMs: CANCEL_TIMEOUT_MS, bypassQueue: true, maxRetries: 0 };
  await request('tasks/cancel', { taskId }, options).catch(() => undefined);
}

function isTaskResult(result: unknown): result is { task: unknown } {
  return typeof result === 'object' && result !== null && 'task' in result && !('content' in result);
}

function parseTask(value: unknown): TaskInfo {
  const task = value as Partial<TaskInfo> | null;
  if (typeof task !== 'object' || task === null || typeof task.taskId !== 'string' || typeof task.status !== 'string') {
    throw new ProtocolError('Malformed task (expected taskId and status)', value);
  }
  return task as TaskInfo;
}

function remaining(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}

function timeoutData(method: string, options: McpTaskOptions) {
  const timeoutMs = options.taskTimeoutMs ?? DEFAULTS.mcp.taskTimeoutMs;
  return { method, kind: 'hard' as const, phase: 'in-flight' as const, timeoutMs, queuedMs: 0, inFlightMs: timeoutMs };
}

/** Waits `ms`, or rejects with CancelledError when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new CancelledError('Task cancelled', { reason: String(signal.reason ?? 'aborted'), phase: 'in-flight' }));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError('Task cancelled', { reason: String(signal.reason ?? 'aborted'), phase: 'in-flight' }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}


/** The extension's identifier, declared in client capabilities and looked for in the server's. */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** A modern task as `tasks/get` and `CreateTaskResult` carry it. */
interface ModernTask {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt?: string;
  lastUpdatedAt?: string;
  ttlMs?: number | null;
  pollIntervalMs?: number;
  inputRequests?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code?: unknown; message?: unknown; data?: unknown };
}

export interface ModernTaskDeps {
  /** Sends a request in the modern era (with the envelope). */
  request: (method: string, params: Record<string, unknown>, options: RequestOptions) => Promise<unknown>;
  /** Answers `inputRequests` with the registered handlers. */
  answer: (requests: Record<string, unknown>, signal: AbortSignal) => Promise<Record<string, unknown>>;
}

export function isModernTaskResult(result: unknown): boolean {
  return typeof result === 'object' && result !== null && (result as { resultType?: unknown }).resultType === 'task';
}

/**
 * Follows a modern task (the `resultType: "task"` answer to `created`) to its final result:
 * polls `tasks/get` at the server's `pollIntervalMs`, answers `input_required` rounds through
 * `tasks/update` (each input key once), and cancels on abort or at its own deadline.
 */
export async function followModernTask<T>(deps: ModernTaskDeps, created: unknown, options: McpTaskOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.taskTimeoutMs ?? DEFAULTS.mcp.taskTimeoutMs);
  const control = new AbortController();
  const onAbort = () => control.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let task = parseModernTask(created);
  const answered = new Set<string>();
  try {
    for (;;) {
      options.onStatus?.(publicTask(task));
      switch (task.status) {
        case 'completed':
          if (typeof task.result !== 'object' || task.result === null) throw new ProtocolError(`Task ${task.taskId} completed without a result`, task);
          return task.result as T;
        case 'failed': {
          const e = task.error ?? {};
          const message = typeof e.message === 'string' ? e.message : `Task ${task.taskId} failed`;
          const code = typeof e.code === 'number' ? e.code : RpcCode.InternalError;
          throw code === RpcCode.InvalidParams ? new InvalidParamsError(message, e.data) : new ServerError(message, code, e.data);
        }
        case 'cancelled':
          throw new CancelledError(`Task ${task.taskId} was cancelled by the server${task.statusMessage ? `: ${task.statusMessage}` : ''}`, { reason: task.statusMessage ?? 'cancelled', phase: 'in-flight' });
        case 'input_required': {
          // Keys are unique over the task's life: answer each once, even if polls repeat it.
          const fresh = Object.fromEntries(Object.entries(task.inputRequests ?? {}).filter(([key]) => !answered.has(key)));
          if (Object.keys(fresh).length > 0) {
            const responses = await deps.answer(fresh, control.signal);
            for (const key of Object.keys(fresh)) answered.add(key);
            await deps.request('tasks/update', { taskId: task.taskId, inputResponses: responses }, { priority: 'high', signal: control.signal });
            break; // poll at once: the update may have moved it on
          }
          await sleep(pollDelay(task, options, deadline), control.signal);
          break;
        }
        default:
          await sleep(pollDelay(task, options, deadline), control.signal);
      }
      if (remaining(deadline) <= 0) throw new TimeoutError(`Task ${task.taskId} did not finish within its deadline`, timeoutData('tools/call', options));
      task = parseModernTask(await deps.request('tasks/get', { taskId: task.taskId }, { priority: 'high', signal: control.signal }));
    }
  } catch (error) {
    // Any failure while the task may still run (a handler that threw, a failed tasks/update or
    // tasks/get, an abort, the deadline) leaves it waiting on the server: cancel it. A task that
    // reported a terminal status needs nothing.
    if (!TERMINAL.has(task.status)) await cancelTask(deps.request, task.taskId);
    if (control.signal.aborted && !(error instanceof CancelledError)) throw new CancelledError('Task cancelled', { reason: String(control.signal.reason ?? 'aborted'), phase: 'in-flight' });
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function pollDelay(task: ModernTask, options: McpTaskOptions, deadline: number): number {
  return Math.min(task.pollIntervalMs ?? options.pollIntervalMs ?? DEFAULTS.mcp.taskPollIntervalMs, remaining(deadline));
}

function parseModernTask(value: unknown): ModernTask {
  const task = value as Partial<ModernTask> | null;
  if (typeof task !== 'object' || task === null || typeof task.taskId !== 'string' || typeof task.status !== 'string') {
    throw new ProtocolError('Malformed task (expected taskId and status)', value);
  }
  return task as ModernTask;
}

/** The status fields of a modern task, in the shape `onStatus` reports for both eras. */
function publicTask(task: ModernTask): TaskInfo {
  const info: TaskInfo = { taskId: task.taskId, status: task.status };
  if (task.statusMessage !== undefined) info.statusMessage = task.statusMessage;
  if (task.createdAt !== undefined) info.createdAt = task.createdAt;
  if (task.lastUpdatedAt !== undefined) info.lastUpdatedAt = task.lastUpdatedAt;
  if (task.ttlMs !== undefined) info.ttl = task.ttlMs;
  if (task.pollIntervalMs !== undefined) info.pollInterval = task.pollIntervalMs;
  return info;
}
