// What the contract cannot see: several writers on one database, writers that pause or die between
// their claim and its derivation, appends whose outcome the network hid, and the schema itself.
// The reproductions of issue 14 (a stale writer deleting events, a paused writer committing behind
// a reader, followers skipping, uncommitted events visible) are here as regression tests.
import { Binary, type CommandStartedEvent, type Db } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fromLogError, toApiError } from '../../../src/api/errors.js';
import { LogError } from '../../../src/log/errors.js';
import { Sequencer } from '../../../src/log/sequencer.js';
import { deploymentOf, detectDeployment } from '../../../src/storage/mongodb/deployment.js';
import {
  checkpointNoteKey,
  collectionNames as C,
  POS_PER_BATCH,
  toEventDoc,
  type BatchBodyDoc,
  type BatchDoc,
} from '../../../src/storage/mongodb/documents.js';
import { HINT_STRIDE, MAX_EVENTS_PER_BATCH } from '../../../src/storage/mongodb/batch-log.js';
import { MongoStorage, type MongoStorageHooks } from '../../../src/storage/mongodb/mongo-storage.js';
import { batchIndexes, checkpointIndexes, eventIndexes, shardKeys } from '../../../src/storage/mongodb/schema.js';
import {
  AppendConflictError,
  AppendOutcomeUnknownError,
  MalformedEventError,
  type EventFilter,
  type NewEvent,
  type StoredEvent,
} from '../../../src/storage/types.js';
import { useMongoTestDatabase } from '../../support/mongo-test-server.js';
import { commandMarker, startTcpCutter } from '../../support/tcp-cutter.js';
import { startTcpGate } from '../../support/tcp-gate.js';
import { until } from '../../support/wait.js';
import { newEvent, newEvents } from '../event-fixtures.js';
import { chainedEvents } from '../../log/engines.js';
import { Integrator } from '../../../src/log/integrator.js';

const mongo = useMongoTestDatabase();
let db: Db;
const opened: MongoStorage[] = [];
async function openStorage(
  opts: { hooks?: MongoStorageHooks; maxAppendBytes?: number; monitor?: boolean } = {},
): Promise<MongoStorage> {
  const uri = opts.monitor
    ? `${mongo.server.uri}${mongo.server.uri.includes('?') ? '&' : '?'}monitorCommands=true`
    : mongo.server.uri;
  const s = new MongoStorage({
    uri,
    dbName: mongo.dbName,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.maxAppendBytes ? { maxAppendBytes: opts.maxAppendBytes } : {}),
  });
  opened.push(s);
  await s.init();
  return s;
}
beforeEach(() => {
  db = mongo.client.db(mongo.dbName);
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  await db.dropDatabase();
});

const key = (e: { sourceAppId: string; seq: number }) => `${e.sourceAppId}/${e.seq}`;

/**
 * Insert a batch (and its body) as a writer claims it, for a writer that died before deriving anything.
 * The body is in the form of earlier versions (a document per event) unless `form` says 'json' (one
 * JSON text, as appends write it now).
 */
async function insertPendingBatch(g: number, events: NewEvent[], form: 'documents' | 'json' = 'documents'): Promise<void> {
  const docs = events.map((e) => {
    const { pos: _pos, ...doc } = toEventDoc(e, 0);
    return doc;
  });
  await db
    .collection<BatchBodyDoc>(C.batchBodies)
    .insertOne({ _id: `dead-${g}`, ...(form === 'json' ? { eventsJson: JSON.stringify(docs) } : { events: docs }) });
  await db.collection<BatchDoc>(C.batches).insertOne(pendingBatch(g, events));
}

function pendingBatch(g: number, events: NewEvent[]): BatchDoc {
  const apps = [...new Set(events.map((e) => e.sourceAppId))];
  return {
    _id: g,
    token: `dead-${g}`,
    logs: apps.map((app) => {
      const mine = events.filter((e) => e.sourceAppId === app);
      return {
        app,
        firstSeq: mine[0]!.seq,
        count: mine.length,
        headHash: mine.at(-1)!.hash,
        createdAt: mine[0]!.seq === 0 ? mine[0]!.receivedAt : null,
      };
    }),
    apps,
    count: events.length,
    pending: true,
  };
}

/** Resolves the returned promise's `release` side when `open()` is called: a gate a test opens. */
function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe('MongoStorage with several writers on one database', () => {
  it('of two processes appending at the same positions, exactly one wins each round and nothing of the loser exists anywhere', async () => {
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
    expect(await db.collection(C.batches).countDocuments({})).toBe(4);
    expect((await b.getLogHead('app-a'))?.size).toBe(size);
  });

  it('writers of different logs both commit when they race for one g: the loser takes the next g', async () => {
    const [a, b] = [await openStorage(), await openStorage()];
    const results = await Promise.all([
      (async () => {
        const out: StoredEvent[] = [];
        for (let i = 0; i < 10; i++) out.push(...(await a.appendEvents(newEvents('app-a', i * 5, 5))));
        return out;
      })(),
      (async () => {
        const out: StoredEvent[] = [];
        for (let i = 0; i < 10; i++) out.push(...(await b.appendEvents(newEvents('app-b', i * 5, 5))));
        return out;
      })(),
    ]);
    const all = results.flat();
    expect(new Set(all.map((e) => e.pos)).size).toBe(100);
    const gs = (
      await db
        .collection<BatchDoc>(C.batches)
        .find({}, { projection: { _id: 1 } })
        .toArray()
    )
      .map((d) => d._id)
      .sort((x, y) => x - y);
    expect(gs).toEqual([...Array(20).keys()].map((i) => i + 1)); // contiguous: no g skipped
    expect((await a.readCommitted(0, {}, 1000)).events.map(key).sort()).toEqual(all.map(key).sort());
  });

  it('issue 14 #1: nothing an append does deletes or rewrites an event or a batch, whatever it races with', async () => {
    const [a, b] = [await openStorage({ monitor: true }), await openStorage({ monitor: true })];
    const writes: CommandStartedEvent[] = [];
    for (const s of [a, b]) {
      (s as unknown as { client: import('mongodb').MongoClient }).client.on('commandStarted', (e) => {
        if (['delete', 'update', 'findAndModify'].includes(e.commandName)) writes.push(e);
      });
    }
    // Both append to one log with stale views of it (conflicts), and to logs of their own.
    await Promise.allSettled(
      [a, b].map(async (s, w) => {
        for (let i = 0; i < 8; i++) {
          const head = (await s.getLogHead('hot'))?.size ?? 0;
          await s
            .appendEvents([...newEvents('hot', head, 3, () => ({ payload: { w, i } })), newEvent(`own-${w}`, i)])
            .catch(() => undefined);
        }
      }),
    );
    // The one delete an append sends is of its own body (its id is the append's random token), once its
    // claim lost; the bodies of derived batches go later, and only once no batch names them as pending.
    await Promise.all([a.settled(), b.settled()]);
    const batches = await db.collection<BatchDoc>(C.batches).find({}).toArray();
    const pendingTokens = new Set(batches.filter((d) => d.pending).map((d) => d.token));
    const deleted = writes.filter((w) => w.commandName === 'delete');
    expect(deleted.length).toBeGreaterThan(0);
    for (const e of deleted) {
      expect(e.command.delete).toBe(C.batchBodies);
      for (const d of e.command.deletes as Array<{ q: { _id: unknown } }>) {
        expect(typeof d.q._id).toBe('string');
        expect(pendingTokens.has(d.q._id as string)).toBe(false);
      }
    }
    expect(writes.filter((e) => e.commandName === 'findAndModify')).toEqual([]);
    for (const e of writes.filter((w) => w.commandName === 'update')) {
      const coll = e.command.update as string;
      expect([C.batches, C.logs]).toContain(coll);
      if (coll === C.batches)
        for (const u of e.command.updates as Array<{ u: unknown }>) expect(u.u).toEqual({ $unset: { pending: '' } });
    }
    const hot = await a.getEventRange('hot', 0, 1000, 1000);
    expect(hot.map((e) => e.seq)).toEqual([...Array(hot.length).keys()]);
    expect(await db.collection(C.events).countDocuments({ sourceAppId: 'hot' })).toBe(hot.length);
  });

  it('issue 14 #4: a writer paused before its claim cannot commit behind a reader that moved on', async () => {
    const paused = latch();
    const reached = latch();
    const a = await openStorage({
      hooks: {
        beforeClaim: async () => {
          reached.open();
          await paused.wait;
        },
      },
    });
    const [b, reader] = [await openStorage(), await openStorage()];
    await b.appendEvents(newEvents('app-b', 0, 2));
    const late = a.appendEvents(newEvents('app-a', 0, 3)); // planned at g 2, then paused
    await reached.wait;
    await b.appendEvents(newEvents('app-b', 2, 2)); // commits at g 2
    const { events: seen } = await reader.readCommitted(0, {}, 100);
    expect(seen.map(key)).toEqual(['app-b/0', 'app-b/1', 'app-b/2', 'app-b/3']);
    const readerPos = seen.at(-1)!.pos;
    paused.open(); // the paused writer's claim of g 2 fails; it commits at g 3, above the reader
    const stored = await late;
    expect(stored[0]!.pos).toBeGreaterThan(readerPos);
    expect((await reader.readCommitted(readerPos, {}, 100)).events.map(key)).toEqual(['app-a/0', 'app-a/1', 'app-a/2']);
  });

  it('a paused writer of a log another writer moved meanwhile gets a position conflict and writes nothing', async () => {
    const paused = latch();
    const reached = latch();
    const a = await openStorage({ hooks: { beforeClaim: async () => (reached.open(), paused.wait) } });
    const b = await openStorage();
    const late = a.appendEvents(newEvents('app-a', 0, 3, () => ({ payload: { writer: 'a' } })));
    await reached.wait;
    const theirs = await b.appendEvents(newEvents('app-a', 0, 2, () => ({ payload: { writer: 'b' } })));
    paused.open();
    await expect(late).rejects.toBeInstanceOf(AppendConflictError);
    expect(await b.getEventRange('app-a', 0, 10, 10)).toEqual(theirs);
    expect(await db.collection(C.batches).countDocuments({})).toBe(1);
  });
});

