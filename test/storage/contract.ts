// The storage contract: one vitest suite every LogStorage engine must pass.
//
// `open()` gives a fresh, empty, NOT yet initialised store per test (the suite calls init()).
// `reopen()` must return a new instance on the same data; it closes nothing itself: the suite
// closes the current instance first. `cleanup()` drops the data after the suite closed the store.
import { canonicalJson } from '../../src/core/canonical-json.js';
import { addCosignatures } from '../../src/witnessing/store-cosignatures.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AppendConflictError,
  MissingTreeNodeError,
  type EventFilter,
  type EventKey,
  type LogStorage,
  type NewEvent,
  type NodeId,
  type StoredCheckpoint,
  type StoredEvent,
  type TreeNode,
} from '../../src/storage/types.js';
import { BASE_TIME, fakeHash, newEvent, newEvents, seededRandom, withoutPos } from './event-fixtures.js';

/** Storage options a test may set (the rest are the engine's defaults). */
export interface HarnessOptions {
  readBudgetRows?: number;
  /** SQLite's time index (src/storage/sqlite/time-index.ts); other engines have none and ignore it. */
  timeIndex?: { batchRows?: number; delayMs?: number };
}

export interface StorageHarness {
  storage: LogStorage;
  reopen: () => Promise<LogStorage>;
  cleanup: () => Promise<void>;
}

const bytesHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const nodeHash = (app: string, level: number, index: number) => fakeHash(`node:${app}:${level}:${index}`);
const treeNode = (app: string, level: number, index: number): TreeNode => ({
  level,
  index,
  hash: Uint8Array.from(Buffer.from(nodeHash(app, level, index), 'hex')),
});

async function expectConflict(p: Promise<unknown>, kind: AppendConflictError['kind']) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected an AppendConflictError').toBeInstanceOf(AppendConflictError);
  expect((err as AppendConflictError).kind).toBe(kind);
}

const checkpoint = (sourceAppId: string, treeSize: number): StoredCheckpoint => ({
  sourceAppId,
  treeSize,
  rootHash: fakeHash(`root:${sourceAppId}:${treeSize}`),
  note: `chainlog.test/${sourceAppId}\n${treeSize}\nAAAA\n\n\u2014 chainlog.test ABCDéü==\n`,
  publishedAt: BASE_TIME + treeSize,
});

// --- reference model for queries ----------------------------------------------------------------

const APPS = ['app-a', 'app-b', 'app-c'];
const TYPES = ['user.created', 'user.deleted', 'order.placed', 'order.shipped'];
/** Timestamps drawn from few values so that ties are common; ts 40..47 * 1000 are never used. */
const tsOf = (k: number) => BASE_TIME + k * 1000;

function matches(e: StoredEvent, f: EventFilter): boolean {
  return (
    (f.sourceAppIds === undefined || f.sourceAppIds.includes(e.sourceAppId)) &&
    (f.eventTypes === undefined || f.eventTypes.includes(e.eventType)) &&
    (f.from === undefined || e.timestamp >= f.from) &&
    (f.to === undefined || e.timestamp < f.to)
  );
}

const keyCmp = (a: EventKey, b: EventKey) => a.timestamp - b.timestamp || a.pos - b.pos;

/** What queryEvents returns for `f` over `all`, in full: the reference every engine's pages must walk. */
export function referenceQuery(all: StoredEvent[], f: EventFilter, direction: 'asc' | 'desc', after?: EventKey) {
  const sign = direction === 'asc' ? 1 : -1;
  return all
    .filter((e) => matches(e, f))
    .filter((e) => after === undefined || sign * keyCmp(e, after) > 0)
    .sort((a, b) => sign * keyCmp(a, b));
}

const QUERY_FILTERS: [string, EventFilter][] = [
  ['no filter', {}],
  ['one app', { sourceAppIds: ['app-b'] }],
  ['two apps', { sourceAppIds: ['app-a', 'app-c'] }],
  ['one type', { eventTypes: ['order.placed'] }],
  ['two types', { eventTypes: ['user.created', 'order.shipped'] }],
  ['from (inclusive)', { from: tsOf(20) }],
  ['to (exclusive)', { to: tsOf(10) }],
  ['from and to', { from: tsOf(5), to: tsOf(25) }],
  ['app and type', { sourceAppIds: ['app-a'], eventTypes: ['user.deleted'] }],
  [
    'apps, types, from, to',
    { sourceAppIds: ['app-a', 'app-b'], eventTypes: ['order.placed', 'user.created'], from: tsOf(3), to: tsOf(33) },
  ],
  ['type and from', { eventTypes: ['order.shipped'], from: tsOf(12) }],
  ['unknown app', { sourceAppIds: ['app-zzz'] }],
  [
    'repeated values in lists',
    { sourceAppIds: ['app-c', 'app-c', 'app-zzz'], eventTypes: ['user.created', 'order.placed', 'user.created'] },
  ],
  ['empty app list matches nothing', { sourceAppIds: [] }],
  ['empty type list matches nothing', { eventTypes: [] }],
  ['from == to is empty', { from: tsOf(7), to: tsOf(7) }],
  ['range without events', { from: tsOf(40), to: tsOf(48) }],
];

