// Leaf version 2 and erasure through the real pipeline, on both engines: commitments, eraseEvents and
// its erasures log, retention, recovery of an interrupted erasure, and what verifyLog makes of erasures
// inside and outside the erasure path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../src/core/hex.js';
import { eventLeafHash, leafHashHex, payloadMatchesCommitment } from '../../src/core/leaf.js';
import { formatTime, leafBytes } from '../../src/core/leaf.js';
import { MAX_ENTRY_BYTES } from '../../src/core/tiles.js';
import { verifyConsistency, verifyInclusion } from '../../src/core/proof/verify.js';
import { verifyRange } from '../../src/core/proof/range.js';
import { parseVerifierKey } from '../../src/core/note/signed-note.js';
import { ERASURES_LOG, ERASURE_EVENT_TYPE, MAX_ERASED_PER_CALL, parseErasureRecord } from '../../src/log/erasure.js';
import { LogError } from '../../src/log/errors.js';
import type { AppendRequest } from '../../src/log/service.js';
import { verifyStoredLog } from '../../src/log/verify-log.js';
import type { LogStorage } from '../../src/storage/types.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { withFaults, type FaultyStorage } from '../support/faulty-storage.js';
import type { EnginePipeline } from '../support/pipeline.js';
import { until } from '../support/wait.js';
import { useEngines } from './engines.js';
import { leafV2Pipelines, recordNotApplied } from './leaf-v2-pipelines.js';

const engines = useEngines('chainlog-erasure-');
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function ev(sourceAppId: string, i: number, payload: Record<string, unknown> = { userId: `u${i % 5}`, n: i }): AppendRequest {
  return {
    sourceAppId,
    eventType: i % 2 === 0 ? 'order.placed' : 'order.paid',
    timestamp: T0 + i * 1000,
    payload: payload as never,
  };
}

/** Proofs of every kind for every event of a log at its latest checkpoint, checked with the core only. */
async function checkProofs(p: EnginePipeline, app: string) {
  await p.service.publishCheckpoints();
  const cp = (await p.service.getCheckpoint(app))!;
  const root = fromHex(cp.rootHash);
  const events = await p.service.rangeProof(app, 0, cp.treeSize);
  const leaves = events.events.map((e) => fromHex(eventLeafHash(e)));
  verifyRange(0, cp.treeSize, cp.treeSize, leaves, events.leftHashes.map(fromHex), events.rightHashes.map(fromHex), root);
  for (const e of events.events) {
    const proof = await p.service.inclusionProof(app, e.seq);
    verifyInclusion(fromHex(eventLeafHash(e)), e.seq, cp.treeSize, proof.hashes.map(fromHex), root);
  }
  for (let size = 1; size < cp.treeSize; size += 3) {
    const c = await p.service.consistencyProof(app, size, cp.treeSize);
    verifyConsistency(size, cp.treeSize, c.hashes.map(fromHex), fromHex(c.fromRoot), root);
  }
}

/** Every (app, seq) the erasures log lists. */
async function listed(storage: LogStorage): Promise<string[]> {
  const head = await storage.getLogHead(ERASURES_LOG);
  const out: string[] = [];
  for (const e of await storage.getEventRange(ERASURES_LOG, 0, head?.size ?? 0, 10_000)) {
    expect(e.eventType).toBe(ERASURE_EVENT_TYPE);
    expect(e.payloadHash ?? null).toBeNull(); // the erasures log keeps version 1
    for (const [app, seq] of parseErasureRecord(e)!.events) out.push(`${app}/${seq}`);
  }
  return out.sort();
}