describe('MongoStorage after a writer died between its claim and the derivation', () => {
  it('issue 14 #6: before its claim nothing of an append is visible; after it, every read of every process repairs and sees all of it', async () => {
    const holding = latch();
    const reached = latch();
    const died = new Error('the writer died after its claim');
    let dying = false;
    const writer = await openStorage({
      hooks: {
        beforeClaim: async () => {
          if (!dying) return;
          reached.open();
          await holding.wait;
        },
        afterClaim: async () => {
          if (dying) throw died;
        },
      },
    });
    const reader = await openStorage();
    await writer.appendEvents([newEvent('app-a', 0), newEvent('app-a', 1)]);
    // Stores of other processes, open before the writer dies; each makes one read afterwards.
    const others: MongoStorage[] = [];
    for (let i = 0; i < 9; i++) others.push(await openStorage());
    dying = true;
    const doomed = writer.appendEvents([
      newEvent('app-a', 2, { idempotencyKey: 'k2' }),
      newEvent('app-new', 0, { idempotencyKey: 'n0' }),
    ]);
    await reached.wait;
    // Planned but not claimed: nothing of it anywhere.
    expect(await reader.getEvent('app-a', 2)).toBeNull();
    expect(await reader.findByIdempotencyKeys('app-a', ['k2'])).toEqual([]);
    expect(await reader.getLogHead('app-new')).toBeNull();
    holding.open();
    await expect(doomed).rejects.toBe(died);
    expect(await db.collection(C.batches).countDocuments({ pending: true })).toBe(1);
    const deadBatch = (await db.collection<BatchDoc>(C.batches).findOne({ _id: 2 }))!;
    const deadBody = (await db.collection<BatchBodyDoc>(C.batchBodies).findOne({ _id: deadBatch.token }))!;
    expect(typeof deadBody.eventsJson).toBe('string');
    expect(await db.collection(C.events).countDocuments({ sourceAppId: 'app-new' })).toBe(0);
    expect(await db.collection(C.logs).countDocuments({ _id: 'app-new' as never })).toBe(0);

    // Each read below, on a store that has not derived the batch yet, finds all of it: the batch (and
    // its body, deleted once a store derived it) is put back as the dead writer left it before each.
    const g2 = 2 * POS_PER_BATCH;
    const reads: Array<[string, (s: MongoStorage) => Promise<unknown>]> = [
      ['getEvent', async (s) => (await s.getEvent('app-new', 0))?.pos],
      ['getEventRange', async (s) => (await s.getEventRange('app-a', 0, 10, 10)).map(key)],
      ['getEventRangeWithText', async (s) => (await s.getEventRangeWithText('app-a', 0, 10, 10)).events.map(key)],
      ['findByIdempotencyKeys', async (s) => (await s.findByIdempotencyKeys('app-a', ['k2'])).map(key)],
      ['readCommitted', async (s) => (await s.readCommitted(0, {}, 10)).events.map(key)],
      ['lastPos', (s) => s.lastPos()],
      [
        'queryEvents',
        async (s) =>
          (await s.queryEvents({ filter: { sourceAppIds: ['app-new'] }, direction: 'asc', limit: 10 })).events.map(key),
      ],
      ['listLogHeads', async (s) => (await s.listLogHeads(null, 10)).map((h) => `${h.sourceAppId}:${h.size}`)],
    ];
    const expected: Record<string, unknown> = {
      getEvent: g2 + 1,
      getEventRange: ['app-a/0', 'app-a/1', 'app-a/2'],
      getEventRangeWithText: ['app-a/0', 'app-a/1', 'app-a/2'],
      findByIdempotencyKeys: ['app-a/2'],
      readCommitted: ['app-a/0', 'app-a/1', 'app-a/2', 'app-new/0'],
      lastPos: g2 + 1,
      queryEvents: ['app-new/0'],
      listLogHeads: ['app-a:3', 'app-new:1'],
    };
    const putBack = async () => {
      await Promise.all([reader, ...others].map((s) => s.settled()));
      await db.collection(C.events).deleteMany({ pos: { $gte: g2 } });
      await db.collection(C.logs).deleteOne({ _id: 'app-new' as never });
      await db.collection(C.batches).updateOne({ _id: 2 as never }, { $set: { pending: true } });
      await db.collection<BatchBodyDoc>(C.batchBodies).replaceOne({ _id: deadBody._id }, deadBody, { upsert: true });
    };
    for (const [i, [name, read]] of reads.entries()) {
      const store = others[i]!;
      await putBack();
      expect(await read(store), name).toEqual(expected[name]);
      expect(await db.collection(C.events).countDocuments({ pos: { $gte: g2 } }), name).toBe(2);
    }
    // A head is read from the batches themselves: it needs no derivation.
    await putBack();
    expect(await others[0]!.getLogHead('app-new')).toMatchObject({ size: 1, createdAt: newEvent('app-new', 0).receivedAt });
    expect(await reader.lastPos()).toBe(g2 + 1);
    expect((await reader.listLogHeads(null, 10)).map((h) => `${h.sourceAppId}:${h.size}`)).toEqual(['app-a:3', 'app-new:1']);
    expect(await db.collection(C.batches).countDocuments({ pending: true })).toBe(0);
    // The log goes on from the repaired head, on any store.
    await reader.appendEvents([newEvent('app-a', 3)]);
    await expect(writer.appendEvents([newEvent('app-a', 3)])).rejects.toBeInstanceOf(AppendConflictError);
  });

  it('an append whose derivation fails after its claim is acknowledged (it committed), and readers derive it', async () => {
    const writer: MongoStorage = await openStorage({
      hooks: {
        afterClaim: async () => {
          await writer.close(); // the connection is gone before anything is derived
        },
      },
    });
    const reader = await openStorage();
    const stored = await writer.appendEvents(newEvents('app-a', 0, 3));
    expect(stored.map((e) => e.seq)).toEqual([0, 1, 2]);
    expect(await db.collection(C.batches).countDocuments({ pending: true })).toBe(1);
    expect(await reader.getEventRange('app-a', 0, 10, 10)).toEqual(stored);
    expect(await db.collection(C.batches).countDocuments({ pending: true })).toBe(0);
  });

  it('an append whose event insert loses its connection stays pending (a lost bulk is not read as duplicates), and readers derive it', async () => {
    const cutter = await startTcpCutter(mongo.server.uri);
    try {
      const writer = new MongoStorage({ uri: cutter.uri, dbName: mongo.dbName });
      opened.push(writer);
      await writer.init();
      const reader = await openStorage();
      const cutting = cutter.cutRequests(commandMarker('insert', C.events));
      const stored = await writer.appendEvents(newEvents('app-a', 0, 3));
      cutting.stop();
      expect(cutting.cuts).toBeGreaterThan(0);
      expect(stored.map((e) => e.seq)).toEqual([0, 1, 2]); // committed by its claim
      // Not derived as far as anyone knows: still pending, so every reader derives it first.
      expect(await db.collection(C.batches).countDocuments({ pending: true })).toBe(1);
      expect(await reader.getEventRange('app-a', 0, 10, 10)).toEqual(stored);
      expect(await db.collection(C.events).countDocuments({ sourceAppId: 'app-a' })).toBe(3);
    } finally {
      await cutter.close();
    }
  });

  it('a head whose hash was damaged in its batch is reported as malformed, not linked to', async () => {
    const storage = await openStorage();
    await storage.appendEvents(newEvents('app-a', 0, 2));
    const batch = (await db.collection<BatchDoc>(C.batches).findOne({ _id: 1 }))!;
    const damaged = (JSON.parse(batch.logsJson!) as Array<Record<string, unknown>>).map((l) => ({
      ...l,
      headHash: 'not-a-hash',
    }));
    await db.collection<BatchDoc>(C.batches).updateOne({ _id: 1 }, { $set: { logsJson: JSON.stringify(damaged) } });
    await db.collection(C.logs).deleteOne({ _id: 'app-a' as never }); // no hint to start from: the batch is read
    const fresh = await openStorage();
    const err = await fresh.getLogHead('app-a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedEventError);
    expect(err).toMatchObject({ sourceAppId: 'app-a', seq: 1, field: 'hash', rule: 'lowercaseHex64' });
  });

  it('a log whose creation time is in neither its hint nor its first batch fails its head read, saying so, and only its own', async () => {
    const storage = await openStorage();
    await storage.appendEvents(newEvents('app-a', 0, 2));
    await storage.appendEvents([...newEvents('app-a', 2, 2), ...newEvents('app-b', 0, 1)]);
    const first = (await db.collection<BatchDoc>(C.batches).findOne({ _id: 1 }))!;
    const damaged = (JSON.parse(first.logsJson!) as Array<Record<string, unknown>>).map((l) => ({ ...l, createdAt: null }));
    await db.collection<BatchDoc>(C.batches).updateOne({ _id: 1 }, { $set: { logsJson: JSON.stringify(damaged) } });
    await db.collection(C.logs).deleteOne({ _id: 'app-a' as never });
    const fresh = await openStorage();
    const [a, b] = await Promise.allSettled([fresh.getLogHead('app-a'), fresh.getLogHead('app-b')]);
    expect(a).toMatchObject({ status: 'rejected' });
    const err = (a as PromiseRejectedResult).reason as unknown;
    expect(err).toBeInstanceOf(MalformedEventError);
    expect(err).toMatchObject({ sourceAppId: 'app-a', seq: 0, field: 'receivedAt', rule: 'logCreationTime' });
    // As a client sees it: damage to the store, with the log and the position.
    expect(toApiError(err)?.extensions).toMatchObject({
      code: 'MALFORMED_EVENT',
      field: 'receivedAt',
      rule: 'logCreationTime',
      sourceAppId: 'app-a',
      seq: 0,
    });
    expect(b).toMatchObject({ status: 'fulfilled', value: { sourceAppId: 'app-b', size: 1 } });
  });

  it('a batch whose logs are damaged (not JSON, or no list) fails the reads that need it, and a batch of the earlier form is read', async () => {
    const storage = await openStorage();
    await storage.appendEvents(newEvents('app-a', 0, 2));
    await storage.appendEvents(newEvents('app-a', 2, 2));
    const batches = db.collection<BatchDoc>(C.batches);
    expect(typeof (await batches.findOne({ _id: 2 }))!.logsJson).toBe('string');
    // Batch 1 in the form of earlier versions (a document per log): read as before.
    const one = (await batches.findOne({ _id: 1 }))!;
    await batches.updateOne(
      { _id: 1 },
      { $set: { logs: JSON.parse(one.logsJson!) as BatchDoc['logs'] }, $unset: { logsJson: '' } },
    );
    await db.collection(C.logs).deleteOne({ _id: 'app-a' as never }); // no hint to start from: the batches are read
    expect(await (await openStorage()).getLogHead('app-a')).toMatchObject({ size: 4 });
    await batches.updateOne({ _id: 2 }, { $set: { logsJson: '[{"app":' } });
    await expect((await openStorage()).getLogHead('app-a')).rejects.toThrow(/the logs of batch 2 are not JSON/);
    await batches.updateOne({ _id: 2 }, { $set: { logsJson: '{}' } });
    await expect((await openStorage()).getLogHead('app-a')).rejects.toThrow(/batch 2 holds no list of logs/);
  });

  it("issue 14 #3: a follower paging through a dead writer's batch larger than a page neither stalls nor skips, and init repairs it", async () => {
    const storage = await openStorage();
    await storage.appendEvents(newEvents('app-a', 0, 2));
    // Another process claimed g 2 (1,500 events over two logs) and died; then g 3 committed.
    const dead = [...newEvents('app-a', 2, 1000), ...newEvents('app-b', 0, 500)];
    await insertPendingBatch(2, dead);
    await insertPendingBatch(3, newEvents('app-c', 0, 3));
    const follower = await openStorage(); // init derives what it finds pending
    expect(await db.collection(C.batches).countDocuments({ pending: true })).toBe(0);
    const seen: StoredEvent[] = [];
    let after = 0;
    for (;;) {
      const page = await follower.readCommitted(after, {}, 1000);
      seen.push(...page.events);
      after = page.through;
      if (page.atHorizon) break;
    }
    expect(seen.map(key)).toEqual([...newEvents('app-a', 0, 2), ...dead, ...newEvents('app-c', 0, 3)].map(key));
    expect(seen.map((e) => e.pos)).toEqual([...seen.map((e) => e.pos)].sort((x, y) => x - y));
    expect((await storage.getLogHead('app-a'))?.size).toBe(1002);
  });

  it('a reader following readCommitted misses nothing while three writers commit to different logs at once', async () => {
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
      for (let i = 0; i < 6; i++) out.push(...(await storage.appendEvents(newEvents(app, i * 150, 150))));
      return out;
    };
    const [fromA, fromB, fromC] = await Promise.all([write(a, 'app-a'), write(b, 'app-b'), write(c, 'app-c')]);
    done = true;
    await follow;
    expect(seen.map(key).sort()).toEqual([...fromA, ...fromB, ...fromC].map(key).sort());
    expect(seen.map((e) => e.pos)).toEqual([...seen.map((e) => e.pos)].sort((x, y) => x - y));
  });
});

