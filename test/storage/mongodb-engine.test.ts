// What the contract cannot see: several writers on one database, writers that died half-way,
// a counter that hands out a pos twice (FerretDB's non-atomic $inc), and the schema itself.
import { MongoClient, type Db } from 'mongodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { detectDeployment } from '../../src/storage/mongodb/deployment.js';
import { collectionNames as C, toEventDoc, type EventDoc } from '../../src/storage/mongodb/documents.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { checkpointIndexes, eventIndexes, shardKeys } from '../../src/storage/mongodb/schema.js';
import { AppendConflictError, TurnLostError, type StoredEvent } from '../../src/storage/types.js';
import { freshDbName, startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { newEvent, newEvents } from './event-fixtures.js';

let server: MongoTestServer;
let client: MongoClient;
beforeAll(async () => {
  server = await startMongoTestServer();
  client = new MongoClient(server.uri);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

let dbName: string;
let db: Db;
const opened: MongoStorage[] = [];
async function openStorage(): Promise<MongoStorage> {
  const s = new MongoStorage({ uri: server.uri, dbName });
  opened.push(s);
  await s.init();
  return s;
}
beforeEach(() => {
  dbName = `${server.dbName}_${freshDbName().slice(-6)}`;
  db = client.db(dbName);
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await db.dropDatabase();
});

describe('MongoStorage with several writers on one database', () => {
  it('of two processes appending at the same positions, exactly one wins each round and the loser removes only its own documents', async () => {
    const [a, b] = [await openStorage(), await openStorage()];
    let size = 0;
    for (let round = 0; round < 4; round++) {
      const batch = (writer: number) => newEvents('app-a', size, 30, () => ({ payload: { writer, round } }));
      const results = await Promise.allSettled([a.appendEvents(batch(1)), b.appendEvents(batch(2))]);
      const won = results.filter((r): r is PromiseFulfilledResult<StoredEvent[]> => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost[0]!.reason).toBeInstanceOf(AppendConflictError);
      expect((lost[0]!.reason as AppendConflictError).kind).toBe('position');
      size += 30;
      expect(await a.getEventRange('app-a', size - 30, size, 100)).toEqual(won[0]!.value);
    }
    expect(await db.collection(C.events).countDocuments({ sourceAppId: 'app-a' })).toBe(size);
    expect((await b.getLogHead('app-a'))?.size).toBe(size);
  });
});

describe('MongoStorage after a writer died half-way', () => {
  it('derives the head from committed events when the log summary is stale, and repairs it', async () => {
    const storage = await openStorage();
    const stored = await storage.appendEvents(newEvents('app-a', 0, 3));
    // A writer committed two more events (raised the watermark), then died before updating the summary.
    const late = newEvents('app-a', 3, 2);
    await db.collection<EventDoc>(C.events).insertMany(late.map((e, i) => toEventDoc(e, 100 + i, 'dead-writer')));
    await db.collection(C.counters).updateOne({ _id: 'committed' as never }, { $max: { value: 101 } });
    // Another died right after inserting the first event of a new log, also past the watermark.
    await db.collection<EventDoc>(C.events).insertOne(toEventDoc(newEvent('app-b', 0), 102, 'dead-writer-2'));
    await db.collection(C.counters).updateOne({ _id: 'committed' as never }, { $max: { value: 102 } });

    const expectedA = { sourceAppId: 'app-a', size: 5, headHash: late[1]!.hash, integratedSize: 0, createdAt: stored[0]!.receivedAt };
    expect(await storage.getLogHead('app-a')).toEqual(expectedA);
    expect((await storage.getLogHead('app-b'))?.size).toBe(1);
    expect((await db.collection(C.logs).findOne({ _id: 'app-a' as never }))?.size).toBe(5);
    expect((await storage.listLogHeads(null, 10)).map((h) => h.sourceAppId)).toEqual(['app-a', 'app-b']);
    // And appends continue from the true head.
    await expect(storage.appendEvents([newEvent('app-a', 3)])).rejects.toBeInstanceOf(AppendConflictError);
    await storage.appendEvents([newEvent('app-a', 5)]);
    expect((await storage.getLogHead('app-a'))?.size).toBe(6);
  });

  it('hides a dead writer\'s uncommitted events from readers, and the next sequencer discards them', async () => {
    const storage = await openStorage();
    await storage.appendEvents(newEvents('app-a', 0, 3));
    const committed = await storage.lastPos();
    // Inserted, never committed: the watermark was not raised.
    const orphans = newEvents('app-a', 3, 2);
    await db.collection<EventDoc>(C.events).insertMany(orphans.map((e, i) => toEventDoc(e, committed + 1 + i, 'dead-writer')));
    await db.collection(C.logs).updateOne({ _id: 'app-a' as never }, { $set: { size: 5, headHash: orphans[1]!.hash } });

    expect(await storage.lastPos()).toBe(committed);
    expect((await storage.readCommitted(0, {}, 100)).map((e) => e.seq)).toEqual([0, 1, 2]);
    expect((await storage.getLogHead('app-a'))?.size).toBe(3);

    expect(await storage.coordination!.beginTurn(1)).toBe(2);
    expect(await db.collection(C.events).countDocuments({ sourceAppId: 'app-a' })).toBe(3);
    expect((await db.collection(C.logs).findOne({ _id: 'app-a' as never }))?.size).toBe(3);
    const [next] = await storage.appendEvents([newEvent('app-a', 3)]);
    expect(next!.pos).toBeGreaterThan(committed);
    expect(await storage.lastPos()).toBe(next!.pos);
  });

  it('refuses to commit an append whose sequencer turn was taken over, leaving nothing behind', async () => {
    const storage = await openStorage();
    await storage.coordination!.beginTurn(1);
    await storage.appendEvents(newEvents('app-a', 0, 2), { fence: 1 });
    await storage.coordination!.beginTurn(2); // another process took the lease
    await expect(storage.appendEvents(newEvents('app-a', 2, 3), { fence: 1 })).rejects.toBeInstanceOf(TurnLostError);
    expect(await db.collection(C.events).countDocuments({ sourceAppId: 'app-a' })).toBe(2);
    expect((await storage.getLogHead('app-a'))?.size).toBe(2);
    await storage.appendEvents(newEvents('app-a', 2, 1), { fence: 2 });
    expect((await storage.getLogHead('app-a'))?.size).toBe(3);
  });

  it('lists past logs whose first append failed, without returning them', async () => {
    const storage = await openStorage();
    await storage.appendEvents([newEvent('app-a', 0)]);
    await expect(storage.appendEvents([newEvent('app-b', 0, { idempotencyKey: 'k' }), newEvent('app-b', 1, { idempotencyKey: 'k' })])).rejects.toThrow(
      AppendConflictError,
    );
    await db.collection(C.logs).insertMany(['app-b', 'app-c', 'app-d'].map((id) => ({ _id: id as never, size: 0, headHash: '0'.repeat(64), integratedSize: 0, createdAt: null })));
    await storage.appendEvents([newEvent('app-e', 0)]);
    expect((await storage.listLogHeads(null, 2)).map((h) => h.sourceAppId)).toEqual(['app-a', 'app-e']);
  });
});

describe('MongoStorage commit positions', () => {
  it('recovers when a pos is handed out twice, undoing a partial insert of more than 100 events', async (ctx) => {
    const storage = await openStorage();
    if (storage.topology === 'sharded') ctx.skip(); // mongos: pos is not unique there, $inc is atomic
    await storage.appendEvents(newEvents('app-a', 0, 2));
    const next = (await storage.lastPos()) + 1;
    // Another process took pos next+150 with a counter that did not see it (non-atomic $inc).
    await db.collection<EventDoc>(C.events).insertOne(toEventDoc(newEvent('app-x', 0), next + 150, 'other-process'));

    const stored = await storage.appendEvents(newEvents('app-b', 0, 250));
    expect(stored[0]!.pos).toBeGreaterThan(next + 150);
    expect(await db.collection(C.events).countDocuments({ sourceAppId: 'app-b' })).toBe(250);
    expect(await storage.getEventRange('app-b', 0, 250, 1000)).toEqual(stored);
    const positions = (await db.collection<EventDoc>(C.events).find({}).toArray()).map((d) => d.pos);
    expect(new Set(positions).size).toBe(positions.length);
    expect(await storage.lastPos()).toBe(stored.at(-1)!.pos);
  });

  it('a reopened store never reuses a committed pos even if the counter document was lost', async () => {
    const storage = await openStorage();
    const first = await storage.appendEvents(newEvents('app-a', 0, 5));
    await storage.close();
    await db.collection(C.counters).deleteMany({});
    const again = await openStorage();
    const [next] = await again.appendEvents([newEvent('app-a', 5)]);
    expect(next!.pos).toBeGreaterThan(first.at(-1)!.pos);
  });
});

describe('MongoStorage schema', () => {
  it('creates the unique and keyset indexes, idempotently', async () => {
    const storage = await openStorage();
    await storage.init();
    await (await openStorage()).init();
    const indexes = await db.collection(C.events).listIndexes().toArray();
    const byName = new Map(indexes.map((i) => [i.name as string, i]));
    for (const spec of eventIndexes(storage.topology === 'sharded')) {
      const found = byName.get(spec.name!);
      expect(found, spec.name).toBeDefined();
      expect(found!.key).toEqual(spec.key);
      expect(Boolean(found!.unique)).toBe(Boolean(spec.unique));
    }
    const deployment = await detectDeployment(db);
    expect(deployment.writeConcern.journal).toBe(true);
    expect(deployment.writeConcern.w).toBe(deployment.topology === 'standalone' ? 1 : 'majority');
  });

  it('every unique index of a sharded collection starts with its whole shard key', () => {
    const unique: Record<string, { key: Record<string, unknown> }[]> = {
      [C.events]: eventIndexes(true).filter((i) => i.unique) as never,
      [C.checkpoints]: checkpointIndexes.filter((i) => i.unique) as never,
    };
    expect(unique[C.events]!.length).toBeGreaterThanOrEqual(2);
    for (const [collection, indexes] of Object.entries(unique)) {
      const shardKey = Object.keys(shardKeys[collection]!);
      for (const index of indexes) expect(Object.keys(index.key).slice(0, shardKey.length), collection).toEqual(shardKey);
    }
  });
});
