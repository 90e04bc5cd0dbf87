// Vitest globalSetup: build the MongoDB test server once before any test file starts,
// so parallel files never wait on (or race) the Go build inside their hook timeouts.
import { ensureServerBinary } from '../../scripts/mongo-test-server/binary.js';

export default async function setup(): Promise<void> {
  if (process.env.MONGODB_TEST_URI) return;
  await ensureServerBinary((line) => console.error(line));
}