describe("MongoStorage readCommitted of the reader's own commits", () => {
  /** The `find` commands on `events` a storage sends from now on. */
  function eventFinds(s: MongoStorage): () => number {
    let n = 0;
    (s as unknown as { client: import('mongodb').MongoClient }).client.on('commandStarted', (e) => {
      if (e.commandName === 'find' && e.command.find === C.events) n++;
    });
    return () => n;
  }

  it("serves a process's own commits from memory, the same page the documents give, and reads the documents where another process committed in between", async () => {
    const [w, other, reader] = [await openStorage({ monitor: true }), await openStorage(), await openStorage()];
    const finds = eventFinds(w);
    const same = async (after: number, limit: number) => {
      const mine = await w.readCommitted(after, {}, limit);
      expect(mine).toEqual(await reader.readCommitted(after, {}, limit));
      return mine;
    };
    await w.appendEvents(newEvents('app-a', 0, 3));
    let page = await same(0, 10);
    expect(page.events.map(key)).toEqual(['app-a/0', 'app-a/1', 'app-a/2']);
    expect(finds()).toBe(0);
    // Another process commits between two of ours: its batch is read from the documents.
    await other.appendEvents(newEvents('app-b', 0, 2));
    await w.appendEvents(newEvents('app-a', 3, 2));
    page = await same(page.through, 10);
    expect(page.events.map(key)).toEqual(['app-b/0', 'app-b/1', 'app-a/3', 'app-a/4']);
    expect(finds()).toBe(1);
    // Ours again, in pages smaller than a batch.
    await w.appendEvents(newEvents('app-a', 5, 3));
    page = await same(page.through, 2);
    expect(page.events.map(key)).toEqual(['app-a/5', 'app-a/6']);
    expect(page.atHorizon).toBe(false);
    page = await same(page.through, 2);
    expect(page.events.map(key)).toEqual(['app-a/7']);
    expect(page.atHorizon).toBe(true);
    // A filter, or a start before what is kept, reads the documents.
    expect((await w.readCommitted(0, { sourceAppIds: ['app-a'] }, 10)).events).toHaveLength(8);
    expect(finds()).toBe(2);
    // Another process's batch on top, read once by the horizon: a reader at its end needs nothing more.
    await other.appendEvents(newEvents('app-b', 2, 1));
    page = await same(page.through, 10);
    expect(page.events.map(key)).toEqual(['app-b/2']);
    expect(finds()).toBe(3);
    await w.appendEvents(newEvents('app-a', 8, 1));
    page = await same(page.through, 10);
    expect(page.events.map(key)).toEqual(['app-a/8']);
    expect(finds()).toBe(3);
    // At the horizon nothing is read, whatever the filter: an idle follower's poll costs the horizon only.
    for (const filter of [{}, { sourceAppIds: ['app-a'] }, { eventTypes: ['t'], from: 1_600_000_000_000 }] as EventFilter[]) {
      expect(await w.readCommitted(page.through, filter, 10)).toEqual({ events: [], through: page.through, atHorizon: true });
      expect(await w.readCommitted(page.through + 5, filter, 10)).toEqual({
        events: [],
        through: page.through + 5,
        atHorizon: true,
      });
    }
    expect(finds()).toBe(3);
  });

  it('after an erasure reads the documents, which hold the erased payload', async () => {
    const w = await openStorage({ monitor: true });
    const finds = eventFinds(w);
    const v2 = (seq: number): NewEvent => ({
      ...newEvent('app-a', seq),
      payloadSalt: 'ab'.repeat(32),
      payloadHash: 'cd'.repeat(32),
    });
    await w.appendEvents([v2(0), v2(1)]);
    expect(await w.eraseEvents([{ sourceAppId: 'app-a', seq: 1 }], 1_700_005_000_000, 'test')).toBe(1);
    const before = finds();
    const { events } = await w.readCommitted(0, {}, 10);
    expect(finds()).toBe(before + 1);
    expect(events.map((e) => e.payload === null)).toEqual([false, true]);
  });
});

