// Malformed documents in the MongoDB collections (malformed-tampers.ts): verifyLog reports each with its kind at
// the first bad position, never throws; integration turns each into an IntegrityError and the log is quarantined.
// Each case runs on a clone of one pristine database, tampered with the driver before a pipeline opens it.
import { describe, expect, it } from 'vitest';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { startPipeline } from '../support/pipeline.js';
import { APP, forgetIntegrationMongo, mongoMalformedTampers } from './malformed-tampers.js';
import { buildPristineLog, expectQuarantined, useMongoCampaign } from './support/campaign.js';
import { expectVerifyLogFinds } from './verify-log.js';

const openMongoPipeline = (uri: string, dbName: string, keyDir: string) =>
  startPipeline(new MongoStorage({ uri, dbName }), keyDir);

describe('malformed documents in the MongoDB collections are reported, never thrown', () => {
  const campaign = useMongoCampaign('m', async (dbName, keyDir, server) => {
    const p = await openMongoPipeline(server.uri, dbName, keyDir);
    try {
      await buildPristineLog(p.service, { other: true });
    } finally {
      await p.close();
    }
  });

  mongoMalformedTampers.forEach((t, i) => {
    it(t.name, async () => {
      const { server, client, keyDir } = campaign;
      await campaign.onClone(i, t.apply, async (dbName) => {
        let p = await openMongoPipeline(server.uri, dbName, keyDir);
        try {
          expectVerifyLogFinds(await p.service.verifyLog(APP), t);
          expect((await p.service.verifyLog('other')).ok).toBe(true);
          await p.close();
          await forgetIntegrationMongo(client.db(dbName));
          p = await openMongoPipeline(server.uri, dbName, keyDir);
          await expectQuarantined(p, t);
        } finally {
          await p.close();
        }
      });
    });
  });
});
