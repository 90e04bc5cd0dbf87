// The raw ingest baseline: batched inserts of the same rows, with the same indexes, into the same
// engine — no hashing, no sequencing, no HTTP. What the engine itself can take. On SQLite, "the same
// indexes" includes the keys behind the appends (the time index's and the event types' positions,
// src/storage/sqlite/time-index.ts), added by the same statements as the service's writer adds them,
// once as many events wait, and the rest before the clock stops: the baseline writes everything the
// service writes for the rows.
import { join } from 'node:path';
import type { Engine } from './engines.js';
import type { EventInput } from './events.js';
import type Database from 'better-sqlite3';
import type { NewEvent } from '../src/storage/types.js';

/**
 * Events as the store would hold them: seq per log, fake (unhashed) link and leaf hashes, and for
 * leaf version 2 a fake salt and commitment (64 hex digits each, as stored); version 1 leaves those
 * columns NULL, as the service does.
 */
export function rowsFor(inputs: readonly EventInput[], leafVersion: 1 | 2 = 2): NewEvent[] {
  const next = new Map<string, number>();
  const receivedAt = Date.now();
  return inputs.map((e, i) => {
    const seq = next.get(e.sourceAppId) ?? 0;
    next.set(e.sourceAppId, seq + 1);
    const fake = (n: number) => n.toString(16).padStart(64, '0');
    return {
      sourceAppId: e.sourceAppId,
      seq,
      eventType: e.eventType,
      timestamp: Date.parse(e.timestamp),
      receivedAt,
      payload: e.payload as NewEvent['payload'],
      prevHash: fake(i),
      hash: fake(i + 1),
      idempotencyKey: null,
      ...(leafVersion === 2 ? { payloadSalt: fake(i + 2), payloadHash: fake(i + 3) } : {}),
    };
  });
}

export interface RawRun {
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

export async function rawInsert(
  engine: Engine,
  label: string,
  rows: readonly NewEvent[],
  batchSize: number,
  clients: number,
): Promise<RawRun> {
  const store = await engine.freshStore(`raw-${label}`);
  try {
    const seconds =
      engine.name === 'sqlite'
        ? await rawSqlite(store.dataDir, rows, batchSize)
        : await rawMongo(store.env, rows, batchSize, clients);
    return { events: rows.length, seconds, eventsPerSecond: rows.length / seconds };
  } finally {
    await store.dispose();
  }
}

/**
 * A transaction inserting events as the log stores them (positions from 1 in insertion order; version 2's
 * salt and commitment, or NULL for version 1; not erased), straight into the `events` table of `db`.
 */
export function rawEventInserter(
  db: Database.Database,
  columns: string,
): Database.Transaction<(batch: readonly NewEvent[]) => void> {
  const insert = db.prepare(`INSERT INTO events (${columns}) VALUES (${Array(columns.split(',').length).fill('?').join(', ')})`);
  let pos = 1;
  return db.transaction((batch: readonly NewEvent[]) => {
    for (const e of batch) {
      insert.run(
        pos++,
        e.sourceAppId,
        e.seq,
        e.eventType,
        e.timestamp,
        e.receivedAt,
        JSON.stringify(e.payload),
        e.prevHash,
        e.hash,
        e.idempotencyKey,
        e.payloadSalt ?? null,
        e.payloadHash ?? null,
        null,
        null,
      );
    }
  });
}

/**
 * Raw writes of `db` (a migrated store) as the service's writer makes them: each batch in a commit
 * (rawEventInserter), and the keys behind the appends added by the writer's own keeper (timeIndexKeeper with
 * its defaults) after each commit; `finish` adds the rest, as the writer's close does.
 */
export async function rawSqliteWriter(
  db: Database.Database,
  columns: string,
): Promise<{ commit(batch: readonly NewEvent[]): void; finish(): void }> {
  const { createTimeIndexer, timeIndexKeeper, TIME_INDEX_DEFAULTS } = await import('../src/storage/sqlite/time-index.js');
  const insertBatch = rawEventInserter(db, columns);
  // The writer thread's own upkeep, with its defaults: after each commit, and at the end as at close.
  const keeper = timeIndexKeeper(createTimeIndexer(db), TIME_INDEX_DEFAULTS);
  return {
    commit(batch) {
      insertBatch.immediate(batch);
      keeper.afterWrites();
    },
    finish: () => keeper.close(),
  };
}

async function rawSqlite(dataDir: string, rows: readonly NewEvent[], batchSize: number): Promise<number> {
  const { SqliteStorage } = await import('../src/storage/sqlite/sqlite-storage.js');
  const { EVENT_COLUMNS } = await import('../src/storage/sqlite/event-rows.js');
  const storage = new SqliteStorage({ path: join(dataDir, 'chainlog.db') });
  await storage.init(); // the same schema, indexes and durability pragmas as the engine
  try {
    const writer = await rawSqliteWriter(storage.db, EVENT_COLUMNS);
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i += batchSize) writer.commit(rows.slice(i, i + batchSize));
    writer.finish();
    return (performance.now() - t0) / 1000;
  } finally {
    await storage.close();
  }
}

async function rawMongo(
  env: Record<string, string>,
  rows: readonly NewEvent[],
  batchSize: number,
  clients: number,
): Promise<number> {
  const { MongoClient } = await import('mongodb');
  const { detectDeployment } = await import('../src/storage/mongodb/deployment.js');
  const { ensureSchema } = await import('../src/storage/mongodb/schema.js');
  const { toEventDoc, collectionNames } = await import('../src/storage/mongodb/documents.js');
  const client = new MongoClient(env.MONGODB_URI!);
  await client.connect();
  try {
    const db = client.db(env.MONGODB_DB);
    const deployment = await detectDeployment(db);
    await ensureSchema(db, deployment); // the same collections and indexes as the engine
    const events = db.collection(collectionNames.events);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < rows.length) {
          const start = next;
          next += batchSize;
          // Documents are built in the timed loop, as the SQLite baseline serializes its rows there too.
          const docs = rows.slice(start, start + batchSize).map((e, j) => toEventDoc(e, start + j + 1));
          await events.insertMany(docs, { ordered: true, writeConcern: deployment.writeConcern });
        }
      }),
    );
    return (performance.now() - t0) / 1000;
  } finally {
    await client.close();
  }
}
