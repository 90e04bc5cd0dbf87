// The ApiKeyStore contract on both engines (MongoDB on the FerretDB test server or MONGODB_TEST_URI), and
// keys stored before the creator was recorded: read with createdBy null and flagged at start.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flagKeysOfUnknownOrigin } from '../../src/auth/bootstrap.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import type { LogStorage } from '../../src/storage/types.js';
import { freshDbName, startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { describeApiKeyContract } from '../storage/api-key-contract.js';
import { mongoHarness, sqliteHarness } from '../storage/harnesses.js';
import { writeLegacyAdminKey } from '../support/legacy-api-keys.js';

/** A logger whose warnings the test reads. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

/** Both keys are listed; the legacy one reads createdBy null and is the one flagged, by id. */
async function expectLegacyKeyFlagged(storage: LogStorage): Promise<void> {
  await storage.init();
  await storage.apiKeys!.create({
    id: 'key_new',
    secretHash: 'b'.repeat(64),
    role: 'reader',
    sourceAppIds: null,
    name: null,
    createdAt: 2,
    createdBy: 'bootstrap',
  });
  const listed = await storage.apiKeys!.list();
  expect(listed.map((k) => [k.id, k.createdBy])).toEqual([
    ['key_old', null],
    ['key_new', 'bootstrap'],
  ]);
  const { logger, lines } = capturingLogger();
  const flagged = await flagKeysOfUnknownOrigin(storage.apiKeys, logger);
  expect(flagged.map((k) => k.id)).toEqual(['key_old']);
  const warning = lines.find((l) => l.level === 40);
  expect(warning?.msg).toMatch(/no recorded creator.*AUTH=off/);
  expect(warning?.keys).toEqual([{ id: 'key_old', role: 'admin', name: 'demo', createdAt: new Date(1).toISOString() }]);
  // A revoked legacy key is not flagged: it no longer opens anything.
  await storage.apiKeys!.revoke('key_old', 3);
  expect(await flagKeysOfUnknownOrigin(storage.apiKeys, logger)).toEqual([]);
}

describeApiKeyContract('sqlite', async () => sqliteHarness('chainlog-keys-'));

describe('sqlite: a key table made before the creator was recorded', () => {
  it('gains the column; its keys read createdBy null and are flagged at start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-legacy-keys-'));
    try {
      const path = join(dir, 'log.db');
      writeLegacyAdminKey(path, { id: 'key_old', secretHash: 'a'.repeat(64), name: 'demo' });
      const storage = new SqliteStorage({ path });
      try {
        await expectLegacyKeyFlagged(storage);
      } finally {
        await storage.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mongodb', () => {
  let server: MongoTestServer;
  beforeAll(async () => {
    server = await startMongoTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeApiKeyContract('mongodb', async () => mongoHarness(server));

  it('reads a key document without createdBy as null and flags it at start', async () => {
    const dbName = `${server.dbName}_${freshDbName().slice(-6)}`;
    const client = new MongoClient(server.uri);
    try {
      await client
        .db(dbName)
        .collection('api_keys')
        .insertOne({
          _id: 'key_old' as never,
          secretHash: 'a'.repeat(64),
          role: 'admin',
          sourceAppIds: null,
          name: 'demo',
          createdAt: 1,
          revokedAt: null,
        });
      const storage = new MongoStorage({ uri: server.uri, dbName });
      try {
        await expectLegacyKeyFlagged(storage);
      } finally {
        await storage.close();
      }
    } finally {
      await client.db(dbName).dropDatabase();
      await client.close();
    }
  });
});
