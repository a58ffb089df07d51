import { describe, expect, it } from 'vitest';
import type { RequestHandler } from '../../src/core/ipc-manager.js';
import { ServerRequestRouter } from '../../src/node/gateway/server-requests.js';
import type { McpHost } from '../../src/node/mcp-host.js';
import type { McpServerHandle } from '../../src/node/server-handle.js';

/** Just the handler registry of a server handle. */
function handle(name: string) {
  const handlers = new Map<string, RequestHandler>();
  return {
    name,
    handlers,
    hasRequestHandler: (m: string) => handlers.has(m),
    setRequestHandler: (m: string, h: RequestHandler) => void handlers.set(m, h),
    removeRequestHandler: (m: string) => void handlers.delete(m),
  };
}

describe('ServerRequestRouter install / uninstall', () => {
  it('never removes a handler set on the new handle of a replaced server', () => {
    const hosted = new Map<string, ReturnType<typeof handle>>([['s', handle('s')]]);
    const host = { list: () => [...hosted.values()] as unknown as McpServerHandle[], get: (n: string) => hosted.get(n) as unknown as McpServerHandle | undefined } as unknown as McpHost;
    const router = new ServerRequestRouter(host, { methods: ['elicitation/create'], timeoutMs: 1000, busyOn: () => [] });
    router.install();
    // A reload replaces "s"; its owner answers elicitation on the new handle itself.
    const replacement = handle('s');
    const own: RequestHandler = () => ({ action: 'decline' });
    replacement.setRequestHandler('elicitation/create', own);
    hosted.set('s', replacement);
    router.install();
    router.uninstall();
    expect(replacement.handlers.get('elicitation/create')).toBe(own);
  });
});
