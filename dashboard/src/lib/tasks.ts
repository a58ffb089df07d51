/**
 * The Tasks panel's model: the page's own calls in flight (with progress, cancelled by key) and the
 * servers' MCP tasks (`tasks/list`, cancelled with `tasks/cancel`), running ones first.
 */
import type { ServerSnapshot } from '../../../src/core/gateway-protocol.js';
import type { TaskInfo, TaskStatus } from '../../../src/core/mcp-tasks.js';

export type { TaskInfo, TaskStatus };

export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

export interface TaskRow extends TaskInfo {
  server: string;
  terminal: boolean;
}

type Caps = Record<string, unknown> | null | undefined;
const rec = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** The server lists its tasks (`capabilities.tasks.list`). */
export function canListTasks(server: Pick<ServerSnapshot, 'capabilities'> | undefined): boolean {
  return rec(rec((server?.capabilities as Caps) ?? undefined)?.tasks)?.list !== undefined;
}

/** The server accepts `tasks/cancel` (`capabilities.tasks.cancel`). */
export function canCancelTasks(server: Pick<ServerSnapshot, 'capabilities'> | undefined): boolean {
  return rec(rec((server?.capabilities as Caps) ?? undefined)?.tasks)?.cancel !== undefined;
}

const STATUSES: ReadonlySet<string> = new Set(['working', 'input_required', 'completed', 'failed', 'cancelled']);

/** Valid task entries of a `tasks/list` result (anything malformed is left out, never thrown). */
export function parseTasks(result: unknown): TaskInfo[] {
  const list = rec(result)?.tasks;
  if (!Array.isArray(list)) return [];
  return list.filter((t): t is TaskInfo => typeof rec(t)?.taskId === 'string' && STATUSES.has(String(rec(t)?.status)));
}

/** Rows for every server's tasks: unfinished first, then by last update (newest first). */
export function taskRows(byServer: Record<string, TaskInfo[]>): TaskRow[] {
  const rows: TaskRow[] = [];
  for (const [server, tasks] of Object.entries(byServer)) for (const t of tasks) rows.push({ ...t, server, terminal: TERMINAL_STATUSES.has(t.status) });
  const stamp = (t: TaskRow) => Date.parse(t.lastUpdatedAt ?? t.createdAt ?? '') || 0;
  return rows.sort((a, b) => Number(a.terminal) - Number(b.terminal) || stamp(b) - stamp(a) || a.taskId.localeCompare(b.taskId));
}
