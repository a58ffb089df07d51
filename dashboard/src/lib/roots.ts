/**
 * Roots the page offers each server (`roots/list`), edited by the person, kept in localStorage per
 * server so a reload keeps them. MCP roots are `file://` URIs.
 */
import type { Root } from '../../../src/core/mcp-types.js';

export type { Root };

/** null when valid, else why not. */
export function rootError(uri: string): string | null {
  const value = uri.trim();
  if (value === '') return 'a URI is required';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a URI';
  }
  return url.protocol === 'file:' ? null : 'roots are file:// URIs';
}

const KEY = 'mcp-ipc.roots';

export interface RootsStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Every server's roots from storage; anything unreadable counts as none. */
export function loadRoots(storage: RootsStorage | undefined): Record<string, Root[]> {
  try {
    const parsed = JSON.parse(storage?.getItem(KEY) ?? '{}') as unknown;
    if (typeof parsed !== 'object' || parsed === null) return {};
    const out: Record<string, Root[]> = {};
    for (const [server, list] of Object.entries(parsed)) {
      if (!Array.isArray(list)) continue;
      out[server] = list.filter((r): r is Root => typeof r?.uri === 'string' && rootError(r.uri) === null).map((r) => (typeof r.name === 'string' && r.name ? { uri: r.uri, name: r.name } : { uri: r.uri }));
    }
    return out;
  } catch {
    return {};
  }
}

export function saveRoots(storage: RootsStorage | undefined, roots: Record<string, Root[]>): void {
  try {
    storage?.setItem(KEY, JSON.stringify(roots));
  } catch {
    // storage full or disabled: the roots still hold for this page's life
  }
}

/** The `ListRootsResult` for `server`. */
export function rootsAnswer(roots: Record<string, Root[]>, server: string): { roots: Root[] } {
  return { roots: roots[server] ?? [] };
}
