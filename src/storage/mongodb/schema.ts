// Collections, indexes and shard keys; everything here is idempotent and runs at every start.
//
// Shard keys (only through mongos):
// - events: { sourceAppId: 1 }, ranged. Every query of one log (head, seq ranges, proofs, keys)
//   targets one shard, and logs spread across shards as chunks split between app ids. We chose it
//   over { sourceAppId: 1, seq: 1 } because a sharded collection can only enforce unique indexes
//   prefixed by the whole shard key: with seq in the key, (sourceAppId, idempotencySlot) could not
//   be unique. We chose it over a hashed sourceAppId (even spread of new logs from day one) because
//   hashed shard keys cannot back any unique index at all. The price: one log cannot span shards,
//   so a log larger than a chunk becomes a jumbo chunk the balancer will not move. Appends to one
//   log always hit one shard anyway (its tail), so splitting a log would buy capacity, not speed.
// - tree_nodes: { _id: 1 }, ranged; _id starts with the sourceAppId so a log's nodes stay together.
// - checkpoints: { sourceAppId: 1, treeSize: 1 }, ranged; also their unique key.
// - batches stays unsharded (or is sharded hashed on _id by an operator): one document per append,
//   keyed by g; every writer inserts at the top of it, so a ranged key would put all inserts on one
//   shard anyway.
// - logs and integrated stay unsharded: one small document per log; erasures_applied holds one
//   document, erasure_listings one per erasure record and log it names.
import { MongoServerError, type Db, type IndexDescription } from 'mongodb';
import type { Deployment } from './deployment.js';
import { collectionNames as C, formerCollectionNames } from './documents.js';

/**
 * A database written by a version before the batch claim (events without batches, a pos counter,
 * writer announcements) is not opened: its positions were decided differently, and its events
 * cannot be moved into batches without re-hashing them (a leaf includes receivedAt), which would
 * break every checkpoint already published.
 */
export async function refuseFormerLayout(db: Db): Promise<void> {
  const names = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  const former = formerCollectionNames.filter((n) => names.has(n));
  const eventsWithoutBatches =
    names.has(C.events) &&
    !names.has(C.batches) &&
    (await db.collection(C.events).findOne({}, { projection: { _id: 1 } })) !== null;
  if (former.length > 0 || eventsWithoutBatches) {
    throw new Error(
      `MongoDB database "${db.databaseName}" holds chainlog data in the layout of an earlier version ` +
        `(${former.length > 0 ? `collections ${former.join(', ')}` : 'events without batches'}); this version commits ` +
        'appends through the `batches` collection and does not open it. Keep serving it with the earlier version, ' +
        'or start this version on a new database (MONGODB_DB).',
    );
  }
}

export function eventIndexes(sharded: boolean): IndexDescription[] {
  return [
    // No two events can ever take one position.
    { key: { sourceAppId: 1, seq: 1 }, name: 'log_position', unique: true },
    { key: { sourceAppId: 1, idempotencySlot: 1 }, name: 'log_idempotency', unique: true },
    // pos follows from the batch (g and the index in it), so it is unique by construction; the index
    // is unique where it can be (a sharded collection only enforces unique keys prefixed by the shard key).
    { key: { pos: 1 }, name: 'commit_position', unique: !sharded },
    // queryEvents, keyset in (timestamp, pos): equality fields, then the sort, whose first field
    // timestamp is also the range (from/to/after).
    { key: { timestamp: 1, pos: 1 }, name: 'time' },
    { key: { sourceAppId: 1, timestamp: 1, pos: 1 }, name: 'log_time' },
    { key: { eventType: 1, timestamp: 1, pos: 1 }, name: 'type_time' },
    { key: { sourceAppId: 1, eventType: 1, timestamp: 1, pos: 1 }, name: 'log_type_time' },
    // readCommitted in pos order; timestamp bounds are checked on the fetched documents.
    { key: { sourceAppId: 1, pos: 1 }, name: 'log_commit' },
    { key: { eventType: 1, pos: 1 }, name: 'type_commit' },
  ];
}

export const batchIndexes: IndexDescription[] = [
  // "Which batches touch log L after g": a multikey index, never unique (FerretDB does not enforce
  // uniqueness across documents of an array field, and nothing relies on it).
  { key: { apps: 1, _id: 1 }, name: 'log_batches' },
  // Batches whose events are not derived yet.
  { key: { pending: 1, _id: 1 }, name: 'pending' },
];

// One log's records in the erasures log, in order; unique, so a listing stored again is a duplicate.
export const erasureListingIndexes: IndexDescription[] = [
  { key: { sourceAppId: 1, record: 1 }, name: 'log_record', unique: true },
];

export const checkpointIndexes: IndexDescription[] = [
  { key: { sourceAppId: 1, treeSize: 1 }, name: 'log_tree_size', unique: true },
];

export const checkpointNoteIndexes: IndexDescription[] = [
  // The newest version of one checkpoint's note, and of a log's latest checkpoint's.
  { key: { sourceAppId: 1, treeSize: -1, version: -1 }, name: 'log_tree_size_version' },
];

export const shardKeys: Record<string, Record<string, 1>> = {
  [C.events]: { sourceAppId: 1 },
  [C.treeNodes]: { _id: 1 },
  [C.checkpoints]: { sourceAppId: 1, treeSize: 1 },
  [C.checkpointNotes]: { _id: 1 },
};

export async function ensureSchema(db: Db, deployment: Deployment): Promise<void> {
  const sharded = deployment.topology === 'sharded';
  if (sharded) await ensureShardingEnabled(db);
  await ensureIndexes(db, C.events, eventIndexes(sharded));
  await ensureIndexes(db, C.batches, batchIndexes);
  await ensureIndexes(db, C.checkpoints, checkpointIndexes);
  await ensureIndexes(db, C.checkpointNotes, checkpointNoteIndexes);
  await ensureIndexes(db, C.erasureListings, erasureListingIndexes);
  // _id indexes of logs, tree_nodes and integrated need nothing more.
  if (sharded) for (const [name, key] of Object.entries(shardKeys)) await shardCollection(db, name, key);
}

// One index per createIndexes call: FerretDB 1.24 drops the connection when one call names several
// indexes that already exist. MongoDB treats an existing identical index as a no-op either way.
async function ensureIndexes(db: Db, collection: string, indexes: IndexDescription[]): Promise<void> {
  const listed: Array<{ name?: string }> = await db
    .collection(collection)
    .listIndexes()
    .toArray()
    .catch((err: unknown) => {
      if (err instanceof MongoServerError && err.code === 26) return []; // NamespaceNotFound: not created yet
      throw err;
    });
  const existing = new Set(listed.map((i) => String(i.name)));
  for (const index of indexes) {
    if (!existing.has(index.name!)) await db.collection(collection).createIndexes([index]);
  }
}

async function ensureShardingEnabled(db: Db): Promise<void> {
  // A no-op on MongoDB 6+ where databases are shardable by default; needed before that.
  await db.admin().command({ enableSharding: db.databaseName });
}

async function shardCollection(db: Db, collection: string, key: Record<string, 1>): Promise<void> {
  const ns = `${db.databaseName}.${collection}`;
  const existing = await db.client
    .db('config')
    .collection('collections')
    .findOne({ _id: ns as never, dropped: { $ne: true } });
  if (existing) return; // already sharded; shardCollection would also accept the same key again
  await db.admin().command({ shardCollection: ns, key });
}
