import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Kept under test/ so the repository's top level stays as the product's owner asked.
export default defineConfig({
  root: resolve(import.meta.dirname, '..'),
  // Node resolves `graphql` (no "exports" field) to its CommonJS build for the packages it loads (Apollo,
  // graphql-tools); Vite would pick the ESM build for the sources. One copy for both, so that a service
  // started inside a test process (test/support/in-process.ts) passes graphql's schema realm check.
  resolve: { alias: [{ find: /^graphql$/, replacement: createRequire(import.meta.url).resolve('graphql') }] },
  test: {
    // The run's temporary files in a directory removed at its end; then the FerretDB-based MongoDB test
    // server and the service (dist/), built once, before any suite needs them.
    globalSetup: ['test/support/tmp-global-setup.ts', 'test/support/mongo-global-setup.ts', 'test/support/build-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // 2-core machines: keep parallelism modest so timing-sensitive end-to-end tests stay stable.
    maxWorkers: 2,
    projects: [
      // Everything, with the end-to-end suites on the embedded engine (SQLite). Suites of the
      // MongoDB engine itself start their own MongoDB test server.
      { extends: true, test: { name: 'default', include: ['test/**/*.test.ts'] } },
      // The end-to-end and crash suites, and the security suites that read or write events, again on
      // MongoDB (FerretDB here; MONGODB_TEST_URI for a real one).
      {
        extends: true,
        test: {
          name: 'e2e-mongodb',
          include: [
            'test/e2e/**/*.test.ts',
            'test/client/**/*.test.ts',
            'test/reliability/**/*.test.ts',
            'test/security/documents-and-sockets.test.ts',
            'test/security/inputs.test.ts',
          ],
          globalSetup: [
            'test/support/tmp-global-setup.ts',
            'test/support/mongo-global-setup.ts',
            'test/support/mongo-e2e-setup.ts',
          ],
        },
      },
    ],
  },
});
