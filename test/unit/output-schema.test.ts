import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutputSchemaMismatchError } from '../../src/core/errors.js';
import type { ToolInfo } from '../../src/core/gateway-protocol.js';
import { DRAFT_07, OutputChecker, speaksDialect } from '../../src/node/output-schema.js';

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

const namedTool = (outputSchema: Record<string, unknown>, name = 't'): ToolInfo => tool(name, outputSchema);

afterEach(() => vi.restoreAllMocks());

describe('OutputChecker: Ajv made for a cold start', () => {
  it('compiles a tool schema without compiling the meta-schema first (the cold start’s ~90 ms)', () => {
    const metaCheck = vi.spyOn(Ajv2020.prototype, 'validateSchema');
    const metaLoad = vi.spyOn(Ajv2020.prototype, 'addMetaSchema');
    const checker = new OutputChecker();
    const t = namedTool({ type: 'object', properties: { n: { type: 'number' } }, required: ['n'] });
    expect(() => checker.check(t, { content: [], structuredContent: { n: 1 } })).not.toThrow();
    expect(() => checker.check(t, { content: [], structuredContent: { n: 'one' } })).toThrow(OutputSchemaMismatchError);
    expect(metaCheck).not.toHaveBeenCalled();
    expect(metaLoad).not.toHaveBeenCalled();
  });

  it('still leaves alone a schema it cannot compile or whose dialect it does not speak', () => {
    const checker = new OutputChecker();
    // Malformed: the compile itself throws (no meta-schema needed for that).
    expect(() => checker.check(namedTool({ type: 'object', required: 'n' }, 'malformed'), { content: [], structuredContent: { any: 'thing' } })).not.toThrow();
    // Another dialect: not judged by 2020-12 rules.
    const draft4 = namedTool({ $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', required: ['n'] }, 'draft4');
    expect(() => checker.check(draft4, { content: [], structuredContent: {} })).not.toThrow();
    // Its own dialect, named explicitly (with or without the trailing '#'): judged.
    const own = namedTool({ $schema: 'https://json-schema.org/draft/2020-12/schema#', type: 'object', required: ['n'] }, 'own');
    expect(() => checker.check(own, { content: [], structuredContent: {} })).toThrow(OutputSchemaMismatchError);
  });
});

describe('speaksDialect', () => {
  it('accepts no $schema or the named dialect (with or without the final #), refuses others', () => {
    expect(speaksDialect(DRAFT_07, { type: 'object' })).toBe(true);
    expect(speaksDialect(DRAFT_07, { $schema: 'http://json-schema.org/draft-07/schema#' })).toBe(true);
    expect(speaksDialect(DRAFT_07, { $schema: 'http://json-schema.org/draft-07/schema' })).toBe(true);
    expect(speaksDialect(DRAFT_07, { $schema: 'https://json-schema.org/draft/2020-12/schema' })).toBe(false);
    expect(speaksDialect(DRAFT_07, { $schema: 42 })).toBe(false);
  });
});
