// Per-log sequencer leases between processes sharing one database (the MongoDB engine on the
// FerretDB test server): writers of different logs never wait, a waiting writer gets the lease from
// an idle holder, two writers that each hold what the other needs both get through, and a writer
// whose lease was taken over during its commit waits for its next turn instead of racing the new
// holder. (The embedded engine has one writer and no leases: soleWriter.)
import { afterEach, describe, expect, it } from 'vitest';
import { LogLeaseGate, logLeaseName } from '../../src/log/commit-gate.js';
import { Sequencer } from '../../src/log/sequencer.js';
import type { AppendRequest } from '../../src/log/service.js';
import { MongoStorage, type MongoStorageHooks } from '../../src/storage/mongodb/mongo-storage.js';
import { useMongoTestDatabase } from '../support/mongo-test-server.js';
import { deferred, until } from '../support/wait.js';

const mongo = useMongoTestDatabase();
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
  await mongo.client.db(mongo.dbName).dropDatabase();
});

/** `skewMs`: this process's clock runs that far ahead (negative: behind), for its leases and its gate. */
async function gate(owner: string, maxWaitMs = 10_000, skewMs = 0): Promise<LogLeaseGate> {
  const now = () => Date.now() + skewMs;
  const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName, now });
  await storage.init();
  opened.push(storage);
  const g = new LogLeaseGate(storage.coordination!, owner, 5_000, maxWaitMs, now);
  opened.push(g);
  return g;
}

/** A storage whose clock the test moves (`clock.at`), its lease store, and that store's own `renew`. */
async function clockedStorage() {
  const clock = { at: Date.now() };
  const now = () => clock.at;
  const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName, now });
  await storage.init();
  opened.push(storage);
  const leases = storage.coordination!.leases;
  return { clock, now, storage, leases, renew: leases.renew.bind(leases) };
}

const fencesOf = async (log: string) =>
  (
    await mongo.client
      .db(mongo.dbName)
      .collection('leases')
      .find({ name: logLeaseName(log) })
      .toArray()
  )
    .map((d) => d.fence)
    .sort();

