// Malformed-row tampers: stored values no append ever writes (hashes of the wrong case, length or alphabet,
// payloads that are not a JSON object or are larger than any server accepts, NULL or missing columns and
// fields, values of the wrong type, positions that are not non-negative safe integers, rows missing or
// moved to another log), on both engines, with what verifyLog must report (kinds, first bad position) and
// what the auditor CLI must report (its finding kind at that position). The log is the campaigns' one:
// 64 events of APP, checkpoints at 32 and 64 (sqlite-tampers.ts, mongo-tampers.ts).
// Shared by malformed-sqlite.test.ts, malformed-mongodb.test.ts and malformed-cli.test.ts.
import type Database from 'better-sqlite3';
import { Long, type Db, type Document } from 'mongodb';
import type { FindingKind } from '../../src/auditor/findings.js';
import { collectionNames as C } from '../../src/storage/mongodb/documents.js';
import { MAX_STORED_PAYLOAD_BYTES } from '../../src/storage/stored-event.js';
import type { VerifyLogFinding } from './verify-log.js';

export const APP = 'shop';

export interface MalformedTamper<Apply> extends VerifyLogFinding {
  name: string;
  apply: Apply;
  /** The auditor CLI's finding at firstBadSeq: MALFORMED_EVENT where the server names the event, else PROOF_UNAVAILABLE. */
  cli: FindingKind;
  /** What verifyLog reports of the campaign's other log ("other", one event), if it is not ok. */
  other?: VerifyLogFinding;
}

/** A JSON object larger than any server accepts as a payload. */
export const OVERSIZED_PAYLOAD = JSON.stringify({ n: 1, pad: 'x'.repeat(MAX_STORED_PAYLOAD_BYTES) });

/**
 * A payload text that closes its object early and goes on with members of the event: written into a page
 * as it is stored (the range-proof route splices stored payload text), it would forge the event's hash.
 * The decoder parses every payload, so it is MALFORMED_EVENT before any page is written.
 */
export const INJECTED_PAYLOAD = `{"n":1},"hash":"${'0'.repeat(64)}","x":{"y":2}`;

const malformed = (firstBadSeq: number): Pick<MalformedTamper<unknown>, 'kinds' | 'firstBadSeq' | 'cli'> => ({
  kinds: ['MALFORMED_EVENT'],
  firstBadSeq,
  cli: 'MALFORMED_EVENT',
});
const gap = (firstBadSeq: number): Pick<MalformedTamper<unknown>, 'kinds' | 'firstBadSeq' | 'cli'> => ({
  kinds: ['GAP'],
  firstBadSeq,
  cli: 'PROOF_UNAVAILABLE',
});

// --- SQLite -----------------------------------------------------------------------------------------

export type SqliteMalformedTamper = MalformedTamper<(db: Database.Database) => void>;

/**
 * Rebuilds the events table as it is but without NOT NULL, as someone with the file can: the columns,
 * the UNIQUE constraint and the indexes stay, and every row keeps its pos.
 */
