// A publish stores the tree and its checkpoint in one engine write (LogStorage.integrate with a
// checkpoint), and reads the consistency proof for delivery after it. Here that write fails for real,
// on both engines: on SQLite the checkpoint's insert fails inside the transaction that stored the
// nodes (nothing of it stays); on MongoDB the connection is cut on the integrated size's update or on
// the checkpoint's (the server applies it, the answer is lost). Whatever the failure left, no stored
// checkpoint lacks its tree, and the log is published and delivered exactly once afterwards with a
// proof that verifies: by the next publish of the same process, or after a restart on the same data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CompactRange } from '../../src/core/compact/range.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { parseVerifierKey, verifierKeyString } from '../../src/core/note/signed-note.js';
import { verifyConsistency } from '../../src/core/proof/verify.js';
import { Prover } from '../../src/log/prover.js';
import { Publisher } from '../../src/log/publisher.js';
import type { CheckpointUpdate } from '../../src/log/service.js';
import { loadSigningKey, type SigningKey } from '../../src/log/signing-key.js';
import { collectionNames } from '../../src/storage/mongodb/documents.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import type { LogHead, LogStorage, StoredEvent } from '../../src/storage/types.js';
import { freshDbName, startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { commandMarker, startTcpCutter } from '../support/tcp-cutter.js';
import { appendChain } from './engines.js';

const KEY_NAME = 'test.chainlog';
const originOf = (app: string) => `${KEY_NAME}/${app}`;

let mongo: MongoTestServer;
let keyDir: string;
let key: SigningKey;
beforeAll(async () => {
  mongo = await startMongoTestServer();
  keyDir = mkdtempSync(join(tmpdir(), 'chainlog-one-write-key-'));
  key = loadSigningKey({ dataDir: keyDir });
});
afterAll(async () => {
  await mongo?.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

interface Store {
  storage: LogStorage;
  /** Make the publish's write of log "a" fail from now on; the returned function ends that. */
  breakWrites(): Promise<() => Promise<void>>;
  /** Another storage object on the same data (a restarted process). */
  reopen(): Promise<LogStorage>;
  cleanup(): Promise<void>;
}

interface Failure {
  name: string;
  open(): Promise<Store>;
  /** What the failed write left of log "a" (integrated 2 and checkpointed at 2 before it, 5 events). */
  left: { integratedSize: number; latestCheckpoint: number };
}

const failures: Failure[] = [
  {
    name: "sqlite: the checkpoint's insert fails in the transaction that stored the nodes",
    left: { integratedSize: 2, latestCheckpoint: 2 },
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'chainlog-one-write-'));
      const path = join(dir, 'log.db');
      return {
        storage: new SqliteStorage({ path }),
        reopen: async () => new SqliteStorage({ path }),
        async breakWrites() {
          // A real SQLite error at that very statement, raised in the writer's own transaction.
          const db = new Database(path);
          db.exec(`CREATE TRIGGER fail_checkpoint BEFORE INSERT ON checkpoints WHEN NEW.source_app_id = 'a'
                   BEGIN SELECT RAISE(ABORT, 'injected by the test: disk I/O error'); END`);
          return async () => {
            db.exec('DROP TRIGGER fail_checkpoint');
            db.close();
          };
        },
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  ...(
    [
      ['integrated size', 'update', collectionNames.integrated, { integratedSize: 5, latestCheckpoint: 2 }],
      ['checkpoint', 'insert', collectionNames.checkpoints, { integratedSize: 5, latestCheckpoint: 5 }],
    ] as const
  ).map(([what, command, collection, left]): Failure => ({
    name: `mongodb: the connection is cut on the ${what}'s ${command} (applied, its answer lost)`,
    left,
    async open() {
      const cutter = await startTcpCutter(mongo.uri);
      const dbName = freshDbName();
      return {
        storage: new MongoStorage({ uri: cutter.uri, dbName }),
        reopen: async () => new MongoStorage({ uri: mongo.uri, dbName }),
        async breakWrites() {
          const cutting = cutter.cutRequests(commandMarker(command, collection));
          return async () => {
            cutting.stop();
            expect(cutting.cuts).toBeGreaterThan(0);
          };
        },
        async cleanup() {
          await cutter.close();
          const client = new MongoClient(mongo.uri);
          try {
            await client.db(dbName).dropDatabase();
          } finally {
            await client.close();
          }
        },
      };
    },
  })),
];

function rootOf(events: readonly StoredEvent[]): Uint8Array {
  const range = CompactRange.new(0);
  for (const e of events) range.append(fromHex(e.hash));
  return range.rootHash();
}

describe.each(failures)('a failed publish write: $name', (failure) => {
  let store: Store;
  const publishers: Publisher[] = [];
  const storages: LogStorage[] = [];

  async function publisher(storage: LogStorage) {
    const verifierKey = verifierKeyString(KEY_NAME, key.publicKey);
    const delivered: CheckpointUpdate[] = [];
    const p = new Publisher({
      storage,
      prover: new Prover(storage),
      key,
      verifier: parseVerifierKey(verifierKey),
      originOf,
      checkpointIntervalMs: 60_000,
      leaseTtlMs: 5000,
      owner: 'test-publisher',
      logger: pino({ level: 'silent' }),
      now: Date.now,
      onPublished: (u) => delivered.push(u),
    });
    publishers.push(p);
    await p.prepare(verifierKey);
    return { p, delivered };
  }

  afterEach(async () => {
    for (const p of publishers.splice(0)) await p.stop().catch(() => undefined);
    for (const s of storages.splice(0)) await s.close().catch(() => undefined);
    await store?.cleanup();
  });

  /** Every stored checkpoint of the log has its tree: the root the stored nodes give at its size. */
  async function expectTreesStored(storage: LogStorage, app: string, events: readonly StoredEvent[]): Promise<number[]> {
    const prover = new Prover(storage);
    const stored = await storage.listCheckpoints(app, null, 100, 'asc');
    for (const cp of stored) {
      expect(toHex(await prover.rootAt(app, cp.treeSize)), `root at ${cp.treeSize}`).toBe(cp.rootHash);
      expect(cp.rootHash).toBe(toHex(rootOf(events.slice(0, cp.treeSize))));
    }
    return stored.map((c) => c.treeSize);
  }

  /** Log "a" published at 2, grown to 5, and a publish of it failed in its write. */
  async function failedPublish() {
    store = await failure.open();
    storages.push(store.storage);
    await store.storage.init();
    const { p, delivered } = await publisher(store.storage);
    const first = await appendChain(store.storage, 'a', 2);
    p.offer(first);
    await p.publishNow();
    const more = await appendChain(store.storage, 'a', 3);
    p.offer(more);
    const heal = await store.breakWrites();
    const err = await p.publishNow().catch((e: unknown) => e);
    await heal();
    expect((err as Error).message).toMatch(/no checkpoint published for "a"/);
    const events = [...first, ...more];
    const head = (await store.storage.getLogHead('a')) as LogHead;
    expect({ integratedSize: head.integratedSize, latestCheckpoint: (await store.storage.getCheckpoint('a'))?.treeSize }).toEqual(
      failure.left,
    );
    await expectTreesStored(store.storage, 'a', events);
    expect(delivered.map((u) => u.checkpoint.treeSize)).toEqual([2]);
    return { p, delivered, events };
  }

  it('the next publish delivers the tree once, with a proof from the last delivered checkpoint', async () => {
    const { p, delivered, events } = await failedPublish();
    const published = await p.publishNow();
    expect(published.map((c) => [c.sourceAppId, c.treeSize])).toEqual([['a', 5]]);
    expect(delivered.map((u) => u.checkpoint.treeSize)).toEqual([2, 5]);
    const update = delivered[1]!;
    expect(update.previous?.treeSize).toBe(2);
    verifyConsistency(2, 5, update.consistencyHashes.map(fromHex), rootOf(events.slice(0, 2)), rootOf(events));
    expect(await expectTreesStored(store.storage, 'a', events)).toEqual([2, 5]);
    // Delivered once: nothing is left to publish.
    expect(await p.publishNow()).toEqual([]);
    expect(delivered).toHaveLength(2);
  });

  it('a restarted process recovers the log without quarantine and continues from it', async () => {
    const { p, events } = await failedPublish();
    await p.stop();
    const again = await store.reopen();
    storages.push(again);
    await again.init();
    const { p: next, delivered } = await publisher(again);
    await next.publishNow();
    expect(next.quarantineOf('a')).toBeNull();
    expect((await again.getCheckpoint('a'))?.treeSize).toBe(5);
    const grown = await appendChain(again, 'a', 1);
    next.offer(grown);
    expect((await next.publishNow()).map((c) => c.treeSize)).toEqual([6]);
    const update = delivered.at(-1)!;
    expect(update.previous?.treeSize).toBe(5);
    const all = [...events, ...grown];
    verifyConsistency(5, 6, update.consistencyHashes.map(fromHex), rootOf(events), rootOf(all));
    expect(await expectTreesStored(again, 'a', all)).toEqual([2, 5, 6]);
  });
});
