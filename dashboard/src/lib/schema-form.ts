/**
 * Turns a JSON Schema object (a tool's `inputSchema`, an elicitation's `requestedSchema`) into
 * form fields, and form values back into arguments.
 * string → text (email / uri / date / date-time inputs by `format`), number/integer → number
 * (min/max), boolean → checkbox, enum (`enum`, `oneOf` of `const`s with titles, `enumNames`) →
 * select, array of an enum → checkboxes (multi-select), anything else (objects, other arrays,
 * unions) → a JSON textarea.
 */

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'multi' | 'json';

export interface Field {
  name: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  minimum?: number;
  maximum?: number;
  /** enum choices, as in the schema. */
  options?: unknown[];
  /** Display labels of `options` (from `oneOf` titles or `enumNames`), same order. */
  optionLabels?: string[];
  /** A string's `format` that has its own input type. */
  format?: 'email' | 'uri' | 'date' | 'date-time';
  /** String length bounds. */
  minLength?: number;
  maxLength?: number;
  default?: unknown;
  /** Long strings get a textarea. */
  multiline?: boolean;
}

/** Form state: text inputs hold strings, number inputs number|null, checkboxes booleans, selects the value. */
export type FormValues = Record<string, unknown>;

type Schema = Record<string, unknown>;
const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

function primaryType(schema: Schema): string | undefined {
  const t = schema.type;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return t.find((x): x is string => typeof x === 'string' && x !== 'null');
  return undefined;
}

/** Choices of an enum-like schema: `enum` (+ `enumNames`), or `oneOf`/`anyOf` of `{ const, title }`. */
function choices(schema: Schema): { options: unknown[]; labels?: string[] } | undefined {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) {
    const names = Array.isArray(schema.enumNames) && schema.enumNames.length === schema.enum.length ? schema.enumNames.map(String) : undefined;
    return names ? { options: schema.enum, labels: names } : { options: schema.enum };
  }
  const alternatives = Array.isArray(schema.oneOf) ? schema.oneOf : Array.isArray(schema.anyOf) ? schema.anyOf : undefined;
  if (alternatives && alternatives.length > 0 && alternatives.every((a) => isObject(a) && 'const' in a)) {
    const list = alternatives as Schema[];
    return { options: list.map((a) => a.const), labels: list.map((a) => (typeof a.title === 'string' ? a.title : String(a.const))) };
  }
  return undefined;
}

const FORMATS = new Set(['email', 'uri', 'date', 'date-time']);

export function fieldsFromSchema(inputSchema: unknown): Field[] {
  if (!isObject(inputSchema) || !isObject(inputSchema.properties)) return [];
  const required = new Set(Array.isArray(inputSchema.required) ? inputSchema.required.filter((r): r is string => typeof r === 'string') : []);
  return Object.entries(inputSchema.properties).map(([name, raw]) => {
    const schema = isObject(raw) ? raw : {};
    const field: Field = { name, kind: 'json', required: required.has(name) };
    if (typeof schema.description === 'string') field.description = schema.description;
    if (schema.default !== undefined) field.default = schema.default;
    const type = primaryType(schema);
    const enumerated = choices(schema);
    const itemChoices = type === 'array' && isObject(schema.items) ? choices(schema.items) : undefined;
    if (enumerated) {
      field.kind = 'enum';
      field.options = enumerated.options;
      if (enumerated.labels) field.optionLabels = enumerated.labels;
    } else if (itemChoices) {
      field.kind = 'multi';
      field.options = itemChoices.options;
      if (itemChoices.labels) field.optionLabels = itemChoices.labels;
      if (typeof schema.minItems === 'number') field.minimum = schema.minItems;
      if (typeof schema.maxItems === 'number') field.maximum = schema.maxItems;
    } else if (type === 'string') {
      field.kind = 'string';
      field.multiline = typeof schema.maxLength === 'number' ? schema.maxLength > 200 : false;
      if (typeof schema.format === 'string' && FORMATS.has(schema.format)) field.format = schema.format as Field['format'];
      if (typeof schema.minLength === 'number') field.minLength = schema.minLength;
      if (typeof schema.maxLength === 'number') field.maxLength = schema.maxLength;
    } else if (type === 'number' || type === 'integer') {
      field.kind = type;
      const min = typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum : undefined;
      const max = typeof schema.maximum === 'number' ? schema.maximum : typeof schema.exclusiveMaximum === 'number' ? schema.exclusiveMaximum : undefined;
      if (min !== undefined) field.minimum = min;
      if (max !== undefined) field.maximum = max;
    } else if (type === 'boolean') {
      field.kind = 'boolean';
    }
    return field;
  });
}

