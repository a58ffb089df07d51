import { describe, expect, it } from 'vitest';
import { RequestIds } from '../../src/core/request-ids.js';

describe('RequestIds', () => {
  it('issues increasing integer ids and recognises only those', () => {
    const ids = new RequestIds();
    expect([ids.issue(), ids.issue(), ids.issue()]).toEqual([1, 2, 3]);
    expect(ids.issued(2)).toBe(true);
    for (const id of [0, 4, 2.5, '2', null, -1]) expect(ids.issued(id)).toBe(false);
  });

  it('classifies answers to ids nobody waits for: late (abandoned), duplicate (settled), unknown', () => {
    const ids = new RequestIds();
    const a = ids.issue();
    const b = ids.issue();
    ids.abandon(a);
    expect(ids.classify(a)).toBe('late');
    expect(ids.classify(b)).toBe('duplicate');
    expect(ids.classify(99)).toBe('unknown');
    expect(ids.classify('x')).toBe('unknown');
    expect(ids.classify(null)).toBe('unknown');
  });

  it('remembers only the last `capacity` abandoned ids; older ones still read as settled', () => {
    const ids = new RequestIds(2);
    const issued = [ids.issue(), ids.issue(), ids.issue()];
    for (const id of issued) ids.abandon(id);
    ids.abandon(issued[2]!); // again: not a second slot
    expect(issued.map((id) => ids.classify(id))).toEqual(['duplicate', 'late', 'late']);
  });
});