describe('LogLeaseGate', () => {
  it('lets writers of different logs commit at once, without asking each other for anything', async () => {
    const [p1, p2] = [await gate('P1'), await gate('P2')];
    for (let round = 0; round < 5; round++) {
      const [f1, f2] = await Promise.all([p1.enter(['a', 'b']), p2.enter(['c'])]);
      expect(p1.turn!.fences).toEqual(
        new Map([
          ['a', 1],
          ['b', 1],
        ]),
      );
      expect(p2.turn!.fences).toEqual(new Map([['c', 1]]));
      // Only the first turn on each log finds it possibly changed by someone else.
      expect([...f1].sort()).toEqual(round === 0 ? ['a', 'b'] : []);
      expect([...f2]).toEqual(round === 0 ? ['c'] : []);
      await Promise.all([p1.leave(), p2.leave()]);
    }
    expect(await fencesOf('a')).toEqual([1]);
    expect(await fencesOf('c')).toEqual([1]);
    expect(await mongo.client.db(mongo.dbName).collection('lease_requests').countDocuments()).toBe(0);
  });

  it("hands an idle holder's lease to a writer that asks, which then reloads the head; the first holder gets it back", async () => {
    const [p1, p2] = [await gate('P1'), await gate('P2')];
    await p1.enter(['a']);
    await p1.leave();
    const t0 = Date.now();
    const fresh = await p2.enter(['a']); // P1 stays idle: its poller hands the lease over
    expect(Date.now() - t0).toBeLessThan(2_500); // well before the 5 s lease would expire
    expect(p2.turn!.fences.get('a')).toBe(2);
    expect([...fresh]).toEqual(['a']);
    await p2.leave();
    expect([...(await p1.enter(['a']))]).toEqual(['a']);
    expect(p1.turn!.fences.get('a')).toBe(3);
    await p1.leave();
  });

  it("hands an idle holder's lease to a writer whose clock runs 10 s behind (a request names a fence, not a time)", async () => {
    const [p1, p2] = [await gate('P1'), await gate('P2', 30_000, -10_000)];
    await p1.enter(['a']);
    await p1.leave();
    const t0 = Date.now();
    await p2.enter(['a']); // by P2's clock P1's lease runs 15 s more: only a hand-off gets it sooner
    expect(p2.turn!.fences.get('a')).toBe(2);
    expect(Date.now() - t0).toBeLessThan(4_000);
    await p2.leave();
  });

  it('after handing a lease over and getting the very next fence back, knows nobody else wrote', async () => {
    const [p1, p2] = [await gate('P1'), await gate('P2')];
    await p1.enter(['a']);
    await p1.leave();
    // P2 asks, P1 releases, but P2 gives up before taking it.
    await mongo.client
      .db(mongo.dbName)
      .collection('lease_requests')
      .insertOne({ _id: logLeaseName('a') as never, owner: 'P2', fence: 1 });
    const leases = mongo.client.db(mongo.dbName).collection('leases');
    await until(
      'P1 to hand its lease over',
      async () => (await leases.findOne({ name: logLeaseName('a'), fence: 1 }))?.released === true,
    );
    expect(await p1.enter(['a'])).toEqual(new Set());
    expect(p1.turn!.fences.get('a')).toBe(2);
    await p1.leave();
    void p2;
  });

  it('gets two writers through when each holds a log the other needs', async () => {
    const [p1, p2] = [await gate('P1'), await gate('P2')];
    await p1.enter(['a']);
    await p2.enter(['b']);
    // Both now want both; each holds one (its poller is paused while it is inside enter).
    const both = async (g: LogLeaseGate) => {
      await g.enter(['a', 'b']);
      const fences = g.turn!.fences;
      await new Promise((r) => setTimeout(r, 20)); // the turn's work: each holds both for a while
      await g.leave();
      return fences;
    };
    const [f1, f2] = await Promise.all([both(p1), both(p2)]);
    expect(f1.size).toBe(2);
    expect(f2.size).toBe(2);
    // One after the other: the later turn has higher fences on both logs.
    const later = f1.get('a')! > f2.get('a')! ? f1 : f2;
    const earlier = later === f1 ? f2 : f1;
    expect(later.get('b')!).toBeGreaterThan(earlier.get('b')!);
  });

  it('goes ahead without a lease it could not get within maxWaitMs, counting the log as changed', async () => {
    const [p1, p2] = [await gate('P1'), await gate('P2', 600)];
    await p1.enter(['a']); // inside its turn: it does not hand over
    const fresh = await p2.enter(['a', 'b']);
    expect([...fresh].sort()).toEqual(['a', 'b']);
    expect(p2.turn!.fences).toEqual(new Map([['b', 1]])); // b held, a not
    expect(p1.turn!.fences).toEqual(new Map([['a', 1]])); // still p1's lease
    await Promise.all([p1.leave(), p2.leave()]);
  });

  it('keeps a lease its idle hand-off was about to release once a turn has begun on it', async () => {
    const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName });
    await storage.init();
    opened.push(storage);
    const leases = storage.coordination!.leases;
    // Hold the idle poller inside its look for waiting processes, and the turn inside taking log b. Once
    // armed, the poller's every look waits (the poller ticks on while one is held); a look that began
    // before then has ended before P2 asks for a, so none can hand a over ahead of the turn.
    const held = () => {
      const called = deferred();
      const go = deferred();
      return { called: called.promise, release: () => go.resolve(), enter: () => (called.resolve(), go.promise) };
    };
    const poll = held();
    const take = held();
    const waitingFor = leases.waitingFor.bind(leases);
    const tryAcquire = leases.tryAcquire.bind(leases);
    let hooked = false;
    let looking = 0; // looks begun before the hook
    leases.waitingFor = async (...args) => {
      if (hooked) {
        await poll.enter();
        return waitingFor(...args);
      }
      looking++;
      try {
        return await waitingFor(...args);
      } finally {
        looking--;
      }
    };
    let taking = true;
    leases.tryAcquire = async (name, ...rest) => {
      if (hooked && taking && name === logLeaseName('b')) {
        taking = false;
        await take.enter();
      }
      return tryAcquire(name, ...rest);
    };
    const p1 = new LogLeaseGate(storage.coordination!, 'P1', 5_000, 10_000);
    opened.push(p1);
    const p2 = await gate('P2');
    await p1.enter(['a']);
    await p1.leave();
    hooked = true;
    await until('no unhooked look in flight', () => looking === 0);
    await storage.coordination!.leases.request(logLeaseName('a'), 'P2'); // P2 waits for a
    await poll.called; // P1's poller is asking who waits
    const turn = p1.enter(['a', 'b']); // a is held; b is being taken
    await take.called;
    poll.release(); // the poller learns P2 asked for a, while the turn counts a as held
    await new Promise((r) => setImmediate(r));
    take.release();
    await turn;
    expect(p1.turn!.fences.get('a')).toBeGreaterThan(0);
    expect(p1.turn!.fences.get('b')).toBe(1);
    await p1.leave(); // hands a over now, between turns
    await p2.enter(['a']);
    expect(p2.turn!.fences.get('a')).toBe(2);
    await p2.leave();
  });

  it('counts a renewed lease from before the renewal was sent, as the database does', async () => {
    const { clock, now, storage, leases, renew } = await clockedStorage();
    // The renewal's answer comes back 4 s after it was sent (a slow database, a busy event loop).
    leases.renew = async (...args) => {
      const renewed = await renew(...args);
      clock.at += 4_000;
      return renewed;
    };
    const p1 = new LogLeaseGate(storage.coordination!, 'P1', 5_000, 10_000, now);
    opened.push(p1);
    const sent = clock.at;
    await p1.enter(['a']);
    expect(await p1.confirm(['a'])).toBe(true);
    const stored = await mongo.client
      .db(mongo.dbName)
      .collection('leases')
      .findOne({ name: logLeaseName('a') });
    expect(stored!.expiresAt).toBe(sent + 5_000);
    clock.at = sent + 5_001; // past the stored term: another process may take the lease now
    expect(p1.holds('a')).toBe(false);
    await p1.leave();
  });

  it('renews every held lease during a turn once one is due, so their renewals go together', async () => {
    const { clock, now, storage, leases, renew } = await clockedStorage();
    const renewed: string[] = [];
    leases.renew = (lease, ttlMs) => {
      renewed.push(lease.name);
      return renew(lease, ttlMs);
    };
    const p1 = new LogLeaseGate(storage.coordination!, 'P1', 5_000, 10_000, now);
    opened.push(p1);
    await p1.enter(['a']);
    await p1.leave();
    clock.at += 1_000;
    await p1.enter(['a', 'b']); // a is kept (4 s left), b is taken: their terms end 1 s apart
    expect(renewed).toEqual([]);
    clock.at += 1_600; // a is in the second half of its term, b is not
    await until('the poller to renew the due lease', () => renewed.includes(logLeaseName('a')));
    expect(renewed.sort()).toEqual([logLeaseName('a'), logLeaseName('b')]);
    // Their terms now end together, counted from the same renewal.
    const expiries = async () =>
      (await mongo.client.db(mongo.dbName).collection('leases').find({}).toArray()).map((d) => d.expiresAt as number);
    await until('both terms to be renewed', async () => (await expiries()).every((e) => e === clock.at + 5_000));
    await p1.leave();
  });

  it('tells a turn still held from one another process took over, by its fences in the database', async () => {
    const p1 = await gate('P1');
    const p2 = await gate('P2', 10_000, 10_000); // its clock 10 s ahead: P1's 5 s lease is over by it
    await p1.enter(['a', 'b']);
    expect(await p1.confirm(['a', 'b'])).toBe(true);
    await p2.enter(['b']);
    expect(p2.turn!.fences.get('b')).toBe(2);
    expect(await p1.confirm(['a'])).toBe(true);
    expect(await p1.confirm(['a', 'b'])).toBe(false);
    await Promise.all([p1.leave(), p2.leave()]);
  });

  it('after its lease is taken over mid-commit, appends in its next turn instead of racing the new holder', async () => {
    // P1 commits with the true clock; P2's clock runs 10 s ahead, so by P2's clock P1's 5 s lease is
    // over, as it is when a commit outlasts the lease. While P1's turn on `a` is the one it began
    // with, each of its claims lets P2 append first: retried in that turn, P1 would lose every try
    // and answer UNAVAILABLE (contended).
    const race: { p1Gate?: LogLeaseGate; p2Seq?: Sequencer; firstFence?: number } = {};
    let p2Appends = 0;
    const hooks: MongoStorageHooks = {
      beforeClaim: async () => {
        const fence = race.p1Gate?.turn?.fences.get('a');
        if (race.firstFence === undefined || fence !== race.firstFence) return;
        p2Appends++;
        await race.p2Seq!.append([request(`p2-${p2Appends}`)]);
      },
    };
    const open = async (owner: string, skewMs: number, withHooks: boolean) => {
      const now = () => Date.now() + skewMs;
      const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName, now, ...(withHooks && { hooks }) });
      await storage.init();
      opened.push(storage);
      const g = new LogLeaseGate(storage.coordination!, owner, 5_000, 10_000, now);
      opened.push(g);
      return { storage, gate: g, seq: new Sequencer(storage, () => undefined, now, g) };
    };
    const p1 = await open('P1', 0, true);
    const p2 = await open('P2', 10_000, false);
    race.p1Gate = p1.gate;
    race.p2Seq = p2.seq;
    await p1.seq.append([request('p1-first')]);
    race.firstFence = 1; // the log's first lease, which P1 keeps between its turns
    const [second] = await p1.seq.append([request('p1-second')]);
    expect(p2Appends).toBe(1); // P2 appended once, in P1's first turn; P1's next turn was its own
    expect(second!.seq).toBe(2);
    const events = await p1.storage.getEventRange('a', 0, 10, 10);
    expect(events.map((e) => e.idempotencyKey)).toEqual(['p1-first', 'p2-1', 'p1-second']);
    events.slice(1).forEach((e, i) => expect(e.prevHash).toBe(events[i]!.hash));
  });
});

