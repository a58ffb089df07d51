/**
 * A cancel handle for one request: what an AbortController gives it, without making an AbortSignal
 * unless something asks for one. In Node an AbortSignal costs microseconds to make and to listen to
 * (an EventTarget whose prototype is swapped after it is built, so every access to it is slow) — a
 * real share of a request that costs a few, when most requests are never cancelled. The engine
 * listens to the handle itself (`RequestOptions.cancel`); code that needs an AbortSignal (to hand
 * to an API that takes one) asks for `signal`, and from then on that aborts with the handle too.
 *
 * @example
 * const cancel = new Cancellation();
 * const result = ipc.request('tools/call', params, { cancel });
 * cancel.cancel('the user closed the dialog'); // result rejects with CancelledError
 */
export class Cancellation {
  private why: string | undefined = undefined;
  /** One listener (the usual case: the engine's) or several. */
  private listeners: ((reason: string) => void) | Array<(reason: string) => void> | undefined = undefined;
  private controller: AbortController | undefined = undefined;

  /** Why it was cancelled; undefined until it is. */
  get reason(): string | undefined {
    return this.why;
  }

  get cancelled(): boolean {
    return this.why !== undefined;
  }

  /** `cancelled`, under the name a CancelSignal (an AbortSignal's shape) reads. */
  get aborted(): boolean {
    return this.why !== undefined;
  }

  /** As an AbortSignal's: `listener` runs once when cancelled (so a handle can be passed as `signal`). */
  addEventListener(_type: 'abort', listener: () => void): void {
    this.onCancel(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    this.off(listener);
  }

  /**
   * Cancels: each listener runs once (a throwing one does not stop the others), and `signal`, if
   * made, aborts with `reason`. False when it was cancelled already (nothing runs again).
   */
  cancel(reason = 'cancelled'): boolean {
    if (this.why !== undefined) return false;
    this.why = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (typeof listeners === 'function') run(listeners, reason);
    else if (listeners) for (const listener of listeners) run(listener, reason);
    this.controller?.abort(reason);
    return true;
  }

  /** An AbortSignal that aborts when this handle is cancelled (made on first use; aborted already if it is). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.why !== undefined) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /**
   * Runs `listener` once when cancelled (never when cancelled already: check `cancelled` first).
   * Returns the function that removes it.
   */
  onCancel(listener: (reason: string) => void): () => void {
    if (this.why === undefined) {
      const current = this.listeners;
      if (current === undefined) this.listeners = listener;
      else if (typeof current === 'function') this.listeners = [current, listener];
      else current.push(listener);
    }
    return () => this.off(listener);
  }

  private off(listener: (reason: string) => void): void {
    const current = this.listeners;
    if (current === listener) this.listeners = undefined;
    else if (Array.isArray(current)) {
      const i = current.indexOf(listener);
      if (i >= 0) current.splice(i, 1);
    }
  }
}

/** The AbortSignal of a request's options: its `signal`, else one made from its `cancel` handle. */
export function signalOf(options: { signal?: AbortSignal; cancel?: Cancellation } | undefined): AbortSignal | undefined {
  return options?.signal ?? options?.cancel?.signal;
}

function run(listener: (reason: string) => void, reason: string): void {
  try {
    listener(reason);
  } catch (error) {
    // A listener's failure is its own: report it like an uncaught error, without skipping the rest.
    queueMicrotask(() => {
      throw error;
    });
  }
}
