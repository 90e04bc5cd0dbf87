import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { planEventQuery, planReadCommitted, type IndexWalk } from '../../src/storage/sqlite/event-query-plan.js';
import { EVENT_INDEX, SCHEMA_VERSION, TIME_INDEX, TYPE_POSITIONS } from '../../src/storage/sqlite/schema.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { createWriter, publisherWritesFirst, type AppendRow, type WriteRequest } from '../../src/storage/sqlite/writer.js';
import { ZERO_HASH_HEX } from '../../src/core/leaf.js';
import {
  AppendConflictError,
  type EventFilter,
  type EventPage,
  type EventKey,
  type EventQuery,
  type NewEvent,
  type StoredEvent,
  type StoredCheckpoint,
  type TreeNode,
} from '../../src/storage/types.js';
import { REPO_ROOT } from '../support/service-process.js';
import { describeStorageContract, referenceQuery } from './contract.js';
import { BASE_TIME, fakeHash, newEvent, newEvents } from './event-fixtures.js';
import { sqliteHarness } from './harnesses.js';

/** The time index's keys added at every write: reads walk the index alone (the tail is empty). */
const INDEXED_AT_ONCE = { batchRows: 1 };
/** No delay that elapses while a test runs. */
const NEVER = 2 ** 31 - 1;
/** Never added while a test runs: reads take every event from the tail. */
const NEVER_INDEXED = { batchRows: Number.MAX_SAFE_INTEGER, delayMs: NEVER };

describeStorageContract('sqlite', async (options) =>
  sqliteHarness('chainlog-sqlite-', { timeIndex: INDEXED_AT_ONCE, ...options }),
);
describeStorageContract('sqlite, every event in the time index tail', async (options) =>
  sqliteHarness('chainlog-sqlite-', { timeIndex: NEVER_INDEXED, ...options }),
);
// Keys added once 50 events wait: reads merge the index's walks with a tail of up to 49 events.
describeStorageContract('sqlite, the time index part-way behind', async (options) =>
  sqliteHarness('chainlog-sqlite-', { timeIndex: { batchRows: 50, delayMs: NEVER }, ...options }),
);

/**
 * A write queued behind every write before it: the writer thread answers it after the time index's
 * upkeep that followed them (writer-worker.ts), so once it resolves, that upkeep has run.
 */
const writerTurn = (s: SqliteStorage) =>
  s.putCheckpoint({ sourceAppId: 'writer-turn', treeSize: 0, rootHash: fakeHash('turn'), note: 'n', publishedAt: 1 });