describe('a sequencer whose turn is not its own', () => {
  /** A process: its store (hooks before each batch claim), its gate (clock `skewMs` ahead, wait `maxWaitMs`), its sequencer. */
  const open = async (owner: string, skewMs: number, maxWaitMs: number, hooks?: MongoStorageHooks) => {
    const now = () => Date.now() + skewMs;
    const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName, now, ...(hooks && { hooks }) });
    await storage.init();
    opened.push(storage);
    const g = new LogLeaseGate(storage.coordination!, owner, 5_000, maxWaitMs, now);
    opened.push(g);
    return { storage, gate: g, seq: new Sequencer(storage, () => undefined, now, g) };
  };
  type Process = Awaited<ReturnType<typeof open>>;

  it('after a conflict in a turn it went ahead without a lease, waits for the lease instead of racing its holder', async () => {
    // P1 is in a turn (its claim held) when P2 asks for the lease; P2 cannot get it within 600 ms and
    // goes ahead without it. Before each of P2's claims in a turn without the lease, P1 ends its turn
    // and appends once more: retried in that turn, P2 would lose every try and answer UNAVAILABLE
    // (contended).
    const procs: { p1?: Process; p2?: Process } = {};
    let endTurn!: () => void;
    const p1Turn = new Promise<void>((r) => (endTurn = r));
    let claiming!: () => void;
    const p1Claiming = new Promise<void>((r) => (claiming = r));
    let holding = false; // P1's next claim waits for p1Turn; its later claims go ahead
    const p1Busy: { append?: Promise<unknown> } = {};
    let p1Appends = 0;
    const p1Hooks: MongoStorageHooks = {
      beforeClaim: async () => {
        if (!holding) return;
        holding = false;
        claiming();
        await p1Turn;
      },
    };
    const p2Hooks: MongoStorageHooks = {
      beforeClaim: async () => {
        if (procs.p2!.gate.turn?.fences.has('a')) return;
        endTurn();
        await p1Busy.append;
        p1Appends++;
        await procs.p1!.seq.append([request(`p1-${p1Appends}`)]);
      },
    };
    procs.p1 = await open('P1', 0, 10_000, p1Hooks);
    procs.p2 = await open('P2', 0, 600, p2Hooks);
    await procs.p1.seq.append([request('p1-0')]);
    holding = true;
    p1Busy.append = procs.p1.seq.append([request('p1-busy')]);
    await p1Claiming; // P1 in its turn, its claim held
    const [stored] = await procs.p2.seq.append([request('p2')]);
    expect(p1Appends).toBe(1); // one conflict, then P2 waited for the lease and appended in its own turn
    const events = await procs.p1.storage.getEventRange('a', 0, 10, 10);
    expect(events.map((e) => e.idempotencyKey)).toEqual(['p1-0', 'p1-busy', 'p1-1', 'p2']);
    expect(stored!.seq).toBe(3);
  });

  it('refuses an append as contended, writing nothing of it, once other processes took four of its turns', async () => {
    // P2's clock runs 10 s ahead: every lease of P1's is over by it. Before each of P1's claims P2
    // appends, taking the lease over; P1 loses that turn, waits for the lease, and loses the next.
    const procs: { p1?: Process; p2?: Process } = {};
    let p2Appends = 0;
    let racing = true;
    const hooks: MongoStorageHooks = {
      beforeClaim: async () => {
        if (!racing) return;
        p2Appends++;
        await procs.p2!.seq.append([request(`p2-${p2Appends}`)]);
      },
    };
    procs.p1 = await open('P1', 0, 10_000, hooks);
    procs.p2 = await open('P2', 10_000, 10_000);
    const refused = await procs.p1.seq.append([request('p1')]).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', extensions: { retryAfterMs: 1000 } });
    expect((refused as Error).message).toMatch(/^log too contended to append now \(other writers took 4 of its turns: /);
    expect(p2Appends).toBe(4);
    const events = await procs.p2.storage.getEventRange('a', 0, 10, 10);
    expect(events.map((e) => e.idempotencyKey)).toEqual(['p2-1', 'p2-2', 'p2-3', 'p2-4']);
    // Retried with the same key once the others stop: stored once.
    racing = false;
    const [stored] = await procs.p1.seq.append([request('p1')]);
    expect(stored!.seq).toBe(4);
    expect((await procs.p2.storage.getEventRange('a', 0, 10, 10)).map((e) => e.idempotencyKey)).toEqual([
      'p2-1',
      'p2-2',
      'p2-3',
      'p2-4',
      'p1',
    ]);
  });
});

function request(idempotencyKey: string): AppendRequest {
  return { sourceAppId: 'a', eventType: 't', timestamp: Date.UTC(2026, 0, 1), payload: { k: idempotencyKey }, idempotencyKey };
}
