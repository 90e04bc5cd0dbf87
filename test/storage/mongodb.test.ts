// The storage contract against the MongoDB engine, on the FerretDB test server (or MONGODB_TEST_URI).
import { afterAll, beforeAll } from 'vitest';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { describeStorageContract } from './contract.js';
import { mongoHarness } from './harnesses.js';

let server: MongoTestServer;
beforeAll(async () => {
  server = await startMongoTestServer();
});
afterAll(async () => {
  await server?.stop();
});

describeStorageContract('mongodb', async (options) => mongoHarness(server, options));