describe('SqliteStorage specifics', () => {
  let dir: string;
  let storage: SqliteStorage;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainlog-sqlite-'));
    storage = new SqliteStorage({ path: join(dir, 'log.db') });
    await storage.init();
  });

  afterEach(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs in WAL mode with synchronous FULL, a busy timeout and a schema version', () => {
    expect(storage.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(storage.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(storage.db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    expect(storage.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  });

  it('refuses a database written by a newer schema version', async () => {
    storage.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    await expect(storage.init()).rejects.toThrow(/newer/);
  });

  /** Closes the store, takes it back to an older version with `sql`, and opens it again: upgraded to this one. */
  async function reopenUpgradedFrom(sql: string): Promise<void> {
    await storage.close();
    const db = new Database(join(dir, 'log.db'));
    db.exec(sql);
    db.close();
    storage = new SqliteStorage({ path: join(dir, 'log.db') });
    await storage.init();
    expect(storage.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  }

  it('a version 5 store gets the size below which every erasure is applied at 0 when it is upgraded', async () => {
    await storage.raiseErasuresAppliedBelow(7);
    await reopenUpgradedFrom('DROP TABLE erasures_applied; DROP TABLE erasure_listings; PRAGMA user_version = 5;');
    // So its first start applies every record once, as a start did before version 6.
    expect(await storage.erasuresAppliedBelow()).toBe(0);
    await storage.raiseErasuresAppliedBelow(3);
    expect(await storage.erasuresAppliedBelow()).toBe(3);
  });

  it("a version 6 store keeps its applied size and gets a mirror's copied size at 0 when it is upgraded", async () => {
    await storage.raiseErasuresAppliedBelow(7, [['app-a', 2]], 5);
    await reopenUpgradedFrom('ALTER TABLE erasures_applied DROP COLUMN copied_below; PRAGMA user_version = 6;');
    // So a mirror's first start reads every record once, as a start did before version 7.
    expect(await storage.erasuresCopiedBelow()).toBe(0);
    expect(await storage.erasuresAppliedBelow()).toBe(7);
    expect(await storage.erasureListings('app-a', 0, 7, 10)).toEqual([2]);
    await storage.raiseErasuresAppliedBelow(7, [], 6);
    expect(await storage.erasuresCopiedBelow()).toBe(6);
  });

  it('maps a UNIQUE violation to a position conflict when the logs table lags the events', async () => {
    await storage.appendEvents(newEvents('app-a', 0, 2));
    storage.db.prepare('DELETE FROM logs WHERE source_app_id = ?').run('app-a');
    const err = await storage.appendEvents([newEvent('app-b', 0), newEvent('app-a', 0)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppendConflictError);
    expect((err as AppendConflictError).kind).toBe('position');
    expect(await storage.getLogHead('app-b')).toBeNull();
    expect(storage.db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(2);
  });

  it('stores each payload as its JSON text in the key order it came in, written on the writer thread', async () => {
    const text = '{"__proto__":{"x":1},"b":[1,-0,"é\\u0000"],"a":null,"10":true,"9":false}';
    const payload = JSON.parse(text) as NewEvent['payload'];
    const [stored] = await storage.appendEvents([{ ...newEvent('app-a', 0), payload }]);
    expect(storage.db.prepare('SELECT payload FROM events WHERE pos = ?').pluck().get(stored!.pos)).toBe(JSON.stringify(payload));
    expect(JSON.stringify((await storage.getEvent('app-a', 0))!.payload)).toBe(JSON.stringify(payload));
  });

  it("stores the sequencer's payload text (the leaf's RFC 8785 member) rather than serializing the payload again", async () => {
    const payload = { b: 1, a: { d: 2, c: 'é' } };
    const payloadText = '{"a":{"c":"é","d":2},"b":1}';
    const [stored] = await storage.appendEvents([{ ...newEvent('app-a', 0), payload, payloadText }]);
    expect(stored).not.toHaveProperty('payloadText');
    expect(storage.db.prepare('SELECT payload FROM events WHERE pos = ?').pluck().get(stored!.pos)).toBe(payloadText);
    expect(JSON.stringify((await storage.getEvent('app-a', 0))!.payload)).toBe(payloadText);
  });

  it('commits requests that waited together in one transaction, each failing alone (writer applyAll)', () => {
    const rows = (events: NewEvent[]): AppendRow[] =>
      events.map((e) => [
        e.sourceAppId,
        e.seq,
        e.eventType,
        e.timestamp,
        e.receivedAt,
        JSON.stringify(e.payload),
        e.prevHash,
        e.hash,
        e.idempotencyKey,
        null,
        null,
      ]);
    const writer = createWriter(storage.db);
    const outcomes = writer.applyAll([
      { id: 1, op: 'append', rows: rows(newEvents('app-a', 0, 2)) },
      { id: 2, op: 'append', rows: rows([newEvent('app-b', 0), newEvent('app-a', 5)]) }, // a gap in app-a: fails whole
      { id: 3, op: 'append', rows: rows([newEvent('app-a', 2)]) }, // continues the first
      { id: 4, op: 'putCheckpoint', checkpoint: ['app-a', 3, 'ab'.repeat(32), 'note', BASE_TIME] },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true, true]);
    expect(outcomes[0]).toEqual({ ok: true, value: 1 });
    expect(outcomes[2]).toEqual({ ok: true, value: 3 });
    expect(storage.db.prepare('SELECT source_app_id, seq FROM events ORDER BY pos').all()).toEqual([
      { source_app_id: 'app-a', seq: 0 },
      { source_app_id: 'app-a', seq: 1 },
      { source_app_id: 'app-a', seq: 2 },
    ]);
    expect(storage.db.prepare('SELECT size FROM logs WHERE source_app_id = ?').pluck().get('app-b')).toBeUndefined();
    expect(storage.db.prepare('SELECT tree_size FROM checkpoints').pluck().all()).toEqual([3]);
    expect(storage.db.inTransaction).toBe(false);
  });

  it('refuses rows that come without their hashes (the sequencer links and hashes), writing nothing', async () => {
    const writer = createWriter(storage.db);
    const row = (hash: string, payloadHash: string | null): AppendRow => [
      'app-w',
      0,
      't',
      BASE_TIME,
      BASE_TIME,
      '{}',
      ZERO_HASH_HEX,
      hash,
      null,
      payloadHash === null ? null : 'ab'.repeat(32),
      payloadHash,
    ];
    expect(() => writer.append([row('', null)])).toThrow(/without its hashes/);
    expect(() => writer.append([row('', 'cd'.repeat(32))])).toThrow(/without its hashes/);
    expect(() => writer.append([row('ab'.repeat(32), '')])).toThrow(/without its hashes/);
    expect(await storage.getLogHead('app-w')).toBeNull();
    expect(storage.db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(0);
  });

  it('takes tree nodes packed (ids in pairs, hashes in one buffer) and refuses a packing that does not add up', async () => {
    await storage.appendEvents(newEvents('app-a', 0, 4));
    const writer = createWriter(storage.db);
    const buffer = new Uint8Array(80); // the hashes start 16 bytes into their buffer
    buffer.fill(1, 16, 48);
    buffer.fill(2, 48, 80);
    const hashes = buffer.subarray(16);
    expect(() => writer.integrate('app-a', 0, 4, { ids: [1, 0, 1], hashes })).toThrow(/node ids/);
    expect(() => writer.integrate('app-a', 0, 4, { ids: [1, 0, 1, 1], hashes: hashes.subarray(0, 48) })).toThrow(/32 per node/);
    writer.integrate('app-a', 0, 4, { ids: [1, 0, 1, 1], hashes });
    const nodes = await storage.getTreeNodes('app-a', [
      { level: 1, index: 0 },
      { level: 1, index: 1 },
    ]);
    expect(nodes.map((h) => [...new Set(h)])).toEqual([[1], [2]]);
  });

  it('applies overlapping appends in call order (orderedAppends); one that no longer continues its log writes nothing', async () => {
    expect(storage.orderedAppends).toBe(true);
    // Sent together, before any settles: each continues the one before it.
    const overlapping = [
      storage.appendEvents(newEvents('app-a', 0, 3)),
      storage.appendEvents(newEvents('app-a', 3, 2)),
      storage.appendEvents(newEvents('app-a', 5, 1)),
    ];
    const stored = (await Promise.all(overlapping)).flat();
    expect(stored.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(stored.map((e) => e.pos)).toEqual([1, 2, 3, 4, 5, 6]);
    // The first fails (seq 7 is a gap), so the second, planned on it, must fail too and write nothing.
    const failing = storage.appendEvents([newEvent('app-a', 7)]);
    const planned = storage.appendEvents([newEvent('app-b', 0), newEvent('app-a', 8)]);
    const independent = storage.appendEvents([newEvent('app-c', 0)]);
    await expect(failing).rejects.toBeInstanceOf(AppendConflictError);
    const err = await planned.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppendConflictError);
    expect((err as AppendConflictError).kind).toBe('position');
    expect(await independent).toHaveLength(1);
    expect(await storage.getLogHead('app-b')).toBeNull();
    expect((await storage.getLogHead('app-a'))!.size).toBe(6);
  });

  describe("the publisher's writes ahead of queued appends (writer applyTurn)", () => {
    const node = (level: number, index: number): TreeNode => ({
      level,
      index,
      hash: new Uint8Array(32).fill(level * 16 + index),
    });
    const tree4 = [node(1, 0), node(1, 1), node(2, 0)];
    const checkpoint = (treeSize: number): StoredCheckpoint => ({
      sourceAppId: 'app-a',
      treeSize,
      rootHash: fakeHash(`root ${treeSize}`),
      note: `note ${treeSize}`,
      publishedAt: BASE_TIME,
    });
    /**
     * Calls the writes in one synchronous stretch on a store whose writer thread is not started yet: the
     * thread starts at the first and finds them all waiting, so they make one turn.
     */
    const queued = <T>(writes: Array<() => Promise<T>>): Array<Promise<T>> => writes.map((w) => w());
    let answered: string[];
    const track =
      <T>(name: string, write: () => Promise<T>) =>
      () =>
        write().then(
          (v) => {
            answered.push(name);
            return v;
          },
          (err: unknown) => {
            answered.push(`${name} failed`);
            throw err;
          },
        );

    beforeEach(async () => {
      answered = [];
      await storage.appendEvents(newEvents('app-a', 0, 4)); // committed: seq 0..3
      await storage.close();
      storage = new SqliteStorage({ path: join(dir, 'log.db') }); // its writer thread starts at its first write
      await storage.init();
    });

    it('passes only what needs no queued write, and nothing in a turn without appends (publisherWritesFirst)', () => {
      const nodes = { ids: [], hashes: new Uint8Array(0) };
      const integrate = (id: number, app: string, toSize: number): WriteRequest => ({
        id,
        op: 'integrate',
        sourceAppId: app,
        fromSize: 0,
        toSize,
        nodes,
      });
      const put = (id: number, app: string): WriteRequest => ({
        id,
        op: 'putCheckpoint',
        checkpoint: [app, 1, 'r', 'n', BASE_TIME],
      });
      const append: WriteRequest = { id: 0, op: 'append', rows: [] };
      const sizes: Record<string, number> = { a: 4, b: 9 };
      const size = (app: string) => sizes[app] ?? 0;
      // b's integration needs a queued append (10 > 9): it and b's later writes stay; a's pass around them.
      expect(
        publisherWritesFirst(
          [append, integrate(1, 'b', 10), integrate(2, 'a', 4), put(3, 'b'), put(4, 'a'), integrate(5, 'b', 9)],
          size,
        ),
      ).toEqual([2, 4]);
      // An unknown log has no committed event: its integration waits.
      expect(publisherWritesFirst([append, integrate(1, 'c', 1), put(2, 'c')], size)).toEqual([]);
      // Without an append or erasure in the turn there is nothing to pass: one commit, in order.
      expect(publisherWritesFirst([integrate(1, 'a', 4), put(2, 'a')], size)).toEqual([]);
      expect(publisherWritesFirst([put(1, 'a'), { id: 2, op: 'erase', ids: [], erasedAt: 0, reason: '' }], size)).toEqual([0]);
    });

    it('commits the integrations of committed events of a turn before its appends, and says so first', () => {
      const writer = createWriter(storage.db);
      const tree = { ids: [1, 0, 1, 1, 2, 0], hashes: new Uint8Array(96).fill(9) };
      const row = (seq: number): AppendRow => [
        'app-a',
        seq,
        't',
        BASE_TIME,
        BASE_TIME,
        '{}',
        newEvent('app-a', seq).prevHash,
        newEvent('app-a', seq).hash,
        null,
        null,
        null,
      ];
      const settled: Array<{ ops: string[]; size: number; integrated: number }> = [];
      writer.applyTurn(
        [
          { id: 1, op: 'append', rows: [row(4)] },
          { id: 2, op: 'integrate', sourceAppId: 'app-a', fromSize: 0, toSize: 4, nodes: tree, checkpoint: null },
          { id: 3, op: 'erase', ids: [['app-a', 0]], erasedAt: BASE_TIME, reason: 'r' },
          { id: 4, op: 'putCheckpoint', checkpoint: ['app-a', 4, fakeHash('root'), 'note', BASE_TIME] },
          { id: 5, op: 'append', rows: [row(5)] },
        ],
        (reqs, outcomes) => {
          expect(outcomes.every((o) => o.ok)).toBe(true);
          expect(storage.db.inTransaction).toBe(false); // each settle follows a commit
          const log = storage.db.prepare('SELECT size, integrated_size FROM logs').get() as {
            size: number;
            integrated_size: number;
          };
          settled.push({ ops: reqs.map((r) => `${r.op} ${r.id}`), size: log.size, integrated: log.integrated_size });
        },
      );
      expect(settled).toEqual([
        { ops: ['integrate 2', 'putCheckpoint 4'], size: 4, integrated: 4 },
        { ops: ['append 1', 'erase 3', 'append 5'], size: 6, integrated: 4 },
      ]);
    });

    it('answers an integration of committed events before the appends queued before it', async () => {
      const writes = queued<unknown>([
        track('append 4', () => storage.appendEvents([newEvent('app-a', 4)])),
        track('append 5', () => storage.appendEvents([newEvent('app-a', 5)])),
        track('integrate 4', () => storage.integrate('app-a', 0, 4, tree4, checkpoint(4))),
      ]);
      await Promise.all(writes);
      expect(answered).toEqual(['integrate 4', 'append 4', 'append 5']);
      expect((await storage.getLogHead('app-a'))!).toMatchObject({ size: 6, integratedSize: 4 });
      expect((await storage.getCheckpoint('app-a'))!.treeSize).toBe(4);
    });

    it("keeps an integration that needs a queued append (and its log's later writes) behind it", async () => {
      const writes = queued<unknown>([
        track('append 4', () => storage.appendEvents([newEvent('app-a', 4)])),
        track('integrate 5', () => storage.integrate('app-a', 0, 5, tree4, checkpoint(5))),
        track('checkpoint 5', () => storage.putCheckpoint(checkpoint(5))),
        track('append 5', () => storage.appendEvents([newEvent('app-a', 5)])),
      ]);
      await Promise.all(writes);
      expect(answered).toEqual(['append 4', 'integrate 5', 'checkpoint 5', 'append 5']);
      expect((await storage.getLogHead('app-a'))!).toMatchObject({ size: 6, integratedSize: 5 });
      expect((await storage.getCheckpoint('app-a'))!.treeSize).toBe(5);
    });

    it('fails a failing integration alone, and a failing append beside a passing integration alone', async () => {
      const [a4, gap, conflict, a5, good] = queued<unknown>([
        track('append 4', () => storage.appendEvents([newEvent('app-a', 4)])),
        // integrated_size is 0: an integration from 2 leaves a gap and fails in its savepoint.
        track('integrate 2..4', () => storage.integrate('app-a', 2, 4, tree4, checkpoint(4))),
        track('append 3 again', () => storage.appendEvents([newEvent('app-a', 3)])),
        track('append 5', () => storage.appendEvents([newEvent('app-a', 5)])),
        track('integrate 4', () => storage.integrate('app-a', 0, 4, tree4, checkpoint(4))),
      ]);
      await expect(gap).rejects.toThrow(/gap|integrated/i);
      await expect(conflict).rejects.toBeInstanceOf(AppendConflictError);
      await expect(a4).resolves.toHaveLength(1);
      await expect(a5).resolves.toHaveLength(1);
      await expect(good).resolves.toBeUndefined();
      expect(answered).toEqual(['integrate 2..4 failed', 'integrate 4', 'append 4', 'append 3 again failed', 'append 5']);
      expect((await storage.getLogHead('app-a'))!).toMatchObject({ size: 6, integratedSize: 4 });
      expect(storage.db.prepare('SELECT tree_size FROM checkpoints').pluck().all()).toEqual([4]);
    });
  });

  it('reports the SQLite failures of the writer thread with their message', async () => {
    storage.db.exec(
      "CREATE TRIGGER no_b BEFORE INSERT ON events WHEN NEW.source_app_id = 'app-b' BEGIN SELECT RAISE(ABORT, 'app-b is closed'); END",
    );
    await expect(storage.appendEvents([newEvent('app-a', 0), newEvent('app-b', 0)])).rejects.toThrow(/app-b is closed/);
    expect(storage.db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(0);
    expect(await storage.appendEvents([newEvent('app-a', 0)])).toHaveLength(1);
  });

  it('closes once however often it is asked, after the writes already sent', async () => {
    const path = join(dir, 'other.db');
    const other = new SqliteStorage({ path });
    await other.init();
    const writes = other.appendEvents(newEvents('app-a', 0, 5));
    await Promise.all([other.close(), other.close()]);
    expect(await writes).toHaveLength(5);
    const again = new SqliteStorage({ path });
    await again.init();
    expect((await again.getLogHead('app-a'))!.size).toBe(5);
    await again.close();
  });

  it('keeps a process alive until its writer thread has exited: a script whose last work is close ends with code 0', async () => {
    // The writer thread is unreferenced while no write is pending; the wait for its exit in close is what
    // must hold the process. Without that, Node ends the script at that await (exit code 13, for an
    // unsettled top-level await) before the close completes.
    const script = join(dir, 'close-last.mts');
    writeFileSync(
      script,
      `import { SqliteStorage } from ${JSON.stringify(join(REPO_ROOT, 'src/storage/sqlite/sqlite-storage.ts'))};
const s = new SqliteStorage({ path: ${JSON.stringify(join(dir, 'script.db'))} });
await s.init();
await s.putCheckpoint({ sourceAppId: 'a', treeSize: 0, rootHash: '${fakeHash('root')}', note: 'n', publishedAt: 1 });
await s.close();
console.log('closed');
`,
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect({ status: child.status, stdout: child.stdout.trim() }, child.stderr).toEqual({ status: 0, stdout: 'closed' });
  });

  it('writes in-process on a :memory: database, which no other connection can open', async () => {
    const memory = new SqliteStorage({ path: ':memory:', timeIndex: { batchRows: 3, delayMs: NEVER } });
    await memory.init();
    try {
      const stored = await memory.appendEvents(newEvents('app-a', 0, 3));
      expect(stored.map((e) => e.pos)).toEqual([1, 2, 3]);
      // The time index's upkeep runs in-process too, right after the write that left batchRows waiting.
      expect(memory.db.prepare(`SELECT through FROM ${TIME_INDEX.state}`).pluck().get()).toBe(3);
      await memory.integrate('app-a', 0, 2, [{ level: 1, index: 0, hash: new Uint8Array(32).fill(7) }]);
      expect((await memory.getLogHead('app-a'))!.integratedSize).toBe(2);
      await expect(memory.appendEvents([newEvent('app-a', 5)])).rejects.toBeInstanceOf(AppendConflictError);
    } finally {
      await memory.close();
    }
  });

  describe('query plans: every filter kind seeks its index exactly, so deep pages cost like the first', () => {
    const plan = (walk: IndexWalk) =>
      (storage.db.prepare(`EXPLAIN QUERY PLAN ${walk.sql}`).all(walk.params) as { detail: string }[]).map((r) => r.detail);
    const after = { timestamp: BASE_TIME, pos: 10 };

    const cases: [string, EventQuery, string[][]][] = [
      [
        'no filter, asc',
        { filter: {}, direction: 'asc', after, limit: 5 },
        [[`SEARCH t USING PRIMARY KEY (ts=? AND pos>?)`, `SEARCH t USING PRIMARY KEY (ts>?)`]],
      ],
      [
        'no filter, desc',
        { filter: {}, direction: 'desc', after, limit: 5 },
        [[`SEARCH t USING PRIMARY KEY (ts=? AND pos<?)`, `SEARCH t USING PRIMARY KEY (ts<?)`]],
      ],
      [
        'from and to, first page',
        { filter: { from: 1, to: 9 }, direction: 'asc', limit: 5 },
        [[`SEARCH t USING PRIMARY KEY (ts>? AND ts<?)`]],
      ],
      [
        'from and to, desc',
        { filter: { from: 1, to: BASE_TIME + 9 }, direction: 'desc', after, limit: 5 },
        [[`SEARCH t USING PRIMARY KEY (ts=? AND pos<?)`, `SEARCH t USING PRIMARY KEY (ts>? AND ts<?)`]],
      ],
      [
        'one app',
        { filter: { sourceAppIds: ['a'] }, direction: 'asc', after, limit: 5 },
        [
          [
            `SEARCH t USING PRIMARY KEY (source_app_id=? AND ts=? AND pos>?)`,
            `SEARCH t USING PRIMARY KEY (source_app_id=? AND ts>?)`,
          ],
        ],
      ],
      [
        'two types, desc',
        { filter: { eventTypes: ['x', 'y'] }, direction: 'desc', after, limit: 5 },
        [
          [`SEARCH t USING PRIMARY KEY (event_type=? AND ts=? AND pos<?)`, `SEARCH t USING PRIMARY KEY (event_type=? AND ts<?)`],
          [`SEARCH t USING PRIMARY KEY (event_type=? AND ts=? AND pos<?)`, `SEARCH t USING PRIMARY KEY (event_type=? AND ts<?)`],
        ],
      ],
      [
        'app, types and to',
        { filter: { sourceAppIds: ['a'], eventTypes: ['x', 'y'], to: 5 }, direction: 'asc', limit: 5 },
        [[`SEARCH t USING PRIMARY KEY (source_app_id=? AND ts<?)`]],
      ],
    ];

    for (const [name, query, expected] of cases) {
      it(name, () => {
        const { arms, tail } = planEventQuery(query)!;
        expect(arms.map((walks) => walks.map((w) => plan(w)[0]))).toEqual(expected);
        for (const w of arms.flat()) {
          expect(plan(w).join('\n')).not.toMatch(/TEMP B-TREE|SCAN (t|e|events)\b/);
          expect(plan(w)[1]).toBe('SEARCH e USING INTEGER PRIMARY KEY (rowid=?)');
        }
        // The tail: the events after the time index's `through` only, whatever the filters.
        expect(plan(tail)[0]).toBe('SEARCH events USING INTEGER PRIMARY KEY (rowid>?)');
      });
    }

    it("readCommitted walks each app's pos index, or each type's positions and the tail, from afterPos, or the rowid", () => {
      const walks = (f: EventFilter) => planReadCommitted(7, f, 5).arms.map((w) => plan(w)[0]);
      expect(walks({ sourceAppIds: ['a', 'b'], eventTypes: ['x'], from: 1 })).toEqual([
        `SEARCH events USING INDEX ${EVENT_INDEX.byApp} (source_app_id=? AND rowid>?)`,
        `SEARCH events USING INDEX ${EVENT_INDEX.byApp} (source_app_id=? AND rowid>?)`,
      ]);
      expect(planReadCommitted(7, { sourceAppIds: ['a'] }, 5).tail).toBeUndefined();
      for (const f of [{ eventTypes: ['x', 'y'] }, { eventTypes: ['x', 'y'], from: 1 }]) {
        const { arms, tail } = planReadCommitted(7, f, 5);
        expect(arms.map((w) => plan(w)[0])).toEqual([
          `SEARCH t USING PRIMARY KEY (event_type=? AND pos>? AND pos<?)`,
          `SEARCH t USING PRIMARY KEY (event_type=? AND pos>? AND pos<?)`,
        ]);
        for (const w of arms) expect(plan(w)).toContain('SEARCH e USING INTEGER PRIMARY KEY (rowid=?)');
        // The tail: the events after afterPos and `through` only.
        expect(plan(tail!)[0]).toBe('SEARCH events USING INTEGER PRIMARY KEY (rowid>?)');
      }
      expect(walks({ from: 1 })).toEqual(['SEARCH events USING INTEGER PRIMARY KEY (rowid>?)']);
      for (const f of [{ sourceAppIds: ['a'], eventTypes: ['x'] }, { eventTypes: ['x'] }]) {
        const { arms, tail } = planReadCommitted(7, f, 5);
        for (const w of [...arms, ...(tail ? [tail] : [])]) expect(plan(w).join('\n')).not.toMatch(/TEMP B-TREE/);
      }
    });
  });

  it('queryEvents with a residual filter examines at most the read budget per call', async () => {
    const small = sqliteHarness('chainlog-sqlite-budget-', { readBudgetRows: 25, timeIndex: INDEXED_AT_ONCE });
    await small.storage.init();
    try {
      await small.storage.appendEvents(newEvents('a', 0, 200, (seq) => ({ eventType: seq === 150 ? 'rare' : 'common' })));
      await writerTurn(small.storage as SqliteStorage); // the 200 are in the time index
      const query: EventQuery = { filter: { sourceAppIds: ['a'], eventTypes: ['rare'] }, direction: 'asc', limit: 10 };
      const pages: EventPage[] = [];
      for (let page = await small.storage.queryEvents(query); ;) {
        pages.push(page);
        if (!page.resumeAfter) break;
        page = await small.storage.queryEvents({ ...query, after: page.resumeAfter });
      }
      // 200 rows of one arm, 25 per call: eight calls cut short by the budget, then the last finds the end.
      expect(pages.map((p) => p.events.map((e) => e.seq))).toEqual([[], [], [], [], [], [], [150], [], []]);
      expect(pages.slice(0, -1).map((p) => p.resumeAfter!.pos - (pages[0]!.resumeAfter!.pos - 25))).toEqual([
        25, 50, 75, 100, 125, 150, 175, 200,
      ]);
    } finally {
      await small.storage.close();
      await small.cleanup();
    }
  });

  it("a read cut short by its budget stops only on rows of the filter's applications, however many", async () => {
    const small = sqliteHarness('chainlog-sqlite-budget-', { readBudgetRows: 10, timeIndex: INDEXED_AT_ONCE });
    await small.storage.init();
    try {
      const mine = Array.from({ length: 40 }, (_, i) => `mine-${String(i).padStart(2, '0')}`);
      // Another tenant's events interleave with ours in time; none of ours matches the type.
      for (let i = 0; i < 40; i++) {
        await small.storage.appendEvents(
          newEvents('theirs', i * 3, 3, (seq) => ({ timestamp: BASE_TIME + seq, eventType: 'x' })),
        );
        await small.storage.appendEvents(
          newEvents(mine[i]!, 0, 1, () => ({ timestamp: BASE_TIME + i * 3 + 1, eventType: 'common' })),
        );
      }
      await writerTurn(small.storage as SqliteStorage);
      const theirs = new Set((await small.storage.getEventRange('theirs', 0, 200, 200)).map((e) => e.pos));
      const query: EventQuery = { filter: { sourceAppIds: mine, eventTypes: ['rare'] }, direction: 'asc', limit: 10 };
      let stops = 0;
      for (
        let page = await small.storage.queryEvents(query);
        page.resumeAfter;
        page = await small.storage.queryEvents({ ...query, after: page.resumeAfter })
      ) {
        expect(theirs.has(page.resumeAfter.pos)).toBe(false);
        stops++;
      }
      expect(stops).toBeGreaterThan(0);
    } finally {
      await small.storage.close();
      await small.cleanup();
    }
  });

  it('a filter of many applications walks each of them, and pages correctly', async () => {
    const apps = Array.from({ length: 40 }, (_, i) => `app-${String(i).padStart(2, '0')}`);
    for (const app of apps.slice(0, 5)) {
      await storage.appendEvents(newEvents(app, 0, 6, (seq) => ({ timestamp: BASE_TIME + (seq % 3), eventType: `t${seq % 2}` })));
    }
    const query: EventQuery = { filter: { sourceAppIds: apps.slice(1), eventTypes: ['t1'] }, direction: 'desc', limit: 4 };
    expect(planEventQuery(query)!.arms).toHaveLength(39);
    const walked = [];
    for (let page = (await storage.queryEvents(query)).events; page.length > 0;) {
      walked.push(...page);
      const last = page.at(-1)!;
      page = (await storage.queryEvents({ ...query, after: { timestamp: last.timestamp, pos: last.pos } })).events;
    }
    const expected = (await storage.readCommitted(0, { sourceAppIds: apps.slice(1, 5), eventTypes: ['t1'] }, 100)).events.sort(
      (a, b) => b.timestamp - a.timestamp || b.pos - a.pos,
    );
    expect(expected).toHaveLength(12);
    expect(walked).toEqual(expected);
  });
});

describe('the time index behind the appends', () => {
  let dir: string;
  let path: string;
  const open: SqliteStorage[] = [];
  const store = async (timeIndex: { batchRows?: number; delayMs?: number }) => {
    const s = new SqliteStorage({ path, timeIndex });
    open.push(s);
    await s.init();
    return s;
  };
  const through = (s: SqliteStorage) => s.db.prepare(`SELECT through FROM ${TIME_INDEX.state}`).pluck().get() as number;
  const keys = (s: SqliteStorage) =>
    [TIME_INDEX.byTs, TIME_INDEX.byTypeTs, TIME_INDEX.byAppTs, TYPE_POSITIONS].map(
      (t) => s.db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number,
    );
  /** Every event of the store in (ts, pos) order, in pages of 4, as a time-ordered read returns them. */
  const byTime = async (s: SqliteStorage, filter: EventFilter = {}, direction: 'asc' | 'desc' = 'asc') => {
    const got: StoredEvent[] = [];
    let after: EventKey | undefined;
    for (;;) {
      const { events } = await s.queryEvents({ filter, direction, limit: 4, ...(after ? { after } : {}) });
      got.push(...events);
      if (events.length < 4) return got;
      after = { timestamp: events.at(-1)!.timestamp, pos: events.at(-1)!.pos };
    }
  };
  /** The store's events of `filter` in pos order, in pages of 4, as subscription replay reads them. */
  const byPos = async (s: SqliteStorage, filter: EventFilter) => {
    const got: StoredEvent[] = [];
    for (let after = 0; ;) {
      const page = await s.readCommitted(after, filter, 4);
      got.push(...page.events);
      if (page.atHorizon) return got;
      after = page.through;
    }
  };
  const inPosOrder = (events: StoredEvent[], filter: EventFilter) =>
    events.filter((e) => filter.eventTypes!.includes(e.eventType)).sort((a, b) => a.pos - b.pos);
  /**
   * Takes the closed store back to an earlier schema with `sql`, then opens it (keys never added while
   * the test runs): the upgraded store, and the names of the events table's indexes.
   */
  const upgradedFrom = async (sql: string) => {
    const db = new Database(path);
    db.exec(sql);
    db.close();
    const upgraded = await store(NEVER_INDEXED);
    expect(upgraded.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const indexes = upgraded.db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'`)
      .pluck()
      .all();
    return { upgraded, indexes };
  };
  // Timestamps out of commit order, as a live stream's are.
  const jittered = (app: string, from: number, count: number) =>
    newEvents(app, from, count, (seq) => ({ timestamp: BASE_TIME + ((seq * 7) % 11), eventType: `t${seq % 3}` }));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'chainlog-time-index-'));
    path = join(dir, 'log.db');
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the writer adds the keys once batchRows events wait; reads meet the index at `through`', async () => {
    const s = await store({ batchRows: 10, delayMs: NEVER });
    const all = await s.appendEvents(jittered('a', 0, 7));
    await writerTurn(s);
    expect(through(s)).toBe(0);
    expect(s.indexLag()).toBe(7);
    all.push(...(await s.appendEvents(jittered('b', 0, 5))));
    await writerTurn(s);
    expect(through(s)).toBe(12);
    expect(s.indexLag()).toBe(0);
    expect(keys(s)).toEqual([12, 12, 12, 12]);
    all.push(...(await s.appendEvents(jittered('a', 7, 3))));
    await writerTurn(s);
    expect(through(s)).toBe(12);
    expect(s.indexLag()).toBe(3);
    for (const direction of ['asc', 'desc'] as const) {
      expect(await byTime(s, {}, direction)).toEqual(referenceQuery(all, {}, direction));
      expect(await byTime(s, { eventTypes: ['t1', 't2'] }, direction)).toEqual(
        referenceQuery(all, { eventTypes: ['t1', 't2'] }, direction),
      );
      expect(await byTime(s, { sourceAppIds: ['a'] }, direction)).toEqual(
        referenceQuery(all, { sourceAppIds: ['a'] }, direction),
      );
    }
  });

  it('after the delay, fewer than batchRows waiting are added too', async () => {
    const s = await store({ batchRows: 1000, delayMs: 20 });
    await s.appendEvents(jittered('a', 0, 3));
    await vi.waitFor(() => expect(through(s)).toBe(3), { timeout: 10_000, interval: 10 });
    expect(keys(s)).toEqual([3, 3, 3, 3]);
  });

  it('a store closed adds the keys still missing', async () => {
    const s = await store(NEVER_INDEXED);
    const all = await s.appendEvents(jittered('a', 0, 20));
    await writerTurn(s);
    expect(through(s)).toBe(0);
    await s.close();
    const again = await store(NEVER_INDEXED);
    expect(through(again)).toBe(20);
    expect(keys(again)).toEqual([20, 20, 20, 20]);
    expect(await byTime(again)).toEqual(referenceQuery(all, {}, 'asc'));
  });

  it('after a crash, the events the index had not reached are read from the tail until a write adds them', async () => {
    // A process killed (SIGKILL) with acknowledged events the keeper had not reached yet.
    const script = join(dir, 'crash.mts');
    writeFileSync(
      script,
      `import { SqliteStorage } from ${JSON.stringify(join(REPO_ROOT, 'src/storage/sqlite/sqlite-storage.ts'))};
import { newEvents } from ${JSON.stringify(join(REPO_ROOT, 'test/storage/event-fixtures.ts'))};
const s = new SqliteStorage({ path: ${JSON.stringify(path)}, timeIndex: ${JSON.stringify(NEVER_INDEXED)} });
await s.init();
await s.appendEvents(newEvents('a', 0, 20, (seq) => ({ timestamp: ${BASE_TIME} + ((seq * 7) % 11) })));
process.kill(process.pid, 'SIGKILL');
`,
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const s = await store({ batchRows: 1, delayMs: NEVER });
    expect(through(s)).toBe(0);
    const all = await s.getEventRange('a', 0, 20, 20);
    expect(all).toHaveLength(20);
    expect(await byTime(s, {}, 'desc')).toEqual(referenceQuery(all, {}, 'desc'));
    all.push(...(await s.appendEvents(jittered('b', 0, 1))));
    await writerTurn(s);
    expect(through(s)).toBe(21);
    expect(await byTime(s)).toEqual(referenceQuery(all, {}, 'asc'));
  });

  it('a failure to add the keys fails no append: reads find every event in the tail, and a later write adds them', async () => {
    const s = await store({ batchRows: 1, delayMs: NEVER });
    // As a full disk would: every transaction that adds keys fails, and rolls back whole.
    s.db.exec(`CREATE TRIGGER refuse_keys BEFORE INSERT ON ${TIME_INDEX.byAppTs} BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    const all = await s.appendEvents(jittered('a', 0, 30));
    await writerTurn(s);
    expect(through(s)).toBe(0);
    expect(keys(s)).toEqual([0, 0, 0, 0]);
    // What the operator sees (chainlog_storage_index_lag_events): the lag grows with every append.
    expect(s.indexLag()).toBe(30);
    expect(await byTime(s)).toEqual(referenceQuery(all, {}, 'asc'));
    expect(await byPos(s, { eventTypes: ['t1', 't2'] })).toEqual(inPosOrder(all, { eventTypes: ['t1', 't2'] }));
    s.db.exec('DROP TRIGGER refuse_keys');
    all.push(...(await s.appendEvents(jittered('b', 0, 1))));
    await writerTurn(s);
    expect(through(s)).toBe(31);
    expect(s.indexLag()).toBe(0);
    expect(keys(s)).toEqual([31, 31, 31, 31]);
    expect(await byTime(s, {}, 'desc')).toEqual(referenceQuery(all, {}, 'desc'));
  });

  it('an event changed or deleted behind the service is read where it now is, and no position it held is reused', async () => {
    const s = await store(INDEXED_AT_ONCE);
    const all = await s.appendEvents(newEvents('a', 0, 5, (seq) => ({ timestamp: BASE_TIME + seq })));
    await writerTurn(s);
    expect(through(s)).toBe(5);
    s.db.prepare('UPDATE events SET ts = ? WHERE seq = 1').run(BASE_TIME + 100);
    s.db.prepare('DELETE FROM events WHERE seq = 4').run();
    expect((await byTime(s)).map((e) => e.seq)).toEqual([0, 2, 3, 1]);
    expect((await byTime(s, { sourceAppIds: ['a'] }, 'desc')).map((e) => e.seq)).toEqual([1, 3, 2, 0]);
    expect(keys(s)).toEqual([4, 4, 4, 4]);
    s.db.prepare(`UPDATE events SET event_type = 'moved' WHERE seq = 2`).run();
    expect((await byPos(s, { eventTypes: ['moved'] })).map((e) => e.seq)).toEqual([2]);
    expect((await byPos(s, { eventTypes: [all[0]!.eventType] })).map((e) => e.seq)).not.toContain(2);
    // pos 5 was the deleted event's, and the index covers it: the next event takes 6, past `through`.
    const [next] = await s.appendEvents([newEvent('b', 0, { timestamp: BASE_TIME + 50 })]);
    expect(next!.pos).toBe(all.at(-1)!.pos + 1);
    expect((await byTime(s)).map((e) => `${e.sourceAppId}${e.seq}`)).toEqual(['a0', 'a2', 'a3', 'b0', 'a1']);
  });

  it('a version 3 store gets its events into the time index when it is upgraded', async () => {
    const s = await store(INDEXED_AT_ONCE);
    const all = await s.appendEvents(jittered('a', 0, 25));
    await s.close();
    // Back to version 3 as it was: the time indexes on the events table, no time index tables.
    const { upgraded, indexes } = await upgradedFrom(`
      DROP TRIGGER time_index_on_delete; DROP TRIGGER time_index_on_update;
      DROP TABLE ${TIME_INDEX.byTs}; DROP TABLE ${TIME_INDEX.byTypeTs}; DROP TABLE ${TIME_INDEX.byAppTs}; DROP TABLE ${TIME_INDEX.state};
      DROP TABLE ${TYPE_POSITIONS}; CREATE INDEX events_by_type_pos ON events (event_type);
      DROP TABLE erasures_applied; DROP TABLE erasure_listings;
      CREATE INDEX events_by_ts ON events (ts, pos);
      CREATE INDEX events_by_type_ts ON events (event_type, ts, pos);
      CREATE INDEX events_by_app_ts ON events (source_app_id, ts, pos);
      PRAGMA user_version = 3;
    `);
    expect(through(upgraded)).toBe(25);
    expect(keys(upgraded)).toEqual([25, 25, 25, 25]);
    expect(indexes).not.toContain('events_by_ts');
    expect(await byTime(upgraded, { eventTypes: ['t0'] }, 'desc')).toEqual(referenceQuery(all, { eventTypes: ['t0'] }, 'desc'));
    expect(await byPos(upgraded, { eventTypes: ['t0', 't2'] })).toEqual(inPosOrder(all, { eventTypes: ['t0', 't2'] }));
  });

  it('a version 4 store gets the type positions `through` covers when it is upgraded; reads take the rest from the tail', async () => {
    const s = await store(INDEXED_AT_ONCE);
    const all = await s.appendEvents(jittered('a', 0, 25));
    await s.close();
    // Back to version 4 as it was (the type index on the events table), with the keys of the last 15
    // events not added yet, as a crash leaves them.
    const { upgraded, indexes } = await upgradedFrom(`
      DROP TABLE ${TYPE_POSITIONS}; CREATE INDEX events_by_type_pos ON events (event_type);
      DROP TABLE erasures_applied; DROP TABLE erasure_listings;
      UPDATE ${TIME_INDEX.state} SET through = 10;
      DELETE FROM ${TIME_INDEX.byTs} WHERE pos > 10;
      DELETE FROM ${TIME_INDEX.byTypeTs} WHERE pos > 10;
      DELETE FROM ${TIME_INDEX.byAppTs} WHERE pos > 10;
      PRAGMA user_version = 4;
    `);
    expect(through(upgraded)).toBe(10);
    expect(keys(upgraded)).toEqual([10, 10, 10, 10]);
    expect(indexes).not.toContain('events_by_type_pos');
    for (const eventTypes of [['t0'], ['t1', 't2']])
      expect(await byPos(upgraded, { eventTypes })).toEqual(inPosOrder(all, { eventTypes }));
    all.push(...(await upgraded.appendEvents(jittered('b', 0, 1))));
    await upgraded.close();
    expect(keys(await store(NEVER_INDEXED))).toEqual([26, 26, 26, 26]);
  });
});
