import { describe, expect, it } from 'vitest';
import { type ConfigChange, watchConfigFile } from '../../src/node/config-watcher.js';

/** A folder with one file, its watcher and its timers, all in memory. */
function fakeFs(initial: string | undefined) {
  let content = initial;
  let listener: ((event: string, filename: string | null) => void) | undefined;
  const timers = new Map<number, () => void>();
  let nextTimer = 1;
  let closed = false;
  return {
    set(text: string | undefined) {
      content = text;
    },
    event(filename: string | null = 'mcp.json') {
      listener?.('rename', filename);
    },
    /** Fires every due timer (the debounce), then lets the reads settle. */
    async flush() {
      for (const [id, fn] of [...timers]) {
        timers.delete(id);
        fn();
      }
      for (let i = 0; i < 10; i++) await Promise.resolve();
    },
    get pendingTimers() {
      return timers.size;
    },
    get closed() {
      return closed;
    },
    options: {
      debounceMs: 100,
      watch: (_dir: string, l: (event: string, filename: string | null) => void) => {
        listener = l;
        return { close: () => void (closed = true), on: () => undefined } as never;
      },
      read: async () => {
        if (content === undefined) throw new Error('ENOENT: no such file');
        return content;
      },
      stat: async () => {
        if (content === undefined) throw new Error('ENOENT: no such file');
        return { isFile: () => true };
      },
      setTimeout: (fn: () => void) => {
        const id = nextTimer++;
        timers.set(id, fn);
        return id;
      },
      clearTimeout: (id: unknown) => void timers.delete(id as number),
    },
  };
}

describe('watchConfigFile', () => {
  it('debounces a burst of events into one read, and reports only a real change of text', async () => {
    const fs = fakeFs('{"v":1}');
    const changes: ConfigChange[] = [];
    const stop = watchConfigFile('/cfg/mcp.json', (c) => void changes.push(c), '{"v":1}', fs.options);
    fs.set('{"v":2}');
    fs.event();
    fs.event();
    fs.event();
    expect(fs.pendingTimers).toBe(1);
    await fs.flush();
    expect(changes).toEqual([{ path: '/cfg/mcp.json', text: '{"v":2}' }]);
    // Saved again with the same text (touch, atomic save of identical content): nothing to report.
    fs.event();
    await fs.flush();
    expect(changes).toHaveLength(1);
    // Other files in the folder are ignored; an event without a name may be ours.
    fs.set('{"v":3}');
    fs.event('other.json');
    expect(fs.pendingTimers).toBe(0);
    fs.event(null);
    await fs.flush();
    expect(changes.at(-1)).toEqual({ path: '/cfg/mcp.json', text: '{"v":3}' });
    stop();
    expect(fs.closed).toBe(true);
  });

  it('reports a file gone after the debounce as an error, and its return as a change', async () => {
    const fs = fakeFs('{"v":1}');
    const changes: ConfigChange[] = [];
    watchConfigFile('/cfg/mcp.json', (c) => void changes.push(c), '{"v":1}', fs.options);
    fs.set(undefined);
    fs.event();
    await fs.flush();
    expect(changes[0]?.error?.message).toMatch(/Cannot read config file \/cfg\/mcp\.json: ENOENT/);
    fs.set('{"v":1}');
    fs.event();
    await fs.flush();
    expect(changes[1]).toEqual({ path: '/cfg/mcp.json', text: '{"v":1}' });
  });

  it('refuses a bad debounce', () => {
    expect(() => watchConfigFile('/x', () => undefined, undefined, { debounceMs: -1 })).toThrow(TypeError);
  });
});
