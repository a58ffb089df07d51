import { describe, expect, it } from 'vitest';
import { OutputSchemaMismatchError } from '../../src/core/errors.js';
import type { ToolInfo } from '../../src/core/gateway-protocol.js';
import { OutputChecker } from '../../src/node/output-schema.js';

const tool = (name: string, outputSchema: Record<string, unknown>): ToolInfo => ({ name, inputSchema: { type: 'object' }, outputSchema }) as ToolInfo;
const result = (structuredContent: Record<string, unknown>) => ({ content: [], structuredContent });

describe('OutputChecker', () => {
  it('checks each tool against its own schema when two schemas share an $id', () => {
    const checker = new OutputChecker();
    const a = tool('a', { $id: 'https://example.com/output', type: 'object', properties: { n: { type: 'string' } }, required: ['n'] });
    const b = tool('b', { $id: 'https://example.com/output', type: 'object', properties: { n: { type: 'number' } }, required: ['n'] });
    expect(() => checker.check(a, result({ n: 'text' }))).not.toThrow();
    expect(() => checker.check(b, result({ n: 1 }))).not.toThrow();
    // Neither is silently skipped, and neither is checked against the other's schema.
    expect(() => checker.check(b, result({ n: 'text' }))).toThrow(OutputSchemaMismatchError);
    expect(() => checker.check(a, result({ n: 1 }))).toThrow(OutputSchemaMismatchError);
  });

  it('resolves a reference through the schema\'s own $id, and a new list may reuse an $id with a new meaning', () => {
    const checker = new OutputChecker();
    const schema = (type: string) => ({ $id: 'https://example.com/s', type: 'object', $defs: { v: { type } }, properties: { v: { $ref: 'https://example.com/s#/$defs/v' } } });
    expect(() => checker.check(tool('t', schema('string')), result({ v: 1 }))).toThrow(OutputSchemaMismatchError);
    checker.clear();
    expect(() => checker.check(tool('t', schema('number')), result({ v: 1 }))).not.toThrow();
  });
});
