/**
 * The `requests` store: requests made through the client, running ones and the last finished ones
 * (bounded), with their status, progress and stream chunk counts — what a UI lists as "activity".
 */
import type { IpcErrorCode } from '../core/errors.js';
import type { Progress } from '../core/ipc-manager.js';
import type { Result } from '../core/result.js';
import { type Readable, readonly, writable } from './store.js';

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

const live = (r: RequestInfo) => r.status === 'waiting' || r.status === 'running';

export class RequestLog {
  private readonly list = writable<RequestInfo[]>([]);
  readonly store: Readable<RequestInfo[]> & { get(): RequestInfo[] } = readonly(this.list);

  /** @param maxFinished finished requests kept (the oldest go first). */
  constructor(private readonly maxFinished: number) {}

  add(info: RequestInfo): void {
    this.list.update((list) => [...list, info]);
  }

  /** Updates a request that is still waiting or running. */
  patch(key: string, patch: Partial<RequestInfo>): void {
    this.list.update((list) => list.map((r) => (r.key === key && live(r) ? { ...r, ...patch } : r)));
  }

  finish(key: string, result: Result<unknown>): void {
    const status: RequestStatus = result.ok ? 'done' : result.error.code === 'Cancelled' ? 'cancelled' : 'error';
    const patch: Partial<RequestInfo> = { status, finishedAt: Date.now() };
    if (!result.ok) patch.error = result.error.code;
    this.list.update((list) => {
      const next = list.map((r) => (r.key === key && live(r) ? { ...r, ...patch } : r));
      let finished = next.filter((r) => !live(r)).length;
      if (finished <= this.maxFinished) return next;
      return next.filter((r) => {
        if (live(r) || finished <= this.maxFinished) return true;
        finished--;
        return false;
      });
    });
  }
}
