/**
 * MCP protocol revisions this library speaks. Kept here (not imported from an SDK) so the core
 * stays dependency-free and the list changes only when the code learns a new revision.
 */

/** Revisions with the `initialize` handshake ("legacy" era), newest first. */
export const LEGACY_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'] as const;

/** The newest handshake-era revision: what `initialize` asks for first. */
export const LATEST_LEGACY_PROTOCOL_VERSION = LEGACY_PROTOCOL_VERSIONS[0];

/**
 * Stateless revisions ("modern" era): no handshake, `server/discover`, a `_meta` envelope on
 * every request, `resultType` and multi round-trip requests. Newest first.
 */
export const MODERN_PROTOCOL_VERSIONS = ['2026-07-28'] as const;

/** The newest modern revision: what the `server/discover` probe asks for first. */
export const LATEST_MODERN_PROTOCOL_VERSION = MODERN_PROTOCOL_VERSIONS[0];

/** Every revision mcp-ipc speaks, newest first. */
export const PROTOCOL_VERSIONS: readonly string[] = [...MODERN_PROTOCOL_VERSIONS, ...LEGACY_PROTOCOL_VERSIONS];

export type McpEra = 'modern' | 'legacy';

/** Which era a revision belongs to; undefined for revisions mcp-ipc does not know. */
export function eraOf(version: string): McpEra | undefined {
  if ((MODERN_PROTOCOL_VERSIONS as readonly string[]).includes(version)) return 'modern';
  if ((LEGACY_PROTOCOL_VERSIONS as readonly string[]).includes(version)) return 'legacy';
  return undefined;
}