/** Initial form values: the schema defaults, else empty. */
export function initialValues(fields: Field[]): FormValues {
  const values: FormValues = {};
  for (const f of fields) {
    switch (f.kind) {
      case 'boolean':
        values[f.name] = f.default === true;
        break;
      case 'number':
      case 'integer':
        values[f.name] = typeof f.default === 'number' ? f.default : null;
        break;
      case 'string':
        values[f.name] = typeof f.default === 'string' ? f.default : '';
        break;
      case 'enum':
        values[f.name] = f.default !== undefined ? f.default : f.required ? f.options?.[0] : undefined;
        break;
      case 'multi':
        values[f.name] = Array.isArray(f.default) ? [...f.default] : [];
        break;
      case 'json':
        values[f.name] = f.default !== undefined ? JSON.stringify(f.default, null, 2) : '';
        break;
    }
  }
  return values;
}

export type BuildResult = { ok: true; args: Record<string, unknown> } | { ok: false; errors: Record<string, string> };

/** Form values → tool arguments. Empty optional fields are left out; the server checks the rest. */
export function buildArguments(fields: Field[], values: FormValues): BuildResult {
  const args: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const v = values[f.name];
    if (f.kind === 'multi') {
      const chosen = Array.isArray(v) ? (f.options ?? []).filter((o) => v.includes(o)) : [];
      if (chosen.length === 0 && !f.required) continue;
      if (f.minimum !== undefined && chosen.length < f.minimum) errors[f.name] = `choose at least ${f.minimum}`;
      else if (f.maximum !== undefined && chosen.length > f.maximum) errors[f.name] = `choose at most ${f.maximum}`;
      else args[f.name] = chosen;
      continue;
    }
    const empty = v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
    if (f.kind === 'boolean') {
      // An unticked optional checkbox without a default is left out; otherwise send what is shown.
      if (v === true || f.required || f.default !== undefined) args[f.name] = v === true;
      continue;
    }
    if (empty) {
      if (f.required) errors[f.name] = 'required';
      continue;
    }
    switch (f.kind) {
      case 'string': {
        const text = String(v);
        if (f.minLength !== undefined && text.length < f.minLength) errors[f.name] = `at least ${f.minLength} characters`;
        else if (f.maxLength !== undefined && text.length > f.maxLength) errors[f.name] = `at most ${f.maxLength} characters`;
        else args[f.name] = text;
        break;
      }
      case 'enum':
        args[f.name] = v;
        break;
      case 'number':
      case 'integer': {
        const n = typeof v === 'number' ? v : Number(v);
        if (!Number.isFinite(n)) errors[f.name] = 'not a number';
        else if (f.kind === 'integer' && !Number.isInteger(n)) errors[f.name] = 'must be a whole number';
        else if (f.minimum !== undefined && n < f.minimum) errors[f.name] = `must be ≥ ${f.minimum}`;
        else if (f.maximum !== undefined && n > f.maximum) errors[f.name] = `must be ≤ ${f.maximum}`;
        else args[f.name] = n;
        break;
      }
      case 'json':
        try {
          args[f.name] = JSON.parse(String(v));
        } catch {
          errors[f.name] = 'invalid JSON';
        }
        break;
    }
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, args };
}