function dropNotNull(db: Database.Database): void {
  const table = db.prepare(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'events'`).pluck().get() as string;
  const indexes = db
    .prepare(`SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL`)
    .pluck()
    .all() as string[];
  db.exec(table.replace('CREATE TABLE events', 'CREATE TABLE events_relaxed').replaceAll(' NOT NULL', ''));
  db.exec('INSERT INTO events_relaxed SELECT * FROM events; DROP TABLE events; ALTER TABLE events_relaxed RENAME TO events;');
  for (const sql of indexes) db.exec(sql);
}
const setEvent = (column: string, value: unknown, seq: number) => (db: Database.Database) => {
  const r = db.prepare(`UPDATE events SET ${column} = ? WHERE source_app_id = ? AND seq = ?`).run(value, APP, seq);
  if (r.changes !== 1) throw new Error(`tamper changed ${r.changes} rows`);
};
const setNull = (column: string, seq: number) => (db: Database.Database) => {
  dropNotNull(db);
  setEvent(column, null, seq)(db);
};
const hashOf = (seq: number) => (db: Database.Database) =>
  db.prepare('SELECT hash FROM events WHERE source_app_id = ? AND seq = ?').pluck().get(APP, seq) as string;

export const sqliteMalformedTampers: SqliteMalformedTamper[] = [
  // Hashes.
  { name: 'prev_hash in uppercase', apply: (db) => setEvent('prev_hash', hashOf(8)(db).toUpperCase(), 9)(db), ...malformed(9) },
  { name: 'hash in uppercase', apply: (db) => setEvent('hash', hashOf(40)(db).toUpperCase(), 40)(db), ...malformed(40) },
  { name: 'prev_hash one character short', apply: (db) => setEvent('prev_hash', hashOf(4)(db).slice(1), 5)(db), ...malformed(5) },
  { name: 'hash one byte long', apply: (db) => setEvent('hash', `${hashOf(6)(db)}00`, 6)(db), ...malformed(6) },
  { name: 'hash not hex', apply: setEvent('hash', 'zz'.repeat(32), 7), ...malformed(7) },
  { name: 'prev_hash NULL', apply: setNull('prev_hash', 8), ...malformed(8) },
  { name: 'hash NULL', apply: setNull('hash', 63), ...malformed(63) },
  // Payloads.
  { name: 'payload not JSON', apply: setEvent('payload', '{"n":', 17), ...malformed(17) },
  { name: 'payload empty', apply: setEvent('payload', '', 16), ...malformed(16) },
  { name: 'payload a JSON array', apply: setEvent('payload', '[1,2]', 18), ...malformed(18) },
  { name: 'payload a JSON string', apply: setEvent('payload', '"order"', 19), ...malformed(19) },
  { name: 'payload a JSON number', apply: setEvent('payload', '42', 20), ...malformed(20) },
  { name: 'payload JSON null', apply: setEvent('payload', 'null', 21), ...malformed(21) },
  { name: 'payload larger than any server accepts', apply: setEvent('payload', OVERSIZED_PAYLOAD, 23), ...malformed(23) },
  {
    name: 'payload that closes its object early (spliced, it would forge members)',
    apply: setEvent('payload', INJECTED_PAYLOAD, 25),
    ...malformed(25),
  },
  { name: 'payload NULL', apply: setNull('payload', 24), ...malformed(24) },
  // Types: SQLite keeps a value that its column affinity cannot convert as it is.
  { name: 'ts as text', apply: setEvent('ts', 'yesterday', 30), ...malformed(30) },
  { name: 'received_at as a real', apply: setEvent('received_at', 1.5, 31), ...malformed(31) },
  { name: 'received_at NULL', apply: setNull('received_at', 29), ...malformed(29) },
  { name: 'event_type as a blob', apply: setEvent('event_type', Buffer.from('order.created'), 14), ...malformed(14) },
  { name: 'event_type NULL', apply: setNull('event_type', 15), ...malformed(15) },
  { name: 'idempotency_key as a blob', apply: setEvent('idempotency_key', Buffer.from('k'), 33), ...malformed(33) },
  // Positions: one that is not an integer still falls in [seq, seq + 1); the others leave the log's range.
  { name: 'seq as a real (10.5)', apply: setEvent('seq', 10.5, 10), ...malformed(10) },
  { name: 'seq as text', apply: setEvent('seq', 'ten', 10), ...gap(10) },
  { name: 'seq negative', apply: setEvent('seq', -12, 12), ...gap(12) },
  { name: 'seq beyond 2^53', apply: setEvent('seq', 2n ** 53n + 1n, 13), ...gap(13) },
  { name: 'seq NULL', apply: setNull('seq', 11), ...gap(11) },
  // Rows.
  {
    name: 'first row deleted',
    apply: (db) => db.prepare('DELETE FROM events WHERE source_app_id = ? AND seq = 0').run(APP),
    ...gap(0),
  },
  // In the other log, it lies past that log's head.
  {
    name: 'row moved to another log',
    apply: setEvent('source_app_id', 'other', 26),
    ...gap(26),
    other: { kinds: ['EVENT_PAST_HEAD'], firstBadSeq: 26 },
  },
  { name: 'source_app_id NULL', apply: setNull('source_app_id', 27), ...gap(27) },
];

/** Integration must start over from `seq` 0: the store says nothing is integrated. */
export function forgetIntegrationSqlite(db: Database.Database): void {
  db.prepare('UPDATE logs SET integrated_size = 0 WHERE source_app_id = ?').run(APP);
}

// --- MongoDB ----------------------------------------------------------------------------------------

export type MongoMalformedTamper = MalformedTamper<(db: Db) => Promise<void>>;

const at = (seq: number) => ({ sourceAppId: APP, seq });
async function update(db: Db, seq: number, change: Document): Promise<void> {
  const r = await db.collection(C.events).updateOne(at(seq), change);
  if (r.modifiedCount !== 1) throw new Error(`tamper changed nothing at seq ${seq}`);
}
const set = (field: string, value: unknown, seq: number) => (db: Db) => update(db, seq, { $set: { [field]: value } });
const unset = (field: string, seq: number) => (db: Db) => update(db, seq, { $unset: { [field]: '' } });
async function hashAt(db: Db, seq: number): Promise<string> {
  const d = await db.collection(C.events).findOne(at(seq));
  return d!.hash as string;
}

export const mongoMalformedTampers: MongoMalformedTamper[] = [
  // Hashes.
  {
    name: 'prevHash in uppercase',
    apply: async (db) => set('prevHash', (await hashAt(db, 8)).toUpperCase(), 9)(db),
    ...malformed(9),
  },
  { name: 'hash in uppercase', apply: async (db) => set('hash', (await hashAt(db, 40)).toUpperCase(), 40)(db), ...malformed(40) },
  {
    name: 'prevHash one character short',
    apply: async (db) => set('prevHash', (await hashAt(db, 4)).slice(1), 5)(db),
    ...malformed(5),
  },
  { name: 'hash one byte long', apply: async (db) => set('hash', `${await hashAt(db, 6)}00`, 6)(db), ...malformed(6) },
  { name: 'hash not hex', apply: set('hash', 'zz'.repeat(32), 7), ...malformed(7) },
  { name: 'prevHash null', apply: set('prevHash', null, 8), ...malformed(8) },
  { name: 'hash missing', apply: unset('hash', 63), ...malformed(63) },
  // Payloads.
  { name: 'payload not JSON', apply: set('payload', '{"n":', 17), ...malformed(17) },
  { name: 'payload empty', apply: set('payload', '', 16), ...malformed(16) },
  { name: 'payload a JSON array', apply: set('payload', '[1,2]', 18), ...malformed(18) },
  { name: 'payload a JSON string', apply: set('payload', '"order"', 19), ...malformed(19) },
  { name: 'payload a JSON number', apply: set('payload', '42', 20), ...malformed(20) },
  { name: 'payload JSON null', apply: set('payload', 'null', 21), ...malformed(21) },
  { name: 'payload a BSON document instead of JSON text', apply: set('payload', { n: 1 }, 22), ...malformed(22) },
  { name: 'payload larger than any server accepts', apply: set('payload', OVERSIZED_PAYLOAD, 23), ...malformed(23) },
  {
    name: 'payload that closes its object early (spliced, it would forge members)',
    apply: set('payload', INJECTED_PAYLOAD, 25),
    ...malformed(25),
  },
  { name: 'payload missing', apply: unset('payload', 24), ...malformed(24) },
  // Types.
  {
    name: 'timestamp as a string of digits',
    apply: async (db) => {
      const d = await db.collection(C.events).findOne(at(30));
      await set('timestamp', String(d!.timestamp), 30)(db);
    },
    ...malformed(30),
  },
  { name: 'receivedAt as a fraction', apply: set('receivedAt', 1.5, 31), ...malformed(31) },
  { name: 'receivedAt missing', apply: unset('receivedAt', 29), ...malformed(29) },
  { name: 'eventType as a number', apply: set('eventType', 5, 14), ...malformed(14) },
  { name: 'eventType null', apply: set('eventType', null, 15), ...malformed(15) },
  { name: 'idempotencySlot a boolean', apply: set('idempotencySlot', true, 33), ...malformed(33) },
  {
    name: 'pos as a string',
    apply: async (db) => {
      const d = await db.collection(C.events).findOne(at(34));
      await set('pos', String(d!.pos), 34)(db);
    },
    ...malformed(34),
  },
  // Positions.
  { name: 'seq as a double (10.5)', apply: set('seq', 10.5, 10), ...malformed(10) },
  { name: 'seq as a string of digits', apply: set('seq', '10', 10), ...gap(10) },
  { name: 'seq negative', apply: set('seq', -12, 12), ...gap(12) },
  { name: 'seq beyond 2^53 (int64)', apply: set('seq', Long.fromString('9007199254740993'), 13), ...gap(13) },
  { name: 'seq missing', apply: unset('seq', 11), ...gap(11) },
  // Documents.
  {
    name: 'first document deleted',
    apply: async (db) => {
      const r = await db.collection(C.events).deleteOne(at(0));
      if (r.deletedCount !== 1) throw new Error('nothing deleted');
    },
    ...gap(0),
  },
  { name: 'document moved to another log', apply: set('sourceAppId', 'other', 26), ...gap(26) },
  { name: 'sourceAppId missing', apply: unset('sourceAppId', 27), ...gap(27) },
];

/** Integration must start over from `seq` 0: the store says nothing is integrated. */
export async function forgetIntegrationMongo(db: Db): Promise<void> {
  await db.collection(C.integrated).updateOne({ _id: APP as never }, { $set: { size: 0 } });
}

/**
 * `storage` whose getEventRange fails with `error` (as a dropped connection would): the rest is the real
 * engine. Integration must hand such an error on unchanged (transient), never as an IntegrityError.
 */
export function failingRangeReads<S extends object>(storage: S, error: Error): S {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'getEventRange') return () => Promise.reject(error);
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
