import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 120_000,
    // The first run on a machine may build the Temporal CLI (several minutes).
    hookTimeout: 900_000,
    pool: 'forks',
  },
});
