// The storage contract against the MongoDB engine, on the FerretDB test server (or MONGODB_TEST_URI).
import { afterAll, beforeAll } from 'vitest';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { freshDbName, startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { describeStorageContract } from './contract.js';
import { MongoClient } from 'mongodb';

let server: MongoTestServer;
beforeAll(async () => {
  server = await startMongoTestServer();
});
afterAll(async () => {
  await server?.stop();
});

describeStorageContract('mongodb', async () => {
  // One server per file, a fresh database per test: cheaper than a server per test.
  const dbName = `${server.dbName}_${freshDbName().slice(-6)}`;
  const open = () => new MongoStorage({ uri: server.uri, dbName });
  return {
    storage: open(),
    reopen: async () => open(),
    cleanup: async () => {
      const client = new MongoClient(server.uri);
      try {
        await client.db(dbName).dropDatabase();
      } finally {
        await client.close();
      }
    },
  };
});
