import { describe, expect, it } from 'vitest';
import { normalize } from '../../src/node/mcp-host.js';

describe('McpHost config comparison', () => {
  it('normalizes key order and undefined values, so only real changes restart a server', () => {
    expect(normalize({ command: 'x', args: ['a'], env: { B: '2', A: '1' } })).toBe(normalize({ env: { A: '1', B: '2' }, args: ['a'], command: 'x', cwd: undefined }));
    expect(normalize({ command: 'x', args: ['a', 'b'] })).not.toBe(normalize({ command: 'x', args: ['b', 'a'] }));
    expect(normalize({ command: 'x', env: { A: '1' } })).not.toBe(normalize({ command: 'x', env: { A: '2' } }));
  });
});
