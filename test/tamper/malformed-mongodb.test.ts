// Malformed documents in the MongoDB collections (malformed-tampers.ts): verifyLog reports each with its kind at
// the first bad position, never throws; integration turns each into an IntegrityError and the log is quarantined.
// Each case runs on a clone of one pristine database, tampered with the driver before a pipeline opens it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Integrator, IntegrityError } from '../../src/log/integrator.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { event, startPipeline } from '../support/pipeline.js';
import { APP, failingRangeReads, forgetIntegrationMongo, mongoMalformedTampers } from './malformed-tampers.js';
import { cloneDb, SIZE } from './mongo-tampers.js';
import { expectVerifyLogFinds } from './verify-log.js';

const openMongoPipeline = (uri: string, dbName: string, keyDir: string) => startPipeline(new MongoStorage({ uri, dbName }), keyDir);

describe('malformed documents in the MongoDB collections are reported, never thrown', () => {
  let server: MongoTestServer;
  let client: MongoClient;
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-malformed-mongo-'));
  const pristineDb = () => `${server.dbName}_mpristine`;

  beforeAll(async () => {
    server = await startMongoTestServer();
    client = new MongoClient(server.uri);
    const p = await openMongoPipeline(server.uri, pristineDb(), keyDir);
    try {
      for (let i = 0; i < 2; i++) {
        await p.service.append(Array.from({ length: SIZE / 2 }, () => event(APP)));
        await p.service.publishCheckpoints();
      }
      await p.service.append([event('other')]);
      await p.service.publishCheckpoints();
      expect((await p.service.verifyLog(APP)).ok).toBe(true);
    } finally {
      await p.close();
    }
  });
  afterAll(async () => {
    await client?.db(pristineDb()).dropDatabase().catch(() => undefined);
    await client?.close();
    await server?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  mongoMalformedTampers.forEach((t, i) => {
    it(t.name, async () => {
      const dbName = `${server.dbName}_m${i}`;
      await cloneDb(client, pristineDb(), dbName);
      await t.apply(client.db(dbName));
      let p = await openMongoPipeline(server.uri, dbName, keyDir);
      try {
        expectVerifyLogFinds(await p.service.verifyLog(APP), t);
        expect((await p.service.verifyLog('other')).ok).toBe(true);

        // Integration from scratch: an IntegrityError (quarantine), not an error to retry.
        await p.close();
        await forgetIntegrationMongo(client.db(dbName));
        p = await openMongoPipeline(server.uri, dbName, keyDir);
        const err = await new Integrator(p.storage).integrate(APP).catch((e: unknown) => e);
        expect(err, String(err)).toBeInstanceOf(IntegrityError);
        // A failure to read stays what it is: transient, retried, never a reason to quarantine.
        const dropped = new Error('connection reset');
        await expect(new Integrator(failingRangeReads(p.storage, dropped)).integrate(APP)).rejects.toBe(dropped);
        // The service quarantined it at start: a new event is accepted, but no checkpoint covers it.
        await p.service.append([event(APP)]);
        expect(await p.service.publishCheckpoints()).toEqual([]);
        expect((await p.service.getCheckpoint(APP))?.treeSize).toBe(SIZE);
        expectVerifyLogFinds(await p.service.verifyLog(APP), t);
      } finally {
        await p.close();
        await client.db(dbName).dropDatabase();
      }
    });
  });
});
