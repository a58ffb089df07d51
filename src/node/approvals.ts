/**
 * The host's approval queue: calls to `tools.confirm` tools wait here until a person approves or
 * rejects them (in the dashboard, through the gateway), or until their timeout — then they are
 * refused. One queue per host, shared by its servers, so one dashboard answers for all of them.
 *
 * Nothing here knows about WebSockets: whoever can ask a person (the gateway) attaches itself as an
 * approver, listens to `onRequested` / `onSettled` and calls `answer()`. With no approver attached,
 * a confirmation is refused at once (`no-approver`) instead of stalling the caller for the timeout.
 *
 * The caller never approves its own call: an answer from the door and client that made the request
 * (e.g. the same gateway connection) is refused, so an agent sharing the gateway token cannot
 * confirm its own `confirm` call — that takes another connection (the dashboard).
 */
import { Emitter } from '../core/emitter.js';
import { CancelledError, InvalidParamsError, ToolDeniedError } from '../core/errors.js';
import { DEFAULTS } from '../core/defaults.js';
import type { ApprovalRequest, ApprovalSettled } from '../core/gateway-protocol.js';

export type { ApprovalRequest, ApprovalSettled };

interface ApprovalEvents extends Record<string, unknown> {
  requested: ApprovalRequest;
  settled: ApprovalSettled;
}

export interface ApprovalQueueOptions {
  /** @default 120000 (DEFAULTS.policy.confirmTimeoutMs) */
  timeoutMs?: number;
  /** Epoch ms. @default Date.now */
  now?: () => number;
  /** Runs `fn` after `ms`; returns the canceller. @default setTimeout (unref'd) */
  schedule?: (fn: () => void, ms: number) => () => void;
}

const defaultSchedule = (fn: () => void, ms: number): (() => void) => {
  const timer = setTimeout(fn, ms);
  timer.unref?.();
  return () => clearTimeout(timer);
};

interface Waiting {
  request: ApprovalRequest;
  settle: (outcome: ApprovalSettled['outcome'], by?: string) => void;
}

export class ApprovalQueue {
  private readonly events = new Emitter<ApprovalEvents>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly schedule: (fn: () => void, ms: number) => () => void;
  private approvers = 0;
  private nextId = 1;

  constructor(options: ApprovalQueueOptions = {}) {
    const timeoutMs = options.timeoutMs ?? DEFAULTS.policy.confirmTimeoutMs;
    if (!(timeoutMs > 0)) throw new TypeError(`ApprovalQueue: timeoutMs must be a positive number (got ${String(timeoutMs)})`);
    this.timeoutMs = timeoutMs;
    this.now = options.now ?? Date.now;
    this.schedule = options.schedule ?? defaultSchedule;
  }

  /** A request was queued (show it to a person). Returns the disposer. */
  onRequested(listener: (request: ApprovalRequest) => void): () => void {
    return this.events.on('requested', listener);
  }

  /** A request was answered, timed out or cancelled (take it off the screen). Returns the disposer. */
  onSettled(listener: (settled: ApprovalSettled) => void): () => void {
    return this.events.on('settled', listener);
  }

  /**
   * Declares that someone can ask a person (e.g. a gateway serving the dashboard). Until one is
   * attached, confirmations are refused at once with `no-approver`. Returns the detacher.
   */
  attachApprover(): () => void {
    this.approvers++;
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      this.approvers--;
    };
  }

  /** The requests waiting for an answer, oldest first. */
  pending(): ApprovalRequest[] {
    return [...this.waiting.values()].map((w) => ({ ...w.request }));
  }

  /**
   * Waits for a person's answer. Resolves when approved; rejects with ToolDeniedError when rejected,
   * timed out or when no approver is attached, and with CancelledError when `signal` aborts.
   */
  request(
    call: { server: string; tool: string; arguments: Record<string, unknown>; door?: string; client?: string },
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<void> {
    const deny = (reason: 'rejected' | 'timeout' | 'no-approver', message: string, by?: string) =>
      new ToolDeniedError(message, { server: call.server, tool: call.tool, reason, ...(by !== undefined ? { by } : {}) });
    if (this.approvers === 0) {
      return Promise.reject(deny('no-approver', `Tool "${call.tool}" on server "${call.server}" needs a person's approval, and nothing can ask one (no dashboard attached)`));
    }
    if (options.signal?.aborted) return Promise.reject(new CancelledError('Request cancelled while waiting for approval', { reason: String(options.signal.reason ?? 'cancelled'), phase: 'queued' }));
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const now = this.now();
    const request: ApprovalRequest = {
      id: `approval-${this.nextId++}`,
      server: call.server,
      tool: call.tool,
      arguments: call.arguments,
      ...(call.door !== undefined ? { door: call.door } : {}),
      ...(call.client !== undefined ? { client: call.client } : {}),
      requestedAt: now,
      expiresAt: now + timeoutMs,
    };
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => settle('cancelled');
      const cancelTimer = this.schedule(() => settle('timeout'), timeoutMs);
      const settle = (outcome: ApprovalSettled['outcome'], by?: string) => {
        if (!this.waiting.delete(request.id)) return;
        cancelTimer();
        options.signal?.removeEventListener('abort', onAbort);
        this.events.emit('settled', { id: request.id, server: request.server, tool: request.tool, outcome, ...(by !== undefined ? { by } : {}) });
        if (outcome === 'approved') resolve();
        else if (outcome === 'cancelled') reject(new CancelledError('Request cancelled while waiting for approval', { reason: String(options.signal?.reason ?? 'cancelled'), phase: 'queued' }));
        else if (outcome === 'timeout') reject(deny('timeout', `Tool "${call.tool}" on server "${call.server}" was not approved within ${timeoutMs} ms`));
        else reject(deny('rejected', `Tool "${call.tool}" on server "${call.server}" was rejected${by ? ` by ${by}` : ''}`, by));
      };
      this.waiting.set(request.id, { request, settle });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.events.emit('requested', { ...request });
    });
  }

  /**
   * A person's answer. Returns false when the request is unknown or already settled (answered
   * elsewhere, timed out): the first answer wins. `from` names where the answer comes from (door
   * and client); one from the caller itself is refused.
   * @throws InvalidParamsError (`data.reason: 'self-approval'`) when `from` is the request's own door and client
   */
  answer(id: string, approved: boolean, by?: string, from?: { door: string; client?: string }): boolean {
    const waiting = this.waiting.get(id);
    if (!waiting) return false;
    const request = waiting.request;
    if (from?.client !== undefined && request.door === from.door && request.client === from.client) {
      throw new InvalidParamsError(`Approval ${id} cannot be answered by the ${from.door} client that made the call (${from.client}): approve it from another connection, such as the dashboard`, {
        id,
        reason: 'self-approval',
        door: from.door,
        client: from.client,
      });
    }
    waiting.settle(approved ? 'approved' : 'rejected', by);
    return true;
  }

  /** Refuses everything waiting (the host is shutting down). */
  cancelAll(): void {
    for (const w of [...this.waiting.values()]) w.settle('cancelled');
  }
}
