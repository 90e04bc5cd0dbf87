// The ApiKeyStore contract on both engines (MongoDB on the FerretDB test server or MONGODB_TEST_URI).
import { afterAll, beforeAll, describe } from 'vitest';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { describeApiKeyContract } from '../storage/api-key-contract.js';
import { mongoHarness, sqliteHarness } from '../storage/harnesses.js';

describeApiKeyContract('sqlite', async () => sqliteHarness('chainlog-keys-'));

describe('mongodb', () => {
  let server: MongoTestServer;
  beforeAll(async () => {
    server = await startMongoTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeApiKeyContract('mongodb', async () => mongoHarness(server));
});
