/**
 * Checks a tool's `structuredContent` against the `outputSchema` it declared. MCP schemas are
 * JSON Schema 2020-12 (the default `$schema`), so this uses Ajv's 2020 build; local `$ref`s
 * (`#/$defs/…`, as pydantic emits them) resolve within the schema. Each tool's validator is
 * compiled once and dropped when the tool list changes.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { OutputSchemaMismatchError } from '../core/errors.js';
import type { CallToolResult, ToolInfo } from '../core/gateway-protocol.js';

export class OutputChecker {
  /**
   * One Ajv for every tool of the list (an instance costs a meta-schema compile, ~100 ms), with
   * `addUsedSchema: false`: a compiled schema is not registered under its `$id`, so two tools whose
   * schemas share an `$id` (generated schemas often do) each get their own validator instead of the
   * second compile throwing "already exists" — which would leave that tool unchecked.
   */
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false, addUsedSchema: false });
  /** Per tool name: its compiled validator, or null when its schema could not be compiled. */
  private readonly validators = new Map<string, ValidateFunction | null>();

  /** Forgets compiled validators (the tool list changed). */
  clear(): void {
    this.validators.clear();
    // Compiled schemas are cached by Ajv too; a new list may reuse $ids with new meanings.
    this.ajv.removeSchema();
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

  private validator(tool: ToolInfo): ValidateFunction | null {
    let validate = this.validators.get(tool.name);
    if (validate === undefined) {
      try {
        validate = this.ajv.compile(tool.outputSchema!);
      } catch {
        validate = null;
      }
      this.validators.set(tool.name, validate);
    }
    return validate;
  }
}
