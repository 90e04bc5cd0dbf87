// Leases on the MongoDB engine (FerretDB here): one winner per fence, even when acquisitions race.
import { MongoBulkWriteError, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStorage } from '../../../src/storage/mongodb/mongo-storage.js';
import { StorageUnavailableError, type LeaseStore } from '../../../src/storage/types.js';
import { freshDbName, startMongoTestServer } from '../../support/mongo-test-server.js';
import { commandMarker, startTcpCutter } from '../../support/tcp-cutter.js';
import { until } from '../../support/wait.js';

let server: Awaited<ReturnType<typeof startMongoTestServer>>;
const opened: MongoStorage[] = [];
let dbName: string;

async function leases(db = dbName): Promise<LeaseStore> {
  const storage = new MongoStorage({ uri: server.uri, dbName: db });
  await storage.init();
  opened.push(storage);
  return storage.coordination!.leases;
}

/**
 * Makes the server refuse, document by document, a lease whose expiry is infinite: a real per-document
 * refusal that is not a duplicate. The test server refuses infinite values itself (code 2); a real
 * MongoDB is told to by a validator (code 121; the test server does not implement collMod).
 */
async function refuseInfiniteExpiries(client: MongoClient, db: string): Promise<void> {
  await client
    .db(db)
    .command({ collMod: 'leases', validator: { expiresAt: { $lt: 1e300 } } })
    .catch(() => undefined);
}

beforeAll(async () => {
  server = await startMongoTestServer();
  dbName = freshDbName();
});

/**
 * A turn of lease calls (`turn`) on a store whose connection is cut at every `command` on `leases`
 * while the turn runs: every call of the turn is rejected with StorageUnavailableError (nothing is
 * acknowledged). `before` runs first and `after` last on the same store, the connection whole; `db`
 * is the database the store uses.
 */
async function cutDuringTurn<S>(
  command: 'insert' | 'update',
  steps: {
    before: (store: LeaseStore) => Promise<S>;
    turn: (store: LeaseStore, state: S) => Array<Promise<unknown>>;
    after: (store: LeaseStore, state: S, db: string) => Promise<void>;
  },
): Promise<void> {
  const cutter = await startTcpCutter(server.uri);
  const db = freshDbName();
  const storage = new MongoStorage({ uri: cutter.uri, dbName: db });
  try {
    await storage.init();
    const store = storage.coordination!.leases;
    const state = await steps.before(store);
    const cutting = cutter.cutRequests(commandMarker(command, 'leases'));
    const results = await Promise.allSettled(steps.turn(store, state));
    cutting.stop();
    expect(cutting.cuts).toBeGreaterThan(0);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StorageUnavailableError);
    }
    await steps.after(store, state, db);
  } finally {
    await storage.close();
    await cutter.close();
  }
}
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await server.stop();
});