/** `storage` whose next range read of log `app` first runs `hook.run` (once, then cleared). */
function beforeNextRead(storage: LogStorage, app: string, hook: { run: (() => Promise<unknown>) | null }): LogStorage {
  const getEventRange: LogStorage['getEventRange'] = async (...args) => {
    if (args[0] === app && hook.run) {
      const run = hook.run;
      hook.run = null;
      await run();
    }
    return storage.getEventRange(...args);
  };
  return new Proxy(storage, {
    get: (target, key) => {
      if (key === 'getEventRange') return getEventRange;
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

for (const engine of engines) {
  describe(`leaf version 2 and erasure (${engine.name})`, () => {
    const pipeline = leafV2Pipelines(engine);

    it('writes version 2 leaves: a fresh salt per event, the commitment in the leaf, the log keeps its version', async () => {
      const { p, restart } = await pipeline();
      const stored = await p.service.append([ev('shop', 0, { userId: 'u42' }), ev('shop', 1, { userId: 'u42' })]);
      for (const e of stored) {
        expect(e.payloadHash).toMatch(/^[0-9a-f]{64}$/);
        expect(e.payloadSalt).toMatch(/^[0-9a-f]{64}$/);
        expect(payloadMatchesCommitment(e.payload!, e.payloadSalt!, e.payloadHash!)).toBe(true);
        const read = (await p.service.getEvent('shop', e.seq))!;
        expect(read.hash).toBe(e.hash);
        expect(leafHashHex({ ...read, timestamp: formatTime(read.timestamp), receivedAt: formatTime(read.receivedAt) })).toBe(
          read.hash,
        );
      }
      // Same payload, other salts: the commitments tell nothing of the payload's equality.
      expect(stored[0]!.payloadSalt).not.toBe(stored[1]!.payloadSalt);
      expect(stored[0]!.payloadHash).not.toBe(stored[1]!.payloadHash);
      expect(await p.service.leafVersionOf('shop')).toBe(2);
      // A server now set to version 1 keeps writing version 2 to this log, and version 1 to new logs.
      const q = await restart({ leafVersion: 1 });
      const [more] = await q.service.append([ev('shop', 2)]);
      expect(more!.payloadHash).toMatch(/^[0-9a-f]{64}$/);
      const [v1] = await q.service.append([ev('legacy', 0)]);
      expect(v1!.payloadHash ?? null).toBeNull();
      expect(await q.service.leafVersionOf('legacy')).toBe(1);
      expect((await q.service.verifyLog('shop')).ok).toBe(true);
    });

    it('erases by ids, by filter and by payload field: payload and salt gone, leaf and proofs unchanged, each erasure listed', async () => {
      const { p } = await pipeline();
      await p.service.append(Array.from({ length: 20 }, (_, i) => ev('shop', i)));
      const before = await p.storage.getEventRange('shop', 0, 20, 20);

      const byIds = await p.service.eraseEvents({
        selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq: 3 }] },
        reason: 'ticket 1',
        by: 'k1',
      });
      expect(byIds).toEqual({ erased: 1, recordId: `${ERASURES_LOG}/0`, recordIds: [`${ERASURES_LOG}/0`], more: false });
      const byField = await p.service.eraseEvents({
        selection: { kind: 'payloadField', sourceAppId: 'shop', path: ['userId'], equals: 'u2' },
        reason: 'art. 17 request 7',
        by: 'k1',
      });
      // u2: i = 2, 7, 12, 17.
      expect(byField).toEqual({ erased: 4, recordId: `${ERASURES_LOG}/1`, recordIds: [`${ERASURES_LOG}/1`], more: false });
      const byFilter = await p.service.eraseEvents({
        selection: { kind: 'filter', sourceAppId: 'shop', from: T0 + 10_000, to: T0 + 14_000, eventTypes: ['order.paid'] },
        reason: 'cleanup',
        by: 'k2',
      });
      // paid (odd) with 10 <= i < 14: 11, 13.
      expect(byFilter.erased).toBe(2);
      // Again: nothing left to erase, and the request is still recorded.
      const again = await p.service.eraseEvents({
        selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq: 3 }] },
        reason: 'twice',
        by: 'k1',
      });
      expect(again.erased).toBe(0);

      const after = await p.storage.getEventRange('shop', 0, 20, 20);
      const erased = [2, 3, 7, 11, 12, 13, 17];
      for (const [i, e] of after.entries()) {
        expect(e.hash).toBe(before[i]!.hash);
        expect(e.payloadHash).toBe(before[i]!.payloadHash);
        if (erased.includes(i)) {
          expect(e).toMatchObject({ payload: null, payloadSalt: null, erasureReason: expect.any(String) });
          expect(e.erasedAt).toEqual(expect.any(Number));
        } else {
          expect(e.payload).toEqual(before[i]!.payload);
          expect(e.erasedAt ?? null).toBeNull();
        }
      }
      expect((await p.storage.getEvent('shop', 3))!.erasureReason).toBe('ticket 1');
      expect(await listed(p.storage)).toEqual(erased.map((s) => `shop/${s}`).sort());
      const record = parseErasureRecord((await p.storage.getEvent(ERASURES_LOG, 1))!)!;
      // The record says which field was matched, never the value (it may itself be personal data).
      expect(record.selection).toEqual({ kind: 'payloadField', sourceAppId: 'shop', path: 'userId' });
      expect(JSON.stringify(record)).not.toContain('u2');
      expect(record).toMatchObject({ reason: 'art. 17 request 7', by: 'k1' });

      const report = await p.service.verifyLog('shop');
      expect(report).toMatchObject({ ok: true, eventsChecked: 20, eventsErased: erased.length, problems: [] });
      expect((await p.service.verifyLog(ERASURES_LOG)).ok).toBe(true);
      await checkProofs(p, 'shop');
      await checkProofs(p, ERASURES_LOG);
    });

    it('erases per call what its record lists within an entry bundle (at most MAX_ERASED_PER_CALL), and says there are more', async () => {
      const { p } = await pipeline();
      const n = MAX_ERASED_PER_CALL + 5;
      for (let i = 0; i < n; i += 500)
        await p.service.append(Array.from({ length: Math.min(500, n - i) }, (_, j) => ev('big', i + j, { userId: 'same' })));
      const sel = { kind: 'payloadField' as const, sourceAppId: 'big', path: ['userId'], equals: 'same' };
      const calls: Array<{ erased: number; more: boolean }> = [];
      for (let more = true; more;) {
        const r = await p.service.eraseEvents({ selection: sel, reason: 'r'.repeat(256), by: 'k' });
        calls.push({ erased: r.erased, more: r.more });
        more = r.more;
      }
      // A record of a thousand events would be a leaf of about 80 KB, more than an entry bundle holds.
      expect(calls.length).toBe(2);
      expect(calls[0]!.erased).toBeGreaterThan(700);
      expect(calls[0]!.erased).toBeLessThan(MAX_ERASED_PER_CALL);
      expect(calls.map((c) => c.more)).toEqual([true, false]);
      expect(calls[0]!.erased + calls[1]!.erased).toBe(n);
      const records = await p.storage.getEventRange(ERASURES_LOG, 0, 2, 2);
      expect(records.map((e) => parseErasureRecord(e)!.events.length)).toEqual(calls.map((c) => c.erased));
      for (const e of records) {
        const leaf = leafBytes({ ...e, timestamp: formatTime(e.timestamp), receivedAt: formatTime(e.receivedAt) });
        expect(leaf.length).toBeLessThanOrEqual(MAX_ENTRY_BYTES);
      }
      // The first record is as full as one can be: one more event would not fit.
      expect(leafBytes({ ...records[0]!, timestamp: formatTime(0), receivedAt: formatTime(0) }).length).toBeGreaterThan(
        MAX_ENTRY_BYTES - 100,
      );
      expect((await p.service.verifyLog('big')).ok).toBe(true);
    }, 180_000);

    it('retention erases a backlog larger than one record holds', async () => {
      let now = T0;
      // The sweep this test makes is the only one.
      const { p } = await pipeline({ now: () => now, retentionDays: { '*': 30 }, retentionIntervalMs: 3_600_000 });
      const n = MAX_ERASED_PER_CALL + 5;
      for (let i = 0; i < n; i += 500)
        await p.service.append(Array.from({ length: Math.min(500, n - i) }, (_, j) => ev('old', i + j)));
      now += 35 * DAY;
      expect(await p.service.applyRetention()).toBe(n);
      expect((await p.storage.getLogHead(ERASURES_LOG))!.size).toBeGreaterThan(1);
      expect(await listed(p.storage)).toHaveLength(n);
      expect((await p.service.verifyLog('old')).ok).toBe(true);
    }, 180_000);

    it('resumes a payload-field erasure where the last call stopped, finds events appended since, and rescans after a restart', async () => {
      // The real store, counting the events it reads of log "big" (what a selection scans).
      let read = 0;
      const counting = (storage: LogStorage): LogStorage =>
        new Proxy(storage, {
          get(target, key) {
            const v = Reflect.get(target, key, target) as unknown;
            if (typeof v !== 'function') return v;
            if (key === 'getEventRange' || key === 'queryEvents')
              return async (...args: unknown[]) => {
                const out = (await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as
                  Array<{ sourceAppId: string }> | { events: Array<{ sourceAppId: string }> };
                read += (Array.isArray(out) ? out : out.events).filter((e) => e.sourceAppId === 'big').length;
                return out;
              };
            return (v as (...a: unknown[]) => unknown).bind(target);
          },
        });
      const started = await pipeline({}, counting);
      let p = started.p;
      const n = MAX_ERASED_PER_CALL + 5;
      for (let i = 0; i < n; i += 500)
        await p.service.append(
          Array.from({ length: Math.min(500, n - i) }, (_, j) => ev('big', i + j, { userId: (i + j) % 2 ? 'same' : 'other' })),
        );
      const sel = { kind: 'payloadField' as const, sourceAppId: 'big', path: ['userId'], equals: 'same' };
      const erase = async () => {
        read = 0;
        const r = await p.service.eraseEvents({ selection: sel, reason: 'r', by: 'k' });
        return { erased: r.erased, more: r.more, read };
      };
      // 502 of the 1005 events match: one call erases them all and reads the log once.
      expect(await erase()).toEqual({ erased: 502, more: false, read: n });
      await p.service.append([ev('big', n, { userId: 'same' }), ev('big', n + 1, { userId: 'other' })]);
      // The next call reads only the two events appended since, and erases the one that matches.
      expect(await erase()).toEqual({ erased: 1, more: false, read: 2 });
      expect(await erase()).toEqual({ erased: 0, more: false, read: 0 });
      // Another value of the same field is a selection of its own: it scans from the start.
      read = 0;
      const other = await p.service.eraseEvents({ selection: { ...sel, equals: 'other' }, reason: 'r', by: 'k' });
      expect({ erased: other.erased, more: other.more, read }).toEqual({ erased: 504, more: false, read: n + 2 });
      // A restart forgets where calls stopped: the next one scans from the start and finds nothing left.
      p = await started.restart({}, counting);
      expect(await erase()).toEqual({ erased: 0, more: false, read: n + 2 });
      const report = await p.service.verifyLog('big');
      expect(report).toMatchObject({ ok: true, eventsErased: n + 2 });
    }, 180_000);

    it('refuses version 1 events, naming the log version and the field; missing logs and events are NOT_FOUND', async () => {
      const { p } = await pipeline({ leafVersion: 1 });
      await p.service.append([ev('old', 0)]);
      const refuse = async (
        selection: Parameters<typeof p.service.eraseEvents>[0]['selection'],
        code: string,
        field: string,
        re: RegExp,
      ) => {
        const err = await p.service.eraseEvents({ selection, reason: 'r', by: 'k' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LogError);
        expect((err as LogError).code).toBe(code);
        expect((err as LogError).details[0]).toMatchObject({ field });
        expect((err as LogError).message).toMatch(re);
      };
      await refuse({ kind: 'ids', ids: [{ sourceAppId: 'old', seq: 0 }] }, 'BAD_USER_INPUT', 'ids[0]', /leaf version 1/);
      await refuse({ kind: 'filter', sourceAppId: 'old' }, 'BAD_USER_INPUT', 'sourceAppId', /leaf version 1/);
      await refuse({ kind: 'filter', sourceAppId: 'nope' }, 'NOT_FOUND', 'sourceAppId', /not found/);
      await refuse({ kind: 'ids', ids: [{ sourceAppId: 'old', seq: 9 }] }, 'NOT_FOUND', 'ids[0]', /not found/);
      // Nothing was recorded, nothing erased.
      expect(await p.storage.getLogHead(ERASURES_LOG)).toBeNull();
      expect((await p.storage.getEvent('old', 0))!.payload).not.toBeNull();
    });

    it('finds an erasure outside the erasure path and an altered payload, and pinpoints them', async () => {
      const { p } = await pipeline();
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev('shop', i)));
      await p.service.eraseEvents({ selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq: 1 }] }, reason: 'ok', by: 'k' });
      // Outside the erasure path: the engine's erasure without a record.
      await p.storage.eraseEvents([{ sourceAppId: 'shop', seq: 4 }], T0, 'sneaky');
      // An altered payload (its commitment no longer matches).
      await alterPayload(p.storage, engine.name, 'shop', 2, { userId: 'someone else', n: 2 });
      const report = await p.service.verifyLog('shop');
      expect(report.ok).toBe(false);
      expect(report.eventsErased).toBe(1);
      expect(report.problems.map((x) => [x.kind, x.seq])).toEqual([
        ['PAYLOAD_MISMATCH', 2],
        ['UNRECORDED_ERASURE', 4],
      ]);
      expect(report.firstBadSeq).toBe(2);
    });

    it('takes an erasure applied while it walks the log for an erasure, not a deletion', async () => {
      let duringWalk: (() => Promise<unknown>) | null = null;
      // The log's first read by the walk runs the erasure first: the listing the walk read before it is stale.
      const { p } = await pipeline({}, (s) => {
        const getEventRange: LogStorage['getEventRange'] = async (...args) => {
          if (args[0] === 'shop' && duringWalk) {
            const run = duringWalk;
            duringWalk = null;
            await run();
          }
          return s.getEventRange(...args);
        };
        return new Proxy(s, {
          get: (target, key) => {
            if (key === 'getEventRange') return getEventRange;
            const value = Reflect.get(target, key, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      });
      await p.service.append(Array.from({ length: 6 }, (_, i) => ev('shop', i)));
      await p.service.eraseEvents({
        selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq: 1 }] },
        reason: 'before',
        by: 'k',
      });
      duringWalk = () =>
        p.service.eraseEvents({ selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq: 4 }] }, reason: 'during', by: 'k' });
      const report = await p.service.verifyLog('shop');
      expect(duringWalk).toBeNull();
      expect((await p.storage.getEvent('shop', 4))!.payload).toBeNull();
      expect(report).toMatchObject({ ok: true, eventsChecked: 6, eventsErased: 2, problems: [], firstBadSeq: null });
      // A deletion outside the erasure path is still one, whether or not the walk read the listing again.
      await p.storage.eraseEvents([{ sourceAppId: 'shop', seq: 5 }], T0, 'sneaky');
      const deleted = await p.service.verifyLog('shop');
      expect(deleted.problems.map((x) => [x.kind, x.seq])).toEqual([['UNRECORDED_ERASURE', 5]]);
      expect(deleted).toMatchObject({ ok: false, eventsErased: 2, firstBadSeq: 5 });
    });

    it('settles the payload-less events it has not found listed in the middle of the walk once it holds its bound of them', async () => {
      const hook: { run: (() => Promise<unknown>) | null } = { run: null };
      const { p } = await pipeline({}, (s) => beforeNextRead(s, 'shop', hook));
      await p.service.append(Array.from({ length: 40 }, (_, i) => ev('shop', i)));
      let walked = 0;
      /** Events walked when each read of the listing began. */
      const reads: number[] = [];
      const verify = () => {
        walked = 0;
        reads.length = 0;
        return verifyStoredLog(
          p.storage,
          {
            verifier: parseVerifierKey(p.service.info.verifierKey),
            originOf: (app) => p.service.originOf(app),
            onProgress: (n) => {
              walked = n;
            },
            erasedSeqs: (app) => {
              reads.push(walked);
              return p.service.erasedSeqs(app);
            },
            maxUnlisted: 2,
          },
          'shop',
        );
      };
      // Erased as the walk starts reading the log: the listing it read first names none of them.
      const eraseDuringWalk = (...seqs: number[]) => {
        hook.run = () =>
          p.service.eraseEvents({
            selection: { kind: 'ids', ids: seqs.map((seq) => ({ sourceAppId: 'shop', seq })) },
            reason: 'during',
            by: 'k',
          });
      };

      eraseDuringWalk(1, 2, 3);
      const clean = await verify();
      expect(hook.run).toBeNull();
      expect(clean).toMatchObject({ ok: true, eventsChecked: 40, eventsErased: 3, problems: [], firstBadSeq: null });
      // Read at the start, and again on holding two (1 and 2), before the walk ends: the read again names
      // 3 too, and nothing is left to settle at the end (where the listing would be read otherwise).
      expect(reads).toHaveLength(2);
      expect(reads[1]).toBeLessThan(40);

      // Deleted outside the erasure path (20), and erased as the walk starts (21): holding both, the walk
      // reads the listing again, which names 21 and not 20.
      await p.storage.eraseEvents([{ sourceAppId: 'shop', seq: 20 }], T0, 'sneaky');
      eraseDuringWalk(21);
      const deleted = await verify();
      expect(hook.run).toBeNull();
      expect(deleted.problems.map((x) => [x.kind, x.seq])).toEqual([['UNRECORDED_ERASURE', 20]]);
      expect(deleted).toMatchObject({ ok: false, eventsChecked: 40, eventsErased: 4, firstBadSeq: 20 });
      expect(reads).toHaveLength(2);
      expect(reads[1]).toBeLessThan(40);
    });

    it('lists the problems at the lowest positions when there are more than it lists, also those it settles last', async () => {
      const { p } = await pipeline();
      const n = 40;
      await p.service.append(Array.from({ length: n }, (_, i) => ev('big', i)));
      // Deleted outside the erasure path: reported at the end of the walk, once it has read the listing again.
      await p.storage.eraseEvents(
        [0, 1, 2].map((seq) => ({ sourceAppId: 'big', seq })),
        T0,
        'sneaky',
      );
      // Altered payloads from 10 on, each reported as the walk reaches it: 30, more than this report lists.
      await alterPayloadsFrom(p.storage, engine.name, 'big', 10, { userId: 'someone else' });
      const report = await verifyStoredLog(
        p.storage,
        {
          verifier: parseVerifierKey(p.service.info.verifierKey),
          originOf: (app) => p.service.originOf(app),
          erasedSeqs: (app) => p.service.erasedSeqs(app),
          maxProblems: 10,
        },
        'big',
      );
      expect(report).toMatchObject({ ok: false, eventsChecked: n, eventsErased: 0, firstBadSeq: 0 });
      expect(report.problems.map((x) => [x.kind, x.seq])).toEqual([
        ['UNRECORDED_ERASURE', 0],
        ['UNRECORDED_ERASURE', 1],
        ['UNRECORDED_ERASURE', 2],
        ...Array.from({ length: 7 }, (_, i) => ['PAYLOAD_MISMATCH', 10 + i]),
      ]);
    });

    it('completes at start an erasure that was recorded and not applied (a stop between the two)', async () => {
      const { p, restart } = await pipeline();
      await p.service.append(Array.from({ length: 4 }, (_, i) => ev('shop', i)));
      await recordNotApplied(p, 'shop', 2, T0);
      expect((await p.storage.getEvent('shop', 2))!.payload).not.toBeNull();
      const q = await restart();
      expect(await q.storage.getEvent('shop', 2)).toMatchObject({ payload: null, erasedAt: T0 + 5, erasureReason: 'r' });
      expect((await q.service.verifyLog('shop')).ok).toBe(true);
    });

    it('applies a recorded erasure whose application failed, without waiting for a restart', async () => {
      let faults!: FaultyStorage;
      const { p } = await pipeline({}, (s) => {
        faults = withFaults(s, { seed: 9, failRate: 1, methods: ['eraseEvents'], maxFaults: 2 });
        faults.enabled = false;
        return faults.storage;
      });
      await p.service.append(Array.from({ length: 4 }, (_, i) => ev('shop', i)));
      faults.enabled = true;
      await expect(
        p.service.eraseEvents({ selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq: 2 }] }, reason: 'r', by: 'k' }),
      ).rejects.toThrow(/injected/i);
      // Recorded before it failed: the erasure is owed, and completed in the background (one retry fails too).
      expect(await listed(p.storage)).toEqual(['shop/2']);
      await until('the recorded erasure applied', async () => (await p.storage.getEvent('shop', 2))!.payload === null);
      expect(faults.injected).toHaveLength(2);
      expect(await p.storage.getEvent('shop', 2)).toMatchObject({ erasureReason: 'r', payloadSalt: null });
      expect((await p.service.verifyLog('shop')).ok).toBe(true);
    });

    it('ends the retries of an erasure it could not apply at a stop, and completes it at the next start', async () => {
      const { p, restart } = await pipeline({}, (s) => withFaults(s, { seed: 9, failRate: 1, methods: ['eraseEvents'] }).storage);
      await p.service.append(Array.from({ length: 4 }, (_, i) => ev('shop', i)));
      await expect(
        p.service.eraseEvents({ selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq: 1 }] }, reason: 'r', by: 'k' }),
      ).rejects.toThrow(/injected/i);
      // The stop ends the retries (every one fails on this storage) instead of waiting for them.
      const q = await restart();
      expect(await q.storage.getEvent('shop', 1)).toMatchObject({ payload: null, erasureReason: 'r' });
    });

    it('retention erases payloads past their period through the erasure path', async () => {
      let now = T0;
      const { p } = await pipeline({ now: () => now, retentionDays: { '*': 30, keep: 365 } });
      await p.service.append([ev('shop', 0), ev('keep', 0)]);
      now += 10 * DAY;
      await p.service.append([ev('shop', 1)]);
      now += 25 * DAY; // shop/0 is 35 days old, shop/1 25 days, keep/0 35 days (of 365)
      expect(await p.service.applyRetention()).toBe(1);
      expect(await p.storage.getEvent('shop', 0)).toMatchObject({ payload: null, erasureReason: 'retention' });
      expect((await p.storage.getEvent('shop', 1))!.payload).not.toBeNull();
      expect((await p.storage.getEvent('keep', 0))!.payload).not.toBeNull();
      expect(await listed(p.storage)).toEqual(['shop/0']);
      const rec = parseErasureRecord((await p.storage.getEvent(ERASURES_LOG, 0))!)!;
      expect(rec).toMatchObject({ reason: 'retention', by: 'retention' });
      now += 10 * DAY;
      expect(await p.service.applyRetention()).toBe(1);
      expect(await p.service.applyRetention()).toBe(0);
      expect((await p.service.verifyLog('shop')).ok).toBe(true);
    });

    it('retention goes on past a log it cannot read, and sweeps that log once it reads again', async () => {
      let now = T0;
      let faults!: FaultyStorage;
      const { p } = await pipeline({ now: () => now, retentionDays: { '*': 30 } }, (s) => {
        faults = withFaults(s, { seed: 5, failRate: 1, methods: ['getEventRange'], when: (_m, args) => args[0] === 'broken' });
        faults.enabled = false;
        return faults.storage;
      });
      // "broken" comes first in the sweep's order of logs.
      await p.service.append([ev('broken', 0), ev('fine', 0)]);
      now += 35 * DAY;
      faults.enabled = true;
      expect(await p.service.applyRetention()).toBe(1);
      expect(faults.injected.length).toBeGreaterThan(0);
      expect((await p.storage.getEvent('fine', 0))!.payload).toBeNull();
      expect((await p.storage.getEvent('broken', 0))!.payload).not.toBeNull();
      faults.enabled = false;
      expect(await p.service.applyRetention()).toBe(1);
      expect(await p.storage.getEvent('broken', 0)).toMatchObject({ payload: null, erasureReason: 'retention' });
      expect(await listed(p.storage)).toEqual(['broken/0', 'fine/0']);
    });

    it('property: random logs with random erasures keep every proof, verify clean and list exactly what was erased', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 24 }),
          fc.array(fc.tuple(fc.constantFrom('ids', 'field', 'filter'), fc.nat(30)), { maxLength: 5 }),
          async (size, erasures) => {
            const { p } = await pipeline();
            try {
              await p.service.append(Array.from({ length: size }, (_, i) => ev('app', i)));
              const want = new Set<number>();
              const events = await p.storage.getEventRange('app', 0, size, size);
              for (const [kind, k] of erasures) {
                if (kind === 'ids') {
                  const seq = k % size;
                  await p.service.eraseEvents({
                    selection: { kind: 'ids', ids: [{ sourceAppId: 'app', seq }] },
                    reason: 'p',
                    by: 'k',
                  });
                  want.add(seq);
                } else if (kind === 'field') {
                  const user = `u${k % 5}`;
                  await p.service.eraseEvents({
                    selection: { kind: 'payloadField', sourceAppId: 'app', path: ['userId'], equals: user },
                    reason: 'p',
                    by: 'k',
                  });
                  for (const e of events) if ((e.payload as { userId: string }).userId === user) want.add(e.seq);
                } else {
                  const from = T0 + (k % size) * 1000;
                  await p.service.eraseEvents({
                    selection: { kind: 'filter', sourceAppId: 'app', from, to: from + 3000 },
                    reason: 'p',
                    by: 'k',
                  });
                  for (const e of events) if (e.timestamp >= from && e.timestamp < from + 3000) want.add(e.seq);
                }
              }
              expect(await listed(p.storage)).toEqual([...want].map((s) => `app/${s}`).sort());
              const now = await p.storage.getEventRange('app', 0, size, size);
              expect(now.filter((e) => e.payload === null).map((e) => e.seq)).toEqual([...want].sort((a, b) => a - b));
              const report = await p.service.verifyLog('app');
              expect(report).toMatchObject({ ok: true, eventsErased: want.size });
              await checkProofs(p, 'app');
              // Tampering with an erased event's commitment is found at its position.
              const victim = [...want][0];
              if (victim !== undefined) {
                await alterCommitment(p.storage, engine.name, 'app', victim);
                const bad = await p.service.verifyLog('app');
                expect(bad.ok).toBe(false);
                expect(bad.firstBadSeq).toBe(victim);
                expect(bad.problems[0]!.kind).toBe('LEAF_HASH_MISMATCH');
              }
            } finally {
              await p.close();
            }
          },
        ),
        { numRuns: engine.name === 'sqlite' ? 12 : 5, seed: 2121 },
      );
    }, 240_000);
  });
}

