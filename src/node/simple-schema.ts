/**
 * Argument checks for the input schemas most tools declare — an object of typed properties, some
 * required, maybe `additionalProperties: false`, enums, bounds, patterns — without Ajv. Compiling a
 * schema with Ajv runs its code generator: ~0.5 ms a schema in a warm process, 5–6 ms for the first
 * one in a fresh process (Ajv's own code is not compiled yet), paid before a server's first call.
 * This compiles the same subset in tens of microseconds: the verdict (the path of every valid call)
 * as one small generated function, as fast as Ajv's; the errors of a value that failed by closures.
 *
 * It answers exactly as the Ajv setup it stands in for (draft-07, `allErrors`, `strict: false`,
 * `validateFormats: false`; output-schema.ts's AJV_OPTIONS): the same verdict and the same
 * `errors` — keyword, params, message, instance and schema paths, in Ajv's order (type groups in
 * Ajv's order, keywords in Ajv's order within them, a type error where Ajv reports it) — so nothing
 * a caller sees changes. test/unit/simple-schema.test.ts compares both on generated schemas and
 * values. A schema with anything beyond the subset (`$ref`, `anyOf`, `nullable`, an object-valued
 * `enum`, …) is not taken: `compileSimpleSchema` returns undefined and Ajv compiles it as before.
 */
import type { ErrorObject } from 'ajv';