describe('MongoStorage appends whose outcome the network hid', () => {
  const networkError = () => Object.assign(new Error('connection reset (injected)'), { name: 'MongoNetworkError' });

  it('settles a lost reply by racing a void batch: ours won (acknowledged) or the void won (nothing written, g skipped by readers)', async () => {
    let mode: 'landed' | 'lost' | null = null;
    const storage = await openStorage({
      hooks: {
        claimInsert: async (insert) => {
          const m = mode;
          mode = null;
          if (m === 'landed') await insert();
          if (m) throw networkError();
          await insert();
        },
      },
    });
    const reader = await openStorage();
    mode = 'landed';
    const [first] = await storage.appendEvents([newEvent('app-a', 0)]);
    expect(first!.pos).toBe(1 * POS_PER_BATCH);
    mode = 'lost';
    await expect(storage.appendEvents([newEvent('app-a', 1)])).rejects.toThrow(/connection reset/);
    expect(await db.collection<BatchDoc>(C.batches).findOne({ _id: 2 })).toMatchObject({ void: true, count: 0, logsJson: '[]' });
    expect(await reader.getEvent('app-a', 1)).toBeNull();
    const [second] = await storage.appendEvents([newEvent('app-a', 1)]);
    expect(second!.pos).toBe(3 * POS_PER_BATCH);
    expect((await reader.readCommitted(0, {}, 10)).events.map(key)).toEqual(['app-a/0', 'app-a/1']);
    expect(await reader.lastPos()).toBe(second!.pos);
  });

  it('an insert retried after it had landed (a duplicate of our own batch) is acknowledged once, not taken for a conflict', async () => {
    let twice = true;
    const storage = await openStorage({
      hooks: {
        claimInsert: async (insert) => {
          await insert();
          if (twice) {
            twice = false;
            await insert(); // as a driver retry after a lost reply: duplicate key on our own batch
          }
        },
      },
    });
    const stored = await storage.appendEvents(newEvents('app-a', 0, 2));
    expect(stored.map((e) => e.pos)).toEqual([POS_PER_BATCH, POS_PER_BATCH + 1]);
    expect(await db.collection(C.batches).countDocuments({})).toBe(1);
    expect((await storage.getEventRange('app-a', 0, 10, 10)).map(key)).toEqual(['app-a/0', 'app-a/1']);
    await storage.appendEvents([newEvent('app-a', 2)]);
  });

  it('says the outcome is unknown when it cannot be settled', async () => {
    const storage = await openStorage({
      hooks: {
        claimInsert: async () => {
          await storage.close(); // every later operation of this store fails
          throw networkError();
        },
      },
    });
    const err = await storage.appendEvents([newEvent('app-a', 0)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppendOutcomeUnknownError);
    expect((err as Error).message).toMatch(/retry it with the same idempotency keys/);
  });
});

describe('MongoStorage byte budget of one append', () => {
  it('refuses an append above maxAppendBytes, and the sequencer keeps groups within it and refuses a request that alone exceeds it', async () => {
    const budget = 64 * 1024;
    const storage = await openStorage({ maxAppendBytes: budget });
    const big = 'x'.repeat(10_000);
    await expect(storage.appendEvents(newEvents('app-a', 0, 8, () => ({ payload: { big } })))).rejects.toThrow(
      /at most 65536 bytes/,
    );
    expect(await db.collection(C.batches).countDocuments({})).toBe(0);

    const sequencer = new Sequencer(storage, () => undefined);
    const request = (n: number) => ({ sourceAppId: 'app-a', eventType: 't', timestamp: 1, payload: { big, n } });
    const tooBig = await sequencer.append(Array.from({ length: 8 }, (_, n) => request(n))).catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(LogError);
    expect((tooBig as LogError).code).toBe('PAYLOAD_TOO_LARGE');
    expect((tooBig as LogError).message).toMatch(/at most 65536 bytes/);
    // As a client sees it: a stable code, the field and the rule.
    expect(fromLogError(tooBig as LogError).extensions).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      field: 'inputs',
      rule: 'maxBytes',
    });
    // Twenty requests of 2 events (about 21 KB each) arrive together: grouped in appends under the budget.
    const settled = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sequencer.append([request(2 * i), request(2 * i + 1)])),
    );
    expect(settled.flat().map((e) => e.seq)).toEqual([...Array(40).keys()]);
    const batches = await db.collection<BatchDoc>(C.batches).find({}).toArray();
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) expect(b.count).toBeLessThanOrEqual(6);
  });
});

describe('MongoStorage events of one append', () => {
  it('refuses an append of more events than one batch holds, writing nothing', async () => {
    const storage = await openStorage();
    const refused = await storage.appendEvents(newEvents('app-a', 0, MAX_EVENTS_PER_BATCH + 1)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RangeError);
    expect((refused as Error).message).toBe(
      `one append holds at most ${MAX_EVENTS_PER_BATCH} events on MongoDB, not ${MAX_EVENTS_PER_BATCH + 1}`,
    );
    expect(await db.collection(C.batches).countDocuments({})).toBe(0);
    expect(await storage.getLogHead('app-a')).toBeNull();
    // As many as a batch holds is one append.
    expect(await storage.appendEvents(newEvents('app-a', 0, MAX_EVENTS_PER_BATCH))).toHaveLength(MAX_EVENTS_PER_BATCH);
    expect(await db.collection(C.batches).countDocuments({})).toBe(1);
  });
});

describe('MongoStorage versions of a checkpoint note', () => {
  it('keeps the newest 16 versions or so, pruning the older ones every 16th, and reads the newest as the note', async () => {
    const storage = await openStorage();
    await storage.putCheckpoint({ sourceAppId: 'app-a', treeSize: 5, rootHash: 'ab'.repeat(32), note: 'v0', publishedAt: 1 });
    const versions = async () =>
      (await db.collection<{ version: number }>(C.checkpointNotes).find({ sourceAppId: 'app-a', treeSize: 5 }).toArray())
        .map((d) => d.version)
        .sort((a, b) => a - b);
    for (let v = 1; v <= 33; v++) {
      expect(await storage.replaceCheckpointNote('app-a', 5, `v${v - 1}`, `v${v}`), `version ${v}`).toBe(true);
      if (v === 15) expect(await versions()).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    }
    // Pruned at 16 (nothing older than 0) and at 32 (versions up to 16): 17 to 33 are kept.
    expect(await versions()).toEqual(Array.from({ length: 17 }, (_, i) => i + 17));
    expect((await storage.getCheckpoint('app-a', 5))!.note).toBe('v33');
    expect((await (await openStorage()).getCheckpoint('app-a'))!.note).toBe('v33');
    // A writer that read a pruned version loses: its expected note is not the newest.
    expect(await storage.replaceCheckpointNote('app-a', 5, 'v16', 'late')).toBe(false);
    expect(await versions()).toHaveLength(17);
  });
});

describe('MongoStorage write concurrency', () => {
  it('reports 4 against FerretDB (one SQLite write lock) and 32 against MongoDB, or the configured number', async () => {
    const detected = await openStorage();
    const ferretdb = (await detectDeployment(db)).ferretdb;
    expect(detected.writeConcurrency).toBe(ferretdb ? 4 : 32);
    const configured = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName, writeConcurrency: 7 });
    opened.push(configured);
    await configured.init();
    expect(configured.writeConcurrency).toBe(7);
  });
});

describe('MongoStorage schema', () => {
  it('creates the unique, keyset and batch indexes, idempotently', async () => {
    const storage = await openStorage();
    await storage.init();
    await (await openStorage()).init();
    for (const [collection, specs] of [
      [C.events, eventIndexes(storage.topology === 'sharded')],
      [C.batches, batchIndexes],
    ] as const) {
      const indexes = await db.collection(collection).listIndexes().toArray();
      const byName = new Map(indexes.map((i) => [i.name as string, i]));
      for (const spec of specs) {
        const found = byName.get(spec.name!);
        expect(found, spec.name).toBeDefined();
        expect(found!.key).toEqual(spec.key);
        expect(Boolean(found!.unique)).toBe(Boolean(spec.unique));
      }
    }
    const deployment = await detectDeployment(db);
    expect(deployment.writeConcern.journal).toBe(true);
    expect(deployment.writeConcern.w).toBe(deployment.topology === 'standalone' ? 1 : 'majority');
    expect(deployment.readConcern).toBe(deployment.topology === 'standalone' ? 'local' : 'majority');
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

  it('refuses to open a database in the layout of an earlier version, saying why and what to do', async () => {
    await db.collection('counters').insertOne({ _id: 'pos' as never, value: 3 });
    const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName });
    opened.push(storage);
    await expect(storage.init()).rejects.toThrow(
      /layout of an earlier version \(collections counters\).*new database \(MONGODB_DB\)/,
    );
    await db.dropDatabase();
    await db.collection(C.events).insertOne(toEventDoc(newEvent('app-a', 0), 1));
    const again = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName });
    opened.push(again);
    await expect(again.init()).rejects.toThrow(/events without batches/);
  });

  it('inserts the erasures_applied document at the first start only, and refuses to raise it once it is gone', async () => {
    const first = await openStorage();
    await first.raiseErasuresAppliedBelow(4);
    // A later start finds it (its insert loses the _id) and keeps its size.
    const second = await openStorage();
    expect(await second.erasuresAppliedBelow()).toBe(4);
    await db.collection(C.erasuresApplied).deleteMany({});
    expect(await second.erasuresAppliedBelow()).toBe(0);
    await expect(second.raiseErasuresAppliedBelow(5)).rejects.toThrow(/erasures_applied document is missing/);
  });

  it('keeps beside the document only the marks no other dominates, so they stay few', async () => {
    const s = await openStorage();
    for (let n = 1; n <= 20; n++) await s.raiseErasuresAppliedBelow(n, [], n - 1);
    // A raise that lowers neither size to nothing, and one higher in one size only: both kept.
    await s.raiseErasuresAppliedBelow(30, [], 5);
    const docs = await db.collection<{ _id: string; below: number; copiedBelow?: number }>(C.erasuresApplied).find({}).toArray();
    expect(docs.map((d) => [d._id === 'erasures' ? 'erasures' : 'mark', d.below, d.copiedBelow ?? 0]).sort()).toEqual([
      ['erasures', 30, 19],
      ['mark', 20, 19],
      ['mark', 30, 5],
    ]);
    expect([await s.erasuresAppliedBelow(), await s.erasuresCopiedBelow()]).toEqual([30, 19]);
  });

  it("reads a document from before the mirror's copied size as 0, and sets it at its first raise", async () => {
    const s = await openStorage();
    await db.collection(C.erasuresApplied).replaceOne({ _id: 'erasures' as never }, { below: 9 });
    expect([await s.erasuresAppliedBelow(), await s.erasuresCopiedBelow()]).toEqual([9, 0]);
    await s.raiseErasuresAppliedBelow(9, [], 3);
    expect([await s.erasuresAppliedBelow(), await s.erasuresCopiedBelow()]).toEqual([9, 3]);
  });
});

