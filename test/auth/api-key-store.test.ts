// The ApiKeyStore contract on both engines (MongoDB on the FerretDB test server or MONGODB_TEST_URI).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe } from 'vitest';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { freshDbName, startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { describeApiKeyContract } from '../storage/api-key-contract.js';

describeApiKeyContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainlog-keys-'));
  const path = join(dir, 'log.db');
  return {
    storage: new SqliteStorage({ path }),
    reopen: async () => new SqliteStorage({ path }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('mongodb', () => {
  let server: MongoTestServer;
  beforeAll(async () => {
    server = await startMongoTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeApiKeyContract('mongodb', async () => {
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
});
