import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ServerEvent } from '../../src/core/gateway-protocol.js';
import { StderrRelay } from '../../src/node/gateway/stderr-relay.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('StderrRelay', () => {
  it('passes N lines per server per second and reports the rest when the second ends, without another line to end it', () => {
    vi.useFakeTimers();
    const events: ServerEvent[] = [];
    const relay = new StderrRelay(2, (e) => events.push(e));
    for (const line of ['a', 'b', 'c', 'd']) relay.line('s1', line);
    relay.line('s2', 'other');
    expect(events.map((e) => [e.server, e.message])).toEqual([
      ['s1', 'a'],
      ['s1', 'b'],
      ['s2', 'other'],
    ]);
    vi.advanceTimersByTime(1000);
    expect(events.at(-1)).toMatchObject({ server: 's1', level: 'warn', message: '2 more stderr lines not shown (rate limit 2/s; see server/stderr)', data: { suppressed: 2 } });
    relay.line('s1', 'e');
    expect(events.at(-1)).toMatchObject({ message: 'e' });
    expect(events).toHaveLength(5);
    relay.close();
  });

  it('forgets a removed server: its held-back count and timer go with it', () => {
    vi.useFakeTimers();
    const events: ServerEvent[] = [];
    const relay = new StderrRelay(1, (e) => events.push(e));
    relay.line('gone', 'a');
    relay.line('gone', 'b');
    relay.forget('gone');
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(events.map((e) => e.message)).toEqual(['a']);
    relay.close();
  });
});
