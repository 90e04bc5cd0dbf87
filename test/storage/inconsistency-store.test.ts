// The InconsistencyStore on both engines (SQLite, and MongoDB on the FerretDB test server): a record
// is kept once by its id and never replaced, listed newest first with keyset pagination and filters.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { InconsistencyRecord, InconsistencyStore } from '../../src/storage/inconsistency-store.js';
import type { LogStorage } from '../../src/storage/types.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import type { StorageHarness } from './contract.js';
import { mongoHarness, sqliteHarness } from './harnesses.js';

let server: MongoTestServer | undefined;
beforeAll(async () => {
  server = await startMongoTestServer();
});
afterAll(async () => {
  await server?.stop();
});

const rec = (n: number, extra: Partial<InconsistencyRecord> = {}): InconsistencyRecord => ({
  id: n.toString(16).padStart(64, '0'),
  kind: 'same-size-different-roots',
  proven: true,
  origin: 'example.com/a',
  sourceAppId: null,
  detectedBy: 'witness',
  source: 'w1',
  detectedAt: 1_700_000_000_000 + Math.floor(n / 2) * 1000,
  evidence: `{"n":${n}}`,
  ...extra,
});

const engines: [string, () => StorageHarness][] = [
  ['sqlite', () => sqliteHarness('chainlog-inconsistencies-')],
  ['mongodb', () => mongoHarness(server!)],
];

describe.each(engines)('InconsistencyStore: %s', (_engine, open) => {
  let h: StorageHarness;
  let storage: LogStorage;
  let store: InconsistencyStore;

  beforeEach(async () => {
    h = open();
    storage = h.storage;
    await storage.init();
    store = storage.inconsistencies!;
  });
  afterEach(async () => {
    await storage.close();
    await h.cleanup();
  });

  it('records once by id: a second record with the same id is refused and the first stays as it was', async () => {
    expect(await store.record(rec(1))).toBe(true);
    expect(await store.record(rec(1, { source: 'another', detectedAt: 1, proven: false, evidence: 'x' }))).toBe(false);
    expect(await store.list({ limit: 10 })).toEqual([rec(1)]);
  });

  it('lists newest first, ties by id descending, page after page without gap or repeat', async () => {
    // Two records per millisecond value: the id breaks the tie.
    for (const n of [3, 0, 5, 1, 4, 2, 6]) await store.record(rec(n));
    const want = [6, 5, 4, 3, 2, 1, 0].map((n) => rec(n));
    expect(await store.list({ limit: 10 })).toEqual(want);
    const seen: InconsistencyRecord[] = [];
    for (let page = await store.list({ limit: 3 }); page.length > 0;) {
      seen.push(...page);
      const last = page.at(-1)!;
      page = await store.list({ limit: 3, after: { detectedAt: last.detectedAt, id: last.id } });
    }
    expect(seen).toEqual(want);
  });

  it('filters by origin and by source applications (a scope of none lists nothing)', async () => {
    await store.record(rec(1, { origin: 'example.com/a' }));
    await store.record(
      rec(2, { origin: 'chainlog.local/shop', sourceAppId: 'shop', detectedBy: 'peer', proven: false, kind: 'unproven' }),
    );
    await store.record(rec(3, { origin: 'chainlog.local/pay', sourceAppId: 'pay' }));
    expect((await store.list({ origin: 'example.com/a', limit: 10 })).map((r) => r.id)).toEqual([rec(1).id]);
    expect(await store.list({ sourceAppIds: ['shop'], limit: 10 })).toEqual([
      rec(2, { origin: 'chainlog.local/shop', sourceAppId: 'shop', detectedBy: 'peer', proven: false, kind: 'unproven' }),
    ]);
    expect((await store.list({ sourceAppIds: ['shop', 'pay'], limit: 10 })).map((r) => r.sourceAppId)).toEqual(['pay', 'shop']);
    expect(await store.list({ sourceAppIds: [], limit: 10 })).toEqual([]);
    expect(await store.list({ origin: 'example.com/a', sourceAppIds: ['shop'], limit: 10 })).toEqual([]);
  });

  it('keeps its records across a reopen', async () => {
    await store.record(rec(7));
    await storage.close();
    storage = await h.reopen();
    await storage.init();
    expect(await storage.inconsistencies!.list({ limit: 10 })).toEqual([rec(7)]);
  });
});
