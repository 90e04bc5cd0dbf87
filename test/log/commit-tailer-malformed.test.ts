// The CommitTailer (how processes sharing a database learn of every commit) and the subscriptions it
// feeds, past a stored event that breaks the storage contract: the tailer must not stop (every other
// log's subscribers keep receiving), and the damaged log's subscribers get MALFORMED_EVENT at that
// event, as a replay through it gives. On both engines: the tailer reads any LogStorage.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { toApiError } from '../../src/api/errors.js';
import { CommittedEventStream } from '../../src/api/subscriptions/event-stream.js';
import { CommitTailer } from '../../src/log/commit-tailer.js';
import type { CommittedListener } from '../../src/log/service.js';
import { collectionNames as C } from '../../src/storage/mongodb/documents.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import type { LogStorage, StoredEvent } from '../../src/storage/types.js';
import { useMongoTestDatabase } from '../support/mongo-test-server.js';
import { newEvent } from '../storage/event-fixtures.js';

interface Engine {
  storage: LogStorage;
  /**
   * Where the events are appended: on MongoDB another handle on the database (another process), whose
   * commits the tailer reads from the documents; a process's own commits reach its tailer as its
   * appends returned them, not read back.
   */
  writer: LogStorage;
  /** Make the stored event (app, seq) break the contract: its hash in upper case, as someone with the database could. */
  tamper(app: string, seq: number): Promise<void>;
  cleanup(): Promise<void>;
}

const mongo = useMongoTestDatabase();

const engines: Record<string, () => Promise<Engine>> = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-tailer-'));
    const path = join(dir, 'log.db');
    const storage = new SqliteStorage({ path });
    await storage.init();
    return {
      storage,
      writer: storage,
      tamper: async (app, seq) => {
        const db = new Database(path);
        try {
          const r = db.prepare('UPDATE events SET hash = upper(hash) WHERE source_app_id = ? AND seq = ?').run(app, seq);
          expect(r.changes).toBe(1);
        } finally {
          db.close();
        }
      },
      cleanup: async () => {
        await storage.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  mongodb: async () => {
    const storage = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName });
    await storage.init();
    const writer = new MongoStorage({ uri: mongo.server.uri, dbName: mongo.dbName });
    await writer.init();
    const events = mongo.client.db(mongo.dbName).collection<{ sourceAppId: string; seq: number; hash: string }>(C.events);
    return {
      storage,
      writer,
      tamper: async (app, seq) => {
        const doc = await events.findOne({ sourceAppId: app, seq });
        const r = await events.updateOne({ sourceAppId: app, seq }, { $set: { hash: doc!.hash.toUpperCase() } });
        expect(r.modifiedCount).toBe(1);
      },
      cleanup: async () => {
        await storage.close();
        await writer.close();
        await mongo.client.db(mongo.dbName).dropDatabase();
      },
    };
  },
};

/** Pull a stream until it has `count` events or ends; returns what it got and how it ended. */
async function pull(stream: CommittedEventStream, count: number): Promise<{ got: string[]; error: unknown }> {
  const got: string[] = [];
  try {
    while (got.length < count) {
      const r = await stream.next();
      if (r.done) break;
      got.push(`${r.value.sourceAppId}/${r.value.seq}`);
    }
  } catch (err) {
    return { got, error: err };
  }
  return { got, error: null };
}

describe.each(Object.keys(engines))('CommitTailer past a malformed stored event (%s)', (name) => {
  let engine: Engine;
  let tailer: CommitTailer | null = null;
  afterEach(async () => {
    tailer?.stop();
    tailer = null;
    await engine.cleanup();
  });

  it("keeps delivering every other log, and ends the damaged log's subscriptions with MALFORMED_EVENT at that event", async () => {
    engine = await engines[name]!();
    const { storage, writer } = engine;
    for (let seq = 0; seq < 3; seq++) {
      await writer.appendEvents([newEvent('shop', seq)]);
      await writer.appendEvents([newEvent('other', seq)]);
    }
    await engine.tamper('shop', 1);

    // The service's part: hand each read of the tailer to every listener.
    const listeners = new Set<CommittedListener>();
    const feed = {
      onCommitted: (l: CommittedListener) => (listeners.add(l), () => listeners.delete(l)),
      readCommitted: storage.readCommitted.bind(storage),
    };
    const logged: unknown[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const stream = (apps?: string[]) =>
      new CommittedEventStream(feed, { filter: apps ? { sourceAppIds: apps } : {}, maxBuffered: 100, replayPageSize: 10 }).start(
        null,
      );
    const shop = stream(['shop']);
    const other = stream(['other']);
    const all = stream();
    tailer = new CommitTailer(storage, (events, malformed) => listeners.forEach((l) => l(events, malformed)), 20, logger);
    await tailer.start(0);

    expect(await pull(other, 3)).toEqual({ got: ['other/0', 'other/1', 'other/2'], error: null });
    const damaged = await pull(shop, 3);
    expect(damaged.got).toEqual(['shop/0']);
    expect(toApiError(damaged.error)).toMatchObject({ extensions: { code: 'MALFORMED_EVENT', sourceAppId: 'shop', seq: 1 } });
    // A subscriber of every log is told too, after what came before the damaged event.
    const everything = await pull(all, 6);
    expect(everything.got).toEqual(['shop/0', 'other/0']);
    expect(toApiError(everything.error)?.code).toBe('MALFORMED_EVENT');
    expect(logged).toEqual([expect.objectContaining({ sourceAppId: 'shop', seq: 1, level: 50 })]);

    // The tailer went on: later commits still reach the other log's subscribers.
    await writer.appendEvents([newEvent('other', 3)]);
    expect(await pull(other, 1)).toEqual({ got: ['other/3'], error: null });
  });

  it('a replay through the damaged event fails with the same MALFORMED_EVENT (as it did before)', async () => {
    engine = await engines[name]!();
    const { storage, writer } = engine;
    const first = await writer.appendEvents([newEvent('shop', 0)]);
    await writer.appendEvents([newEvent('shop', 1)]);
    await engine.tamper('shop', 1);
    const feed = { onCommitted: () => () => undefined, readCommitted: storage.readCommitted.bind(storage) };
    const replay = new CommittedEventStream(feed, {
      filter: { sourceAppIds: ['shop'] },
      maxBuffered: 100,
      replayPageSize: 10,
    }).start(first[0] as StoredEvent, true);
    const r = await pull(replay, 3);
    // The page holding it fails as a whole: nothing of it is delivered.
    expect(r.got).toEqual([]);
    expect(toApiError(r.error)).toMatchObject({ extensions: { code: 'MALFORMED_EVENT', sourceAppId: 'shop', seq: 1 } });
  });
});
