import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutputSchemaMismatchError } from '../../src/core/errors.js';
import type { ToolInfo } from '../../src/core/gateway-protocol.js';
import { DRAFT_07, OutputChecker, speaksDialect } from '../../src/node/output-schema.js';

const tool = (outputSchema: Record<string, unknown>, name = 't'): ToolInfo => ({ name, inputSchema: { type: 'object' }, outputSchema }) as ToolInfo;

afterEach(() => vi.restoreAllMocks());

describe('OutputChecker', () => {
  it('compiles a tool schema without compiling the meta-schema first (the cold start’s ~90 ms)', () => {
    const metaCheck = vi.spyOn(Ajv2020.prototype, 'validateSchema');
    const metaLoad = vi.spyOn(Ajv2020.prototype, 'addMetaSchema');
    const checker = new OutputChecker();
    const t = tool({ type: 'object', properties: { n: { type: 'number' } }, required: ['n'] });
    expect(() => checker.check(t, { content: [], structuredContent: { n: 1 } })).not.toThrow();
    expect(() => checker.check(t, { content: [], structuredContent: { n: 'one' } })).toThrow(OutputSchemaMismatchError);
    expect(metaCheck).not.toHaveBeenCalled();
    expect(metaLoad).not.toHaveBeenCalled();
  });

  it('still leaves alone a schema it cannot compile or whose dialect it does not speak', () => {
    const checker = new OutputChecker();
    // Malformed: the compile itself throws (no meta-schema needed for that).
    expect(() => checker.check(tool({ type: 'object', required: 'n' }, 'malformed'), { content: [], structuredContent: { any: 'thing' } })).not.toThrow();
    // Another dialect: not judged by 2020-12 rules.
    const draft4 = tool({ $schema: 'http://json-schema.org/draft-04/schema#', type: 'object', required: ['n'] }, 'draft4');
    expect(() => checker.check(draft4, { content: [], structuredContent: {} })).not.toThrow();
    // Its own dialect, named explicitly (with or without the trailing '#'): judged.
    const own = tool({ $schema: 'https://json-schema.org/draft/2020-12/schema#', type: 'object', required: ['n'] }, 'own');
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
