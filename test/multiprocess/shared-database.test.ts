// Several API processes on one MongoDB database (FerretDB here), started as a user would start them:
// no log forks, skips or repeats a position, checkpoints come from one publisher, and a subscriber
// on one process sees every commit made through the others, in order, once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { whenSubscribed } from '../support/metrics.js';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';

const PROCESSES = 3;
const APPS = ['orders', 'payments'];
const ROUNDS = 12;

let mongo: Awaited<ReturnType<typeof startMongoTestServer>>;
let dbName: string;
const services: RunningService[] = [];

beforeAll(async () => {
  mongo = await startMongoTestServer();
  dbName = freshDbName();
  // Processes sharing a database must sign with one key.
  const keyFile = loadSigningKey({ dataDir: mkdtempSync(join(tmpdir(), 'chainlog-shared-key-')) }).source;
  const env = {
    MONGODB_URI: mongo.uri,
    MONGODB_DB: dbName,
    CHECKPOINT_INTERVAL_MS: '200',
    LEASE_TTL_MS: '2000',
    SIGNING_KEY_FILE: keyFile,
  };
  // One at a time: each must find the schema the previous one made.
  for (let i = 0; i < PROCESSES; i++) services.push(await startService({ env }));
}, 180_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await mongo?.stop();
});

const LOG_EVENTS = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { id sourceAppId seq hash prevHash } }`;

interface Acked {
  sourceAppId: string;
  seq: number;
  hash: string;
}

describe(`${PROCESSES} API processes sharing one database`, () => {
  it('keep every log gapless and linked, publish once per interval, and stream every commit to every process', async () => {
    const subscriber = await whenSubscribed(
      services[0]!,
      () =>
        new SubscriptionProbe<{ eventLogged: { id: string; sourceAppId: string; seq: number } }>(
          services[0]!.ws(),
          `subscription { eventLogged { id sourceAppId seq } }`,
        ),
    );

    const acked: Acked[] = [];
    // Every process writes to every log at once, round after round.
    await Promise.all(
      services.map(async (service, p) => {
        for (let round = 0; round < ROUNDS; round++) {
          const inputs = APPS.flatMap((app) =>
            [0, 1].map((k) => ({
              sourceAppId: app,
              eventType: 'order.created',
              timestamp: new Date(Date.now() - 1000).toISOString(),
              payload: { process: p, round, k },
              idempotencyKey: `p${p}-r${round}-${app}-${k}`,
            })),
          );
          const res = await service.gql<{ logEvents: Acked[] }>(LOG_EVENTS, { inputs });
          expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
          acked.push(...res.data!.logEvents);
        }
      }),
    );
    const total = PROCESSES * ROUNDS * APPS.length * 2;
    expect(acked).toHaveLength(total);

    for (const app of APPS) {
      const mine = acked.filter((e) => e.sourceAppId === app).sort((a, b) => a.seq - b.seq);
      // No fork, skip or repeat: positions are exactly 0..n-1, each acknowledged once, and linked.
      expect(mine.map((e) => e.seq)).toEqual([...Array(mine.length).keys()]);
      const log = await services[1]!.gql(`{ log(sourceAppId: "${app}") { size headHash } }`);
      expect(log.data.log).toEqual({ size: mine.length, headHash: mine.at(-1)!.hash });
    }

    // Every process sees the same published tree, and it verifies.
    await services[2]!.gql(`mutation { publishCheckpoints { treeSize } }`);
    for (const app of APPS) {
      const report = await services[2]!.gql(`{ verifyLog(sourceAppId: "${app}") { ok eventsChecked problems { kind seq } } }`);
      expect(report.data.verifyLog, JSON.stringify(report.data.verifyLog.problems.slice(0, 5))).toMatchObject({
        ok: true,
        eventsChecked: total / APPS.length,
      });
    }

    // The subscriber on process 0 got every commit, including those made through processes 1 and 2, once.
    await subscriber.until((s) => s.values.length >= total, 20_000);
    const seen = subscriber.values.map((v) => v.eventLogged.id);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual(acked.map((e) => `${e.sourceAppId}/${e.seq}`).sort());
    for (const app of APPS) {
      const order = subscriber.values.filter((v) => v.eventLogged.sourceAppId === app).map((v) => v.eventLogged.seq);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    subscriber.unsubscribe();

    // A process with another signing key may not join.
    await expect(startService({ env: { MONGODB_URI: mongo.uri, MONGODB_DB: dbName }, startTimeoutMs: 30_000 })).rejects.toThrow(
      /signed with .* same SIGNING_KEY_FILE/,
    );

    // One publisher for the whole run: the publisher lease never changed hands.
    const client = new MongoClient(mongo.uri);
    try {
      const fences = await client.db(dbName).collection('leases').find({ name: 'publisher' }).toArray();
      expect(fences.map((f) => f.fence)).toEqual([1]);
      for (const app of APPS) {
        const turns = await client
          .db(dbName)
          .collection('leases')
          .countDocuments({ name: `log:${app}` });
        expect(turns).toBeGreaterThan(1); // the processes really took turns on the logs they shared
      }
    } finally {
      await client.close();
    }
  }, 180_000);

  it('write to logs of their own without waiting for each other (the common case: requests routed by log)', async () => {
    const own = services.map((_, p) => `own-${p}`);
    await Promise.all(
      services.map(async (service, p) => {
        for (let round = 0; round < 8; round++) {
          const inputs = [0, 1, 2].map((k) => ({
            sourceAppId: own[p]!,
            eventType: 'order.created',
            timestamp: new Date(Date.now() - 1000).toISOString(),
            payload: { round, k },
          }));
          const res = await service.gql<{ logEvents: Acked[] }>(LOG_EVENTS, { inputs });
          expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
          expect(res.data!.logEvents.map((e) => e.seq)).toEqual([round * 3, round * 3 + 1, round * 3 + 2]);
        }
      }),
    );
    const client = new MongoClient(mongo.uri);
    try {
      const db = client.db(dbName);
      for (const app of own) {
        // One turn for the whole run, never asked for by another process.
        expect(
          (
            await db
              .collection('leases')
              .find({ name: `log:${app}` })
              .toArray()
          ).map((l) => l.fence),
        ).toEqual([1]);
        expect(await db.collection('lease_requests').countDocuments({ _id: `log:${app}` as never })).toBe(0);
      }
    } finally {
      await client.close();
    }
    for (const app of own) {
      const report = await services[0]!.gql(`{ verifyLog(sourceAppId: "${app}") { ok eventsChecked } }`);
      expect(report.data.verifyLog).toEqual({ ok: true, eventsChecked: 24 });
    }
  }, 120_000);
});
