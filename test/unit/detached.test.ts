import { AsyncLocalStorage } from 'node:async_hooks';
import { context, createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { detached } from '../../src/node/detached.js';

afterEach(() => {
  context.disable();
});

describe('detached', () => {
  it('runs with no request context: AsyncLocalStorage stores empty and the OpenTelemetry root context, also in timers it arms', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const caller = new AsyncLocalStorage<string>();
    const key = createContextKey('request');
    const seen = await caller.run('browser A', () =>
      context.with(context.active().setValue(key, 'span of A'), () =>
        detached(
          () =>
            new Promise<Array<unknown>>((resolve) => {
              const now = [caller.getStore(), context.active() === ROOT_CONTEXT];
              // A timer armed here fires later, still outside A's context.
              setTimeout(() => resolve([...now, caller.getStore(), context.active().getValue(key)]), 1);
            }),
        ),
      ),
    );
    expect(seen).toEqual([undefined, true, undefined, undefined]);
    // The caller's own context is untouched around it.
    caller.run('browser A', () => {
      detached(() => undefined);
      expect(caller.getStore()).toBe('browser A');
    });
  });
});
