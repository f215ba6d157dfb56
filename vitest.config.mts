import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 120_000,
    // The first run on a machine may build the Temporal CLI (several minutes).
    hookTimeout: 900_000,
    pool: 'forks',
    // Two files at a time even on a 2-core machine (Vitest's default there is one): most of
    // the integration tests wait on Temporal timers and receivers, not on the CPU.
    maxWorkers: 2,
  },
});
