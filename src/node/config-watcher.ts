/**
 * Watches a config file and hands each settled change to a callback (`serve --config FILE` hot
 * reload). Editors save in several ways — in place (one or more `change` events), or atomically
 * (write a temporary file, rename it over the original: the original inode is gone) — so the
 * *directory* is watched and events are filtered by name, debounced, and followed by a re-stat and
 * a read: only a file whose text really changed is reported. A file missing after the debounce
 * (deleted, or mid-save for longer than the debounce) is reported as a failed load by the callback.
 */
import { type FSWatcher, watch as fsWatch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

export interface ConfigWatcherOptions {
  /**
   * Quiet time after the last file-system event before the file is read again (ms).
   * @default 150
   */
  debounceMs?: number;
  /** The file-system watcher (injectable for tests). @default node:fs `watch` */
  watch?: (dir: string, listener: (event: string, filename: string | null) => void) => Pick<FSWatcher, 'close' | 'on'>;
  /** Reads the file's text (injectable for tests). @default node:fs/promises `readFile` */
  read?: (path: string) => Promise<string>;
  /** Stats the file (injectable for tests). @default node:fs/promises `stat` */
  stat?: (path: string) => Promise<{ isFile(): boolean }>;
  /** Timers (injectable for tests). */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

export interface ConfigChange {
  path: string;
  /** The new text; undefined when the file could not be read (`error` says why). */
  text?: string;
  error?: Error;
}

export const CONFIG_WATCH_DEFAULTS = { debounceMs: 150 } as const;

/**
 * Calls `onChange` after each settled change of `path`'s content (not for the initial content;
 * `initialText` is what counts as unchanged). Changes are reported one at a time: `onChange`'s
 * promise settles before the next read. Returns the function that stops watching.
 */
export function watchConfigFile(
  path: string,
  onChange: (change: ConfigChange) => Promise<void> | void,
  initialText: string | undefined,
  options: ConfigWatcherOptions = {},
): () => void {
  const debounceMs = options.debounceMs ?? CONFIG_WATCH_DEFAULTS.debounceMs;
  if (!(debounceMs >= 0) || !Number.isFinite(debounceMs)) throw new TypeError(`debounceMs must be a non-negative number, got ${debounceMs}`);
  const file = resolve(path);
  const name = basename(file);
  const read = options.read ?? ((p: string) => readFile(p, 'utf8'));
  const statFile = options.stat ?? ((p: string) => stat(p));
  const setTimer = options.setTimeout ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
  const clearTimer = options.clearTimeout ?? ((h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>));
  const watch = options.watch ?? ((dir, listener) => fsWatch(dir, { persistent: false }, listener));

  let lastText = initialText;
  let timer: unknown;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const check = async (): Promise<void> => {
    let text: string | undefined;
    let error: Error | undefined;
    try {
      // Re-stat (the path may now name another inode: an atomic save), then read; the text decides,
      // so a touch or a save of identical content is not a change.
      const s = await statFile(file);
      if (!s.isFile()) throw new Error('not a regular file');
      text = await read(file);
    } catch (e) {
      error = new Error(`Cannot read config file ${file}: ${(e as Error).message}`);
    }
    if (closed) return;
    if (text !== undefined && text === lastText) return;
    if (text !== undefined) lastText = text;
    else lastText = undefined; // it comes back: whatever it holds then is a change
    await onChange(error ? { path: file, error } : { path: file, text: text as string });
  };

  const run = (): void => {
    if (closed) return;
    if (running) {
      again = true; // read once more when the current reload settled
      return;
    }
    running = check()
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };

  const schedule = (): void => {
    if (closed) return;
    if (timer !== undefined) clearTimer(timer);
    timer = setTimer(() => {
      timer = undefined;
      run();
    }, debounceMs);
  };

  const watcher = watch(dirname(file), (_event, filename) => {
    // Some platforms give no name: any event in the folder may be ours.
    if (filename === null || filename === name) schedule();
  });
  watcher.on('error', () => schedule());
  return () => {
    closed = true;
    if (timer !== undefined) clearTimer(timer);
    watcher.close();
  };
}
