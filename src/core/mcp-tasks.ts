/**
 * Tool calls as tasks (MCP 2025-11-25 "task-augmented requests"): `tools/call` with a `task`
 * parameter answers at once with a task (`CreateTaskResult`); the client polls `tasks/get` until
 * the task is terminal — or needs input, which the server delivers as ordinary server→client
 * requests while `tasks/result` is pending — then fetches the result with `tasks/result`.
 * `tasks/cancel` stops it. The task has its own deadline, independent of the request timeout, so
 * a long task survives it; its progress token stays valid for the task's whole life.
 */
import { DEFAULTS } from './defaults.js';
import { CancelledError, ProtocolError, TimeoutError } from './errors.js';
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
    if (info.status === 'cancelled') throw new CancelledError(`Task ${info.taskId} was cancelled by the server${info.statusMessage ? `: ${info.statusMessage}` : ''}`, { reason: info.statusMessage ?? 'cancelled', phase: 'in-flight' });
    // `tasks/result` blocks until the task is terminal; input the task needs arrives meanwhile as
    // server→client requests (answered by the registered handlers). It lives as long as the task.
    const left = remaining(deadline);
    return await session.request<T>('tasks/result', { taskId: info.taskId }, { timeoutMs: left, hardTimeoutMs: left, signal: control.signal, priority: 'high' });
  } catch (error) {
    if (taskId !== undefined && (control.signal.aborted || error instanceof TimeoutError)) {
      // Best effort: the server may already have finished or forgotten it.
      await session.request('tasks/cancel', { taskId }, { priority: 'high', timeoutMs: 5_000, bypassQueue: true }).catch(() => undefined);
    }
    if (control.signal.aborted && !(error instanceof CancelledError)) throw new CancelledError('Task cancelled', { reason: String(control.signal.reason ?? 'aborted'), phase: 'in-flight' });
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    untrack?.();
  }
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

