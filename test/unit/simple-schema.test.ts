/**
 * The Ajv-free argument checks (src/node/simple-schema.ts) against Ajv itself, set up as McpBridge
 * sets it up: on generated schemas of the subset and generated values, both must give the same
 * verdict and the same errors (in the same order, with the same keys), and every schema Ajv
 * refuses must be refused (left to Ajv) here too.
 */
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AJV_OPTIONS } from '../../src/node/output-schema.js';
import { compileSimpleSchema } from '../../src/node/simple-schema.js';

/** Property names shared by the schemas and the values, so that they meet; some need escaping in paths. */
const NAMES = ['a', 'b', 'text', 'x/y', 't~1', 'a b', 'constructor'];

const primitive = fc.oneof(
  fc.constantFrom('', 'a', 'ab', 'abc', 'é', '😀😀', 'x1', 'A', '12'),
  fc.integer({ min: -3, max: 5 }),
  fc.constantFrom(0.5, -0, 2.5, 1e21),
  fc.boolean(),
  fc.constant(null),
);

const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'array', 'object'] as const;

/** Keywords without subschemas: a value for each; a schema takes up to four of them. */
const KEYWORD_VALUES = {
  type: fc.oneof(fc.constantFrom(...TYPES), fc.uniqueArray(fc.constantFrom(...TYPES), { minLength: 1, maxLength: 3 })),
  const: primitive,
  enum: fc.array(primitive, { minLength: 1, maxLength: 4 }),
  maximum: fc.constantFrom(0, 2, 3.5, -1),
  minimum: fc.constantFrom(0, 1, -2.5),
  exclusiveMaximum: fc.constantFrom(0, 3),
  exclusiveMinimum: fc.constantFrom(-1, 1),
  maxLength: fc.nat(3),
  minLength: fc.nat(3),
  pattern: fc.constantFrom('^a', 'b$', '\\d', '^[a-z]*$', '.{2}'),
  format: fc.constantFrom('email', 'date-time', 'uri'),
  maxItems: fc.nat(3),
  minItems: fc.nat(3),
  required: fc.uniqueArray(fc.constantFrom(...NAMES), { maxLength: 3 }),
  title: fc.constant('T'),
  description: fc.constant('D'),
  default: primitive,
};
const leaf = fc
  .tuple(fc.subarray(Object.keys(KEYWORD_VALUES), { maxLength: 4 }), fc.record(KEYWORD_VALUES))
  .map(([keys, values]) => Object.fromEntries(keys.map((k) => [k, values[k as keyof typeof values]])));

/** Schemas nest through items, properties and additionalProperties, at most three levels deep. */
const { schema } = fc.letrec<{ schema: Record<string, unknown> | boolean }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', maxDepth: 3, withCrossShrink: true },
    leaf,
    fc.constant(true),
    fc.tuple(leaf, tie('schema')).map(([l, items]) => ({ ...l, items })),
    fc.tuple(leaf, fc.dictionary(fc.constantFrom(...NAMES), tie('schema'), { maxKeys: 3 })).map(([l, properties]) => ({ ...l, properties })),
    fc.tuple(leaf, fc.dictionary(fc.constantFrom(...NAMES), tie('schema'), { maxKeys: 3 }), fc.oneof(fc.boolean(), tie('schema'))).map(([l, properties, additionalProperties]) => ({
      ...l,
      properties,
      additionalProperties,
    })),
  ),
}));

const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3, withCrossShrink: true },
    primitive,
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...NAMES, 'z'), tie('value'), { maxKeys: 4 }),
  ),
}));

/** A root schema the way tools declare them: an object (a boolean root is not a tool schema). */
const rootSchema = schema.filter((s): s is Record<string, unknown> => typeof s === 'object');

describe('simple schema checks answer exactly as Ajv does', () => {
  for (const [dialect, make] of [
    ['draft-07 (input schemas)', () => new Ajv(AJV_OPTIONS)],
    ['2020-12 (output schemas)', () => new Ajv2020(AJV_OPTIONS)],
  ] as const) {
    it(`the same verdict and errors on generated schemas and values: Ajv ${dialect}`, () => {
      fc.assert(
        fc.property(rootSchema, fc.array(value, { minLength: 1, maxLength: 6 }), (s, values) => {
          const ajv = make(); // a fresh one: Ajv keeps every schema it compiled
          let reference: ReturnType<Ajv['compile']> | undefined;
          try {
            reference = ajv.compile(s);
          } catch {
            reference = undefined;
          }
          const check = compileSimpleSchema(s);
          if (!reference) {
            expect(check).toBeUndefined(); // what Ajv refuses stays Ajv's (and so unchecked)
            return;
          }
          expect(check).toBeDefined(); // the generator stays within the subset
          for (const v of values) {
            const verdict = reference(v);
            expect(check!(v)).toBe(verdict);
            expect(JSON.stringify(check!.errors)).toBe(JSON.stringify(reference.errors ?? null));
            expect(check!.errors).toEqual(reference.errors ?? null);
          }
        }),
        { numRuns: 1000 },
      );
    });
  }

  it('real tool schemas: plain, zod-style (draft-07 $schema, additionalProperties: false), with bounds and enums', () => {
    const ajv = new Ajv(AJV_OPTIONS);
    const schemas = [
      { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
      {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        properties: { path: { type: 'string', minLength: 1 }, depth: { type: 'integer', minimum: 0, maximum: 10, default: 1 }, mode: { type: 'string', enum: ['fast', 'full'] } },
        required: ['path'],
        additionalProperties: false,
      },
      { type: 'object', properties: { tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]+$' }, maxItems: 2 } } },
    ];
    const values = [{}, { text: 'hi' }, { text: 1 }, { path: '' }, { path: 'p', depth: 11, mode: 'slow', extra: true }, { tags: ['a', 'B', 'c'] }, [], null, 'x'];
    for (const s of schemas) {
      const reference = ajv.compile(s);
      const check = compileSimpleSchema(s)!;
      expect(check).toBeDefined();
      for (const v of values) {
        expect(check(v)).toBe(reference(v));
        expect(check.errors).toEqual(reference.errors ?? null);
      }
    }
  });

  it('leaves to Ajv what it does not cover', () => {
    for (const s of [
      { type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { type: 'null' }] } } },
      { type: 'object', properties: { a: { $ref: '#/$defs/A' } }, $defs: { A: { type: 'string' } } },
      { type: 'string', nullable: true },
      { enum: [{ a: 1 }] },
      { type: 'array', items: [{ type: 'string' }] },
      { type: 'object', properties: { a: false } },
      { type: 'object', properties: { a: { $schema: 'http://json-schema.org/draft-07/schema#' } } },
      { pattern: '(' },
      { maxLength: '3' },
      { type: [] },
      { type: 'str' },
      { multipleOf: 2 },
      { uniqueItems: true },
      false,
      [],
      null,
    ]) {
      expect(compileSimpleSchema(s)).toBeUndefined();
    }
    // Too deep to compile here (the stack runs out): Ajv's to judge, not an exception.
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 100_000; i++) deep = { items: deep };
    expect(compileSimpleSchema(deep)).toBeUndefined();
  });
});
