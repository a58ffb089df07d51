/**
 * The Messages panel's model: the JSON-RPC traffic this page exchanges with each server through
 * the gateway (requests and their results or errors, notifications, the server's own requests and
 * our answers), newest last, bounded. Pure and clock-injected, so the rules are unit-tested.
 */
import { writable, type Readable } from 'svelte/store';
import { utf8Bytes } from './format.js';

/** `out`: page → server; `in`: server → page. */
export type Direction = 'out' | 'in';
export type MessageKind = 'request' | 'result' | 'error' | 'notification';

export interface TrafficEntry {
  /** Increasing per log. */
  id: number;
  server: string;
  direction: Direction;
  kind: MessageKind;
  method: string;
  /** Epoch ms. */
  time: number;
  /** For a result or error: ms since its request. */
  durationMs?: number;
  /** UTF-8 size of the message's JSON (`params`, `result` or `error`). */
  bytes: number;
  /** The params / result / error; past `PAYLOAD_LIMIT_BYTES` only a preview string is kept. */
  payload: unknown;
  /** Links a result or error to its request's entry id. */
  requestEntry?: number;
}

export interface TrafficFilter {
  server: string;
  direction: '' | Direction;
  kind: '' | MessageKind;
  /** Case-insensitive substring of the method. */
  method: string;
}

export const TRAFFIC_LIMIT = 1000;
/** A payload larger than this is kept as a preview: the log must not pin a 50 MB result in memory. */
export const PAYLOAD_LIMIT_BYTES = 64 * 1024;

export interface TrafficLog extends Readable<readonly TrafficEntry[]> {
  /** Records a message; returns its entry id (to pass as `requestEntry` of the answer). */
  record(entry: Omit<TrafficEntry, 'id' | 'time' | 'bytes' | 'payload'> & { payload: unknown; time?: number }): number;
  /** Time of a recorded entry still in the log (for durations), or undefined. */
  timeOf(id: number): number | undefined;
  clear(): void;
}

function sizeAndPayload(payload: unknown): { bytes: number; payload: unknown } {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch {
    return { bytes: 0, payload: '[not serialisable]' };
  }
  if (json === undefined) return { bytes: 0, payload: undefined };
  const bytes = utf8Bytes(json);
  if (bytes <= PAYLOAD_LIMIT_BYTES) return { bytes, payload };
  return { bytes, payload: `${json.slice(0, 2_000)}… (${bytes.toLocaleString()} bytes, preview only)` };
}

export function createTrafficLog(limit = TRAFFIC_LIMIT, now: () => number = Date.now): TrafficLog {
  if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`limit must be a positive integer, got ${limit}`);
  let entries: TrafficEntry[] = [];
  let nextId = 1;
  const store = writable<readonly TrafficEntry[]>(entries);
  return {
    subscribe: store.subscribe,
    record(input) {
      const id = nextId++;
      const { bytes, payload } = sizeAndPayload(input.payload);
      const entry: TrafficEntry = { ...input, id, time: input.time ?? now(), bytes, payload };
      if (input.requestEntry !== undefined && entry.durationMs === undefined) {
        const started = entries.find((e) => e.id === input.requestEntry)?.time;
        if (started !== undefined) entry.durationMs = entry.time - started;
      }
      // Drop the oldest in one slice: a flood costs one copy per message, never unbounded growth.
      entries = entries.length >= limit ? [...entries.slice(entries.length - limit + 1), entry] : [...entries, entry];
      store.set(entries);
      return id;
    },
    timeOf(id) {
      return entries.find((e) => e.id === id)?.time;
    },
    clear() {
      entries = [];
      store.set(entries);
    },
  };
}

/** Entries passing the filter, newest first, at most `max`. */
export function filterTraffic(entries: readonly TrafficEntry[], filter: TrafficFilter, max = 300): TrafficEntry[] {
  const method = filter.method.trim().toLowerCase();
  const out: TrafficEntry[] = [];
  for (let i = entries.length - 1; i >= 0 && out.length < max; i--) {
    const e = entries[i] as TrafficEntry;
    if (filter.server && e.server !== filter.server) continue;
    if (filter.direction && e.direction !== filter.direction) continue;
    if (filter.kind && e.kind !== filter.kind) continue;
    if (method && !e.method.toLowerCase().includes(method)) continue;
    out.push(e);
  }
  return out;
}

/** Every method seen, sorted (for the filter's suggestions). */
export function methodsSeen(entries: readonly TrafficEntry[]): string[] {
  return [...new Set(entries.map((e) => e.method))].sort();
}
