import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fails the run if any test left a server, watchdog or CLI process behind; installs the
    // official Python MCP SDK into .venv-mcp/ when missing (interop tests with a dual-era peer).
    globalSetup: ['test/no-leftovers.ts', 'test/python-sdk.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests spawn real processes; 2 workers match the 2-core CI machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
