/**
 * A minimal typed event emitter that runs in browsers and Node alike (Node's EventEmitter does not
 * exist in the browser). A throwing listener is isolated: it never breaks the emitter or other listeners.
 */
export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();
  /** Called when a listener throws (default: report on the console, never rethrow). */
  protected onListenerError: (error: unknown, event: keyof Events) => void = (error, event) => {
    console.error(`mcp-ipc: listener for "${String(event)}" threw`, error);
  };

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
  }

  removeAllListeners(): void {
    this.listeners.clear();
  }
}
