// The size of the erasures log below which every record is applied (LogStorage.erasuresAppliedBelow),
// through the real pipeline on both engines: a start applies only the records from it on, an erase
// call moves it past its own record and past records another process left unapplied, and its failures
// (a read, a raise, a record the read does not find) cost an erase call or a start nothing but the work
// of applying some records again.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ERASURES_LOG, ERASURE_EVENT_TYPE } from '../../src/log/erasure.js';
import type { AppendRequest } from '../../src/log/service.js';
import type { EventId, LogStorage } from '../../src/storage/types.js';
import type { EnginePipeline } from '../support/pipeline.js';
import { withFaults, type FaultyStorage } from '../support/faulty-storage.js';
import { until } from '../support/wait.js';
import { useEngines } from './engines.js';
import { leafV2Pipelines, recordNotApplied } from './leaf-v2-pipelines.js';

const engines = useEngines('chainlog-erasure-applied-');
const T0 = Date.UTC(2026, 0, 1);

const ev = (i: number): AppendRequest => ({
  sourceAppId: 'shop',
  eventType: 'order.placed',
  timestamp: T0 + i * 1000,
  payload: { userId: `u${i}`, n: i },
});

/**
 * `storage` as it is, but for what it records: the ids each eraseEvents call was given, and how many
 * reads of the erasures log were made. Where `hide` is set, range reads of the erasures log leave out
 * that position (an event a read does not find yet).
 */
