/**
 * The `requests` store: requests made through the client, running ones and the last finished ones
 * (bounded), with their status, progress and stream chunk counts — what a UI lists as "activity".
 *
 * It sits on every call's path, so a call costs it an object or two and no copy of the list: the
 * list handed to readers is made when someone reads it (and kept until the next change), and
 * subscribers hear of the changes of one task once, after it (see `afterTask`).
 * Entries are never changed in place: a change replaces the entry, so a list read earlier stays as it was.
 */
import type { IpcErrorCode } from '../core/errors.js';
import { InFlightTable } from '../core/in-flight.js';
import type { Progress } from '../core/ipc-manager.js';
import type { Result } from '../core/result.js';
import { afterTask, type TaskScheduler } from './after-task.js';
import type { Readable, Subscriber } from './store.js';

export type RequestStatus = 'waiting' | 'running' | 'done' | 'error' | 'cancelled';

export interface RequestInfo {
  key: string;
  server: string;
  /** The MCP method (`tools/call`, `resources/read`, …). */
  method: string;
  /** The tool, for `tools/call`; else the method. */
  tool: string;
  /** Epoch ms. */
  startedAt: number;
  progress?: Progress;
  status: RequestStatus;
  /** Epoch ms, once finished. */
  finishedAt?: number;
  /** Error code, when status is `error` / `cancelled`. */
  error?: IpcErrorCode;
  /** Stream chunks received so far. */
  chunks?: number;
}

/**
 * A request the log follows: the runner's own record (so following one costs no object of the
 * log's), with the id the log gave it and its current info.
 */
export interface LogEntry {
  /** Set by `add`: increasing, so the running requests are a sliding window of ids. */
  id: number | undefined;
  info: RequestInfo;
}

export class RequestLog<E extends LogEntry = LogEntry> {
  readonly store: Readable<RequestInfo[]> & { get(): RequestInfo[] };
  /**
   * The running (and waiting) requests. Not a Map: one insert and one delete per call make a Map
   * rehash every few hundred calls, and once an old table is promoted it keeps every newer one —
   * and what they hold — alive through scavenges (see core's InFlightTable).
   */
  private readonly running = new InFlightTable<E>();
  /**
   * The last `maxFinished` finished requests, a ring: their ids (for the order of the list) and
   * infos; once full, `oldest` is the slot of the one finished longest ago (the next to go).
   */
  private finishedIds: number[] = [];
  private finishedInfos: RequestInfo[] = [];
  private oldest = 0;
  private nextId = 1;
  /** The list as last read; undefined after a change. */
  private list: RequestInfo[] | undefined = [];
  /** Copied on (un)subscribe, never while notifying. */
  private subscribers: ReadonlyArray<Subscriber<RequestInfo[]>> = [];
  private notifyScheduled = false;
  private readonly notifyBound = () => this.notify();

  /**
   * @param maxFinished finished requests kept (the one finished longest ago goes first).
   * @param schedule when subscribers hear of a task's changes. @default afterTask
   */
  constructor(
    private readonly maxFinished: number,
    private readonly schedule: TaskScheduler = afterTask,
  ) {
    const get = () => (this.list ??= this.build());
    this.store = {
      get,
      subscribe: (run) => {
        this.subscribers = [...this.subscribers, run];
        run(get());
        return () => {
          this.subscribers = this.subscribers.filter((s) => s !== run);
        };
      },
    };
  }

  /** Starts following a request (`entry.info`: waiting or running); gives it its id. */
  add(entry: E): void {
    const id = this.nextId++;
    entry.id = id;
    this.running.set(id, entry);
    this.changed();
  }

  /** Updates a request that is still waiting or running. */
  patch(entry: E, patch: Partial<RequestInfo>): void {
    if (!this.isRunning(entry)) return;
    // Object.assign, not `{ ...info, ...patch }`: on Node 20's V8, properties added to a spread copy
    // in optimised code make a new hidden class on every call (slow, and garbage).
    entry.info = Object.assign({}, entry.info, patch);
    this.changed();
  }

  /** Its status, unless it already has that one (no change, no notification). */
  setStatus(entry: E, status: 'waiting' | 'running'): void {
    if (entry.info.status !== status) this.patch(entry, { status });
  }

  finish(entry: E, result: Result<unknown>): void {
    if (!this.isRunning(entry)) return;
    this.running.delete(entry.id!);
    const done: RequestInfo = Object.assign({}, entry.info);
    done.status = result.ok ? 'done' : result.error.code === 'Cancelled' ? 'cancelled' : 'error';
    done.finishedAt = Date.now();
    if (!result.ok) done.error = result.error.code;
    entry.info = done;
    this.keepFinished(entry.id!, done);
    this.changed();
  }

  private keepFinished(id: number, info: RequestInfo): void {
    const max = this.maxFinished;
    if (max <= 0) return;
    if (this.finishedIds.length < max) {
      this.finishedIds.push(id);
      this.finishedInfos.push(info);
      return;
    }
    const at = this.oldest;
    this.finishedIds[at] = id;
    this.finishedInfos[at] = info;
    this.oldest = at + 1 === max ? 0 : at + 1;
  }

  private isRunning(entry: E): boolean {
    return entry.id !== undefined && this.running.get(entry.id) === entry;
  }

  /** The running request with this key (a scan: for the rare lookup by key, e.g. a cancel button). */
  find(key: string): E | undefined {
    for (const entry of this.running.values()) if (entry.info.key === key) return entry;
    return undefined;
  }

  /** The list: every entry kept, in the order the requests were made. */
  private build(): RequestInfo[] {
    const running = this.running.values();
    const ids = this.finishedIds;
    if (running.length === 0 && ids.length === 0) return [];
    const all: Array<{ id: number; info: RequestInfo }> = running.map((e) => ({ id: e.id!, info: e.info }));
    for (let i = 0; i < ids.length; i++) all.push({ id: ids[i]!, info: this.finishedInfos[i]! });
    all.sort((a, b) => a.id - b.id);
    return all.map((e) => e.info);
  }

  private changed(): void {
    this.list = undefined;
    if (this.subscribers.length === 0 || this.notifyScheduled) return;
    this.notifyScheduled = true;
    this.schedule(this.notifyBound);
  }

  private notify(): void {
    this.notifyScheduled = false;
    const subscribers = this.subscribers;
    if (subscribers.length === 0) return;
    const list = this.store.get();
    for (const run of subscribers) {
      try {
        run(list);
      } catch (error) {
        console.error('mcp-ipc: store subscriber threw', error);
      }
    }
  }
}
