/**
 * MCP protocol revisions this library speaks. Kept here (not imported from an SDK) so the core
 * stays dependency-free and the list changes only when the code learns a new revision.
 */

/** Revisions with the `initialize` handshake, newest first. */
export const LEGACY_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'] as const;

/** The newest handshake-era revision: what `initialize` asks for first. */
export const LATEST_LEGACY_PROTOCOL_VERSION = LEGACY_PROTOCOL_VERSIONS[0];
