// Recorded erasures whose apply keeps failing, on both engines: one retry loop applies every owed
// record (never one loop per record), a record that keeps failing holds back none of the others, an
// apply that succeeds again ends the loop's wait, and retention does not record owed events again.
import { describe, expect, it, vi } from 'vitest';
import { ERASURES_LOG, Erasures, parseErasureRecord } from '../../src/log/erasure.js';
import type { AppendRequest } from '../../src/log/service.js';
import type { EventId, LogStorage } from '../../src/storage/types.js';
import { withFaults, type FaultyStorage } from '../support/faulty-storage.js';
import type { EnginePipeline } from '../support/pipeline.js';
import { deferred, until } from '../support/wait.js';
import { useEngines } from './engines.js';
import { leafV2Pipelines } from './leaf-v2-pipelines.js';

const engines = useEngines('chainlog-erasure-reapply-');
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function ev(sourceAppId: string, i: number): AppendRequest {
  return { sourceAppId, eventType: 'order.placed', timestamp: T0 + i * 1000, payload: { userId: `u${i}`, n: i } };
}

/** `storage` whose eraseEvents throws while `fails(ids)` holds; counts the calls that erased. */
function flakyErase(storage: LogStorage) {
  const state = {
    storage,
    fails: (_ids: readonly EventId[]) => true,
    applied: 0,
  };
  state.storage = new Proxy(storage, {
    get(target, key) {
      if (key === 'eraseEvents') {
        return async (...args: Parameters<LogStorage['eraseEvents']>) => {
          if (state.fails(args[0])) throw new Error('storage unavailable (test)');
          const n = await target.eraseEvents(...args);
          state.applied++;
          return n;
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return state;
}

/** Erasures over the pipeline's log and `storage`, besides the service's own (which owes nothing). */
/**
 * Options under which the retry loop's waits are random fractions of its backoff (Math.random, mocked
 * until restore()): none at first, then nearly the whole of an hour from round 16 on (100 ms * 2^16 is
 * past the hour), `waitsLong` resolving then; retries() counts the failed rounds.
 */
function longWaits() {
  let fraction = 0;
  let retries = 0;
  const random = vi.spyOn(Math, 'random').mockImplementation(() => fraction);
  const waitsLong = deferred();
  const options = {
    onReapplyFailed: (_err: unknown, attempt: number) => {
      if (attempt === 0) return;
      retries++;
      if (attempt < 16) return;
      fraction = 0.99;
      waitsLong.resolve();
    },
    maxReapplyBackoffMs: 3_600_000,
  };
  return { options, waitsLong, retries: () => retries, restore: () => random.mockRestore() };
}

function erasuresOver(p: EnginePipeline, storage: LogStorage, opts: Partial<ConstructorParameters<typeof Erasures>[0]>) {
  const erasures = new Erasures({
    storage,
    append: (requests) => p.service.append(requests),
    now: () => T0,
    onErased: () => undefined,
    ...opts,
  });
  const erase = (...seqs: number[]) =>
    erasures.erase({ selection: { kind: 'ids', ids: seqs.map((seq) => ({ sourceAppId: 'shop', seq })) }, reason: 'r', by: 'k' });
  return { erasures, erase };
}

/** Which of the positions of log "shop" still hold their payload. */
async function unerased(storage: LogStorage, seqs: number[]): Promise<number[]> {
  const out: number[] = [];
  for (const seq of seqs) if ((await storage.getEvent('shop', seq))!.payload !== null) out.push(seq);
  return out;
}

for (const engine of engines) {
  describe(`recorded erasures not applied yet (${engine.name})`, () => {
    const pipeline = leafV2Pipelines(engine);

    it('owes every failed record to one retry loop, records owed events once, and applies them all once storage recovers', async () => {
      const { p } = await pipeline();
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev('shop', i)));
      const store = flakyErase(p.storage);
      /** The attempt number of each failed retry, in order. */
      const retries: number[] = [];
      const { erasures, erase } = erasuresOver(p, store.storage, {
        onReapplyFailed: (_err, attempt) => {
          if (attempt > 0) retries.push(attempt);
        },
        maxReapplyBackoffMs: 1,
      });
      try {
        for (let seq = 0; seq < 4; seq++) await expect(erase(seq)).rejects.toThrow(/unavailable/);
        // Events an owed record lists are not recorded again: the call applies that record, and fails with it.
        await expect(erase(0, 1)).rejects.toThrow(/unavailable/);
        const head = await p.storage.getLogHead(ERASURES_LOG);
        expect(head!.size).toBe(4);
        const records = await p.storage.getEventRange(ERASURES_LOG, 0, 4, 4);
        expect(records.map((e) => parseErasureRecord(e)!.events.map(([, seq]) => seq))).toEqual([[0], [1], [2], [3]]);

        await until('20 failed retries', () => retries.length >= 20);
        // One loop, and one failed apply per round: its rounds are numbered 1, 2, 3, ... once each (a loop
        // per record would number each its own way, 1, 1, 1, 1, 2, ...).
        expect(retries.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(store.applied).toBe(0);

        // The record of shop/0 keeps failing, whichever place the loop tries it in: the others get applied.
        store.fails = (ids) => ids.some((id) => id.seq === 0);
        await until('the other owed records applied', async () => (await unerased(p.storage, [1, 2, 3])).length === 0);
        expect(await unerased(p.storage, [0, 4, 5])).toEqual([0, 4, 5]);
        store.fails = () => false;
        await until('every owed record applied', async () => (await unerased(p.storage, [0])).length === 0);
        // Each owed record applied once, and nothing else erased.
        await until('the last apply counted', () => store.applied >= 4);
        expect(store.applied).toBe(4);
        expect(await unerased(p.storage, [4, 5])).toEqual([4, 5]);
        expect(await p.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 4 });
      } finally {
        await erasures.stop();
      }
    });

    /** A log of `n` events, an Erasures whose storage fails every apply (until told) and whose retry loop waits long (longWaits). */
    async function failingWithLongWaits(n: number) {
      const { p } = await pipeline();
      await p.service.append(Array.from({ length: n }, (_, i) => ev('shop', i)));
      const store = flakyErase(p.storage);
      const long = longWaits();
      return { p, store, long, ...erasuresOver(p, store.storage, long.options) };
    }

    it('applies the owed records as soon as an apply succeeds again, not after the wait of the retry loop', async () => {
      const { p, store, long, erasures, erase } = await failingWithLongWaits(4);
      const { waitsLong } = long;
      try {
        await expect(erase(0)).rejects.toThrow(/unavailable/);
        await expect(erase(1)).rejects.toThrow(/unavailable/);
        await waitsLong.promise;
        // The storage erases again: the next erasure applies, and the loop goes on with the owed ones at once.
        store.fails = () => false;
        expect(await erase(2)).toMatchObject({ erased: 1, recordId: `${ERASURES_LOG}/2` });
        await until('the owed records applied', async () => (await unerased(p.storage, [0, 1, 2, 3])).length === 1);
        expect(await unerased(p.storage, [3])).toEqual([3]);
      } finally {
        long.restore();
        await erasures.stop();
      }
    });

    it('leaves an owed record to the retry loop when an erase call raises the applied size: applied once', async () => {
      const { p, store, long, erasures, erase } = await failingWithLongWaits(2);
      try {
        await expect(erase(0)).rejects.toThrow(/unavailable/);
        await long.waitsLong.promise;
        store.fails = () => false;
        // This call's apply wakes the retry loop, whose round takes its turn after the call; the call then
        // raises the applied size, which stops at the owed record rather than applying it as well.
        expect(await erase(1)).toMatchObject({ erased: 1, recordId: `${ERASURES_LOG}/1` });
        // A call with nothing left to erase takes its turn after that round.
        const none = { selection: { kind: 'ids' as const, ids: [{ sourceAppId: 'shop', seq: 1 }] }, reason: 'r', by: 'k' };
        expect(await erasures.eraseIfAny(none)).toEqual({ erased: 0, more: false });
        expect(await unerased(p.storage, [0, 1])).toEqual([]);
        expect(store.applied).toBe(2);
        expect(await p.storage.erasuresAppliedBelow()).toBe(2);
      } finally {
        long.restore();
        await erasures.stop();
      }
    });

    it('answers a call whose selected events an owed record lists with that record, recording nothing', async () => {
      const { p, store, long, erasures, erase } = await failingWithLongWaits(2);
      try {
        await expect(erase(0)).rejects.toThrow(/unavailable/);
        await long.waitsLong.promise;
        store.fails = () => false;
        expect(await erase(0)).toEqual({
          erased: 1,
          recordId: `${ERASURES_LOG}/0`,
          recordIds: [`${ERASURES_LOG}/0`],
          more: false,
        });
        expect((await p.storage.getLogHead(ERASURES_LOG))!.size).toBe(1);
        expect(await unerased(p.storage, [0, 1])).toEqual([1]);
        // The call's apply ended the retry loop's wait, and the loop found nothing owed: applied once.
        await erasures.stop();
        expect(store.applied).toBe(1);
        expect(await p.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 1 });
      } finally {
        long.restore();
        await erasures.stop();
      }
    });

    it('lists in its own record only the selected events no owed record lists, and names both records', async () => {
      const { p, store, long, erasures, erase } = await failingWithLongWaits(3);
      try {
        await expect(erase(0)).rejects.toThrow(/unavailable/);
        await long.waitsLong.promise;
        store.fails = () => false;
        expect(await erase(0, 1)).toEqual({
          erased: 2,
          recordId: `${ERASURES_LOG}/1`,
          recordIds: [`${ERASURES_LOG}/0`, `${ERASURES_LOG}/1`],
          more: false,
        });
        const records = await p.storage.getEventRange(ERASURES_LOG, 0, 2, 2);
        expect(records.map((e) => parseErasureRecord(e)!.events.map(([, seq]) => seq))).toEqual([[0], [1]]);
        expect(await unerased(p.storage, [0, 1, 2])).toEqual([2]);
      } finally {
        long.restore();
        await erasures.stop();
      }
    });

    it('ends the wait of the retry loop at a stop, and the owed record is applied by the next recover', async () => {
      const { p, store, long, erasures, erase } = await failingWithLongWaits(2);
      const { waitsLong } = long;
      try {
        await expect(erase(0)).rejects.toThrow(/unavailable/);
        await waitsLong.promise;
        const before = long.retries();
        // The stop does not wait out the hour.
        await erasures.stop();
        expect(long.retries()).toBe(before);
        store.fails = () => false;
        expect(await unerased(p.storage, [0])).toEqual([0]);
        const next = erasuresOver(p, store.storage, {}).erasures;
        expect(await next.recover()).toBe(1);
        expect(await unerased(p.storage, [0, 1])).toEqual([1]);
      } finally {
        long.restore();
        await erasures.stop();
      }
    });

    it('retention lists the erasure of events once while its apply keeps failing, and a later sweep applies it', async () => {
      let now = T0;
      let faults!: FaultyStorage;
      // The sweeps this test makes are the only ones.
      const { p } = await pipeline({ now: () => now, retentionDays: { '*': 30 }, retentionIntervalMs: 3_600_000 }, (s) => {
        faults = withFaults(s, { seed: 4, failRate: 1, methods: ['eraseEvents'] });
        faults.enabled = false;
        return faults.storage;
      });
      await p.service.append([ev('shop', 0), ev('shop', 1)]);
      now += 35 * DAY;
      faults.enabled = true;
      // Each sweep selects the two events again; the first records their erasure, the others apply that record.
      for (let sweep = 0; sweep < 3; sweep++) expect(await p.service.applyRetention()).toBe(0);
      expect((await p.storage.getLogHead(ERASURES_LOG))!.size).toBe(1);
      expect(faults.injected.length).toBeGreaterThanOrEqual(3);
      faults.enabled = false;
      // This sweep applies the owed record, unless the retry loop got there first; either way nothing is
      // recorded again, not even a record listing nothing.
      await p.service.applyRetention();
      expect(await unerased(p.storage, [0, 1])).toEqual([]);
      const size = (await p.storage.getLogHead(ERASURES_LOG))!.size;
      expect(size).toBe(1);
      const records = await p.storage.getEventRange(ERASURES_LOG, 0, size, size);
      expect(records.flatMap((e) => parseErasureRecord(e)!.events.map(([app, seq]) => `${app}/${seq}`))).toEqual([
        'shop/0',
        'shop/1',
      ]);
      expect(await p.service.applyRetention()).toBe(0);
      expect((await p.storage.getLogHead(ERASURES_LOG))!.size).toBe(size);
      expect(await p.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 2 });
    });
  });
}
