/**
 * Running host machinery outside any request's context. Node hands the async context of the code
 * that creates a resource (a child process, its stdio streams, a timer, a socket) to every callback
 * of that resource for its whole life. A process spawned by a pool scale-up inside browser A's call
 * would otherwise carry A's context forever: the gateway would take A for "the caller" of every
 * later server→client request of that process, and tracing would parent background spans under
 * A's long-finished trace. So spawns, restarts, scale-ups and background timers run `detached`.
 */
import { AsyncResource } from 'node:async_hooks';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';

/**
 * Created when this module is first evaluated (static imports, at start-up): its scope holds no
 * request's AsyncLocalStorage stores, whichever AsyncLocalStorage instances exist.
 */
const root = new AsyncResource('mcp-ipc.detached', { requireManualDestroy: true });

/**
 * Runs `fn` with no request context: every AsyncLocalStorage store empty (as at start-up) and the
 * OpenTelemetry root context active. Resources `fn` creates, and their callbacks, belong to no
 * request.
 */
export function detached<T>(fn: () => T): T {
  return root.runInAsyncScope(() => context.with(ROOT_CONTEXT, fn));
}
