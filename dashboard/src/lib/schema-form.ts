/**
 * Turns a tool's JSON Schema `inputSchema` into form fields, and form values back into arguments.
 * string → text, number/integer → number (min/max), boolean → checkbox, enum → select,
 * anything else (objects, arrays, unions) → a JSON textarea.
 */

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';

export interface Field {
  name: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  minimum?: number;
  maximum?: number;
  /** enum choices, as in the schema. */
  options?: unknown[];
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

export function fieldsFromSchema(inputSchema: unknown): Field[] {
  if (!isObject(inputSchema) || !isObject(inputSchema.properties)) return [];
  const required = new Set(Array.isArray(inputSchema.required) ? inputSchema.required.filter((r): r is string => typeof r === 'string') : []);
  return Object.entries(inputSchema.properties).map(([name, raw]) => {
    const schema = isObject(raw) ? raw : {};
    const field: Field = { name, kind: 'json', required: required.has(name) };
    if (typeof schema.description === 'string') field.description = schema.description;
    if (schema.default !== undefined) field.default = schema.default;
    const type = primaryType(schema);
    if (Array.isArray(schema.enum) && schema.enum.length > 0) {
      field.kind = 'enum';
      field.options = schema.enum;
    } else if (type === 'string') {
      field.kind = 'string';
      field.multiline = typeof schema.maxLength === 'number' ? schema.maxLength > 200 : false;
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
      case 'string':
        args[f.name] = String(v);
        break;
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
