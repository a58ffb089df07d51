import { type IpcError, toIpcError } from './errors.js';

/** Error-as-value: what callers that never want to catch get back. */
export type Result<T, E = IpcError> = { ok: true; data: T } | { ok: false; error: E };

export const ok = <T>(data: T): Result<T, never> => ({ ok: true, data });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });

/** Settles a promise into a Result; anything thrown becomes an IpcError. Never rejects. */
export async function toResult<T>(promise: Promise<T> | (() => Promise<T>)): Promise<Result<T>> {
  try {
    return ok(await (typeof promise === 'function' ? promise() : promise));
  } catch (e) {
    return err(toIpcError(e));
  }
}

/** Returns the data or throws the error: the bridge back from Result to exceptions. */
export function unwrap<T, E>(result: Result<T, E>): T {
  if (result.ok) return result.data;
  throw result.error;
}