type Doc = {
  collection(name: string): {
    updateOne(f: object, u: object): Promise<unknown>;
    updateMany(f: object, u: object): Promise<unknown>;
  };
};
const mongoDb = (storage: LogStorage) => (storage as unknown as { db: Doc }).db;

async function alterPayload(storage: LogStorage, engine: string, app: string, seq: number, payload: object) {
  if (engine === 'sqlite') {
    (storage as SqliteStorage).db
      .prepare('UPDATE events SET payload = ? WHERE source_app_id = ? AND seq = ?')
      .run(JSON.stringify(payload), app, seq);
  } else {
    await mongoDb(storage)
      .collection('events')
      .updateOne({ sourceAppId: app, seq }, { $set: { payload: JSON.stringify(payload) } });
  }
}

async function alterCommitment(storage: LogStorage, engine: string, app: string, seq: number) {
  const other = 'ee'.repeat(32);
  if (engine === 'sqlite') {
    (storage as SqliteStorage).db
      .prepare('UPDATE events SET payload_hash = ? WHERE source_app_id = ? AND seq = ?')
      .run(other, app, seq);
  } else {
    await mongoDb(storage)
      .collection('events')
      .updateOne({ sourceAppId: app, seq }, { $set: { payloadHash: other } });
  }
}

/** Replaces the payload of every event of the log from `fromSeq` on (its commitment no longer matches). */
async function alterPayloadsFrom(storage: LogStorage, engine: string, app: string, fromSeq: number, payload: object) {
  if (engine === 'sqlite') {
    (storage as SqliteStorage).db
      .prepare('UPDATE events SET payload = ? WHERE source_app_id = ? AND seq >= ?')
      .run(JSON.stringify(payload), app, fromSeq);
  } else {
    await mongoDb(storage)
      .collection('events')
      .updateMany({ sourceAppId: app, seq: { $gte: fromSeq } }, { $set: { payload: JSON.stringify(payload) } });
  }
}
