/**
 * Gateway events → event-log rows. Left out: metrics ticks (the charts show them) and `server/state`
 * (it drives the cards; the server's own `state` event, with its own time, is the log's one row per change).
 */
import { describeHostReload, reloadRejected, type SequencedEvent, type ServerEvent } from '../../../src/core/gateway-protocol.js';

export interface LogRow {
  seq: number;
  time: number;
  server: string;
  /** A server event's type, or `reload` for a config reload of the host (server: `host`). */
  type: ServerEvent['type'] | 'reload';
  level: ServerEvent['level'];
  message: string;
}

export const LEVELS: ServerEvent['level'][] = ['debug', 'info', 'warn', 'error'];
export const TYPES: LogRow['type'][] = ['state', 'spawn', 'exit', 'health', 'restart', 'usage', 'alert', 'stderr', 'diagnostic', 'tools', 'log', 'reload'];

/** Time first seen, for events from a gateway that does not stamp its events (`time`). */
const firstSeen = new Map<number, number>();

function seenAt(seq: number): number {
  let t = firstSeen.get(seq);
  if (t === undefined) {
    t = Date.now();
    firstSeen.set(seq, t);
    if (firstSeen.size > 5000) {
      const oldest = firstSeen.keys().next().value;
      if (oldest !== undefined) firstSeen.delete(oldest);
    }
  }
  return t;
}

export function toRow(event: SequencedEvent): LogRow | null {
  switch (event.method) {
    case 'server/event': {
      const e = event.params;
      return { seq: event.seq, time: e.time, server: e.server, type: e.type, level: e.level, message: e.message };
    }
    case 'tools/changed': {
      const p = event.params;
      return { seq: event.seq, time: event.time ?? seenAt(event.seq), server: p.server, type: 'tools', level: 'info', message: `${p.tools.length} tools listed` };
    }
    case 'host/reload': {
      const r = event.params;
      return { seq: event.seq, time: event.time ?? seenAt(event.seq), server: 'host', type: 'reload', level: reloadRejected(r) ? 'error' : r.errors.length ? 'warn' : 'info', message: describeHostReload(r) };
    }
    default:
      return null;
  }
}

export interface LogFilter {
  server: string;
  level: string;
  type: string;
  text: string;
}

/** Rows that pass the filter, newest first, at most `limit`. `level` means "this level and above". */
export function filterRows(events: readonly SequencedEvent[], filter: LogFilter, limit: number): LogRow[] {
  const minLevel = filter.level ? LEVELS.indexOf(filter.level as LogRow['level']) : 0;
  const text = filter.text.trim().toLowerCase();
  const rows: LogRow[] = [];
  for (let i = events.length - 1; i >= 0 && rows.length < limit; i--) {
    const row = toRow(events[i] as SequencedEvent);
    if (!row) continue;
    if (filter.server && row.server !== filter.server) continue;
    if (LEVELS.indexOf(row.level) < minLevel) continue;
    if (filter.type && row.type !== filter.type) continue;
    if (text && !row.message.toLowerCase().includes(text) && !row.server.toLowerCase().includes(text)) continue;
    rows.push(row);
  }
  return rows;
}