describe('MongoDB leases', () => {
  it('has one holder at a time, hands over on release with a higher fence, and renews only while held', async () => {
    const [a, b] = [await leases(), await leases()];
    const held = await a.tryAcquire('l1', 'A', 10_000);
    expect(held).toMatchObject({ name: 'l1', owner: 'A', fence: 1 });
    expect(await b.tryAcquire('l1', 'B', 10_000)).toBeNull();
    expect(await a.tryAcquire('l1', 'A', 10_000)).toMatchObject({ fence: 1 }); // re-entrant for its holder
    expect(await a.renew(held!, 10_000)).toBe(true);
    await a.release(held!);
    const next = await b.tryAcquire('l1', 'B', 10_000);
    expect(next).toMatchObject({ owner: 'B', fence: 2 });
    expect(await a.renew(held!, 10_000)).toBe(false);
  });

  it('lets another owner take an expired lease, after which the old holder cannot renew', async () => {
    const [a, b] = [await leases(), await leases()];
    const old = await a.tryAcquire('l2', 'A', 50);
    const taken = await until('the 50 ms lease to expire and pass to B', () => b.tryAcquire('l2', 'B', 10_000));
    expect(taken).toMatchObject({ owner: 'B', fence: old!.fence + 1 });
    expect(await a.renew(old!, 10_000)).toBe(false);
  });

  it('gives a racing acquisition exactly one winner', async () => {
    const stores = await Promise.all(Array.from({ length: 6 }, () => leases()));
    const results = await Promise.all(stores.map((s, i) => s.tryAcquire('l3', `P${i}`, 10_000)));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });

  it('tells the holder, for many leases in one read, which turn (fence) someone else waits to follow', async () => {
    const [a, b] = [await leases(), await leases()];
    await a.tryAcquire('l4', 'A', 10_000);
    await a.tryAcquire('l5', 'A', 10_000);
    expect(await a.waitingFor(['l4', 'l5'], 'A')).toEqual(new Map());
    await a.request('l4', 'A'); // its own request does not count
    expect(await a.waitingFor(['l4', 'l5'], 'A')).toEqual(new Map());
    await b.request('l4', 'B');
    expect(await a.waitingFor(['l4', 'l5'], 'A')).toEqual(new Map([['l4', 1]]));
    // A request names the newest fence when it is made, whatever the clocks say.
    await a.release((await a.tryAcquire('l4', 'A', 10_000))!);
    await a.tryAcquire('l4', 'A', 10_000); // fence 2
    expect(await a.waitingFor(['l4'], 'A')).toEqual(new Map([['l4', 1]]));
    await b.request('l4', 'B');
    expect(await a.waitingFor(['l4'], 'A')).toEqual(new Map([['l4', 2]]));
    expect(await a.waitingFor([], 'A')).toEqual(new Map());
  });

  it('answers each lease asked for in one turn on its own: where some of the batch lose, exactly those are refused', async () => {
    const stores = await Promise.all(Array.from({ length: 4 }, () => leases()));
    const held = (await stores[0]!.tryAcquire('m1', 'P0', 10_000))!;
    const names = ['m1', 'm2', 'm3', 'm4'];
    // Every store asks for every lease in one turn (one read, one unordered insert each): per lease
    // exactly one winner, whichever of the others each store won or lost.
    const results = await Promise.all(stores.map((s, i) => Promise.all(names.map((n) => s.tryAcquire(n, `P${i}`, 10_000)))));
    names.forEach((name, j) => {
      expect(
        results.filter((r) => r[j] !== null),
        name,
      ).toHaveLength(1);
    });
    expect(results[0]![0]).toMatchObject({ owner: 'P0', fence: held.fence }); // its holder keeps m1
    for (const r of results.slice(1)) expect(r[0]).toBeNull();

    // Renewals of one turn: the lease still held renews, the one taken over after it expired and the
    // released one do not.
    const s = stores[1]!;
    const kept = (await s.tryAcquire('m5', 'P1', 10_000))!;
    const expired = (await s.tryAcquire('m6', 'P1', 50))!;
    const released = (await s.tryAcquire('m7', 'P1', 10_000))!;
    await s.release(released);
    await until('m6 to expire and pass to P2', () => stores[2]!.tryAcquire('m6', 'P2', 10_000));
    expect(await Promise.all([s.renew(kept, 10_000), s.renew(expired, 10_000), s.renew(released, 10_000)])).toEqual([
      true,
      false,
      false,
    ]);
    // The bulk's update names a fence by its _id alone, so it moved the released fence's expiry too:
    // that fence is still free to take.
    expect(await stores[3]!.tryAcquire('m7', 'P3', 10_000)).toMatchObject({ owner: 'P3', fence: released.fence + 1 });
    expect(await s.tryAcquire('m5', 'P3', 10_000)).toBeNull();
  });
});

describe('MongoDB leases: one name asked for twice in one turn', () => {
  it('gives two owners exactly one winner, and one owner the same fence both times', async () => {
    const [s, other] = [await leases(), await leases()];
    for (let i = 0; i < 10; i++) {
      // Two owners of one process: the first ask takes the fence in the turn's insert, the second is
      // served on its own and loses it.
      const rivals = await Promise.all([s.tryAcquire(`t${i}`, 'A', 10_000), s.tryAcquire(`t${i}`, 'B', 10_000)]);
      expect(
        rivals.filter((r) => r !== null),
        `t${i}`,
      ).toHaveLength(1);
      expect(rivals.find((r) => r !== null)).toMatchObject({ fence: 1 });
      // One owner twice: both asks hold the lease it took, whichever read came first.
      const twice = await Promise.all([s.tryAcquire(`u${i}`, 'A', 10_000), s.tryAcquire(`u${i}`, 'A', 10_000)]);
      expect(twice, `u${i}`).toEqual([
        expect.objectContaining({ owner: 'A', fence: 1 }),
        expect.objectContaining({ owner: 'A', fence: 1 }),
      ]);
      expect(await other.tryAcquire(`u${i}`, 'C', 10_000)).toBeNull();
      // One owner again in the next turn, while the first turn's insert is in flight.
      const first = s.tryAcquire(`v${i}`, 'A', 10_000);
      await new Promise<void>((resolve) => setImmediate(resolve));
      const next = await Promise.all([first, s.tryAcquire(`v${i}`, 'A', 10_000)]);
      expect(next, `v${i}`).toEqual([
        expect.objectContaining({ owner: 'A', fence: 1 }),
        expect.objectContaining({ owner: 'A', fence: 1 }),
      ]);
    }
  });
});

