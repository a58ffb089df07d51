import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical-json.js';

describe('canonicalJson', () => {
  it('writes the same text whatever the key order, at every depth', () => {
    const a = { b: 1, a: { d: [3, { y: 1, x: 2 }], c: 'x' } };
    const b = { a: { c: 'x', d: [3, { x: 2, y: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[3,{"x":2,"y":1}]},"b":1}');
  });

  it('keeps array order and distinguishes values JSON distinguishes', () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: '1' }));
    expect(canonicalJson({ a: null })).not.toBe(canonicalJson({}));
  });

  it('leaves out undefined members as JSON.stringify does, and matches it on sorted input', () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
    const sorted = { a: [1, 'two', null, true, 1.5e-7], b: { c: 'é\n"' } };
    expect(canonicalJson(sorted)).toBe(JSON.stringify(sorted));
    expect(canonicalJson([undefined, NaN])).toBe('[null,null]');
  });

  it('survives deep nesting without a stack overflow, and refuses cycles', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 100_000; i++) deep = { k: deep };
    expect(canonicalJson(deep).length).toBeGreaterThan(100_000);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(TypeError);
    // The same object twice (not a cycle) is fine.
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});
