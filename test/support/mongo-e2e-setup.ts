// Global setup of the "e2e-mongodb" vitest project: one MongoDB test server for its suites, each of
// which still uses databases of its own.
import type { TestProject } from 'vitest/node';
import { startMongoTestServer } from './mongo-test-server.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startMongoTestServer();
  project.provide('e2eMongoUri', server.uri);
  return () => server.stop();
}