export function describeStorageContract(engineName: string, open: (options?: HarnessOptions) => Promise<StorageHarness>): void {
  describe(`LogStorage contract: ${engineName}`, () => {
    let harness: StorageHarness;
    let storage: LogStorage;
    let open_ = false;

    beforeEach(async () => {
      harness = await open();
      storage = harness.storage;
      await storage.init();
      open_ = true;
    });

    afterEach(async () => {
      if (open_) await storage.close();
      open_ = false;
      await harness.cleanup();
    });

    async function reopen(): Promise<LogStorage> {
      await storage.close();
      open_ = false;
      storage = await harness.reopen();
      open_ = true;
      await storage.init();
      return storage;
    }

    describe('init and persistence', () => {
      it('init is idempotent', async () => {
        await storage.appendEvents(newEvents('app-a', 0, 3));
        await storage.init();
        await storage.init();
        expect((await storage.getLogHead('app-a'))?.size).toBe(3);
      });

      it('an empty store has no heads, no events, lastPos 0', async () => {
        expect(await storage.lastPos()).toBe(0);
        expect(await storage.getLogHead('app-a')).toBeNull();
        expect(await storage.listLogHeads(null, 10)).toEqual([]);
        expect(await storage.getEvent('app-a', 0)).toBeNull();
        expect(await storage.queryEvents({ filter: {}, direction: 'asc', limit: 10 })).toEqual({ events: [] });
        expect(await storage.readCommitted(0, {}, 10)).toEqual({ events: [], through: 0, atHorizon: true });
        expect(await storage.getCheckpoint('app-a')).toBeNull();
        expect(await storage.listCheckpoints('app-a', null, 10, 'asc')).toEqual([]);
      });

      it('everything survives close and reopen', async () => {
        const stored = await storage.appendEvents([...newEvents('app-a', 0, 4), ...newEvents('app-b', 0, 2)]);
        await storage.integrate('app-a', 0, 4, [treeNode('app-a', 1, 0), treeNode('app-a', 1, 1), treeNode('app-a', 2, 0)]);
        await storage.putCheckpoint(checkpoint('app-a', 4));
        const lastPos = await storage.lastPos();
        const headA = await storage.getLogHead('app-a');

        const again = await reopen();
        expect(await again.lastPos()).toBe(lastPos);
        expect(await again.getLogHead('app-a')).toEqual(headA);
        expect(await again.getEventRange('app-a', 0, 4, 10)).toEqual(stored.slice(0, 4));
        expect(await again.getEvent('app-b', 1)).toEqual(stored[5]);
        const nodes = await again.getTreeNodes('app-a', [
          { level: 2, index: 0 },
          { level: 0, index: 3 },
        ]);
        expect(nodes.map(bytesHex)).toEqual([nodeHash('app-a', 2, 0), stored[3]!.hash]);
        expect(await again.getCheckpoint('app-a')).toEqual(checkpoint('app-a', 4));

        const [next] = await again.appendEvents([newEvent('app-a', 4)]);
        expect(next!.pos).toBeGreaterThan(lastPos);
        expect((await again.getLogHead('app-a'))?.size).toBe(5);
      });
    });

    describe('appendEvents', () => {
      it('returns the events in input order with their pos', async () => {
        const input = [newEvent('app-a', 0), newEvent('app-b', 0), newEvent('app-a', 1)];
        const stored = await storage.appendEvents(input);
        expect(stored.map(({ pos: _pos, ...rest }) => rest)).toEqual(input);
        for (const e of stored) expect(Number.isSafeInteger(e.pos) && e.pos > 0).toBe(true);
      });

      it('assigns pos strictly increasing in commit order across logs', async () => {
        const batches = [
          [newEvent('app-a', 0), newEvent('app-b', 0)],
          [newEvent('app-b', 1)],
          [newEvent('app-c', 0), newEvent('app-a', 1), newEvent('app-c', 1)],
          [newEvent('app-a', 2)],
        ];
        const positions: number[] = [];
        for (const batch of batches) {
          for (const e of await storage.appendEvents(batch)) positions.push(e.pos);
          expect(await storage.lastPos()).toBe(positions.at(-1));
        }
        for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]!);
        const committed = await storage.readCommitted(0, {}, 100);
        expect(committed.events.map((e) => e.pos)).toEqual(positions);
        expect(committed).toMatchObject({ through: positions.at(-1), atHorizon: true });
      });

      it('accepts an empty batch', async () => {
        expect(await storage.appendEvents([])).toEqual([]);
        expect(await storage.lastPos()).toBe(0);
      });

      it('a new log must start at seq 0', async () => {
        await expectConflict(storage.appendEvents([newEvent('app-a', 1)]), 'position');
        expect(await storage.getLogHead('app-a')).toBeNull();
        expect(await storage.lastPos()).toBe(0);
      });

      it('rejects positions already taken, gaps, and non-consecutive batches, writing nothing', async () => {
        await storage.appendEvents(newEvents('app-a', 0, 3));
        const lastPos = await storage.lastPos();
        const rejected: NewEvent[][] = [
          [newEvent('app-a', 2)], // taken
          [newEvent('app-a', 0)], // taken
          [newEvent('app-a', 4)], // gap
          [newEvent('app-a', 3), newEvent('app-a', 5)], // gap inside the batch
          [newEvent('app-a', 4), newEvent('app-a', 3)], // out of order
          [newEvent('app-a', 3), newEvent('app-a', 3)], // duplicate inside the batch
        ];
        for (const batch of rejected) {
          await expectConflict(storage.appendEvents(batch), 'position');
          expect(await storage.lastPos()).toBe(lastPos);
          expect((await storage.getLogHead('app-a'))?.size).toBe(3);
          expect(await storage.getEvent('app-a', 3)).toBeNull();
        }
        // The log still takes its proper next position afterwards.
        await storage.appendEvents([newEvent('app-a', 3), newEvent('app-a', 4)]);
        expect((await storage.getLogHead('app-a'))?.size).toBe(5);
      });

      it('refuses events that do not link to the head or to each other, writing nothing', async () => {
        const unlinked = (e: NewEvent, prevHash: string): NewEvent => ({ ...e, prevHash });
        // A new log's first event links to the zero hash.
        await expectConflict(storage.appendEvents([unlinked(newEvent('app-a', 0), fakeHash('other'))]), 'position');
        expect(await storage.getLogHead('app-a')).toBeNull();
        await storage.appendEvents(newEvents('app-a', 0, 3));
        const lastPos = await storage.lastPos();
        const head = await storage.getLogHead('app-a');
        const rejected: NewEvent[][] = [
          [unlinked(newEvent('app-a', 3), fakeHash('not the head'))], // not to the head
          [newEvent('app-a', 3), unlinked(newEvent('app-a', 4), newEvent('app-a', 2).hash)], // not to the one before
          [newEvent('app-b', 0), unlinked(newEvent('app-a', 3), newEvent('app-b', 0).hash)], // to another log's event
        ];
        for (const batch of rejected) {
          await expectConflict(storage.appendEvents(batch), 'position');
          expect(await storage.lastPos()).toBe(lastPos);
          expect(await storage.getLogHead('app-a')).toEqual(head);
          expect(await storage.getLogHead('app-b')).toBeNull();
          expect(await storage.getEvent('app-a', 3)).toBeNull();
        }
        await storage.appendEvents(newEvents('app-a', 3, 2));
        expect((await storage.getLogHead('app-a'))?.size).toBe(5);
      });

      it('a position conflict in one log of a multi-log batch writes nothing for any log', async () => {
        await storage.appendEvents([...newEvents('app-a', 0, 3), ...newEvents('app-c', 0, 1)]);
        const lastPos = await storage.lastPos();
        const headA = await storage.getLogHead('app-a');
        const headC = await storage.getLogHead('app-c');
        await expectConflict(
          storage.appendEvents([newEvent('app-b', 0), newEvent('app-c', 1), newEvent('app-b', 1), newEvent('app-a', 2)]),
          'position',
        );
        expect(await storage.lastPos()).toBe(lastPos);
        expect(await storage.getLogHead('app-b')).toBeNull();
        expect(await storage.getEvent('app-b', 0)).toBeNull();
        expect(await storage.getEvent('app-c', 1)).toBeNull();
        expect(await storage.getLogHead('app-a')).toEqual(headA);
        expect(await storage.getLogHead('app-c')).toEqual(headC);
        expect(await storage.readCommitted(lastPos, {}, 10)).toEqual({ events: [], through: lastPos, atHorizon: true });
      });

      it('rejects an idempotency key already used in that log, writing nothing', async () => {
        await storage.appendEvents([newEvent('app-a', 0, { idempotencyKey: 'k1' }), newEvent('app-a', 1)]);
        const lastPos = await storage.lastPos();
        await expectConflict(
          storage.appendEvents([newEvent('app-b', 0, { idempotencyKey: 'k9' }), newEvent('app-a', 2, { idempotencyKey: 'k1' })]),
          'idempotencyKey',
        );
        expect(await storage.lastPos()).toBe(lastPos);
        expect(await storage.getLogHead('app-b')).toBeNull();
        expect((await storage.getLogHead('app-a'))?.size).toBe(2);
        // The same key in another log is fine, and null keys never clash.
        await storage.appendEvents([
          newEvent('app-b', 0, { idempotencyKey: 'k1' }),
          newEvent('app-a', 2),
          newEvent('app-a', 3, { idempotencyKey: null }),
        ]);
        expect((await storage.getLogHead('app-a'))?.size).toBe(4);
      });

      it('rejects the same idempotency key twice in one batch', async () => {
        await expectConflict(
          storage.appendEvents([
            newEvent('app-a', 0, { idempotencyKey: 'dup' }),
            newEvent('app-a', 1, { idempotencyKey: 'dup' }),
          ]),
          'idempotencyKey',
        );
        expect(await storage.getLogHead('app-a')).toBeNull();
        expect(await storage.lastPos()).toBe(0);
      });

      it('of two concurrent appends at the same position exactly one wins', async () => {
        await storage.appendEvents(newEvents('app-a', 0, 2));
        const results = await Promise.allSettled([
          storage.appendEvents([newEvent('app-a', 2, { payload: { writer: 1 } })]),
          storage.appendEvents([newEvent('app-a', 2, { payload: { writer: 2 } })]),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(AppendConflictError);
        const winner = (won[0] as PromiseFulfilledResult<StoredEvent[]>).value[0]!;
        expect(await storage.getEvent('app-a', 2)).toEqual(winner);
        expect((await storage.getLogHead('app-a'))?.size).toBe(3);
      });

      it('of two stores on one database appending at the same position, exactly one wins and the loser wrote nothing', async () => {
        const other = await harness.reopen();
        await other.init();
        try {
          await storage.appendEvents(newEvents('app-a', 0, 2));
          for (let round = 0; round < 3; round++) {
            const at = 2 + round * 3;
            const batch = (writer: number) => [
              ...newEvents('app-a', at, 3, () => ({ payload: { writer, round } })),
              newEvent(`app-w${writer}-${round}`, 0),
            ];
            const results = await Promise.allSettled([storage.appendEvents(batch(1)), other.appendEvents(batch(2))]);
            const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ writer: i + 1, events: r.value }] : []));
            const lost = results.flatMap((r, i) =>
              r.status === 'rejected' ? [{ writer: i + 1, reason: r.reason as unknown }] : [],
            );
            expect(won).toHaveLength(1);
            expect(lost).toHaveLength(1);
            expect(lost[0]!.reason).toBeInstanceOf(AppendConflictError);
            expect((lost[0]!.reason as AppendConflictError).kind).toBe('position');
            for (const reader of [storage, other]) {
              expect(await reader.getEventRange('app-a', at, at + 3, 10)).toEqual(won[0]!.events.slice(0, 3));
              expect(await reader.getLogHead(`app-w${lost[0]!.writer}-${round}`)).toBeNull();
              expect((await reader.getLogHead('app-a'))?.size).toBe(at + 3);
            }
          }
          const all = (await other.readCommitted(0, {}, 1000)).events;
          expect(all.filter((e) => e.sourceAppId === 'app-a').map((e) => e.seq)).toEqual([...Array(11).keys()]);
          expect(all.filter((e) => e.sourceAppId.startsWith('app-w'))).toHaveLength(3);
        } finally {
          await other.close();
        }
      });

      it('an append planned on a head another store has since moved conflicts, writing nothing, and succeeds re-planned', async () => {
        const other = await harness.reopen();
        await other.init();
        try {
          await storage.appendEvents(newEvents('app-a', 0, 2));
          expect((await storage.getLogHead('app-a'))?.size).toBe(2); // this store now knows the head at 2
          const theirs = await other.appendEvents([...newEvents('app-a', 2, 2), newEvent('app-b', 0)]);
          await expectConflict(
            storage.appendEvents([newEvent('app-a', 2, { payload: { stale: true } }), newEvent('app-c', 0)]),
            'position',
          );
          expect(await storage.getEvent('app-a', 2)).toEqual(theirs[0]);
          expect(await storage.getLogHead('app-c')).toBeNull();
          // Re-planned on the head as it stands now.
          expect((await storage.getLogHead('app-a'))?.size).toBe(4);
          const [mine] = await storage.appendEvents([newEvent('app-a', 4), newEvent('app-c', 0)]);
          expect(mine!.pos).toBeGreaterThan(theirs.at(-1)!.pos);
          expect((await other.getLogHead('app-a'))?.size).toBe(5);
          expect((await other.readCommitted(0, { sourceAppIds: ['app-a'] }, 100)).events.map((e) => e.seq)).toEqual([
            0, 1, 2, 3, 4,
          ]);
        } finally {
          await other.close();
        }
      });

      it('round-trips payloads exactly', async () => {
        const payload = {
          text: 'héllo wörld 日本語 🚀 e\u0301 \u2028 "quoted" back\\slash\nnewline\ttab \u0000 nul',
          numbers: [0, -1, 1.5, 1e-7, 2 ** 53 - 1, -(2 ** 53 - 1), 1e300, 123456789.125, 3],
          flags: { yes: true, no: false, nothing: null },
          empty: { obj: {}, arr: [], str: '' },
          nested: { a: { b: { c: { d: [{ e: [1, [2, [3, { f: 'deep' }]]] }] } } } },
          'a.b': 'dotted key',
          $dollar: 'dollar key',
          '🔑': 'emoji key',
          zLast: 1,
          aAfterZ: 2,
        };
        const [stored] = await storage.appendEvents([newEvent('app-a', 0, { payload })]);
        const got = await storage.getEvent('app-a', 0);
        expect(got?.payload).toEqual(payload);
        expect(JSON.stringify(got?.payload)).toBe(JSON.stringify(payload));
        expect(got).toEqual(stored);
      });

      it('round-trips timestamps far in the future and idempotency keys', async () => {
        const far = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        const e = newEvent('app-a', 0, { timestamp: far, receivedAt: far - 1, idempotencyKey: 'ключ-🔑' });
        await storage.appendEvents([e]);
        const got = await storage.getEvent('app-a', 0);
        expect(got).toMatchObject({ timestamp: far, receivedAt: far - 1, idempotencyKey: 'ключ-🔑' });
        expect(await storage.findByIdempotencyKeys('app-a', ['ключ-🔑'])).toEqual([got]);
      });
    });

    describe('appendCopied: events another server sequenced', () => {
      // Hashes unlike any the engine would compute, and receivedAt far from now: stored exactly as given.
      const copied = (app: string, start: number, count: number) =>
        newEvents(app, start, count, (seq) => ({ receivedAt: BASE_TIME - 7_000 - seq }));

      it('keeps seq, receivedAt, prevHash and hash exactly as given', async () => {
        const input = [...copied('app-a', 0, 3), ...copied('app-b', 0, 2)];
        const stored = await storage.appendCopied(input);
        expect(stored.map(withoutPos)).toEqual(input);
        expect((await storage.getEventRange('app-a', 0, 3, 10)).map(withoutPos)).toEqual(input.slice(0, 3));
        expect(await storage.getLogHead('app-a')).toMatchObject({ size: 3, headHash: input[2]!.hash });
      });

      it('is idempotent on resume: what is stored is skipped, the rest appended, no duplicates', async () => {
        const all = copied('app-a', 0, 5);
        const first = await storage.appendCopied(all.slice(0, 3));
        const lastPos = await storage.lastPos();
        const again = await storage.appendCopied(all.slice(1, 3));
        expect(again).toEqual(first.slice(1, 3));
        expect(await storage.lastPos()).toBe(lastPos);
        const resumed = await storage.appendCopied(all.slice(2));
        expect(resumed[0]).toEqual(first[2]);
        expect(resumed.slice(1).map(withoutPos)).toEqual(all.slice(3));
        expect((await storage.getEventRange('app-a', 0, 10, 10)).map(withoutPos)).toEqual(all);
        expect((await storage.readCommitted(0, {}, 100)).events).toHaveLength(5);
      });

      it('refuses a position that holds a different event, and a gap, writing nothing', async () => {
        await storage.appendCopied(copied('app-a', 0, 2));
        const lastPos = await storage.lastPos();
        const other = { ...copied('app-a', 1, 1)[0]!, hash: fakeHash('another history') };
        await expectConflict(storage.appendCopied([other, ...copied('app-a', 2, 1)]), 'position');
        await expectConflict(storage.appendCopied(copied('app-a', 3, 1)), 'position');
        expect(await storage.lastPos()).toBe(lastPos);
        expect(await storage.getLogHead('app-a')).toMatchObject({ size: 2 });
      });

      it('stores an event copied erased without payload nor salt, and refuses a payload-less one not erased', async () => {
        const [live, gone] = copied('app-a', 0, 2).map((e, i) => ({
          ...e,
          payloadHash: fakeHash(`commitment ${i}`),
          payloadSalt: fakeHash(`salt ${i}`),
        }));
        const erased = { ...gone!, payload: null, payloadSalt: null, erasedAt: BASE_TIME + 5, erasureReason: 'GDPR' };
        const stored = await storage.appendCopied([live!, erased]);
        expect(stored.map(withoutPos)).toEqual([{ ...live!, erasedAt: null, erasureReason: null }, erased]);
        expect(await storage.getEvent('app-a', 1)).toEqual(stored[1]);
        expect((await storage.readCommitted(0, {}, 10)).events[1]).toEqual(stored[1]);
        // Resuming over it is idempotent.
        expect(await storage.appendCopied([erased])).toEqual([stored[1]]);
        const next = { ...copied('app-a', 2, 1)[0]!, payloadHash: fakeHash('c2'), payloadSalt: null, payload: null };
        await expect(storage.appendCopied([next])).rejects.toThrow(/absent exactly when the event is erased/);
        expect(await storage.getLogHead('app-a')).toMatchObject({ size: 2 });
      });

      it('refuses events without their hashes (it never links nor hashes)', async () => {
        await expect(storage.appendCopied([{ ...copied('app-a', 0, 1)[0]!, hash: '' }])).rejects.toThrow(/64 lowercase hex/);
        expect(await storage.getLogHead('app-a')).toBeNull();
      });
    });

    describe('log heads', () => {
      it('getLogHead reports size, head hash, integrated size and creation time', async () => {
        await storage.appendEvents(newEvents('app-a', 0, 3, (seq) => ({ receivedAt: BASE_TIME + 500 + seq * 10 })));
        await storage.appendEvents(newEvents('app-a', 3, 2, () => ({ receivedAt: BASE_TIME + 9999 })));
        expect(await storage.getLogHead('app-a')).toEqual({
          sourceAppId: 'app-a',
          size: 5,
          headHash: newEvent('app-a', 4).hash,
          integratedSize: 0,
          createdAt: BASE_TIME + 500,
        });
        expect(await storage.getLogHead('app-b')).toBeNull();
      });

      it('listLogHeads pages by sourceAppId in binary order', async () => {
        const ids = ['m-log', 'Zeta', 'a-log', 'b-log', 'z-log', 'B-log'];
        for (const id of ids) await storage.appendEvents(newEvents(id, 0, 1 + (id.length % 3)));
        const sorted = [...ids].sort();
        const seen: string[] = [];
        let after: string | null = null;
        for (;;) {
          const page: Awaited<ReturnType<LogStorage['listLogHeads']>> = await storage.listLogHeads(after, 4);
          expect(page.length).toBeLessThanOrEqual(4);
          for (const h of page) expect(h).toEqual(await storage.getLogHead(h.sourceAppId));
          seen.push(...page.map((h) => h.sourceAppId));
          if (page.length < 4) break;
          after = page.at(-1)!.sourceAppId;
        }
        expect(seen).toEqual(sorted);
        expect((await storage.listLogHeads('b-log', 2)).map((h) => h.sourceAppId)).toEqual(
          sorted.slice(sorted.indexOf('b-log') + 1).slice(0, 2),
        );
        expect(await storage.listLogHeads('zz', 10)).toEqual([]);
      });

      it("findByIdempotencyKeys returns only that log's events with those keys", async () => {
        const stored = await storage.appendEvents([
          newEvent('app-a', 0, { idempotencyKey: 'k1' }),
          newEvent('app-a', 1),
          newEvent('app-a', 2, { idempotencyKey: 'k2' }),
          newEvent('app-a', 3, { idempotencyKey: 'k3' }),
          newEvent('app-b', 0, { idempotencyKey: 'k1' }),
        ]);
        const found = await storage.findByIdempotencyKeys('app-a', ['k3', 'k1', 'missing']);
        expect([...found].sort((x, y) => x.seq - y.seq)).toEqual([stored[0], stored[3]]);
        expect(await storage.findByIdempotencyKeys('app-b', ['k1'])).toEqual([stored[4]]);
        expect(await storage.findByIdempotencyKeys('app-a', [])).toEqual([]);
        expect(await storage.findByIdempotencyKeys('app-c', ['k1'])).toEqual([]);
      });
    });

    describe('reading', () => {
      it('getEvent returns the stored event or null', async () => {
        const stored = await storage.appendEvents([newEvent('app-a', 0), newEvent('app-b', 0), newEvent('app-a', 1)]);
        expect(await storage.getEvent('app-a', 1)).toEqual(stored[2]);
        expect(await storage.getEvent('app-b', 0)).toEqual(stored[1]);
        expect(await storage.getEvent('app-b', 1)).toBeNull();
        expect(await storage.getEvent('app-c', 0)).toBeNull();
        expect((await storage.getEvent('app-a', 0))?.idempotencyKey).toBeNull();
      });

      it('getEventRange honours [start, end) and limit within one log', async () => {
        const stored = await storage.appendEvents(
          Array.from({ length: 10 }, (_, i) => [newEvent('app-a', i), newEvent('app-b', i)]).flat(),
        );
        const a = stored.filter((e) => e.sourceAppId === 'app-a');
        expect(await storage.getEventRange('app-a', 2, 6, 100)).toEqual(a.slice(2, 6));
        expect(await storage.getEventRange('app-a', 2, 6, 2)).toEqual(a.slice(2, 4));
        expect(await storage.getEventRange('app-a', 8, 20, 100)).toEqual(a.slice(8, 10));
        expect(await storage.getEventRange('app-a', 0, 10, 10)).toEqual(a);
        expect(await storage.getEventRange('app-a', 5, 5, 10)).toEqual([]);
        expect(await storage.getEventRange('app-a', 0, 10, 0)).toEqual([]);
        expect(await storage.getEventRange('app-a', 10, 12, 5)).toEqual([]);
        expect(await storage.getEventRange('app-c', 0, 10, 5)).toEqual([]);
      });

      it('getEventRange called for several ranges at once answers each as alone', async () => {
        const stored = await storage.appendEvents(
          Array.from({ length: 10 }, (_, i) => [newEvent('app-a', i), newEvent('app-b', i), newEvent('app-c', i)]).flat(),
        );
        const of = (app: string) => stored.filter((e) => e.sourceAppId === app);
        const got = await Promise.all([
          storage.getEventRange('app-a', 2, 6, 100),
          storage.getEventRange('app-a', 4, 9, 5), // overlaps the one before
          storage.getEventRange('app-b', 0, 10, 3), // longer than its limit
          storage.getEventRange('app-c', 8, 20, 100), // past the head
          storage.getEventRange('app-d', 0, 4, 4), // no such log
          storage.getEventRangeWithText('app-b', 7, 10, 3),
        ]);
        expect(got.slice(0, 5)).toEqual([
          of('app-a').slice(2, 6),
          of('app-a').slice(4, 9),
          of('app-b').slice(0, 3),
          of('app-c').slice(8, 10),
          [],
        ]);
        expect((got[5] as { events: StoredEvent[] }).events).toEqual(of('app-b').slice(7, 10));
      });

      it('getEventRangeWithText hands over the stored JSON text of each payload (the range-proof page splices it)', async () => {
        const stored = await storage.appendEvents([
          newEvent('app-a', 0),
          newEvent('app-a', 1, { payload: { z: 'é ✓', a: [1, 2.5], n: { b: null, a: true } } }),
          newEvent('app-a', 2, { payload: {} }),
        ]);
        const { events, payloadTexts } = await storage.getEventRangeWithText('app-a', 0, 3, 10);
        expect(events).toEqual(stored);
        expect(payloadTexts).toHaveLength(3);
        // The text the engine stored, which parses back to the payload (its members in the stored order).
        payloadTexts.forEach((text, i) => {
          expect(typeof text).toBe('string');
          expect(JSON.parse(text!)).toEqual(events[i]!.payload);
          expect(canonicalJson(JSON.parse(text!))).toBe(canonicalJson(stored[i]!.payload));
        });
        expect(await storage.getEventRangeWithText('app-a', 1, 2, 10)).toEqual({
          events: stored.slice(1, 2),
          payloadTexts: payloadTexts.slice(1, 2),
        });
        expect(await storage.getEventRangeWithText('app-a', 0, 3, 0)).toEqual({ events: [], payloadTexts: [] });
        expect(await storage.getEventRangeWithText('app-a', 3, 3, 10)).toEqual({ events: [], payloadTexts: [] });
      });

      it('getEventRangeWithText gives null for an erased payload', async () => {
        const v2 = (seq: number): NewEvent => ({
          ...newEvent('app-a', seq),
          payloadSalt: fakeHash(`salt ${seq}`),
          payloadHash: fakeHash(`payload ${seq}`),
        });
        await storage.appendEvents([v2(0), v2(1)]);
        expect(await storage.eraseEvents([{ sourceAppId: 'app-a', seq: 1 }], BASE_TIME + 5_000_000, 'test')).toBe(1);
        const { events, payloadTexts } = await storage.getEventRangeWithText('app-a', 0, 2, 10);
        expect(events).toEqual(await storage.getEventRange('app-a', 0, 2, 10));
        expect(events[1]!.payload).toBeNull();
        expect(payloadTexts[1]).toBeNull();
        expect(JSON.parse(payloadTexts[0]!)).toEqual(events[0]!.payload);
      });

      describe('with a few hundred events over 3 logs, 4 types and tied timestamps', () => {
        let all: StoredEvent[];

        beforeEach(async () => {
          const rand = seededRandom(42);
          const next = new Map(APPS.map((a) => [a, 0]));
          const pending: NewEvent[] = [];
          for (let i = 0; i < 320; i++) {
            const app = APPS[Math.floor(rand() * APPS.length)]!;
            const seq = next.get(app)!;
            next.set(app, seq + 1);
            pending.push(
              newEvent(app, seq, {
                eventType: TYPES[Math.floor(rand() * TYPES.length)]!,
                timestamp: tsOf(Math.floor(rand() * 40)),
                payload: { i },
              }),
            );
          }
          all = [];
          while (pending.length > 0) all.push(...(await storage.appendEvents(pending.splice(0, 1 + Math.floor(rand() * 25)))));
        });

        for (const direction of ['asc', 'desc'] as const) {
          for (const [name, filter] of QUERY_FILTERS) {
            it(`queryEvents ${direction}, ${name}: keyset pages walk the reference exactly`, async () => {
              const expected = referenceQuery(all, filter, direction);
              const limit = 7;
              const walked: StoredEvent[] = [];
              let after: EventKey | undefined;
              for (let page = 0; ; page++) {
                expect(page).toBeLessThan(100);
                const { events: got, resumeAfter } = await storage.queryEvents({
                  filter,
                  direction,
                  limit,
                  ...(after ? { after } : {}),
                });
                expect(resumeAfter).toBeUndefined(); // the default budget covers these few hundred events
                expect(got).toEqual(expected.slice(walked.length, walked.length + limit));
                walked.push(...got);
                if (got.length < limit) break;
                const last = got.at(-1)!;
                after = { timestamp: last.timestamp, pos: last.pos };
              }
              expect(walked).toEqual(expected);
            });
          }
        }

        it('queryEvents treats `after` as a pure key, not an event lookup', async () => {
          const t = tsOf(17);
          const asc = await storage.queryEvents({ filter: {}, direction: 'asc', after: { timestamp: t, pos: 0 }, limit: 1000 });
          expect(asc.events).toEqual(referenceQuery(all, { from: t }, 'asc'));
          const { events: desc } = await storage.queryEvents({
            filter: {},
            direction: 'desc',
            after: { timestamp: t, pos: Number.MAX_SAFE_INTEGER },
            limit: 1000,
          });
          expect(desc).toEqual(referenceQuery(all, { to: t + 1 }, 'desc'));
        });

        it('queryEvents with a cursor outside from/to and with limit 0', async () => {
          const filter = { from: tsOf(10), to: tsOf(20) };
          const early = await storage.queryEvents({
            filter,
            direction: 'asc',
            after: { timestamp: tsOf(2), pos: 1 },
            limit: 1000,
          });
          expect(early.events).toEqual(referenceQuery(all, filter, 'asc'));
          const late = await storage.queryEvents({
            filter,
            direction: 'asc',
            after: { timestamp: tsOf(30), pos: 1 },
            limit: 1000,
          });
          expect(late).toEqual({ events: [] });
          expect(await storage.queryEvents({ filter: {}, direction: 'desc', limit: 0 })).toEqual({ events: [] });
        });

        for (const [name, filter] of QUERY_FILTERS.slice(0, 11)) {
          it(`readCommitted, ${name}: pages in pos order`, async () => {
            const expected = all.filter((e) => matches(e, filter)).sort((a, b) => a.pos - b.pos);
            const walked: StoredEvent[] = [];
            let afterPos = 0;
            for (;;) {
              const { events: got, through, atHorizon } = await storage.readCommitted(afterPos, filter, 13);
              expect(got).toEqual(expected.slice(walked.length, walked.length + 13));
              walked.push(...got);
              if (got.length < 13) {
                expect({ through, atHorizon }).toEqual({ through: Math.max(...all.map((e) => e.pos)), atHorizon: true });
                break;
              }
              expect({ through, atHorizon }).toEqual({ through: got.at(-1)!.pos, atHorizon: false });
              afterPos = through;
            }
            expect(walked).toEqual(expected);
          });
        }

        it('readCommitted from the middle, at the end and with limit 0', async () => {
          const byPos = [...all].sort((a, b) => a.pos - b.pos);
          const mid = byPos[150]!.pos;
          expect((await storage.readCommitted(mid, {}, 1000)).events).toEqual(byPos.slice(151));
          const last = await storage.lastPos();
          expect(await storage.readCommitted(last, {}, 10)).toEqual({ events: [], through: last, atHorizon: true });
          expect((await storage.readCommitted(0, {}, 0)).events).toEqual([]);
        });

        it('lastPos is the highest pos committed', async () => {
          expect(await storage.lastPos()).toBe(Math.max(...all.map((e) => e.pos)));
        });
      });
    });

    describe('read budget: a read examines a bounded number of rows and says where to resume', () => {
      const BUDGET = 20;
      const NOISE = 300;
      let small: StorageHarness;
      let store: LogStorage;
      let needles: StoredEvent[];
      let noise: StoredEvent[];
      // Matches no index walks exactly on either engine's readCommitted (apps and types), nor on SQLite's queryEvents.
      const filter: EventFilter = { sourceAppIds: ['noise', 'needle'], eventTypes: ['needle.t'] };

      beforeEach(async () => {
        small = await open({ readBudgetRows: BUDGET });
        store = small.storage;
        await store.init();
        // Three matching events among NOISE events of the same apps that do not match.
        needles = [];
        noise = [];
        let needleSeq = 0;
        for (let i = 0; i < NOISE; i += 50) {
          noise.push(
            ...(await store.appendEvents(
              newEvents('noise', i, 50, (seq) => ({ eventType: 'noise.t', timestamp: tsOf(seq % 40) })),
            )),
          );
          if (i % 100 === 0)
            needles.push(
              ...(await store.appendEvents([
                newEvent('needle', needleSeq++, { eventType: 'needle.t', timestamp: tsOf(i % 40) }),
              ])),
            );
        }
      });

      afterEach(async () => {
        await store.close();
        await small.cleanup();
      });

      it('readCommitted: steps of at most the budget each, each resuming at `through`, find exactly the matches', async () => {
        const walked: StoredEvent[] = [];
        let from = 0;
        let steps = 0;
        for (;;) {
          const page = await store.readCommitted(from, filter, 100);
          steps++;
          expect(steps).toBeLessThan(NOISE);
          expect(page.through).toBeGreaterThanOrEqual(from);
          for (const e of page.events) expect(e.pos).toBeLessThanOrEqual(page.through);
          walked.push(...page.events);
          from = page.through;
          if (page.atHorizon) break;
          expect(page.events.length).toBeLessThan(100);
        }
        expect(walked).toEqual(needles);
        expect(from).toBe(await store.lastPos());
        // Every noise event had to be examined, BUDGET at most per step.
        expect(steps).toBeGreaterThanOrEqual(NOISE / BUDGET);
      });

      it('readCommitted that an index serves exactly is not cut short by the budget', async () => {
        const page = await store.readCommitted(0, { sourceAppIds: ['needle'] }, 100);
        expect(page).toEqual({ events: needles, through: await store.lastPos(), atHorizon: true });
      });

      for (const direction of ['asc', 'desc'] as const) {
        it(`queryEvents ${direction}: pages resumed at resumeAfter walk the reference exactly`, async () => {
          const expected = referenceQuery([...noise, ...needles], filter, direction);
          const sign = direction === 'asc' ? 1 : -1;
          const walked: StoredEvent[] = [];
          let after: EventKey | undefined;
          for (let page = 0; ; page++) {
            expect(page).toBeLessThan(NOISE);
            const got = await store.queryEvents({ filter, direction, limit: 2, ...(after ? { after } : {}) });
            walked.push(...got.events);
            const last = got.events.at(-1);
            if (got.resumeAfter) {
              // A page cut short by the budget: short, and its resume key lies beyond what it returned and beyond the cursor.
              expect(got.events.length).toBeLessThan(2);
              if (last) expect(sign * keyCmp(got.resumeAfter, last)).toBeGreaterThanOrEqual(0);
              if (after) expect(sign * keyCmp(got.resumeAfter, after)).toBeGreaterThan(0);
              after = got.resumeAfter;
            } else if (got.events.length < 2) {
              break;
            } else {
              after = { timestamp: last!.timestamp, pos: last!.pos };
            }
          }
          expect(walked).toEqual(expected);
        });
      }
    });

    describe('tree', () => {
      const id = (level: number, index: number): NodeId => ({ level, index });

      it('integrate stores nodes and raises integratedSize; getTreeNodes reads them in order', async () => {
        const stored = await storage.appendEvents(newEvents('app-a', 0, 8));
        await storage.integrate('app-a', 0, 4, [treeNode('app-a', 1, 0), treeNode('app-a', 1, 1), treeNode('app-a', 2, 0)]);
        expect((await storage.getLogHead('app-a'))?.integratedSize).toBe(4);

        const ids = [id(2, 0), id(0, 5), id(1, 1), id(0, 0), id(1, 0), id(2, 0)];
        const got = await storage.getTreeNodes('app-a', ids);
        for (const h of got) {
          expect(h).toBeInstanceOf(Uint8Array);
          expect(h.length).toBe(32);
        }
        expect(got.map(bytesHex)).toEqual([
          nodeHash('app-a', 2, 0),
          stored[5]!.hash,
          nodeHash('app-a', 1, 1),
          stored[0]!.hash,
          nodeHash('app-a', 1, 0),
          nodeHash('app-a', 2, 0),
        ]);
        expect(await storage.getTreeNodes('app-a', [])).toEqual([]);
      });

      it('getTreeNodes called for several logs at once answers each as alone: a node missing fails only its call', async () => {
        const a = await storage.appendEvents(newEvents('app-a', 0, 4));
        const b = await storage.appendEvents(newEvents('app-b', 0, 2));
        await storage.integrate('app-a', 0, 4, [treeNode('app-a', 1, 0), treeNode('app-a', 1, 1), treeNode('app-a', 2, 0)]);
        await storage.integrate('app-b', 0, 2, [treeNode('app-b', 1, 0)]);
        const reads = await Promise.allSettled([
          storage.getTreeNodes('app-a', [id(2, 0), id(0, 3)]),
          storage.getTreeNodes('app-b', [id(0, 1), id(1, 0), id(0, 0)]),
          storage.getTreeNodes('app-b', [id(1, 0), id(1, 1)]), // (1, 1) of app-b is not stored
          storage.getTreeNodes('app-c', [id(0, 0)]), // no such log
          storage.getTreeNodes('app-a', [id(1, 1), id(0, 0)]),
        ]);
        expect(reads.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
        // The store's own fault, told apart from an engine that cannot answer (readers serve the others).
        const reason = (r: PromiseSettledResult<Uint8Array[]>) => (r as PromiseRejectedResult).reason as unknown;
        expect(reason(reads[2])).toBeInstanceOf(MissingTreeNodeError);
        expect(reason(reads[2])).toMatchObject({ sourceAppId: 'app-b', level: 1, index: 1 });
        expect(reason(reads[3])).toMatchObject({ name: 'MissingTreeNodeError', sourceAppId: 'app-c', level: 0, index: 0 });
        const hexes = (r: PromiseSettledResult<Uint8Array[]>) => (r as PromiseFulfilledResult<Uint8Array[]>).value.map(bytesHex);
        expect(hexes(reads[0])).toEqual([nodeHash('app-a', 2, 0), a[3]!.hash]);
        expect(hexes(reads[1])).toEqual([b[1]!.hash, nodeHash('app-b', 1, 0), b[0]!.hash]);
        expect(hexes(reads[4])).toEqual([nodeHash('app-a', 1, 1), a[0]!.hash]);
      });

      it('integrate is a no-op when already integrated and never lowers integratedSize', async () => {
        await storage.appendEvents(newEvents('app-a', 0, 8));
        await storage.integrate('app-a', 0, 4, [treeNode('app-a', 1, 0), treeNode('app-a', 1, 1), treeNode('app-a', 2, 0)]);
        await storage.integrate('app-a', 0, 4, [treeNode('app-a', 1, 0)]);
        await storage.integrate('app-a', 0, 2, []);
        expect((await storage.getLogHead('app-a'))?.integratedSize).toBe(4);
        expect((await storage.getTreeNodes('app-a', [id(2, 0)])).map(bytesHex)).toEqual([nodeHash('app-a', 2, 0)]);
      });

      it("integrate refuses a checkpoint that is not the log's own at toSize, and writes nothing", async () => {
        await storage.appendEvents(newEvents('app-a', 0, 4));
        const nodes = [treeNode('app-a', 1, 0), treeNode('app-a', 1, 1), treeNode('app-a', 2, 0)];
        await expect(storage.integrate('app-a', 0, 4, nodes, checkpoint('app-b', 4))).rejects.toThrow(
          'integrate: the checkpoint of log app-b at size 4 is not of app-a at 4',
        );
        await expect(storage.integrate('app-a', 0, 4, nodes, checkpoint('app-a', 3))).rejects.toThrow(
          'integrate: the checkpoint of log app-a at size 3 is not of app-a at 4',
        );
        expect((await storage.getLogHead('app-a'))?.integratedSize ?? 0).toBe(0);
        expect(await storage.getCheckpoint('app-a')).toBeNull();
        expect(await storage.getCheckpoint('app-b')).toBeNull();
        await storage.integrate('app-a', 0, 4, nodes, checkpoint('app-a', 4));
        expect((await storage.getCheckpoint('app-a'))?.treeSize).toBe(4);
      });

      it('integrate refuses a node hash that is not 32 bytes, before the checkpoint, and writes nothing', async () => {
        await storage.appendEvents(newEvents('app-a', 0, 4));
        const good = [treeNode('app-a', 1, 0), treeNode('app-a', 1, 1), treeNode('app-a', 2, 0)];
        for (const bad of [good[2]!.hash.subarray(0, 31), new Uint8Array(33), new Uint8Array(0)]) {
          const nodes = [good[0]!, good[1]!, { level: 2, index: 0, hash: bad }];
          await expect(storage.integrate('app-a', 0, 4, nodes, checkpoint('app-a', 4))).rejects.toThrow(
            `integrate: node hash must be 32 bytes, got ${bad.length} for node (2, 0)`,
          );
          // Both rules broken: the nodes' is the one reported, on every engine.
          await expect(storage.integrate('app-a', 0, 4, nodes, checkpoint('app-b', 4))).rejects.toThrow(
            'integrate: node hash must be 32 bytes',
          );
        }
        expect((await storage.getLogHead('app-a'))?.integratedSize ?? 0).toBe(0);
        await expect(storage.getTreeNodes('app-a', [id(1, 0)])).rejects.toThrow();
        expect(await storage.getCheckpoint('app-a')).toBeNull();
        await storage.integrate('app-a', 0, 4, good, checkpoint('app-a', 4));
        expect((await storage.getTreeNodes('app-a', [id(2, 0)])).map(bytesHex)).toEqual([nodeHash('app-a', 2, 0)]);
      });

      it('integrate throws on a gap and continues from an overlapping fromSize', async () => {
        await storage.appendEvents(newEvents('app-a', 0, 8));
        await storage.integrate('app-a', 0, 2, [treeNode('app-a', 1, 0)]);
        await expect(
          storage.integrate('app-a', 4, 8, [treeNode('app-a', 1, 2), treeNode('app-a', 1, 3), treeNode('app-a', 2, 1)]),
        ).rejects.toThrow('integrate: log app-a is integrated to 2, below 4; a gap would be left');
        expect((await storage.getLogHead('app-a'))?.integratedSize).toBe(2);
        await storage.integrate('app-a', 1, 4, [treeNode('app-a', 1, 1), treeNode('app-a', 2, 0)]);
        expect((await storage.getLogHead('app-a'))?.integratedSize).toBe(4);
        await storage.integrate('app-a', 4, 8, [
          treeNode('app-a', 1, 2),
          treeNode('app-a', 1, 3),
          treeNode('app-a', 2, 1),
          treeNode('app-a', 3, 0),
        ]);
        expect((await storage.getLogHead('app-a'))?.integratedSize).toBe(8);
        expect((await storage.getTreeNodes('app-a', [id(3, 0), id(1, 3)])).map(bytesHex)).toEqual([
          nodeHash('app-a', 3, 0),
          nodeHash('app-a', 1, 3),
        ]);
      });

      it('getTreeNodes throws when a node is missing, at level 0 or above, and never crosses logs', async () => {
        await storage.appendEvents([...newEvents('app-a', 0, 4), ...newEvents('app-b', 0, 2)]);
        await storage.integrate('app-a', 0, 4, [treeNode('app-a', 1, 0), treeNode('app-a', 1, 1), treeNode('app-a', 2, 0)]);
        await expect(storage.getTreeNodes('app-a', [id(0, 4)])).rejects.toThrow();
        await expect(storage.getTreeNodes('app-a', [id(1, 0), id(1, 2)])).rejects.toThrow();
        await expect(storage.getTreeNodes('app-b', [id(1, 0)])).rejects.toThrow();
        await expect(storage.getTreeNodes('app-c', [id(0, 0)])).rejects.toThrow();
        expect((await storage.getTreeNodes('app-b', [id(0, 1)])).map(bytesHex)).toEqual([newEvent('app-b', 1).hash]);
      });
    });

    describe('the size below which every erasure record is applied', () => {
      it('is 0 at first, rises, never falls, and survives a reopen', async () => {
        expect(await storage.erasuresAppliedBelow()).toBe(0);
        await storage.raiseErasuresAppliedBelow(5);
        expect(await storage.erasuresAppliedBelow()).toBe(5);
        await storage.raiseErasuresAppliedBelow(3);
        expect(await storage.erasuresAppliedBelow()).toBe(5);
        await storage.raiseErasuresAppliedBelow(2 ** 40);
        await reopen();
        expect(await storage.erasuresAppliedBelow()).toBe(2 ** 40);
      });

      it("a mirror's copied size is 0 at first, rises only with its own argument, never falls, and survives a reopen", async () => {
        expect(await storage.erasuresCopiedBelow()).toBe(0);
        await storage.raiseErasuresAppliedBelow(5);
        expect(await storage.erasuresCopiedBelow()).toBe(0);
        await storage.raiseErasuresAppliedBelow(6, [], 4);
        expect([await storage.erasuresAppliedBelow(), await storage.erasuresCopiedBelow()]).toEqual([6, 4]);
        // A raise of one never lowers the other; a lower copied size is ignored.
        await storage.raiseErasuresAppliedBelow(6, [], 2);
        await storage.raiseErasuresAppliedBelow(3, [], 5);
        expect([await storage.erasuresAppliedBelow(), await storage.erasuresCopiedBelow()]).toEqual([6, 5]);
        await storage.raiseErasuresAppliedBelow(2 ** 40, [], 2 ** 40);
        await reopen();
        expect([await storage.erasuresAppliedBelow(), await storage.erasuresCopiedBelow()]).toEqual([2 ** 40, 2 ** 40]);
      });

      it('raised through two handles on the store at once ends at the highest size asked', async () => {
        const other = await harness.reopen();
        await other.init();
        try {
          // 1..40 in an order where lower sizes often come after higher ones.
          const sizes = Array.from({ length: 40 }, (_, i) => ((i * 17) % 40) + 1);
          await Promise.all(sizes.map((n, i) => (i % 2 === 0 ? storage : other).raiseErasuresAppliedBelow(n, [], n - 1)));
          expect(await storage.erasuresAppliedBelow()).toBe(40);
          expect(await other.erasuresAppliedBelow()).toBe(40);
          expect(await storage.erasuresCopiedBelow()).toBe(39);
          expect(await other.erasuresCopiedBelow()).toBe(39);
        } finally {
          await other.close();
        }
      });

      it("stores the listings raised with it: one log's records in order, within [from, below), at most limit", async () => {
        await storage.raiseErasuresAppliedBelow(4, [
          ['app-a', 0],
          ['app-b', 0],
          ['app-b', 2],
          ['app-a', 3],
        ]);
        // Listings stored again are ignored; listings can come with a raise that does not raise.
        await storage.raiseErasuresAppliedBelow(3, [
          ['app-a', 3],
          ['app-a', 1],
        ]);
        expect(await storage.erasuresAppliedBelow()).toBe(4);
        expect(await storage.erasureListings('app-a', 0, 4, 10)).toEqual([0, 1, 3]);
        expect(await storage.erasureListings('app-a', 1, 3, 10)).toEqual([1]);
        expect(await storage.erasureListings('app-a', 0, 4, 2)).toEqual([0, 1]);
        expect(await storage.erasureListings('app-b', 1, 4, 10)).toEqual([2]);
        expect(await storage.erasureListings('app-c', 0, 4, 10)).toEqual([]);
        expect(await storage.erasureListings('app-a', 0, 4, 0)).toEqual([]);
        expect(await storage.erasureListings('app-a', 3, 3, 10)).toEqual([]);
        await reopen();
        expect(await storage.erasureListings('app-a', 0, 2 ** 40, 10)).toEqual([0, 1, 3]);
      });

      it('listings raised through two handles at once are each stored once', async () => {
        const other = await harness.reopen();
        await other.init();
        try {
          // Each record listed through both handles, in raises of overlapping ranges.
          await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              (i % 2 === 0 ? storage : other).raiseErasuresAppliedBelow(i + 1, [
                ['app-a', i],
                ['app-a', Math.max(0, i - 1)],
              ]),
            ),
          );
          expect(await other.erasureListings('app-a', 0, 100, 100)).toEqual([...Array(20).keys()]);
        } finally {
          await other.close();
        }
      });
    });

    describe('checkpoints', () => {
      const big = 2 ** 33 + 5;

      it('putCheckpoint is idempotent and getCheckpoint finds the latest or a given size', async () => {
        for (const size of [4, 8, 2]) await storage.putCheckpoint(checkpoint('app-a', size));
        await storage.putCheckpoint(checkpoint('app-a', 8));
        await storage.putCheckpoint(checkpoint('app-b', 100));
        expect(await storage.getCheckpoint('app-a')).toEqual(checkpoint('app-a', 8));
        expect(await storage.getCheckpoint('app-a', 4)).toEqual(checkpoint('app-a', 4));
        expect(await storage.getCheckpoint('app-a', 5)).toBeNull();
        expect(await storage.getCheckpoint('app-a', 100)).toBeNull();
        expect(await storage.getCheckpoint('app-c')).toBeNull();
        expect((await storage.listCheckpoints('app-a', null, 10, 'asc')).map((c) => c.treeSize)).toEqual([2, 4, 8]);
      });

      it('a put of a size already stored changes nothing, and of puts of one size at once exactly one is stored', async () => {
        const first = checkpoint('app-a', 6);
        await storage.putCheckpoint(first);
        await storage.putCheckpoint({ ...first, note: `${first.note}other\n`, publishedAt: first.publishedAt + 1 });
        expect(await storage.getCheckpoint('app-a', 6)).toEqual(first);
        const racing = [1, 2, 3, 4].map((i) => ({ ...checkpoint('app-a', 7), note: `racer ${i}\n`, publishedAt: i }));
        await Promise.all(racing.map((c) => storage.putCheckpoint(c)));
        const stored = await storage.listCheckpoints('app-a', null, 10, 'asc');
        expect(stored.map((c) => c.treeSize)).toEqual([6, 7]);
        expect(racing).toContainEqual(stored[1]);
      });

      it('a tree size beyond 2^31 round-trips', async () => {
        await storage.putCheckpoint(checkpoint('app-a', 7));
        await storage.putCheckpoint(checkpoint('app-a', big));
        expect(await storage.getCheckpoint('app-a')).toEqual(checkpoint('app-a', big));
        expect(await storage.getCheckpoint('app-a', big)).toEqual(checkpoint('app-a', big));
        expect((await storage.listCheckpoints('app-a', 7, 10, 'asc')).map((c) => c.treeSize)).toEqual([big]);
      });

      it('getLatestCheckpoints gives each log its latest checkpoint, as getCheckpoint does, in the order asked', async () => {
        expect(await storage.getLatestCheckpoints([])).toEqual([]);
        await storage.appendEvents([...newEvents('app-a', 0, 4), ...newEvents('app-b', 0, 6), ...newEvents('app-e', 0, 3)]);
        // app-a: checkpoints 2 and 4 with their trees, 4's note replaced (a cosignature added).
        await storage.integrate('app-a', 0, 2, [], checkpoint('app-a', 2));
        await storage.integrate('app-a', 2, 4, [], checkpoint('app-a', 4));
        const cosigned = `${checkpoint('app-a', 4).note}\u2014 w1 AAAAAQ==\n`;
        expect(await storage.replaceCheckpointNote('app-a', 4, checkpoint('app-a', 4).note, cosigned)).toBe(true);
        // app-b: integrated past its latest checkpoint (a recovery integrates without one).
        await storage.integrate('app-b', 0, 2, [], checkpoint('app-b', 2));
        await storage.integrate('app-b', 2, 6, []);
        // app-d: a checkpoint with no tree (damage); app-e: a flood of them beyond its tree.
        await storage.putCheckpoint(checkpoint('app-d', 9));
        await storage.integrate('app-e', 0, 3, [], checkpoint('app-e', 3));
        for (let size = 4; size < 40; size++) await storage.putCheckpoint(checkpoint('app-e', size));
        const asked = ['app-c', 'app-a', 'app-b', 'app-d', 'app-e', 'app-a'];
        const latest = await storage.getLatestCheckpoints(asked);
        expect(latest).toEqual([
          null,
          { ...checkpoint('app-a', 4), note: cosigned },
          checkpoint('app-b', 2),
          checkpoint('app-d', 9),
          checkpoint('app-e', 39),
          { ...checkpoint('app-a', 4), note: cosigned },
        ]);
        expect(latest).toEqual(await Promise.all(asked.map((app) => storage.getCheckpoint(app))));
      });

      it('replaceCheckpointNote swaps the note only while it is still the expected one', async () => {
        const cp = checkpoint('app-a', 4);
        await storage.putCheckpoint(cp);
        const cosigned = `${cp.note}\u2014 w1 AAAAAQ==\n`;
        expect(await storage.replaceCheckpointNote('app-a', 4, 'another note', cosigned)).toBe(false);
        expect(await storage.replaceCheckpointNote('app-a', 5, cp.note, cosigned)).toBe(false);
        expect(await storage.replaceCheckpointNote('app-a', 4, cp.note, cosigned)).toBe(true);
        expect(await storage.getCheckpoint('app-a')).toEqual({ ...cp, note: cosigned });
        expect(await storage.replaceCheckpointNote('app-a', 4, cp.note, `${cp.note}\u2014 w2 AAAAAg==\n`)).toBe(false);
        expect((await storage.getCheckpoint('app-a', 4))!.note).toBe(cosigned);
      });

      // Atomic on every engine: the MongoDB engine inserts each version of a note under a unique _id.
      it('cosignatures added at once through two handles on the store are all kept, each once', async () => {
        await storage.putCheckpoint(checkpoint('app-a', 9));
        const other = await harness.reopen();
        await other.init();
        try {
          // Signature lines of 8 distinct keys (name and 4-byte key id), 4 added through each handle at once.
          const lines = Array.from(
            { length: 8 },
            (_, i) => `\u2014 witness-${i} ${Buffer.from([0, 0, 0, i, ...new Array<number>(72).fill(i)]).toString('base64')}`,
          );
          const changes = await Promise.all(
            lines.map((line, i) => addCosignatures(i % 2 === 0 ? storage : other, 'app-a', 9, [line])),
          );
          expect(changes.every((c) => c !== null)).toBe(true);
          const note = (await storage.getCheckpoint('app-a', 9))!.note;
          expect(note.startsWith(checkpoint('app-a', 9).note)).toBe(true);
          for (const line of lines) expect(note.split('\n').filter((l) => l === line)).toHaveLength(1);
          // Adding a line whose key already signs the note changes nothing.
          expect(await addCosignatures(other, 'app-a', 9, [lines[3]!])).toBeNull();
        } finally {
          await other.close();
        }
      });

      for (const direction of ['asc', 'desc'] as const) {
        it(`listCheckpoints pages ${direction} strictly beyond afterTreeSize`, async () => {
          const sizes = [1, 3, 5, 8, 13, 21, 34, big];
          for (const s of [...sizes].reverse()) await storage.putCheckpoint(checkpoint('app-a', s));
          await storage.putCheckpoint(checkpoint('app-b', 2));
          const expected = direction === 'asc' ? sizes : [...sizes].reverse();
          const seen: StoredCheckpoint[] = [];
          let after: number | null = null;
          for (;;) {
            const page: StoredCheckpoint[] = await storage.listCheckpoints('app-a', after, 3, direction);
            seen.push(...page);
            if (page.length < 3) break;
            after = page.at(-1)!.treeSize;
          }
          expect(seen).toEqual(expected.map((s) => checkpoint('app-a', s)));
          const from = direction === 'asc' ? 5 : 21;
          const beyond = expected.slice(expected.indexOf(from) + 1, expected.indexOf(from) + 3);
          expect((await storage.listCheckpoints('app-a', from, 2, direction)).map((c) => c.treeSize)).toEqual(beyond);
          expect(await storage.listCheckpoints('app-a', null, 0, direction)).toEqual([]);
        });
      }
    });
  });
}
