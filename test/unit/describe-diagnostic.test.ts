import { describe, expect, it } from 'vitest';
import { describeDiagnostic } from '../../src/node/mcp-bridge.js';

describe('describeDiagnostic', () => {
  it('describes a diagnostic carrying a value nested 100 000 deep, in bounded text', () => {
    let token: unknown = 0;
    for (let i = 0; i < 100_000; i++) token = i % 2 ? [token] : { a: token };
    const text = describeDiagnostic({ kind: 'unknown-token', method: 'notifications/progress', token });
    expect(text.startsWith('notifications/progress for unknown token [{"a":[{"a":')).toBe(true);
    expect(text.length).toBeLessThan(300);
  });

  it('describes ordinary tokens as JSON', () => {
    expect(describeDiagnostic({ kind: 'unknown-token', method: 'notifications/progress', token: 'p-1' })).toBe('notifications/progress for unknown token "p-1"');
    expect(describeDiagnostic({ kind: 'unknown-token', method: 'notifications/progress', token: 7 })).toBe('notifications/progress for unknown token 7');
  });
});
