/**
 * The Logs panel's rows: a server's stderr lines and its MCP log messages (`notifications/message`,
 * which the host logs as `log` events carrying the message), oldest first so the view can follow
 * the tail. Levels are MCP's eight; a stderr line has none and counts as `info`.
 */
import type { SequencedEvent } from '../../../src/core/gateway-protocol.js';
import type { LoggingLevel } from '../../../src/core/mcp-session.js';

export type { LoggingLevel };
/** MCP's levels, least severe first (a copy: importing the session module would bundle it into the page). */
export const LOGGING_LEVELS: readonly LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

export interface LogLine {
  seq: number;
  time: number;
  server: string;
  source: 'stderr' | 'mcp';
  level: LoggingLevel;
  logger?: string;
  text: string;
}

export interface LogLineFilter {
  server: string;
  /** Minimum level ('' = all). */
  level: '' | LoggingLevel;
  source: '' | LogLine['source'];
  text: string;
}

/** Lines kept in the view; the tail is what a person follows. */
export const LOG_VIEW_LIMIT = 500;

const isLevel = (v: unknown): v is LoggingLevel => typeof v === 'string' && (LOGGING_LEVELS as readonly string[]).includes(v);

/** A log line for a `server/event` of type `stderr` or `log`; null for anything else. */
export function toLogLine(event: SequencedEvent): LogLine | null {
  if (event.method !== 'server/event') return null;
  const e = event.params;
  if (e.type === 'stderr') {
    return { seq: event.seq, time: e.time, server: e.server, source: 'stderr', level: e.level === 'warn' ? 'warning' : 'info', text: e.message };
  }
  if (e.type !== 'log') return null;
  const data = (e.data ?? {}) as { level?: unknown; logger?: unknown; data?: unknown };
  // A `log` event without a message in its data is the host's own note (e.g. an IPC error): keep its level.
  const level: LoggingLevel = isLevel(data.level) ? data.level : e.level === 'warn' ? 'warning' : e.level === 'error' ? 'error' : e.level === 'debug' ? 'debug' : 'info';
  const line: LogLine = { seq: event.seq, time: e.time, server: e.server, source: 'mcp', level, text: e.message };
  if (typeof data.logger === 'string') {
    line.logger = data.logger;
    // The host prefixes the logger to the message; the view shows it in its own column.
    const prefix = `[${data.logger}] `;
    if (line.text.startsWith(prefix)) line.text = line.text.slice(prefix.length);
  }
  return line;
}

/** Lines passing the filter, oldest first, the last `limit` of them. */
export function filterLogLines(events: readonly SequencedEvent[], filter: LogLineFilter, limit = LOG_VIEW_LIMIT): LogLine[] {
  const min = filter.level ? LOGGING_LEVELS.indexOf(filter.level) : 0;
  const text = filter.text.trim().toLowerCase();
  const out: LogLine[] = [];
  for (let i = events.length - 1; i >= 0 && out.length < limit; i--) {
    const line = toLogLine(events[i] as SequencedEvent);
    if (!line) continue;
    if (filter.server && line.server !== filter.server) continue;
    if (filter.source && line.source !== filter.source) continue;
    if (LOGGING_LEVELS.indexOf(line.level) < min) continue;
    if (text && !line.text.toLowerCase().includes(text) && !(line.logger ?? '').toLowerCase().includes(text)) continue;
    out.push(line);
  }
  return out.reverse();
}

/**
 * Follow mode: the view keeps to the newest line until the person scrolls up, and resumes when
 * they scroll back to the bottom (within `slack` px).
 */
export function atBottom(el: { scrollTop: number; scrollHeight: number; clientHeight: number }, slack = 24): boolean {
  return el.scrollHeight - el.scrollTop - el.clientHeight <= slack;
}