describe('MongoStorage tree nodes', () => {
  it('integrating nodes another publisher stored already finishes and leaves the database answering (the test server deadlocks on a bulk of 100+ matching updates)', async () => {
    const s = await openStorage();
    const nodes = Array.from({ length: 150 }, (_, i) => ({ level: 1, index: i, hash: new Uint8Array(32).fill(i % 251) }));
    // Another publisher stored the same nodes and died (or is about to raise the integrated size).
    await db
      .collection<{ _id: string; hash: Binary }>(C.treeNodes)
      .insertMany(nodes.map((n) => ({ _id: `app-t/${n.level}/${n.index}`, hash: new Binary(n.hash) })));
    const deadline = (what: string) =>
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} got no answer within 20 s`)), 20_000).unref());
    await Promise.race([s.integrate('app-t', 0, 300, nodes), deadline('integrate')]);
    const stored = await Promise.race([s.getTreeNodes('app-t', [{ level: 1, index: 149 }]), deadline('a read after integrate')]);
    expect([...stored[0]!]).toEqual([...nodes[149]!.hash]);
    expect(await db.collection('integrated').findOne({ _id: 'app-t' as never })).toMatchObject({ size: 300 });
  });
});

/** A tree node whose hash tells its place, and a checkpoint of a log at a size (no tree behind either). */
const node = (level: number, index: number) => ({ level, index, hash: new Uint8Array(32).fill(level * 16 + index) });
const checkpoint = (app: string, treeSize: number) => ({
  sourceAppId: app,
  treeSize,
  rootHash: 'ab'.repeat(32),
  note: `note of ${app} at ${treeSize}`,
  publishedAt: 1_700_000_000_000 + treeSize,
});
/** The commands named `names` a storage (opened with `monitor`) sends from now on, as "command collection", in the order sent. */
function commandsOf(s: MongoStorage, names: readonly string[]): string[] {
  const seen: string[] = [];
  (s as unknown as { client: import('mongodb').MongoClient }).client.on('commandStarted', (e) => {
    if (names.includes(e.commandName)) seen.push(`${e.commandName} ${String(e.command[e.commandName])}`);
  });
  return seen;
}

describe('MongoStorage integrations of several logs at once', () => {
  const sizeOf = async (s: MongoStorage, app: string) =>
    (await db.collection<{ _id: string; size: number }>(C.integrated).findOne({ _id: app }))?.size ?? 0;
  const writes = (s: MongoStorage) => commandsOf(s, ['find', 'insert', 'update']);

  it('go in four commands whatever their number, each with the outcome it would have alone', async () => {
    const s = await openStorage({ monitor: true });
    await s.integrate('app-c', 0, 2, [node(1, 0)]);
    await s.integrate('app-d', 0, 2, [node(1, 0)]);
    const sent = writes(s);
    const outcomes = await Promise.allSettled([
      s.integrate('app-a', 0, 4, [node(1, 0), node(1, 1), node(2, 0)], checkpoint('app-a', 4)),
      s.integrate('app-b', 0, 2, [node(1, 0)], checkpoint('app-b', 2)),
      s.integrate('app-c', 0, 2, [], checkpoint('app-c', 2)), // stored already: only its checkpoint
      s.integrate('app-d', 4, 8, [node(1, 2), node(1, 3), node(2, 1), node(3, 0)], checkpoint('app-d', 8)), // a gap
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((outcomes[3] as PromiseRejectedResult).reason).toMatchObject({
      message: 'integrate: log app-d is integrated to 2, below 4; a gap would be left',
    });
    expect(sent).toEqual(['find integrated', 'insert tree_nodes', 'update integrated', 'insert checkpoints']);
    expect([await sizeOf(s, 'app-a'), await sizeOf(s, 'app-b'), await sizeOf(s, 'app-c'), await sizeOf(s, 'app-d')]).toEqual([
      4, 2, 2, 2,
    ]);
    for (const [app, size] of [
      ['app-a', 4],
      ['app-b', 2],
      ['app-c', 2],
    ] as const) {
      expect(await s.getCheckpoint(app)).toMatchObject({ treeSize: size, note: `note of ${app} at ${size}` });
    }
    expect(await s.getCheckpoint('app-d')).toBeNull();
    expect((await s.getTreeNodes('app-a', [{ level: 2, index: 0 }]))[0]).toEqual(node(2, 0).hash);
    await expect(s.getTreeNodes('app-d', [{ level: 1, index: 2 }])).rejects.toThrow(/not stored/);
    // One log twice in one turn: the second after the first, as if called later.
    await Promise.all([
      s.integrate('app-b', 2, 4, [node(1, 1), node(2, 0)], checkpoint('app-b', 4)),
      s.integrate('app-b', 4, 6, [node(1, 2)], checkpoint('app-b', 6)),
    ]);
    expect(await sizeOf(s, 'app-b')).toBe(6);
    expect((await s.listCheckpoints('app-b', null, 10, 'asc')).map((c) => c.treeSize)).toEqual([2, 4, 6]);
  });

  it('a bulk whose connection is lost fails only what cannot be done alone, and writes nothing past it', async () => {
    const cutter = await startTcpCutter(mongo.server.uri);
    try {
      const s = new MongoStorage({ uri: cutter.uri, dbName: mongo.dbName });
      opened.push(s);
      await s.init();
      const both = (command: string, collection: string) => [
        ...commandMarker(command, collection),
        Buffer.from('app-a'),
        Buffer.from('app-b'),
      ];
      const two = (size: number) =>
        Promise.allSettled([
          s.integrate('app-a', size - 2, size, [node(1, size / 2 - 1)], checkpoint('app-a', size)),
          s.integrate('app-b', size - 2, size, [node(1, size / 2 - 1)], checkpoint('app-b', size)),
        ]);
      // The nodes' bulk lost: both integrations fail, and neither size nor checkpoint is written.
      let cutting = cutter.cutRequests(both('insert', C.treeNodes));
      expect((await two(2)).map((o) => o.status)).toEqual(['rejected', 'rejected']);
      cutting.stop();
      expect(cutting.cuts).toBeGreaterThan(0);
      expect([await sizeOf(s, 'app-a'), await sizeOf(s, 'app-b')]).toEqual([0, 0]);
      expect([await s.getCheckpoint('app-a'), await s.getCheckpoint('app-b')]).toEqual([null, null]);
      // The sizes' bulk lost: each size is raised on its own, then the checkpoints stored.
      cutting = cutter.cutRequests(both('update', C.integrated));
      expect((await two(2)).map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
      cutting.stop();
      expect(cutting.cuts).toBeGreaterThan(0);
      expect([await sizeOf(s, 'app-a'), await sizeOf(s, 'app-b')]).toEqual([2, 2]);
      expect((await s.getCheckpoint('app-b'))?.treeSize).toBe(2);
      // The checkpoints' bulk lost: each stored on its own.
      cutting = cutter.cutRequests(both('insert', C.checkpoints));
      expect((await two(4)).map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
      cutting.stop();
      expect(cutting.cuts).toBeGreaterThan(0);
      expect((await s.getCheckpoint('app-a'))?.treeSize).toBe(4);
      expect((await s.getCheckpoint('app-b'))?.treeSize).toBe(4);
    } finally {
      await cutter.close();
    }
  });
});

describe('MongoStorage reads of several logs at once', () => {
  const id = (level: number, index: number) => ({ level, index });
  const reads = (s: MongoStorage) => commandsOf(s, ['find']);

  it("tree nodes asked for in one turn are read in one query per collection; a damaged leaf fails only its caller's read", async () => {
    const s = await openStorage({ monitor: true });
    const apps = ['app-a', 'app-b', 'app-c', 'app-d'];
    const events = await s.appendEvents(apps.flatMap((app) => newEvents(app, 0, 2)));
    await s.settled();
    for (const app of apps) await s.integrate(app, 0, 2, [node(1, 0)]);
    await db.collection(C.events).updateOne({ sourceAppId: 'app-d', seq: 1 }, { $set: { hash: 'not a hash' } });
    const sent = reads(s);
    const got = await Promise.allSettled(apps.map((app) => s.getTreeNodes(app, [id(1, 0), id(0, 1)])));
    expect(sent.sort()).toEqual(['find events', 'find tree_nodes']);
    expect(got.map((g) => g.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((got[3] as PromiseRejectedResult).reason).toBeInstanceOf(MalformedEventError);
    const leaf = (app: string) => events.find((e) => e.sourceAppId === app && e.seq === 1)!.hash;
    for (const [i, app] of apps.slice(0, 3).entries()) {
      const [inner, one] = (got[i] as PromiseFulfilledResult<Uint8Array[]>).value;
      expect(inner).toEqual(node(1, 0).hash);
      expect(Buffer.from(one!).toString('hex')).toBe(leaf(app));
    }
  });

  it('tree nodes asked for in one turn beyond a read of 1024 go in several reads, each caller answered in full', async () => {
    const s = await openStorage({ monitor: true });
    await s.integrate(
      'app-a',
      0,
      2400,
      Array.from({ length: 1200 }, (_, i) => node(1, i)),
    );
    const sent = reads(s);
    const ask = (from: number) => Array.from({ length: 600 }, (_, i) => id(1, from + i));
    const [first, second] = await Promise.all([s.getTreeNodes('app-a', ask(0)), s.getTreeNodes('app-a', ask(600))]);
    expect(sent).toEqual(['find tree_nodes', 'find tree_nodes']);
    expect(first.map((h) => h[0])).toEqual(ask(0).map((n) => node(1, n.index).hash[0]));
    expect(second.map((h) => h[0])).toEqual(ask(600).map((n) => node(1, n.index).hash[0]));
  });

  it('whole ranges of events asked for in one turn are one query; a range longer than its limit goes alone', async () => {
    const s = await openStorage({ monitor: true });
    const apps = ['app-a', 'app-b', 'app-c', 'app-d'];
    const stored = await s.appendEvents(apps.flatMap((app) => newEvents(app, 0, 6)));
    await s.settled();
    const sent = reads(s);
    const got = await Promise.all([...apps.map((app) => s.getEventRange(app, 1, 5, 100)), s.getEventRange('app-a', 0, 6, 2)]);
    expect(sent).toEqual(['find events', 'find events']);
    const of = (app: string) => stored.filter((e) => e.sourceAppId === app);
    expect(got).toEqual([...apps.map((app) => of(app).slice(1, 5)), of('app-a').slice(0, 2)]);
  });

  it("a recovery's logs behind are read ahead together (their trees, their events), and their integrations read no events", async () => {
    const s = await openStorage({ monitor: true });
    const apps = Array.from({ length: 12 }, (_, i) => `behind-${String(i).padStart(2, '0')}`);
    const first = await s.appendEvents(apps.flatMap((app) => chainedEvents(app, 5)));
    await Promise.all(apps.map((app) => new Integrator(s).integrate(app)));
    const lastOf = (app: string) => first.filter((e) => e.sourceAppId === app).at(-1)!.hash;
    await s.appendEvents(apps.flatMap((app) => chainedEvents(app, 3, 5, lastOf(app))));
    await s.settled();
    const heads = await s.listLogHeads(null, 100);
    const sent = reads(s);
    const integrator = new Integrator(s);
    expect(await integrator.readAhead(heads, 1_000)).toBe(apps.length);
    // The ranges of events, and the trees: their compact ranges' nodes and their last leaves (events).
    expect([...sent].sort()).toEqual(['find events', 'find events', 'find tree_nodes']);
    const before = sent.length;
    const trees = await Promise.all(heads.map((head) => integrator.integrate(head.sourceAppId, undefined, head)));
    expect(trees.map((t) => t.size)).toEqual(apps.map(() => 8));
    expect(sent.slice(before).filter((c) => c.endsWith(' events'))).toEqual([]);
  });

  it('latest checkpoints of many logs are three reads, and each log is read alone where those cannot tell', async () => {
    const s = await openStorage({ monitor: true });
    const apps = Array.from({ length: 20 }, (_, i) => `app-${String(i).padStart(2, '0')}`);
    for (const app of apps) await s.integrate(app, 0, 2, [node(1, 0)], checkpoint(app, 2));
    const sent = reads(s);
    expect(await s.getLatestCheckpoints(apps)).toEqual(apps.map((app) => checkpoint(app, 2)));
    expect(sent).toEqual(['find integrated', 'find checkpoints', 'find checkpoint_notes']);
    // Integrated past its latest checkpoint (a recovery, a quarantined log): still the three reads.
    await s.integrate('app-03', 2, 4, [node(1, 1), node(2, 0)]);
    sent.length = 0;
    expect(await s.getLatestCheckpoints(apps)).toEqual(apps.map((app) => checkpoint(app, 2)));
    expect(sent).toEqual(['find integrated', 'find checkpoints', 'find checkpoint_notes']);
    // No checkpoint of the sealed size (its store failed), or a document stored before sealed sizes
    // (its integrated size stands in): that log alone is read as getCheckpoint reads it.
    const integrated = db.collection<{ _id: string; size: number; sealed?: number }>(C.integrated);
    for (const change of [() => ({ $set: { sealed: 4 } }), () => ({ $unset: { sealed: '' as const } })]) {
      await integrated.updateOne({ _id: 'app-03' }, change());
      sent.length = 0;
      expect(await s.getLatestCheckpoints(apps)).toEqual(apps.map((app) => checkpoint(app, 2)));
      expect(sent.slice(3).sort()).toEqual(['find checkpoint_notes', 'find checkpoints']);
    }
    // Such a document gains its sealed size with its next sealed integration: three reads again.
    await s.integrate('app-03', 4, 6, [node(1, 2)], checkpoint('app-03', 6));
    sent.length = 0;
    expect((await s.getLatestCheckpoints(apps))[3]).toEqual(checkpoint('app-03', 6));
    expect(sent).toEqual(['find integrated', 'find checkpoints', 'find checkpoint_notes']);
    expect(await integrated.findOne({ _id: 'app-03' })).toMatchObject({ size: 6, sealed: 6 });
    // More checkpoints beyond the trees than a read takes (4 per log): every log is read alone, rightly.
    for (let size = 3; size < 3 + 4 * apps.length; size++) await s.putCheckpoint(checkpoint('app-07', size));
    sent.length = 0;
    const latest = await s.getLatestCheckpoints(apps);
    expect(latest[7]).toEqual(checkpoint('app-07', 2 + 4 * apps.length));
    expect(latest.filter((c, i) => i !== 7 && i !== 3)).toEqual(
      apps.filter((_, i) => i !== 7 && i !== 3).map((app) => checkpoint(app, 2)),
    );
    expect(sent.filter((c) => c === 'find checkpoints')).toHaveLength(1 + apps.length);
  });

  it('latest checkpoints: more note versions than a read takes (stored by hand) read each log alone, each with its newest note', async () => {
    const s = await openStorage({ monitor: true });
    const apps = ['app-a', 'app-b', 'app-c'];
    for (const app of apps) await s.integrate(app, 0, 2, [node(1, 0)], checkpoint(app, 2));
    // replaceCheckpointNote keeps 16 versions; by hand, 100 of app-b's: more than 3 logs' read takes (96).
    const note = (version: number) => `${checkpoint('app-b', 2).note}\u2014 w${version} AAAA\n`;
    await db.collection(C.checkpointNotes).insertMany(
      Array.from({ length: 100 }, (_, i) => ({
        _id: checkpointNoteKey('app-b', 2, i + 1) as never,
        sourceAppId: 'app-b',
        treeSize: 2,
        version: i + 1,
        note: note(i + 1),
        replaced: i === 0 ? checkpoint('app-b', 2).note : note(i),
      })),
    );
    const sent = reads(s);
    expect(await s.getLatestCheckpoints(apps)).toEqual([
      checkpoint('app-a', 2),
      { ...checkpoint('app-b', 2), note: note(100) },
      checkpoint('app-c', 2),
    ]);
    expect(sent.filter((c) => c === 'find checkpoint_notes')).toHaveLength(1 + apps.length);
  });

  it('a read of many logs whose connection is lost fails, and the next one answers (nodes, latest checkpoints, ranges of events)', async () => {
    const cutter = await startTcpCutter(mongo.server.uri);
    try {
      const s = new MongoStorage({ uri: cutter.uri, dbName: mongo.dbName });
      opened.push(s);
      await s.init();
      for (const app of ['app-a', 'app-b']) await s.integrate(app, 0, 2, [node(1, 0)], checkpoint(app, 2));
      const both = (collection: string) => [...commandMarker('find', collection), Buffer.from('app-a'), Buffer.from('app-b')];
      const nodes = () => Promise.allSettled(['app-a', 'app-b'].map((app) => s.getTreeNodes(app, [id(1, 0)])));
      let cutting = cutter.cutRequests(both(C.treeNodes));
      expect((await nodes()).map((o) => o.status)).toEqual(['rejected', 'rejected']);
      cutting.stop();
      expect(cutting.cuts).toBeGreaterThan(0);
      expect((await nodes()).map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
      cutting = cutter.cutRequests(both(C.checkpoints));
      await expect(s.getLatestCheckpoints(['app-a', 'app-b'])).rejects.toThrow();
      cutting.stop();
      expect(cutting.cuts).toBeGreaterThan(0);
      expect(await s.getLatestCheckpoints(['app-a', 'app-b'])).toEqual([checkpoint('app-a', 2), checkpoint('app-b', 2)]);
      // Whole ranges of events read together: every range of the lost query fails, the next read answers.
      const stored = await s.appendEvents([...newEvents('app-a', 0, 3), ...newEvents('app-b', 0, 3)]);
      await s.settled();
      const ranges = () => Promise.allSettled(['app-a', 'app-b'].map((app) => s.getEventRange(app, 0, 3, 3)));
      cutting = cutter.cutRequests(both(C.events));
      expect((await ranges()).map((o) => o.status)).toEqual(['rejected', 'rejected']);
      cutting.stop();
      expect(cutting.cuts).toBeGreaterThan(0);
      expect((await ranges()).map((o) => (o as PromiseFulfilledResult<StoredEvent[]>).value)).toEqual([
        stored.slice(0, 3),
        stored.slice(3, 6),
      ]);
    } finally {
      await cutter.close();
    }
  });
});

describe('MongoStorage hints of log heads', () => {
  it('a log written by every batch has its hint moved once per HINT_STRIDE batches; a process starting from it reads the head', async () => {
    const writer = await openStorage();
    const hint = () => db.collection<{ _id: string; size: number; g: number }>(C.logs).findOne({ _id: 'app-a' });
    const batches = 2 * HINT_STRIDE + 5;
    for (let i = 0; i < batches; i++) {
      // app-b rides along in the first batch only: its hint is inserted there and never moved.
      await writer.appendEvents([...newEvents('app-a', i, 1), ...(i === 0 ? newEvents('app-b', 0, 1) : [])]);
      await writer.settled();
    }
    // Inserted at g 1, moved at 1 + HINT_STRIDE and 1 + 2 * HINT_STRIDE; the head is at g = batches.
    expect(await hint()).toMatchObject({ g: 1 + 2 * HINT_STRIDE, size: 1 + 2 * HINT_STRIDE });
    expect(await db.collection(C.logs).findOne({ _id: 'app-b' as never })).toMatchObject({ g: 1, size: 1 });
    const other = await openStorage();
    expect(await other.getLogHead('app-a')).toMatchObject({ size: batches, headHash: newEvent('app-a', batches - 1).hash });
    // A log written again long after its hint moves at once.
    await writer.appendEvents(newEvents('app-b', 1, 1));
    await writer.settled();
    expect(await db.collection(C.logs).findOne({ _id: 'app-b' as never })).toMatchObject({ g: batches + 1, size: 2 });
    // And the other process, appending after it, goes on from the head it read.
    await other.appendEvents(newEvents('app-a', batches, 1));
    expect((await writer.getEventRange('app-a', batches - 1, batches + 1, 10)).map(key)).toEqual([
      `app-a/${batches - 1}`,
      `app-a/${batches}`,
    ]);
  });
});

describe('MongoStorage bodies of derived batches', () => {
  const bodies = () => db.collection<BatchBodyDoc>(C.batchBodies);

  it("a batch's body is deleted once it is derived, by its writer or by the process that derived a dead writer's batch", async () => {
    const writer = await openStorage();
    await writer.appendEvents([...newEvents('app-a', 0, 3), ...newEvents('app-b', 0, 2)]);
    await writer.appendEvents(newEvents('app-a', 3, 2));
    await writer.settled();
    expect(await bodies().countDocuments({})).toBe(0);
    expect(await db.collection<BatchDoc>(C.batches).countDocuments({ pending: true })).toBe(0);
    // A writer died after its claim: the next process derives its batch at start, then deletes its body.
    await insertPendingBatch(3, newEvents('app-a', 5, 2));
    expect(await bodies().countDocuments({})).toBe(1);
    const next = await openStorage();
    await next.settled();
    expect(await bodies().countDocuments({})).toBe(0);
    expect((await next.getEventRange('app-a', 0, 10, 10)).map(key)).toEqual([0, 1, 2, 3, 4, 5, 6].map((seq) => `app-a/${seq}`));
    expect((await next.getEventRange('app-b', 0, 10, 10)).map(key)).toEqual(['app-b/0', 'app-b/1']);
  });

  it('a reader that finds a pending batch derived and its body deleted meanwhile reads on, and a body still needed is never deleted', async () => {
    await insertPendingBatch(1, newEvents('app-a', 0, 3));
    // The reader's read of the body is held in a proxy until another process has derived the batch and
    // deleted its body.
    const gate = await startTcpGate(Number(new URL(mongo.server.uri).port), new URL(mongo.server.uri).hostname);
    try {
      const held = gate.hold(commandMarker('find', C.batchBodies)[0]!);
      const reader = new MongoStorage({ uri: `mongodb://127.0.0.1:${gate.port}/`, dbName: mongo.dbName });
      opened.push(reader);
      const starting = reader.init();
      await until('the reader to ask for the body', () => held.held === 1);
      // Until then the body is kept: the batch is still pending.
      expect(await bodies().countDocuments({})).toBe(1);
      const other = await openStorage();
      await other.settled();
      expect(await bodies().countDocuments({})).toBe(0);
      held.release();
      await starting;
      expect((await reader.getEventRange('app-a', 0, 10, 10)).map(key)).toEqual(['app-a/0', 'app-a/1', 'app-a/2']);
    } finally {
      await gate.close();
    }
  });

  it('a pending batch whose body is missing is still an error for its readers, not read as derived', async () => {
    await insertPendingBatch(1, newEvents('app-a', 0, 3));
    await bodies().deleteMany({});
    await expect(openStorage()).rejects.toThrow(/batch 1 has no body dead-1/);
  });

  it("a dead writer's body is derived in either form: one JSON text (as appends write it) or a document per event (earlier versions)", async () => {
    const writer = await openStorage({
      hooks: {
        afterClaim: async () => {
          throw new Error('the writer died after its claim');
        },
      },
    });
    await expect(writer.appendEvents(newEvents('app-a', 0, 2))).rejects.toThrow(/died/);
    const written = (await bodies().findOne({}))!;
    expect(typeof written.eventsJson).toBe('string');
    expect(written.events).toBeUndefined();
    await insertPendingBatch(2, newEvents('app-a', 2, 2), 'documents');
    await insertPendingBatch(3, newEvents('app-a', 4, 2), 'json');
    const reader = await openStorage();
    expect((await reader.getEventRange('app-a', 0, 10, 10)).map(key)).toEqual([0, 1, 2, 3, 4, 5].map((seq) => `app-a/${seq}`));
    expect(await db.collection<BatchDoc>(C.batches).countDocuments({ pending: true })).toBe(0);
    await reader.settled();
    expect(await bodies().countDocuments({})).toBe(0);
  });

  it('a damaged body (not JSON, or no list of events) leaves its batch pending and its readers failing, not reading on', async () => {
    await insertPendingBatch(1, newEvents('app-a', 0, 2), 'json');
    await bodies().updateOne({ _id: 'dead-1' }, { $set: { eventsJson: '[{"sourceAppId":' } });
    await expect(openStorage()).rejects.toThrow(/the body dead-1 of batch 1 is not JSON/);
    await bodies().updateOne({ _id: 'dead-1' }, { $set: { eventsJson: '{"events":[]}' } });
    await expect(openStorage()).rejects.toThrow(/the body dead-1 of batch 1 holds no list of events/);
    await bodies().updateOne({ _id: 'dead-1' }, { $unset: { eventsJson: '' } });
    await expect(openStorage()).rejects.toThrow(/the body dead-1 of batch 1 holds no list of events/);
    expect(await db.collection<BatchDoc>(C.batches).countDocuments({ pending: true })).toBe(1);
    expect(await bodies().countDocuments({})).toBe(1);
  });

  it('an erasure deletes the bodies still kept of the batches it erases in, and no other', async () => {
    const writer = await openStorage({
      hooks: {
        bodyDelete: async () => {
          throw Object.assign(new Error('connection reset (injected)'), { name: 'MongoNetworkError' });
        },
      },
    });
    // The start's housekeeping runs in the background; finished before the appends, it cannot take the
    // bodies this test keeps (on a loaded machine it could otherwise still be running).
    expect(await writer.collectBodies()).toBe(0);
    const v2 = (app: string, seq: number): NewEvent => ({
      ...newEvent(app, seq, { payload: { secret: `${app}-${seq}` } }),
      payloadSalt: 'ab'.repeat(32),
      payloadHash: 'cd'.repeat(32),
    });
    await writer.appendEvents([v2('app-a', 0), v2('app-a', 1)]);
    await writer.appendEvents([v2('app-b', 0)]);
    await writer.settled();
    expect(await bodies().countDocuments({})).toBe(2); // their deletes failed
    expect(await writer.eraseEvents([{ sourceAppId: 'app-a', seq: 1 }], 1_700_005_000_000, 'test')).toBe(1);
    const left = await bodies().find({}).toArray();
    expect(left.map((b) => b.eventsJson)).toEqual([expect.stringContaining('app-b-0')]);
    expect(JSON.stringify(await bodies().find({}).toArray())).not.toContain('app-a-1');
  });

  it('a body whose delete failed is kept, and collected at the next start', async () => {
    let failing = true;
    const writer = await openStorage({
      hooks: {
        bodyDelete: async (remove) => {
          if (failing) throw Object.assign(new Error('connection reset (injected)'), { name: 'MongoNetworkError' });
          await remove();
        },
      },
    });
    // As above: the start's own housekeeping is done before the append whose body this test keeps.
    expect(await writer.collectBodies()).toBe(0);
    await writer.appendEvents(newEvents('app-a', 0, 3));
    await writer.settled();
    expect(await bodies().countDocuments({})).toBe(1);
    // The append was acknowledged, and its events are there all the same.
    expect((await writer.getEventRange('app-a', 0, 10, 10)).map(key)).toEqual(['app-a/0', 'app-a/1', 'app-a/2']);
    failing = false;
    const next = await openStorage();
    expect(await next.collectBodies()).toBe(0); // the start's own collection deleted it
    expect(await bodies().countDocuments({})).toBe(0);
    // And a process that is running collects one the same way.
    failing = true;
    await writer.appendEvents(newEvents('app-a', 3, 2));
    await writer.settled();
    expect(await bodies().countDocuments({})).toBe(1);
    expect(await writer.collectBodies()).toBe(1);
    expect(await bodies().countDocuments({})).toBe(0);
  });
});

