import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fails the run if any test left a server, watchdog or CLI process behind.
    globalSetup: ['test/no-leftovers.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests spawn real processes; 2 workers match the 2-core CI machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
