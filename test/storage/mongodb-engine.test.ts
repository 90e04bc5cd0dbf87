// What the contract cannot see: several writers on one database, writers that died half-way,
// a counter that hands out a pos twice (FerretDB's non-atomic $inc), and the schema itself.
import type { Db } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectDeployment } from '../../src/storage/mongodb/deployment.js';
import { collectionNames as C, toEventDoc, type EventDoc } from '../../src/storage/mongodb/documents.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { checkpointIndexes, eventIndexes, shardKeys } from '../../src/storage/mongodb/schema.js';
import { AppendConflictError, TurnLostError, type StoredEvent } from '../../src/storage/types.js';
import { useMongoTestDatabase } from '../support/mongo-test-server.js';
import { newEvent, newEvents } from './event-fixtures.js';

const mongo = useMongoTestDatabase();
let db: Db;
const opened: MongoStorage[] = [];
async function openStorage(): Promise<MongoStorage> {
  const s = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName });
  opened.push(s);
  await s.init();
  return s;
}
beforeEach(() => {
  db = mongo.client.db(mongo.dbName);
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
  it('counts only what was committed: events a dead writer inserted are invisible to heads and readers, and its log\'s next turn discards them', async () => {
    const storage = await openStorage();
    await storage.appendEvents(newEvents('app-a', 0, 3));
    const committed = await storage.lastPos();
    // A writer announced, allocated and inserted two events of app-a and the first of app-b, then died
    // before committing: its announcement has expired.
    const orphans = [...newEvents('app-a', 3, 2), newEvent('app-b', 0)];
    await db.collection<EventDoc>(C.events).insertMany(orphans.map((e, i) => toEventDoc(e, committed + 1 + i, 'dead-writer')));
    await db.collection(C.counters).updateOne({ _id: 'pos' as never }, { $max: { value: committed + 3 } });
    await db.collection(C.writers).insertOne({ _id: 'dead' as never, low: committed + 1, expiresAt: Date.now() - 1 });

    expect(await storage.lastPos()).toBe(committed + 3); // a dead writer no longer holds readers back
    expect((await storage.readCommitted(0, {}, 100)).events.map((e) => `${e.sourceAppId}/${e.seq}`)).toEqual(['app-a/0', 'app-a/1', 'app-a/2']);
    expect((await storage.getLogHead('app-a'))?.size).toBe(3);
    expect(await storage.getLogHead('app-b')).toBeNull();
    expect((await storage.listLogHeads(null, 10)).map((h) => h.sourceAppId)).toEqual(['app-a']);

    // Its leftovers block the positions until the log's next turn removes them.
    await expect(storage.appendEvents([newEvent('app-a', 3)])).rejects.toBeInstanceOf(AppendConflictError);
    expect(await storage.coordination!.beginLogTurn('app-a', 1)).toBe(2);
    expect(await db.collection(C.events).countDocuments({ sourceAppId: 'app-a' })).toBe(3);
    const [next] = await storage.appendEvents([newEvent('app-a', 3)], { fences: new Map([['app-a', 1]]) });
    expect(next!.pos).toBeGreaterThan(committed + 3);
    expect(await storage.lastPos()).toBe(next!.pos);
    expect((await storage.getLogHead('app-a'))?.size).toBe(4);
  });

  it('holds readers below a live writer\'s announcement until it is withdrawn', async () => {
    const storage = await openStorage();
    await storage.appendEvents(newEvents('app-a', 0, 2));
    const before = await storage.lastPos();
    // Another process announced that it may still commit from before+1 on.
    await db.collection(C.writers).insertOne({ _id: 'busy' as never, low: before + 1, expiresAt: Date.now() + 60_000 });
    const later = await storage.appendEvents(newEvents('app-b', 0, 2));
    expect(await storage.lastPos()).toBe(before);
    expect((await storage.readCommitted(before, {}, 100)).events.length).toBe(0);
    await db.collection(C.writers).updateOne({ _id: 'busy' as never }, { $set: { low: null } });
    expect(await storage.lastPos()).toBe(later.at(-1)!.pos);
    expect((await storage.readCommitted(before, {}, 100)).events).toEqual(later);
  });

  it('a reader following the horizon misses nothing while three writers commit to different logs at once', async () => {
    const [a, b, c, reader] = [await openStorage(), await openStorage(), await openStorage(), await openStorage()];
    const seen: StoredEvent[] = [];
    let done = false;
    const follow = (async () => {
      let last = 0;
      for (;;) {
        const finished = done;
        const page = await reader.readCommitted(last, {}, 1000);
        seen.push(...page.events);
        last = page.through;
        if (finished && page.atHorizon && page.events.length === 0) return;
      }
    })();
    const write = async (storage: MongoStorage, app: string) => {
      const out: StoredEvent[] = [];
      // Big batches keep inserts in flight long enough for the others to commit past them.
      for (let i = 0; i < 6; i++) out.push(...(await storage.appendEvents(newEvents(app, i * 150, 150))));
      return out;
    };
    const [fromA, fromB, fromC] = await Promise.all([write(a, 'app-a'), write(b, 'app-b'), write(c, 'app-c')]);
    done = true;
    await follow;
    const key = (e: StoredEvent) => `${e.sourceAppId}/${e.seq}`;
    expect(seen.map(key).sort()).toEqual([...fromA, ...fromB, ...fromC].map(key).sort());
    expect(seen.map((e) => e.pos)).toEqual([...seen.map((e) => e.pos)].sort((x, y) => x - y));
  });

  it('refuses to commit an append whose turn of that log was taken over, leaving nothing behind', async () => {
    const storage = await openStorage();
    const turn = (fence: number) => ({ fences: new Map([['app-a', fence]]) });
    await storage.coordination!.beginLogTurn('app-a', 1);
    await storage.appendEvents(newEvents('app-a', 0, 2), turn(1));
    await storage.coordination!.beginLogTurn('app-a', 2); // another process took the log's lease
    await expect(storage.appendEvents(newEvents('app-a', 2, 3), turn(1))).rejects.toBeInstanceOf(TurnLostError);
    expect(await db.collection(C.events).countDocuments({ sourceAppId: 'app-a' })).toBe(2);
    expect((await storage.getLogHead('app-a'))?.size).toBe(2);
    await storage.appendEvents(newEvents('app-a', 2, 1), turn(2));
    expect((await storage.getLogHead('app-a'))?.size).toBe(3);
  });

  it('keeps an announcement alive while the writer is busy, and lets it lapse when idle', async () => {
    const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName, writerTtlMs: 1_200 });
    opened.push(storage);
    await storage.init();
    const writer = storage as unknown as { announce(low: number | null): Promise<void> };
    const live = () => db.collection(C.writers).countDocuments({ low: { $ne: null }, expiresAt: { $gt: Date.now() } });
    await writer.announce(1); // as a long append does at its start
    await new Promise((r) => setTimeout(r, 2_000)); // past the 1.2 s TTL: only the heartbeat keeps it
    expect(await live()).toBe(1);
    expect(await storage.lastPos()).toBe(0);
    await writer.announce(null);
    expect(await live()).toBe(0);
  });

  it('a writer that stalled past its announcement does not commit', async () => {
    // With a 2 ms announcement (no heartbeat below 1 s), every append outlives it, as after a long pause.
    const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName, writerTtlMs: 2 });
    opened.push(storage);
    await storage.init();
    await expect(storage.appendEvents(newEvents('app-a', 0, 3))).rejects.toBeInstanceOf(TurnLostError);
    expect(await db.collection(C.events).countDocuments({})).toBe(0);
    expect(await storage.getLogHead('app-a')).toBeNull();
  });

  it('lists past logs whose first append failed, without returning them', async () => {
    const storage = await openStorage();
    await storage.appendEvents([newEvent('app-a', 0)]);
    await expect(storage.appendEvents([newEvent('app-b', 0, { idempotencyKey: 'k' }), newEvent('app-b', 1, { idempotencyKey: 'k' })])).rejects.toThrow(
      AppendConflictError,
    );
    await db.collection(C.logs).insertMany(['app-b', 'app-c', 'app-d'].map((id) => ({ _id: id as never, size: 0, headHash: '0'.repeat(64), createdAt: null })));
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
