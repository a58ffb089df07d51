/**
 * Runs a function once the current task and its microtasks are over, so that what one task produced
 * — the messages to send, the store changes to announce — is handled once, together.
 * `setImmediate` where there is one (Node); else a MessageChannel message (browsers: a timer would be
 * clamped to ≥ 4 ms once nested, and an animation frame never comes in a background tab); else a timer.
 * Browser-safe: no Node imports.
 */

/** Schedules `run` to run after the current task (injectable: tests pass their own). */
export type TaskScheduler = (run: () => void) => void;

interface Port {
  onmessage: ((event: unknown) => void) | null;
  postMessage(message: unknown): void;
  /** Server runtimes with a MessageChannel but no setImmediate (Deno): the port must not keep the process alive. */
  unref?: () => void;
}

type Globals = {
  setImmediate?: (run: () => void) => unknown;
  MessageChannel?: new () => { port1: Port; port2: Port };
};

function channelScheduler(Channel: NonNullable<Globals['MessageChannel']>): TaskScheduler {
  let queued: Array<() => void> = [];
  let channel: { port1: Port; port2: Port } | undefined;
  const drain = () => {
    const runs = queued;
    queued = [];
    for (const run of runs) {
      try {
        run();
      } catch (error) {
        console.error('mcp-ipc: scheduled task threw', error);
      }
    }
  };
  return (run) => {
    queued.push(run);
    if (queued.length > 1) return; // one message already on its way runs them all
    if (!channel) {
      channel = new Channel();
      channel.port1.onmessage = drain;
      channel.port1.unref?.();
    }
    channel.port2.postMessage(null);
  };
}

function pickScheduler(): TaskScheduler {
  const g = globalThis as Globals;
  if (typeof g.setImmediate === 'function') {
    const immediate = g.setImmediate;
    return (run) => void immediate(run);
  }
  if (typeof g.MessageChannel === 'function') return channelScheduler(g.MessageChannel);
  return (run) => void setTimeout(run, 0);
}

/** The default TaskScheduler of this environment. */
export const afterTask: TaskScheduler = pickScheduler();
