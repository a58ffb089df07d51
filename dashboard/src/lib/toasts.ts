/** Transient messages (errors and notices) shown in the corner; errors stay longer. */
import { writable } from 'svelte/store';

export interface Toast {
  id: number;
  kind: 'error' | 'info';
  message: string;
}

const store = writable<Toast[]>([]);
let nextId = 1;
const MAX = 5;

export const toasts = { subscribe: store.subscribe };

export function dismiss(id: number): void {
  store.update((list) => list.filter((t) => t.id !== id));
}

export function notify(message: string, kind: Toast['kind'] = 'info', ttlMs = kind === 'error' ? 12_000 : 5_000): void {
  const id = nextId++;
  store.update((list) => [...list, { id, kind, message }].slice(-MAX));
  if (ttlMs > 0) setTimeout(() => dismiss(id), ttlMs);
}

/** `code: message` for anything thrown or returned as an error. */
export function describeError(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const e = error as { code?: unknown; message?: unknown };
    if (typeof e.message === 'string') return typeof e.code === 'string' ? `${e.code}: ${e.message}` : e.message;
  }
  return String(error);
}

export function notifyError(context: string, error: unknown): void {
  notify(`${context}: ${describeError(error)}`, 'error');
}