function recording(storage: LogStorage, hide?: number) {
  const seen = { erased: [] as string[][], erasuresReads: 0, erasuresEvents: 0 };
  const proxy = new Proxy(storage, {
    get(target, key) {
      if (key === 'eraseEvents') {
        return (ids: EventId[], erasedAt: number, reason: string) => {
          seen.erased.push(ids.map((id) => `${id.sourceAppId}/${id.seq}`));
          return target.eraseEvents(ids, erasedAt, reason);
        };
      }
      if (key === 'getEvent') {
        return (...args: Parameters<LogStorage['getEvent']>) => {
          if (args[0] === ERASURES_LOG) seen.erasuresEvents++;
          return target.getEvent(...args);
        };
      }
      if (key === 'getEventRange') {
        return async (...args: Parameters<LogStorage['getEventRange']>) => {
          if (args[0] !== ERASURES_LOG) return target.getEventRange(...args);
          seen.erasuresReads++;
          const page = await target.getEventRange(...args);
          seen.erasuresEvents += page.length;
          return hide === undefined ? page : page.filter((e) => e.seq !== hide);
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { storage: proxy, seen };
}

/** The erasure record of shop/`seq`, committed and not applied (a process stopped in between). */
const recordOnly = (p: EnginePipeline, seq: number) => recordNotApplied(p, 'shop', seq, T0);

const eraseOne = (p: EnginePipeline, seq: number) =>
  p.service.eraseEvents({ selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq }] }, reason: 'r', by: 'k' });

async function unerased(storage: LogStorage, seqs: number[]): Promise<number[]> {
  const out: number[] = [];
  for (const seq of seqs) if ((await storage.getEvent('shop', seq))!.payload !== null) out.push(seq);
  return out;
}

for (const engine of engines) {
  describe(`the size below which every erasure record is applied (${engine.name})`, () => {
    const pipeline = leafV2Pipelines(engine);

    it('an erase call moves it past its own record, and a start applies no record again', async () => {
      const { p, restart } = await pipeline();
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev(i)));
      expect(await p.storage.erasuresAppliedBelow()).toBe(0);
      await eraseOne(p, 1);
      expect(await p.storage.erasuresAppliedBelow()).toBe(1);
      await eraseOne(p, 2);
      expect(await p.storage.erasuresAppliedBelow()).toBe(2);
      let rec!: ReturnType<typeof recording>;
      const q = await restart({}, (s) => (rec = recording(s)).storage);
      expect(rec.seen.erased).toEqual([]);
      expect(await q.storage.erasuresAppliedBelow()).toBe(2);
      // Each call stored its record's listing with the size.
      expect(await q.storage.erasureListings('shop', 0, 2, 10)).toEqual([0, 1]);
      expect(await unerased(q.storage, [0, 1, 2, 3])).toEqual([0, 3]);
      expect(await q.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 2 });
    });

    it('a start applies the records from it on (one a stop left unapplied), none below it, and raises it', async () => {
      const { p, restart } = await pipeline();
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev(i)));
      await eraseOne(p, 1);
      await recordOnly(p, 3);
      expect(await p.storage.erasuresAppliedBelow()).toBe(1);
      expect(await unerased(p.storage, [3])).toEqual([3]);
      let rec!: ReturnType<typeof recording>;
      const q = await restart({}, (s) => (rec = recording(s)).storage);
      expect(rec.seen.erased).toEqual([['shop/3']]);
      expect(await q.storage.erasuresAppliedBelow()).toBe(2);
      expect(await q.storage.erasureListings('shop', 0, 2, 10)).toEqual([0, 1]);
      expect(await unerased(q.storage, [1, 3])).toEqual([]);
      expect(await q.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 2 });
    });

    it('an erase call applies a record another process left unapplied below its own, and moves it past both', async () => {
      const { p } = await pipeline();
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev(i)));
      await recordOnly(p, 3);
      await eraseOne(p, 1);
      expect(await unerased(p.storage, [1, 3])).toEqual([]);
      expect(await p.storage.erasuresAppliedBelow()).toBe(2);
      expect(await p.storage.erasureListings('shop', 0, 2, 10)).toEqual([0, 1]);
      expect(await p.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 2 });
    });

    it('when it cannot be raised or read, the erase call still succeeds; the next one raises it past their records without reading the log', async () => {
      let rec!: ReturnType<typeof recording>;
      let faults!: FaultyStorage;
      let failing = 'raiseErasuresAppliedBelow';
      const warnings: string[] = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg as string) });
      const { p, restart } = await pipeline({ logger }, (s) => {
        rec = recording(s);
        faults = withFaults(rec.storage, {
          seed: 3,
          failRate: 1,
          methods: ['raiseErasuresAppliedBelow', 'erasuresAppliedBelow'],
          when: (method) => method === failing,
        });
        faults.enabled = false;
        return faults.storage;
      });
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev(i)));
      faults.enabled = true;
      expect(await eraseOne(p, 1)).toMatchObject({ erased: 1 });
      expect(faults.injected.map((f) => f.method)).toEqual(['raiseErasuresAppliedBelow']);
      expect(warnings).toEqual([expect.stringMatching(/every erasure is applied was not raised/)]);
      failing = 'erasuresAppliedBelow';
      expect(await eraseOne(p, 2)).toMatchObject({ erased: 1 });
      expect(faults.injected.map((f) => f.method)).toEqual(['raiseErasuresAppliedBelow', 'erasuresAppliedBelow']);
      expect(warnings).toHaveLength(2);
      faults.enabled = false;
      expect(await p.storage.erasuresAppliedBelow()).toBe(0);
      const reads = rec.seen.erasuresReads;
      expect(await eraseOne(p, 3)).toMatchObject({ erased: 1 });
      expect(await p.storage.erasuresAppliedBelow()).toBe(3);
      // The three records were applied here: none is read nor applied again.
      expect(rec.seen.erasuresReads).toBe(reads);
      expect(rec.seen.erased).toEqual([['shop/1'], ['shop/2'], ['shop/3']]);
      const q = await restart();
      expect(await q.storage.erasuresAppliedBelow()).toBe(3);
      expect(await q.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 3 });
    });

    it('a sweep applies a record another process left unapplied, with no erase call, and tries again after a failure', async () => {
      let faults!: FaultyStorage;
      const warnings: string[] = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg as string) });
      const { p } = await pipeline({ logger, erasureSweepMs: 5 }, (s) => {
        faults = withFaults(s, { seed: 5, failRate: 1, methods: ['eraseEvents'], maxFaults: 2 });
        faults.enabled = false;
        return faults.storage;
      });
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev(i)));
      faults.enabled = true;
      await recordOnly(p, 3);
      await until('the record applied by a sweep', async () => (await unerased(p.storage, [3])).length === 0);
      // The first two sweeps failed to apply it, each reported; a later one applied it.
      expect(faults.injected.map((f) => f.method)).toEqual(['eraseEvents', 'eraseEvents']);
      expect(warnings.slice(0, 2)).toEqual([
        expect.stringMatching(/every erasure is applied was not raised/),
        expect.stringMatching(/every erasure is applied was not raised/),
      ]);
      await until('the size raised past it', async () => (await p.storage.erasuresAppliedBelow()) === 1);
      expect(await p.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 1 });
    });

    it("reads one log's records in reads that follow them, not the erasures log's size, and finds those applied since by looking", async () => {
      const { p, restart } = await pipeline();
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev(i)));
      await p.service.append(Array.from({ length: 110 }, (_, i) => ({ ...ev(i), sourceAppId: 'other' })));
      // 110 records of the other log with 2 of shop's among them (at 7 and 91), and the size raised past
      // them with their listings, as the servers that applied them leave it (the tests above show how).
      const targets = [
        ...(await p.storage.getEventRange('other', 0, 110, 110)).map((e) => ({ app: 'other', seq: e.seq, hash: e.payloadHash! })),
      ];
      for (const [at, seq] of [
        [7, 1],
        [91, 2],
      ] as const) {
        targets.splice(at, 0, { app: 'shop', seq, hash: (await p.storage.getEvent('shop', seq))!.payloadHash! });
      }
      await p.service.append(
        targets.map((t) => ({
          sourceAppId: ERASURES_LOG,
          eventType: ERASURE_EVENT_TYPE,
          timestamp: T0,
          payload: { reason: 'r', by: 'k', erasedAt: T0 + 5, selection: { kind: 'ids' }, events: [[t.app, t.seq, t.hash]] },
        })),
      );
      await p.storage.raiseErasuresAppliedBelow(
        112,
        targets.map((t, i) => [t.app, i] as const),
      );
      let rec!: ReturnType<typeof recording>;
      const q = await restart({}, (s) => (rec = recording(s)).storage);
      // One more of shop's, recorded past the size (applied by no one yet).
      await recordOnly(q, 4);
      await q.service.publishCheckpoints();
      expect((await q.service.getCheckpoint(ERASURES_LOG))!.treeSize).toBe(113);
      const everyLog = () => true;
      const before = rec.seen.erasuresEvents;
      const pages = [];
      for (let from: number | null = 0; from !== null;) {
        const page = await q.service.erasureRecordsOf('shop', from, undefined, everyLog);
        pages.push(page);
        from = page.next;
      }
      // The listings give the two records below the size in one read; the one past it is found by looking there.
      expect(pages).toHaveLength(1);
      expect(pages[0]!.records.map((r) => r.event.seq)).toEqual([7, 91, 112]);
      expect(rec.seen.erasuresEvents - before).toBe(3);
      // A key that may not read the other log: shop's records name only shop, and none is withheld.
      const page = await q.service.erasureRecordsOf('shop', 0, undefined, (app) => app === 'shop');
      expect(page.records.map((r) => r.event.seq)).toEqual([7, 91, 112]);
      expect(page.withheld).toEqual([]);
      // The other log's 110 records come in reads of at most 100 records each.
      const counts = [];
      for (let from: number | null = 0; from !== null;) {
        const other = await q.service.erasureRecordsOf('other', from, undefined, everyLog);
        counts.push(other.records.length);
        from = other.next;
      }
      expect(counts).toEqual([100, 10]);
      // Each record's read carries its inclusion proof: 110 of them take a while on the MongoDB test server.
    }, 120_000);

    it('a start whose read of the erasures log misses a record applies the others and raises it only up to the one missed', async () => {
      const { p, restart } = await pipeline();
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev(i)));
      for (const seq of [1, 2, 3]) await recordOnly(p, seq);
      // The record of shop/2, at position 1, is not found by the reads of the next start.
      const q = await restart({}, (s) => recording(s, 1).storage);
      expect(await unerased(q.storage, [1, 2, 3])).toEqual([2]);
      expect(await q.storage.erasuresAppliedBelow()).toBe(1);
      expect(await q.storage.erasureListings('shop', 0, 3, 10)).toEqual([0]);
      const r = await restart();
      expect(await unerased(r.storage, [1, 2, 3])).toEqual([]);
      expect(await r.storage.erasuresAppliedBelow()).toBe(3);
      expect(await r.storage.erasureListings('shop', 0, 3, 10)).toEqual([0, 1, 2]);
      expect(await r.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 3 });
    });
  });
}