describe('MongoStorage bodies of appends that lost their claim', () => {
  /** Bodies no batch names. */
  async function unclaimedBodies(): Promise<string[]> {
    const tokens = new Set((await db.collection<BatchDoc>(C.batches).find({}).toArray()).map((b) => b.token));
    return (
      await db
        .collection<BatchBodyDoc>(C.batchBodies)
        .find({}, { projection: { _id: 1 } })
        .toArray()
    )
      .map((b) => b._id)
      .filter((id) => !tokens.has(id));
  }

  it('the writer deletes its own body once another append took its position', async () => {
    const ready = latch();
    const go = latch();
    const loser = await openStorage({
      hooks: {
        beforeClaim: async () => {
          ready.open();
          await go.wait;
        },
      },
    });
    const winner = await openStorage();
    const losing = loser
      .appendEvents(newEvents('app-b', 0, 3, () => ({ payload: { writer: 'loser' } })))
      .catch((e: unknown) => e);
    await ready.wait; // its body is in, its claim not yet made
    expect(await db.collection(C.batchBodies).countDocuments({})).toBe(1);
    await winner.appendEvents(newEvents('app-b', 0, 3, () => ({ payload: { writer: 'winner' } })));
    go.open();
    expect(await losing).toBeInstanceOf(AppendConflictError);
    expect(await unclaimedBodies()).toEqual([]);
    await winner.settled(); // and the winner's, once its batch is derived
    expect(await db.collection(C.batchBodies).countDocuments({})).toBe(0);
  });

  it('the writer deletes its own body when a void batch settled its lost reply as not committed', async () => {
    const storage = await openStorage({
      hooks: {
        claimInsert: async () => {
          throw Object.assign(new Error('connection reset (injected)'), { name: 'MongoNetworkError' });
        },
      },
    });
    await expect(storage.appendEvents([newEvent('app-a', 0)])).rejects.toThrow(/connection reset/);
    expect(await db.collection<BatchDoc>(C.batches).findOne({ _id: 1 })).toMatchObject({ void: true });
    expect(await db.collection(C.batchBodies).countDocuments({})).toBe(0);
  });

  it("a dead writer's body is collected once another append holds its position; open positions are kept", async () => {
    const body = (token: string, app: string, seq: number): BatchBodyDoc => ({
      _id: token,
      first: { app, seq },
      events: [newEvent(app, seq, { payload: { dead: token } })].map((e) => {
        const { pos: _pos, ...doc } = toEventDoc(e, 0);
        return doc;
      }),
    });
    const bodies = db.collection<BatchBodyDoc>(C.batchBodies);
    // Writers that inserted their bodies and died before their claims.
    await bodies.insertMany([body('dead-at-0', 'app-o', 0), body('dead-at-5', 'app-o', 5), body('dead-other-log', 'app-z', 0)]);
    const storage = await openStorage();
    // init's collection found nothing to delete: no position was held yet.
    expect(await storage.collectBodies()).toBe(0);
    await storage.appendEvents(newEvents('app-o', 0, 3));
    await storage.settled(); // the committed batch's own body is gone once it is derived
    expect(await storage.collectBodies()).toBe(1);
    const left = (await bodies.find({}, { projection: { _id: 1 } }).toArray()).map((b) => b._id);
    expect(left.sort()).toEqual(['dead-at-5', 'dead-other-log']);
    // A process that starts later collects the same way.
    await storage.appendEvents(newEvents('app-o', 3, 3));
    const next = await openStorage();
    expect(await next.collectBodies()).toBe(0);
    expect((await bodies.find({}, { projection: { _id: 1 } }).toArray()).map((b) => b._id)).not.toContain('dead-at-5');
    expect((await storage.getEventRange('app-o', 0, 10, 10)).map(key)).toEqual([
      'app-o/0',
      'app-o/1',
      'app-o/2',
      'app-o/3',
      'app-o/4',
      'app-o/5',
    ]);
  });
});

