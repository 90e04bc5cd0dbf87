// Every kind of direct change to the MongoDB engine's collections must be found by verifyLog, at the
// right position: the tampers of mongo-tampers.ts (the kinds of sqlite-tampers.ts and more), applied with the
// driver to a clone of one pristine database per case (the clone is tampered before a pipeline opens it).
import { describe, expect, it } from 'vitest';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { startPipeline } from '../support/pipeline.js';
import { APP, mongoTampers, SIZE } from './mongo-tampers.js';
import { buildPristineLog, useMongoCampaign, useTally } from './support/campaign.js';
import { expectVerifyLogFinds } from './verify-log.js';

/** The pipeline of test/support/pipeline.ts over MongoStorage; the signing key lives in `keyDir`. */
const openMongoPipeline = (uri: string, dbName: string, keyDir: string) =>
  startPipeline(new MongoStorage({ uri, dbName }), keyDir);

describe('verifyLog finds direct changes to the MongoDB collections', () => {
  const tally = useTally('mongodb');
  const campaign = useMongoCampaign('', async (dbName, keyDir, server) => {
    const p = await openMongoPipeline(server.uri, dbName, keyDir);
    try {
      await buildPristineLog(p.service);
    } finally {
      await p.close();
    }
  });
  /** Runs `body` on a pipeline over a tampered clone of the pristine database. */
  const onTamperedClone = (
    name: string | number,
    tamper: (typeof mongoTampers)[number]['apply'],
    body: (p: Awaited<ReturnType<typeof openMongoPipeline>>) => Promise<void>,
  ) =>
    campaign.onClone(name, tamper, async (dbName) => {
      const p = await openMongoPipeline(campaign.server.uri, dbName, campaign.keyDir);
      try {
        await body(p);
      } finally {
        await p.close();
      }
    });

  it('an untouched clone verifies (the clone itself changes nothing)', async () => {
    await onTamperedClone(
      'clean',
      async () => undefined,
      async (p) => {
        const report = await p.service.verifyLog(APP);
        expect(report).toMatchObject({ ok: true, eventsChecked: SIZE, checkpointsChecked: 2, firstBadSeq: null });
      },
    );
  });

  mongoTampers.forEach((t, i) => {
    it(t.name, async () => {
      tally.tried();
      await onTamperedClone(`t${i}`, t.apply, async (p) => {
        expectVerifyLogFinds(await p.service.verifyLog(APP), t);
        tally.detected(t.name);
      });
    });
  });
});
