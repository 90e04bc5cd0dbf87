import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Build the FerretDB-based MongoDB test server once, before any suite needs it.
    globalSetup: ['test/support/mongo-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // 2-core machines: keep parallelism modest so timing-sensitive end-to-end tests stay stable.
    maxWorkers: 2,
  },
});
