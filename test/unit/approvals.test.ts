import { describe, expect, it } from 'vitest';
import { CancelledError, InvalidParamsError, ToolDeniedError } from '../../src/core/errors.js';
import { ApprovalQueue, type ApprovalRequest, type ApprovalSettled } from '../../src/node/approvals.js';

function setup() {
  const timers: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  const queue = new ApprovalQueue({
    timeoutMs: 5_000,
    now: () => 100,
    schedule: (fn, ms) => {
      const t = { fn, ms, cancelled: false };
      timers.push(t);
      return () => (t.cancelled = true);
    },
  });
  const requested: ApprovalRequest[] = [];
  const settled: ApprovalSettled[] = [];
  queue.onRequested((r) => requested.push(r));
  queue.onSettled((s) => settled.push(s));
  return { queue, timers, requested, settled };
}

const call = { server: 's', tool: 'pay', arguments: { amount: 5 }, door: 'websocket', client: '7' };

describe('ApprovalQueue', () => {
  it('refuses at once when no approver is attached', async () => {
    const { queue, requested } = setup();
    const error = await queue.request(call).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolDeniedError);
    expect((error as ToolDeniedError).data.reason).toBe('no-approver');
    expect(requested).toEqual([]);
  });

  it('announces a request, and resolves when a person approves; the first answer wins', async () => {
    const { queue, requested, settled, timers } = setup();
    queue.attachApprover();
    const waiting = queue.request(call);
    expect(requested).toEqual([{ id: 'approval-1', server: 's', tool: 'pay', arguments: { amount: 5 }, door: 'websocket', client: '7', requestedAt: 100, expiresAt: 5_100 }]);
    expect(queue.pending().map((r) => r.id)).toEqual(['approval-1']);
    expect(queue.answer('approval-1', true, 'dashboard')).toBe(true);
    expect(queue.answer('approval-1', false)).toBe(false);
    await expect(waiting).resolves.toBeUndefined();
    expect(settled).toEqual([{ id: 'approval-1', server: 's', tool: 'pay', outcome: 'approved', by: 'dashboard' }]);
    expect(timers[0]!.cancelled).toBe(true);
    expect(queue.pending()).toEqual([]);
  });

  it('a rejection and a timeout refuse the call with ToolDenied', async () => {
    const { queue, timers, settled } = setup();
    queue.attachApprover();
    const rejected = queue.request(call);
    queue.answer('approval-1', false, 'ops');
    await expect(rejected).rejects.toMatchObject({ code: 'ToolDenied', data: { reason: 'rejected', by: 'ops' } });
    const timedOut = queue.request(call, { timeoutMs: 50 });
    expect(timers[1]!.ms).toBe(50);
    timers[1]!.fn();
    await expect(timedOut).rejects.toMatchObject({ code: 'ToolDenied', data: { reason: 'timeout' } });
    expect(settled.map((s) => s.outcome)).toEqual(['rejected', 'timeout']);
  });

  it('a caller that gives up is settled as cancelled; cancelAll clears the queue', async () => {
    const { queue, settled } = setup();
    const detach = queue.attachApprover();
    const controller = new AbortController();
    const waiting = queue.request(call, { signal: controller.signal });
    controller.abort('bye');
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    const other = queue.request(call);
    queue.cancelAll();
    await expect(other).rejects.toBeInstanceOf(CancelledError);
    expect(settled.map((s) => s.outcome)).toEqual(['cancelled', 'cancelled']);
    detach();
    detach(); // idempotent
    await expect(queue.request(call)).rejects.toMatchObject({ data: { reason: 'no-approver' } });
  });

  it('refuses an answer from the client that made the call; another client settles it', async () => {
    const { queue, settled } = setup();
    queue.attachApprover();
    const waiting = queue.request(call);
    let refused: unknown;
    try {
      queue.answer('approval-1', true, 'websocket:7', { door: 'websocket', client: '7' });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(InvalidParamsError);
    expect((refused as InvalidParamsError).data).toEqual({ id: 'approval-1', reason: 'self-approval', door: 'websocket', client: '7' });
    expect(settled).toEqual([]);
    expect(queue.pending()).toHaveLength(1);
    // Same client id through another door is another caller.
    expect(queue.answer('approval-1', true, 'http:7', { door: 'http', client: '7' })).toBe(true);
    await waiting;
  });
});
