/**
 * Elicitation helpers shared by every place that answers `elicitation/create` (a legacy
 * server→client request or a modern `input_required` round).
 */

/**
 * Fills the properties an accepted form left out with the `default`s of the server's
 * `requestedSchema` (flat object schemas of primitives, as MCP allows). URL-mode elicitations,
 * declines and cancels are returned unchanged.
 */
export function applyElicitationDefaults(params: unknown, result: unknown): unknown {
  if (!isRecord(params) || !isRecord(result) || result.action !== 'accept') return result;
  if (params.mode === 'url') return result;
  const schema = params.requestedSchema;
  if (!isRecord(schema) || !isRecord(schema.properties)) return result;
  const content: Record<string, unknown> = isRecord(result.content) ? { ...result.content } : {};
  let changed = !isRecord(result.content);
  for (const [name, property] of Object.entries(schema.properties)) {
    if (content[name] === undefined && isRecord(property) && property.default !== undefined) {
      content[name] = property.default;
      changed = true;
    }
  }
  return changed ? { ...result, content } : result;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