describe('MongoDB leases: renewals of one turn', () => {
  it('renews more leases than one bulk holds, a fence asked twice included, each to its new expiry', async () => {
    const db = freshDbName();
    const s = await leases(db);
    const names = Array.from({ length: 20 }, (_, i) => `r${i}`);
    const held = (await Promise.all(names.map((n) => s.tryAcquire(n, 'P', 10_000)))).map((l) => l!);
    const before = Date.now();
    const renewed = await Promise.all([...held.map((l) => s.renew(l, 600_000)), s.renew(held[0]!, 600_000)]);
    expect(renewed).toEqual(Array.from({ length: 21 }, () => true));
    const client = new MongoClient(server.uri);
    try {
      const stored = await client.db(db).collection('leases').find({}).toArray();
      expect(stored).toHaveLength(20);
      for (const d of stored) expect(d.expiresAt as number).toBeGreaterThanOrEqual(before + 600_000);
    } finally {
      await client.close();
    }
  });

  it('answers yes in a bulk with a refused renewal only for the leases whose expiry it set', async () => {
    const db = freshDbName();
    const s = await leases(db);
    const names = ['v1', 'v2', 'v3'];
    const held = (await Promise.all(names.map((n) => s.tryAcquire(n, 'P', 10_000)))).map((l) => l!);
    const client = new MongoClient(server.uri);
    try {
      // The test server skips the updates after a refused one and numbers its error wrongly. Every
      // lease stays ours and unreleased, so only the stored expiries tell.
      await refuseInfiniteExpiries(client, db);
      const before = Date.now();
      const renewed = await Promise.all([s.renew(held[0]!, 600_000), s.renew(held[1]!, Infinity), s.renew(held[2]!, 600_000)]);
      expect(renewed[1]).toBe(false);
      const stored = await client.db(db).collection('leases').find({}).sort({ name: 1 }).toArray();
      expect(stored.map((d) => d.name)).toEqual(names);
      stored.forEach((d, k) => {
        if (k === 1) return;
        // Yes exactly when the update landed: a lease answered yes that is not renewed would be held past its term.
        expect(renewed[k], `${names[k]}`).toBe((d.expiresAt as number) >= before + 600_000);
      });
    } finally {
      await client.close();
    }
  });

  it('rejects every renewal of the turn when the connection is lost during the bulk update, and a later turn renews them', async () => {
    await cutDuringTurn('update', {
      before: async (store) =>
        (await Promise.all(['u1', 'u2', 'u3'].map((n) => store.tryAcquire(n, 'P', 10_000)))).map((l) => l!),
      turn: (store, held) => held.map((l) => store.renew(l, 10_000)),
      after: async (store, held) => {
        expect(await Promise.all(held.map((l) => store.renew(l, 10_000)))).toEqual([true, true, true]);
      },
    });
  });
});

describe('MongoDB leases: failures of a batched acquisition', () => {
  it('rejects only the caller whose fence the server refused, and gives the others of the turn their leases', async () => {
    const db = freshDbName();
    const storage = new MongoStorage({ uri: server.uri, dbName: db });
    await storage.init();
    opened.push(storage);
    const { leases: store } = storage.coordination!;
    const client = new MongoClient(server.uri);
    try {
      await refuseInfiniteExpiries(client, db);
      // One turn: one read of the newest fences, one unordered insert of three fences.
      const [a, bad, c] = await Promise.allSettled([
        store.tryAcquire('f1', 'P', 10_000),
        store.tryAcquire('f2', 'P', Infinity),
        store.tryAcquire('f3', 'P', 10_000),
      ]);
      expect(a).toMatchObject({ status: 'fulfilled', value: { name: 'f1', owner: 'P', fence: 1 } });
      expect(c).toMatchObject({ status: 'fulfilled', value: { name: 'f3', owner: 'P', fence: 1 } });
      expect(bad.status).toBe('rejected');
      expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(MongoBulkWriteError);
      // Only the refused fence is missing; the lease is free for the next ask.
      const stored = await client
        .db(db)
        .collection('leases')
        .find({}, { projection: { _id: 1 } })
        .toArray();
      expect(stored.map((d) => d._id).sort()).toEqual(['f1#1', 'f3#1']);
      expect(await store.tryAcquire('f2', 'P', 10_000)).toMatchObject({ name: 'f2', fence: 1 });
    } finally {
      await client.close();
    }
  });

  it('rejects every caller of the turn when the connection is lost during the batched insert, and acknowledges none', async () => {
    const names = ['g1', 'g2', 'g3'];
    // Nothing acknowledged: no caller believes it holds a lease, each is told the database is out of reach.
    await cutDuringTurn('insert', {
      before: async () => undefined,
      turn: (store) => names.map((n) => store.tryAcquire(n, 'P', 10_000)),
      after: async (store, _, db) => {
        // Whether or not the fences landed, each lease has one holder afterwards: P (asking again) gets
        // them, at fence 1 (landed: renewed; or inserted now), and another owner is refused them.
        expect(await Promise.all(names.map((n) => store.tryAcquire(n, 'P', 10_000)))).toMatchObject([
          { owner: 'P', fence: 1 },
          { owner: 'P', fence: 1 },
          { owner: 'P', fence: 1 },
        ]);
        const other = await leases(db);
        expect(await Promise.all(names.map((n) => other.tryAcquire(n, 'Q', 10_000)))).toEqual([null, null, null]);
      },
    });
  });
});
