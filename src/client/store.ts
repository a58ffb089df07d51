/**
 * Minimal stores following the Svelte store contract (`subscribe(run) → unsubscribe`, `run` called
 * at once with the current value, then on every change). Dependency-free: works with `$store` in
 * Svelte components and with `svelte/store`'s `get()`, without importing Svelte.
 */

export type Subscriber<T> = (value: T) => void;
export type Unsubscriber = () => void;

/** The read side: what the Svelte contract requires. */
export interface Readable<T> {
  subscribe(run: Subscriber<T>, invalidate?: () => void): Unsubscriber;
}

export interface Writable<T> extends Readable<T> {
  set(value: T): void;
  update(updater: (value: T) => T): void;
  /** The current value, without subscribing. */
  get(): T;
}

/**
 * A writable store. Unlike Svelte's, `set` always notifies for objects (values here are replaced
 * immutably anyway) and skips only identical primitives.
 */
export function writable<T>(initial: T): Writable<T> {
  let value = initial;
  // Copied on (un)subscribe, never on `set`: a subscriber that (un)subscribes while notified does
  // not change the round under way.
  let subscribers: ReadonlyArray<Subscriber<T>> = [];
  const set = (next: T) => {
    if (Object.is(next, value) && (typeof next !== 'object' || next === null)) return;
    value = next;
    for (const run of subscribers) {
      try {
        run(value);
      } catch (error) {
        console.error('mcp-ipc: store subscriber threw', error);
      }
    }
  };
  return {
    subscribe(run) {
      subscribers = [...subscribers, run];
      run(value);
      return () => {
        subscribers = subscribers.filter((s) => s !== run);
      };
    },
    set,
    update: (updater) => set(updater(value)),
    get: () => value,
  };
}

/** A read-only view of a writable store. */
export function readonly<T>(store: Writable<T>): Readable<T> & { get(): T } {
  return { subscribe: store.subscribe, get: store.get };
}

/** Reads a store's current value once (like `svelte/store`'s `get`). */
export function getValue<T>(store: Readable<T>): T {
  let value!: T;
  store.subscribe((v) => (value = v))();
  return value;
}
