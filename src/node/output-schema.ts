/**
 * Checks a tool's `structuredContent` against the `outputSchema` it declared. MCP schemas are
 * JSON Schema 2020-12 (the default `$schema`), so this uses Ajv's 2020 build; local `$ref`s
 * (`#/$defs/…`, as pydantic emits them) resolve within the schema. The common kind of schema is
 * compiled without Ajv (simple-schema.ts: the same verdicts and errors, in microseconds). Each
 * tool's validator is compiled once and dropped when the tool list changes.
 */
import { createRequire } from 'node:module';
import type { Ajv } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import { OutputSchemaMismatchError } from '../core/errors.js';
import type { CallToolResult, ToolInfo } from '../core/gateway-protocol.js';
import { compileSimpleSchema, type SchemaCheck } from './simple-schema.js';

/**
 * Ajv options for tool schemas, chosen for a cold start's first call (~100 ms otherwise):
 * - `validateSchema: false`: Ajv would check every schema against its dialect's meta-schema,
 *   compiling that meta-schema first, for a check the compile mostly repeats (a malformed keyword
 *   still throws); what it also did — refuse a schema in a dialect this Ajv does not speak — is
 *   kept by `speaksDialect`;
 * - `meta: false`: the meta-schemas are not even loaded (parsing their URIs was most of the
 *   constructor's time). A schema that `$ref`s a meta-schema no longer compiles and, like any
 *   schema Ajv cannot compile, is left to the server;
 * - `addUsedSchema: false`: a compiled schema is not registered under its `$id`, so two tools whose
 *   schemas share an `$id` (generated schemas often do) each get their own validator instead of the
 *   second compile throwing "already exists" — which would leave that tool unchecked.
 */
export const AJV_OPTIONS = { allErrors: true, strict: false, validateFormats: false, validateSchema: false, meta: false, addUsedSchema: false } as const;

/**
 * Ajv is loaded by the first schema beyond simple-schema.ts's subset, not when mcp-ipc is imported
 * (~75 ms and ~1.5 MB of heap that most hosts would otherwise carry for nothing). Ajv is CommonJS,
 * so `require` loads it synchronously, where a schema is first needed.
 */
const load = createRequire(import.meta.url);

/** An Ajv (draft-07, input schemas) with AJV_OPTIONS. */
export function createAjv(): Ajv {
  const { Ajv } = load('ajv') as typeof import('ajv');
  return new Ajv(AJV_OPTIONS);
}

/** An Ajv (2020-12, output schemas) with AJV_OPTIONS. */
export function createAjv2020(): Ajv2020 {
  const { Ajv2020 } = load('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  return new Ajv2020(AJV_OPTIONS);
}

/** The dialects of the two Ajv builds used here (input schemas: draft-07; output schemas: 2020-12). */
export const DRAFT_07 = 'http://json-schema.org/draft-07/schema';
export const DRAFT_2020_12 = 'https://json-schema.org/draft/2020-12/schema';

/** Whether `schema` is in `dialect` (it names none, or that one, with or without the final `#`). */
export function speaksDialect(dialect: string, schema: unknown): boolean {
  const declared = typeof schema === 'object' && schema !== null ? (schema as { $schema?: unknown }).$schema : undefined;
  if (declared === undefined) return true;
  return typeof declared === 'string' && declared.replace(/#$/, '') === dialect;
}

export class OutputChecker {
  /** Made on the first schema to compile (a bridge whose tools declare none never pays for it). */
  private ajv: Ajv2020 | undefined;
  /** Per tool name: its compiled validator, or null when its schema could not be compiled. */
  private readonly validators = new Map<string, SchemaCheck | null>();

  /** Forgets compiled validators (the tool list changed). */
  clear(): void {
    this.validators.clear();
    // Compiled schemas are cached by Ajv too; a new list may reuse $ids with new meanings.
    this.ajv?.removeSchema();
  }

  /**
   * Throws OutputSchemaMismatchError when `result` breaks the tool's `outputSchema`: missing
   * `structuredContent` (the spec requires it when a schema is declared) or content that does not
   * validate. Error results (`isError`) and tools without a schema are not checked.
   */
  check(tool: ToolInfo, result: CallToolResult): void {
    if (!tool.outputSchema || result.isError === true) return;
    const validate = this.validator(tool);
    if (!validate) return; // a schema Ajv cannot compile is the server's problem, not the caller's
    if (result.structuredContent === undefined) {
      throw new OutputSchemaMismatchError(`Tool ${tool.name} declares an outputSchema but returned no structuredContent`, {
        tool: tool.name,
        result,
        errors: [{ instancePath: '', message: 'structuredContent is missing' }],
      });
    }
    if (validate(result.structuredContent)) return;
    const errors = (validate.errors ?? []).map((e) => ({ instancePath: e.instancePath, message: e.message ?? 'is invalid', keyword: e.keyword }));
    throw new OutputSchemaMismatchError(
      `Tool ${tool.name} returned structuredContent that does not match its outputSchema: ${errors.map((e) => `${e.instancePath || '(root)'} ${e.message}`).join('; ')}`,
      { tool: tool.name, result, errors },
    );
  }

  private validator(tool: ToolInfo): SchemaCheck | null {
    let validate = this.validators.get(tool.name);
    if (validate === undefined) {
      try {
        // The common kind of schema without Ajv (same verdicts and errors, see simple-schema.ts).
        const schema = tool.outputSchema!;
        validate = speaksDialect(DRAFT_2020_12, schema) ? (compileSimpleSchema(schema) ?? (this.ajv ??= createAjv2020()).compile(schema)) : null;
      } catch {
        validate = null;
      }
      this.validators.set(tool.name, validate);
    }
    return validate;
  }
}