/** What a compiled schema is called as: an Ajv ValidateFunction or a SimpleCheck — the verdict, then `errors`. */
export interface SchemaCheck {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/** Same call shape as an Ajv ValidateFunction: the verdict, and `errors` (null when valid) after each call. */
export interface SimpleCheck extends SchemaCheck {
  errors: ErrorObject[] | null;
}

/** Appends the errors of a value, as Ajv reports them (nothing for a valid one). */
type Collect = (data: unknown, path: string, errors: ErrorObject[]) => void;
/**
 * A keyword (or a schema) compiled both ways: `code(v)` is JavaScript statements that `return
 * false` when the value in variable `v` fails; `collect` reports why. Both agree on every value.
 */
interface Rule {
  code: (v: string) => string;
  collect: Collect;
}
type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'array' | 'object';
/** The data-type groups of Ajv's rules, in its order (untyped keywords come first). */
type Group = 'number' | 'string' | 'array' | 'object';

const JSON_TYPES: ReadonlySet<string> = new Set(['string', 'number', 'integer', 'boolean', 'null', 'array', 'object']);
/** Keywords Ajv knows only by name (annotations): they never reject anything. */
const ANNOTATIONS: ReadonlySet<string> = new Set([
  'title',
  'description',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$comment',
  'contentMediaType',
  'contentEncoding',
]);
/** Keywords with a rule in Ajv, handled here; each belongs to the groups listed (none: untyped). */
const RULES: Readonly<Record<string, readonly Group[]>> = {
  type: [],
  const: [],
  enum: [],
  maximum: ['number'],
  minimum: ['number'],
  exclusiveMaximum: ['number'],
  exclusiveMinimum: ['number'],
  maxLength: ['string'],
  minLength: ['string'],
  pattern: ['string'],
  // A no-op with validateFormats: false, but a rule of both groups all the same (it moves type errors).
  format: ['number', 'string'],
  maxItems: ['array'],
  minItems: ['array'],
  items: ['array'],
  required: ['object'],
  additionalProperties: ['object'],
  properties: ['object'],
};
/** Ajv's limitNumber: its failing comparison, as code and as a function (and a NaN fails every bound). */
const LIMITS: Readonly<Record<string, { comparison: string; fails: string; failsFn: (d: number, l: number) => boolean }>> = {
  maximum: { comparison: '<=', fails: '>', failsFn: (d, l) => d > l },
  minimum: { comparison: '>=', fails: '<', failsFn: (d, l) => d < l },
  exclusiveMaximum: { comparison: '<', fails: '>=', failsFn: (d, l) => d >= l },
  exclusiveMinimum: { comparison: '>', fails: '<=', failsFn: (d, l) => d <= l },
};
/** Ajv's checkDataType (strictNumbers off): the test of `v`'s type, as code. */
const IS_TYPE: Readonly<Record<JsonType, (v: string) => string>> = {
  null: (v) => `${v} === null`,
  array: (v) => `Array.isArray(${v})`,
  object: (v) => `(typeof ${v} === "object" && ${v} !== null && !Array.isArray(${v}))`,
  integer: (v) => `(typeof ${v} === "number" && !(${v} % 1) && !isNaN(${v}))`,
  number: (v) => `typeof ${v} === "number"`,
  string: (v) => `typeof ${v} === "string"`,
  boolean: (v) => `typeof ${v} === "boolean"`,
};

/** Thrown while compiling: the schema is outside the subset (Ajv takes it, as it takes any schema this cannot compile). */
class Unsupported extends Error {}

/** What a compilation shares: values the generated code refers to (`k[i]`), and fresh variable names. */
class Scope {
  readonly values: unknown[] = [];
  private names = 0;
  /** `k[i]` for a value (a number, a RegExp, a Set, …). */
  ref(value: unknown): string {
    this.values.push(value);
    return `k[${this.values.length - 1}]`;
  }
  name(prefix: string): string {
    return `${prefix}${this.names++}`;
  }
}

/** A check for `schema`, or undefined when it uses anything beyond the subset described above. */
export function compileSimpleSchema(schema: unknown): SimpleCheck | undefined {
  const scope = new Scope();
  let rule: Rule | null;
  let test: ((data: unknown) => boolean) | undefined;
  try {
    rule = compile(schema, '#', scope, true);
    // Every name in the code is ours and every value from the schema is behind `k`: nothing of the
    // schema is spliced into it except property names, as JSON string literals.
    if (rule) test = new Function('k', 'len', `return function test(d) {\n${rule.code('d')}\nreturn true;\n};`)(scope.values, length) as (data: unknown) => boolean;
  } catch {
    return undefined; // outside the subset, or too deep to compile here: Ajv decides
  }
  const collect = rule?.collect;
  const validate = ((data: unknown) => {
    if (test === undefined || test(data)) {
      validate.errors = null;
      return true;
    }
    const errors: ErrorObject[] = [];
    collect!(data, '', errors);
    validate.errors = errors;
    return false;
  }) as SimpleCheck;
  validate.errors = null;
  return validate;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPrimitive(value: unknown): value is string | number | boolean | null {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function number(value: unknown): number {
  if (typeof value !== 'number') throw new Unsupported();
  return value + 0; // Ajv writes the limit into code: -0 comes back as 0
}

/** Ajv's escapeJsonPointer (instance paths) and escapeFragment (schema paths). */
function pointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function fragment(key: string): string {
  return encodeURIComponent(pointer(key));
}

/** Ajv's ucs2length: code points, a surrogate pair counting once. */
function length(text: string): number {
  let n = 0;
  for (let pos = 0; pos < text.length; ) {
    n++;
    const code = text.charCodeAt(pos++);
    if (code >= 0xd800 && code <= 0xdbff && pos < text.length && (text.charCodeAt(pos) & 0xfc00) === 0xdc00) pos++;
  }
  return n;
}

/** A runtime predicate for one type (the collecting side). */
function isType(type: JsonType, d: unknown): boolean {
  switch (type) {
    case 'null':
      return d === null;
    case 'array':
      return Array.isArray(d);
    case 'object':
      return typeof d === 'object' && d !== null && !Array.isArray(d);
    case 'integer':
      return typeof d === 'number' && !(d % 1) && !Number.isNaN(d);
    default:
      return typeof d === type;
  }
}

/** One rule from several, in order. */
function all(rules: Rule[]): Rule | null {
  if (rules.length === 0) return null;
  if (rules.length === 1) return rules[0]!;
  return {
    code: (v) => rules.map((r) => r.code(v)).join('\n'),
    collect: (d, path, errors) => {
      for (const r of rules) r.collect(d, path, errors);
    },
  };
}

/** A rule with one error: `fails` as code and as a function must agree. */
function simple(failsCode: (v: string) => string, fails: (d: unknown) => boolean, error: (path: string) => ErrorObject): Rule {
  return {
    code: (v) => `if (${failsCode(v)}) return false;`,
    collect: (d, path, errors) => {
      if (fails(d)) errors.push(error(path));
    },
  };
}

/** The schema's rule, or null when it accepts everything (Ajv's alwaysValidSchema: no rule keyword). */
function compile(schema: unknown, schemaPath: string, scope: Scope, root = false): Rule | null {
  if (schema === true) return null;
  if (!isRecord(schema)) throw new Unsupported(); // `false`, arrays, …: left to Ajv
  let rules = false;
  for (const key of Object.keys(schema)) {
    if (Object.hasOwn(RULES, key)) rules = true;
    else if (!ANNOTATIONS.has(key) && !(root && key === '$schema')) throw new Unsupported();
  }
  if (!rules) return null;

  const types = typesOf(schema.type);
  // Ajv's shouldUseGroup: a keyword of the group is in the schema (with a value).
  const used = (group: Group) => Object.keys(schema).some((key) => schema[key] !== undefined && Object.hasOwn(RULES, key) && RULES[key]!.includes(group));
  // Ajv checks the type up front unless it is a single type whose group has rules in this schema:
  // then it reports it in that group's place.
  const single = types.length === 1 ? types[0]! : undefined;
  const deferred = (single === 'number' || single === 'string' || single === 'array' || single === 'object') && used(single) ? single : undefined;
  const typeError = (path: string): ErrorObject => ({
    instancePath: path,
    schemaPath: `${schemaPath}/type`,
    keyword: 'type',
    params: { type: schema.type as string | string[] } as Record<string, unknown>,
    message: `must be ${String(schema.type)}`,
  });
  const parts: Rule[] = [];
  if (types.length > 0 && deferred === undefined) {
    parts.push(
      simple(
        (v) => `!(${types.map((t) => IS_TYPE[t](v)).join(' || ')})`,
        (d) => !types.some((t) => isType(t, d)),
        typeError,
      ),
    );
  }
  parts.push(...untypedKeywords(schema, schemaPath, scope));
  for (const group of ['number', 'string', 'array', 'object'] as const) {
    if (!used(group)) continue;
    const keywords = all(
      group === 'number'
        ? numberKeywords(schema, schemaPath, scope)
        : group === 'string'
          ? stringKeywords(schema, schemaPath, scope)
          : group === 'array'
            ? arrayKeywords(schema, schemaPath, scope)
            : objectKeywords(schema, schemaPath, scope),
    );
    const reportType = deferred === group;
    if (!keywords && !reportType) continue; // e.g. only `format`: nothing to check
    parts.push({
      code: (v) => `if (${IS_TYPE[group](v)}) {\n${keywords?.code(v) ?? ''}\n}${reportType ? ' else return false;' : ''}`,
      collect: (d, path, errors) => {
        if (isType(group, d)) keywords?.collect(d, path, errors);
        else if (reportType) errors.push(typeError(path));
      },
    });
  }
  return all(parts);
}

function typesOf(type: unknown): JsonType[] {
  if (type === undefined) return [];
  const types = Array.isArray(type) ? type : [type];
  if (types.length === 0 || new Set(types).size !== types.length || !types.every((t) => typeof t === 'string' && JSON_TYPES.has(t))) throw new Unsupported();
  return types as JsonType[];
}

/** `const`, then `enum` (Ajv's order); primitive values only (objects need Ajv's deep equality). */
function untypedKeywords(schema: Record<string, unknown>, schemaPath: string, scope: Scope): Rule[] {
  const rules: Rule[] = [];
  if (schema.const !== undefined) {
    const given = schema.const;
    if (!isPrimitive(given)) throw new Unsupported();
    const value = typeof given === 'number' ? given + 0 : given; // Ajv writes it into code: -0 comes back as 0
    const k = scope.ref(value);
    rules.push(
      simple(
        (v) => `${v} !== ${k}`,
        (d) => d !== value,
        (path) => ({ instancePath: path, schemaPath: `${schemaPath}/const`, keyword: 'const', params: { allowedValue: value }, message: 'must be equal to constant' }),
      ),
    );
  }
  if (schema.enum !== undefined) {
    const values = schema.enum;
    if (!Array.isArray(values) || values.length === 0 || !values.every(isPrimitive)) throw new Unsupported();
    // ===, as Ajv compares primitives (NaN matches nothing); a short list inline, as Ajv does.
    const refs = values.length <= 8 ? values.map((x) => scope.ref(x)) : undefined;
    const k = refs ? '' : scope.ref(values);
    rules.push(
      simple(
        (v) => (refs ? refs.map((r) => `${v} !== ${r}`).join(' && ') : `${k}.indexOf(${v}) === -1`),
        (d) => (values as unknown[]).indexOf(d) === -1,
        (path) => ({ instancePath: path, schemaPath: `${schemaPath}/enum`, keyword: 'enum', params: { allowedValues: values }, message: 'must be equal to one of the allowed values' }),
      ),
    );
  }
  return rules;
}

function numberKeywords(schema: Record<string, unknown>, schemaPath: string, scope: Scope): Rule[] {
  const rules: Rule[] = [];
  for (const keyword of ['maximum', 'minimum', 'exclusiveMaximum', 'exclusiveMinimum'] as const) {
    if (schema[keyword] === undefined) continue;
    const limit = number(schema[keyword]);
    const { comparison, fails, failsFn } = LIMITS[keyword]!;
    const k = scope.ref(limit);
    rules.push(
      simple(
        (v) => `${v} ${fails} ${k} || isNaN(${v})`,
        (d) => failsFn(d as number, limit) || Number.isNaN(d),
        (path) => ({ instancePath: path, schemaPath: `${schemaPath}/${keyword}`, keyword, params: { comparison, limit }, message: `must be ${comparison} ${limit}` }),
      ),
    );
  }
  format(schema);
  return rules;
}

function stringKeywords(schema: Record<string, unknown>, schemaPath: string, scope: Scope): Rule[] {
  const rules: Rule[] = [];
  for (const keyword of ['maxLength', 'minLength'] as const) {
    if (schema[keyword] === undefined) continue;
    const limit = number(schema[keyword]);
    const more = keyword === 'maxLength';
    const k = scope.ref(limit);
    rules.push(
      simple(
        (v) => `len(${v}) ${more ? '>' : '<'} ${k}`,
        (d) => (more ? length(d as string) > limit : length(d as string) < limit),
        (path) => ({ instancePath: path, schemaPath: `${schemaPath}/${keyword}`, keyword, params: { limit }, message: `must NOT have ${more ? 'more' : 'fewer'} than ${limit} characters` }),
      ),
    );
  }
  if (schema.pattern !== undefined) {
    const pattern = schema.pattern;
    if (typeof pattern !== 'string') throw new Unsupported();
    let regExp: RegExp;
    try {
      regExp = new RegExp(pattern, 'u'); // Ajv's unicodeRegExp default; without `g`, `test` keeps no state
    } catch {
      throw new Unsupported(); // Ajv refuses it too: the server judges the arguments
    }
    const k = scope.ref(regExp);
    rules.push(
      simple(
        (v) => `!${k}.test(${v})`,
        (d) => !regExp.test(d as string),
        (path) => ({ instancePath: path, schemaPath: `${schemaPath}/pattern`, keyword: 'pattern', params: { pattern }, message: `must match pattern "${pattern}"` }),
      ),
    );
  }
  format(schema);
  return rules;
}

/** `format` checks nothing (validateFormats: false), but Ajv refuses a schema whose format is not a string. */
function format(schema: Record<string, unknown>): void {
  if (schema.format !== undefined && typeof schema.format !== 'string') throw new Unsupported();
}

function arrayKeywords(schema: Record<string, unknown>, schemaPath: string, scope: Scope): Rule[] {
  const rules: Rule[] = [];
  for (const keyword of ['maxItems', 'minItems'] as const) {
    if (schema[keyword] === undefined) continue;
    const limit = number(schema[keyword]);
    const more = keyword === 'maxItems';
    const k = scope.ref(limit);
    rules.push(
      simple(
        (v) => `${v}.length ${more ? '>' : '<'} ${k}`,
        (d) => (more ? (d as unknown[]).length > limit : (d as unknown[]).length < limit),
        (path) => ({ instancePath: path, schemaPath: `${schemaPath}/${keyword}`, keyword, params: { limit }, message: `must NOT have ${more ? 'more' : 'fewer'} than ${limit} items` }),
      ),
    );
  }
  if (schema.items !== undefined) {
    if (Array.isArray(schema.items)) throw new Unsupported(); // the tuple form
    const item = compile(schema.items, `${schemaPath}/items`, scope);
    if (item) {
      rules.push({
        code: (v) => {
          const i = scope.name('i');
          const x = scope.name('x');
          return `for (let ${i} = 0; ${i} < ${v}.length; ${i}++) {\nconst ${x} = ${v}[${i}];\n${item.code(x)}\n}`;
        },
        collect: (d, path, errors) => {
          const array = d as unknown[];
          for (let i = 0; i < array.length; i++) item.collect(array[i], `${path}/${i}`, errors);
        },
      });
    }
  }
  return rules;
}

/** `required`, `additionalProperties`, `properties`: Ajv's order within the object group. */
function objectKeywords(schema: Record<string, unknown>, schemaPath: string, scope: Scope): Rule[] {
  const rules: Rule[] = [];
  if (schema.required !== undefined) {
    const required = schema.required;
    if (!Array.isArray(required) || !required.every((p) => typeof p === 'string')) throw new Unsupported();
    const names = required as string[];
    if (names.length > 0) {
      rules.push({
        code: (v) => `if (${names.map((n) => `${v}[${JSON.stringify(n)}] === undefined`).join(' || ')}) return false;`,
        collect: (d, path, errors) => {
          const object = d as Record<string, unknown>;
          for (const name of names) {
            if (object[name] === undefined) {
              errors.push({ instancePath: path, schemaPath: `${schemaPath}/required`, keyword: 'required', params: { missingProperty: name }, message: `must have required property '${name}'` });
            }
          }
        },
      });
    }
  }
  const properties = schema.properties;
  if (properties !== undefined && (!isRecord(properties) || Object.hasOwn(properties, '__proto__'))) throw new Unsupported();
  const names = new Set(Object.keys(properties ?? {}));
  /** Code: whether the key in variable `key` is not a named property. */
  const unnamed = (key: string) => (names.size === 0 ? 'true' : names.size <= 8 ? [...names].map((n) => `${key} !== ${JSON.stringify(n)}`).join(' && ') : `!${scope.ref(names)}.has(${key})`);
  const additional = schema.additionalProperties;
  if (additional === false) {
    rules.push({
      code: (v) => {
        const key = scope.name('key');
        return `for (const ${key} in ${v}) if (${unnamed(key)}) return false;`;
      },
      collect: (d, path, errors) => {
        for (const key in d as object) {
          if (!names.has(key)) {
            errors.push({ instancePath: path, schemaPath: `${schemaPath}/additionalProperties`, keyword: 'additionalProperties', params: { additionalProperty: key }, message: 'must NOT have additional properties' });
          }
        }
      },
    });
  } else if (additional !== undefined) {
    const rule = compile(additional, `${schemaPath}/additionalProperties`, scope);
    if (rule) {
      rules.push({
        code: (v) => {
          const key = scope.name('key');
          const x = scope.name('x');
          return `for (const ${key} in ${v}) if (${unnamed(key)}) {\nconst ${x} = ${v}[${key}];\n${rule.code(x)}\n}`;
        },
        collect: (d, path, errors) => {
          const object = d as Record<string, unknown>;
          for (const key in object) if (!names.has(key)) rule.collect(object[key], `${path}/${pointer(key)}`, errors);
        },
      });
    }
  }
  for (const name of names) {
    const rule = compile(properties![name], `${schemaPath}/properties/${fragment(name)}`, scope);
    if (!rule) continue;
    const at = `/${pointer(name)}`;
    rules.push({
      code: (v) => {
        const x = scope.name('x');
        return `{\nconst ${x} = ${v}[${JSON.stringify(name)}];\nif (${x} !== undefined) {\n${rule.code(x)}\n}\n}`;
      },
      collect: (d, path, errors) => {
        const value = (d as Record<string, unknown>)[name];
        if (value !== undefined) rule.collect(value, path + at, errors);
      },
    });
  }
  return rules;
}
