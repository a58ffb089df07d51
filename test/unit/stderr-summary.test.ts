import { describe, expect, it } from 'vitest';
import { tellingLine } from '../../src/node/stderr-summary.js';

describe('tellingLine', () => {
  it("Python: the exception at the end of the traceback", () => {
    const lines = ['Traceback (most recent call last):', '  File "<string>", line 1, in <module>', "ModuleNotFoundError: No module named 'missing_module'"];
    expect(tellingLine(lines)).toBe("ModuleNotFoundError: No module named 'missing_module'");
  });

  it('Node: the error above the stack, the printed object and the version banner', () => {
    const lines = [
      'node:internal/modules/cjs/loader:1228',
      '  throw err;',
      '  ^',
      '',
      "Error: Cannot find module '/srv/index.js'",
      '    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)',
      '    at node:internal/main/run_main_module:28:49 {',
      "  code: 'MODULE_NOT_FOUND',",
      '  requireStack: []',
      '}',
      '',
      'Node.js v20.20.2',
    ];
    expect(tellingLine(lines)).toBe("Error: Cannot find module '/srv/index.js'");
  });

  it('without an error-looking line: the last meaningful one, unless only errors are wanted', () => {
    expect(tellingLine(['listening on stdio', 'bye', '   '])).toBe('bye');
    expect(tellingLine(['listening on stdio', 'bye'], { errorsOnly: true })).toBeUndefined();
    expect(tellingLine(['listening', 'fatal: config missing', 'bye'], { errorsOnly: true })).toBe('fatal: config missing');
  });

  it('nothing to tell: undefined', () => {
    expect(tellingLine([])).toBeUndefined();
    expect(tellingLine(['', '  ', '}', 'Node.js v22.1.0'])).toBeUndefined();
  });

  it('clips a long line to 300 characters', () => {
    const line = tellingLine([`Error: ${'x'.repeat(1000)}`])!;
    expect(line).toHaveLength(300);
    expect(line.endsWith('…')).toBe(true);
  });
});
