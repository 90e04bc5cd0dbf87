// Every kind of direct change to the MongoDB engine's collections must be found by verifyLog, at the
// right position: the tampers of mongo-tampers.ts (the kinds of sqlite-tampers.ts and more), applied with the
// driver to a clone of one pristine database per case (the clone is tampered before a pipeline opens it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { event, startPipeline } from '../support/pipeline.js';
import { APP, cloneDb, mongoTampers, SIZE } from './mongo-tampers.js';
import { expectVerifyLogFinds } from './verify-log.js';

/** The pipeline of test/support/pipeline.ts over MongoStorage; the signing key lives in `keyDir`. */
const openMongoPipeline = (uri: string, dbName: string, keyDir: string) => startPipeline(new MongoStorage({ uri, dbName }), keyDir);

describe('verifyLog finds direct changes to the MongoDB collections', () => {
  let server: MongoTestServer;
  let client: MongoClient;
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-tamper-mongo-'));
  const counts = { tried: 0, detected: 0 };
  const pristineDb = () => `${server.dbName}_pristine`;

  beforeAll(async () => {
    server = await startMongoTestServer();
    client = new MongoClient(server.uri);
    const p = await openMongoPipeline(server.uri, pristineDb(), keyDir);
    try {
      for (let i = 0; i < 2; i++) {
        await p.service.append(Array.from({ length: SIZE / 2 }, () => event(APP)));
        await p.service.publishCheckpoints();
      }
      expect((await p.service.getCheckpoint(APP))?.treeSize).toBe(SIZE);
      expect((await p.service.verifyLog(APP)).ok).toBe(true);
    } finally {
      await p.close();
    }
  });
  afterAll(async () => {
    console.log(`tamper campaign (mongodb): ${counts.detected} detected of ${counts.tried} tried`);
    await client?.db(pristineDb()).dropDatabase().catch(() => undefined);
    await client?.close();
    await server?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('an untouched clone verifies (the clone itself changes nothing)', async () => {
    const dbName = `${server.dbName}_clean`;
    await cloneDb(client, pristineDb(), dbName);
    const p = await openMongoPipeline(server.uri, dbName, keyDir);
    try {
      const report = await p.service.verifyLog(APP);
      expect(report).toMatchObject({ ok: true, eventsChecked: SIZE, checkpointsChecked: 2, firstBadSeq: null });
    } finally {
      await p.close();
      await client.db(dbName).dropDatabase();
    }
  });

  mongoTampers.forEach((t, i) => {
    it(t.name, async () => {
      counts.tried++;
      const dbName = `${server.dbName}_t${i}`;
      await cloneDb(client, pristineDb(), dbName);
      await t.apply(client.db(dbName));
      const p = await openMongoPipeline(server.uri, dbName, keyDir);
      try {
        expectVerifyLogFinds(await p.service.verifyLog(APP), t);
        counts.detected++;
      } finally {
        await p.close();
        await client.db(dbName).dropDatabase();
      }
    });
  });
});