describe('MongoStorage read and write concerns', () => {
  it('a replica set or sharded cluster gets majority reads and majority, journaled writes; a standalone w: 1 and local', () => {
    for (const hello of [{ setName: 'rs0' }, { msg: 'isdbgrid' }]) {
      expect(deploymentOf(hello, {})).toMatchObject({ writeConcern: { w: 'majority', journal: true }, readConcern: 'majority' });
    }
    expect(deploymentOf({}, {})).toMatchObject({
      topology: 'standalone',
      writeConcern: { w: 1, journal: true },
      readConcern: 'local',
    });
  });

  it("on a replica set, every command of the engine's documents asks for majority on the wire", async () => {
    const uri = `${mongo.server.uri}${mongo.server.uri.includes('?') ? '&' : '?'}monitorCommands=true`;
    // The test server is a standalone: it stands in for a replica set's member here.
    const s = new MongoStorage({ uri, dbName: mongo.dbName, deployment: deploymentOf({ setName: 'rs0' }, {}) });
    opened.push(s);
    const commands: CommandStartedEvent[] = [];
    (s as unknown as { client: import('mongodb').MongoClient }).client.on('commandStarted', (e) => commands.push(e));
    await s.init();
    await s.appendEvents(newEvents('app-c', 0, 3));
    await s.appendEvents(newEvents('app-c', 3, 2));
    await s.getEvent('app-c', 1);
    await s.getEventRange('app-c', 0, 5, 10);
    await s.readCommitted(0, {}, 10);
    await s.queryEvents({ filter: { sourceAppIds: ['app-c'] }, direction: 'asc', limit: 10 });
    await s.getLogHead('app-c');
    await s.listLogHeads(null, 10);
    await s.integrate('app-c', 0, 5, [{ level: 1, index: 0, hash: new Uint8Array(32) }]);
    await s.putCheckpoint({ sourceAppId: 'app-c', treeSize: 5, rootHash: 'ab'.repeat(32), note: 'n', publishedAt: 1 });
    expect(await s.replaceCheckpointNote('app-c', 5, 'n', 'n2')).toBe(true);
    await s.getCheckpoint('app-c');
    await s.collectBodies();
    await s.getTreeNodes('app-c', [{ level: 1, index: 0 }]);
    await s.raiseErasuresAppliedBelow(2, [['app-c', 1]]);
    expect(await s.erasuresAppliedBelow()).toBe(2);
    expect(await s.erasureListings('app-c', 0, 2, 10)).toEqual([1]);
    await s.coordination!.claimVerifierKey('key');
    expect(await s.coordination!.claimVerifierKey('another')).toBe('key');
    const lease = await s.coordination!.leases.tryAcquire('log:app-c', 'me', 1000);
    await s.coordination!.leases.release(lease!);

    const engine = new Set<string>([...Object.values(C), 'meta']);
    const on = (e: CommandStartedEvent) => String(e.command[e.commandName]);
    const reads = commands.filter((e) => ['find', 'aggregate', 'count', 'distinct'].includes(e.commandName) && engine.has(on(e)));
    const writes = commands.filter(
      (e) => ['insert', 'update', 'delete', 'findAndModify'].includes(e.commandName) && on(e) !== 'system.indexes',
    );
    // Every collection of the engine's documents is read and written above, and the leases are written.
    expect(new Set(reads.map(on))).toEqual(engine);
    for (const e of reads) expect({ [on(e)]: e.command.readConcern }).toEqual({ [on(e)]: { level: 'majority' } });
    expect(new Set(writes.map(on))).toEqual(new Set([...engine, 'leases']));
    for (const e of writes) expect({ [on(e)]: e.command.writeConcern }).toEqual({ [on(e)]: { w: 'majority', j: true } });
  });
});
