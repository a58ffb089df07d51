/**
 * The stdout door with a real child process: a server (test/fixtures/nested.py) writes JSON nested
 * 10^4 and 10^5 levels deep. The host must survive it, report it, and go on serving.
 */
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/core/errors.js';
import { McpBridge } from '../../src/node/mcp-bridge.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const FAST = { healthCheckIntervalMs: 0, usageIntervalMs: 0, restartDelayMs: 50, restartMaxDelayMs: 200, shutdownTimeoutMs: 1500 };

const bridges: McpBridge[] = [];
afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.stop()));
});

async function nestedServer(): Promise<McpBridge> {
  const b = new McpBridge('nested', { command: 'python3', args: [join(FIXTURES, 'nested.py')], process: FAST });
  bridges.push(b);
  await b.start();
  return b;
}

const text = (r: { content: Array<{ text?: string }> }) => r.content[0]?.text;

describe('a server writing deeply nested JSON to stdout', () => {
  for (const shape of ['array', 'object'] as const) {
    for (const depth of [10_000, 100_000]) {
      it(`a line of ${shape}s nested ${depth} deep becomes a diagnostic; the server keeps working`, async () => {
        const b = await nestedServer();
        const pid = b.process.pid;
        expect(text(await b.call('nested', { shape, depth, where: 'line' }))).toBe('written');
        const diagnostic = b.history().find((e) => e.type === 'diagnostic' && e.message.startsWith('Invalid JSON-RPC message'));
        expect(diagnostic?.message.length).toBeLessThan(400);
        expect(text(await b.call('echo', { text: 'after' }))).toBe('after');
        expect(b.state).toBe('running');
        expect(b.process.pid).toBe(pid);
      });

      it(`a response whose result is ${shape}s nested ${depth} deep fails its own request at once; the next one works`, async () => {
        const b = await nestedServer();
        const error = await b.call('nested', { shape, depth, where: 'result' }, { timeoutMs: 20_000 }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ProtocolError);
        expect((error as Error).message).toBe('Invalid response to tools/call: nested deeper than 512 levels');
        expect(text(await b.call('echo', { text: 'after' }))).toBe('after');
        expect(b.state).toBe('running');
        expect(b.process.restarts).toBe(0);
      });
    }
  }
});
