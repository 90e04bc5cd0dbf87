// SQLite schema of the log store. Other tests tamper with these tables directly, so names stay plain.
//
// events       one row per event; the truth. pos (commit position) is the rowid.
//              payload is JSON text, hashes lowercase hex, times epoch ms.
//              Keyset indexes each end in pos so (ts, pos) order is an index walk per filter kind;
//              (source_app_id) and (event_type) end in the rowid, so pos order is a walk per app or type.
// tree_nodes   Merkle nodes of level >= 1; level 0 is events.hash.
// logs         per-log head (size, head hash, integrated size), derived from events and
//              written in the same transaction as the appends / integration.
// checkpoints  signed notes by (log, tree size).
import type Database from 'better-sqlite3';

export const SCHEMA_VERSION = 3;

export const EVENT_INDEX = {
  byTs: 'events_by_ts',
  byTypeTs: 'events_by_type_ts',
  byAppTs: 'events_by_app_ts',
  /** (source_app_id, pos): every index ends in the rowid, which is pos. */
  byApp: 'events_by_app_pos',
  /** (event_type, pos). */
  byType: 'events_by_type_pos',
} as const;

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE events (
      pos INTEGER PRIMARY KEY,
      source_app_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      event_type TEXT NOT NULL,
      ts INTEGER NOT NULL,
      received_at INTEGER NOT NULL,
      payload TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL,
      idempotency_key TEXT,
      UNIQUE (source_app_id, seq)
    );
    CREATE INDEX ${EVENT_INDEX.byTs} ON events (ts, pos);
    CREATE INDEX ${EVENT_INDEX.byTypeTs} ON events (event_type, ts, pos);
    CREATE INDEX ${EVENT_INDEX.byAppTs} ON events (source_app_id, ts, pos);
    CREATE UNIQUE INDEX events_by_idempotency_key ON events (source_app_id, idempotency_key)
      WHERE idempotency_key IS NOT NULL;

    CREATE TABLE tree_nodes (
      source_app_id TEXT NOT NULL,
      level INTEGER NOT NULL CHECK (level >= 1),
      idx INTEGER NOT NULL,
      hash BLOB NOT NULL,
      PRIMARY KEY (source_app_id, level, idx)
    ) WITHOUT ROWID;

    CREATE TABLE logs (
      source_app_id TEXT PRIMARY KEY,
      size INTEGER NOT NULL,
      head_hash TEXT NOT NULL,
      integrated_size INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE checkpoints (
      source_app_id TEXT NOT NULL,
      tree_size INTEGER NOT NULL,
      root_hash TEXT NOT NULL,
      note TEXT NOT NULL,
      published_at INTEGER NOT NULL,
      PRIMARY KEY (source_app_id, tree_size)
    ) WITHOUT ROWID;
  `,
  // readCommitted (subscription replay, tailing) of some apps or types walks only their events in pos
  // order, instead of every event after the position.
  2: `
    CREATE INDEX ${EVENT_INDEX.byApp} ON events (source_app_id);
    CREATE INDEX ${EVENT_INDEX.byType} ON events (event_type);
  `,
  // Leaf version 2 (docs/log-format.md): the payload's salt and commitment, and its erasure. An erased
  // payload is '' and its salt NULL; payload_hash stays (the leaf holds it).
  3: `
    ALTER TABLE events ADD COLUMN payload_salt TEXT;
    ALTER TABLE events ADD COLUMN payload_hash TEXT;
    ALTER TABLE events ADD COLUMN erased_at INTEGER;
    ALTER TABLE events ADD COLUMN erasure_reason TEXT;
  `,
};

/**
 * WAL frames (pages) after which a commit checkpoints the WAL into the database file: ~40 MB at the
 * default 4 KiB page size, instead of SQLite's 1,000 pages (~4 MB). The events table's secondary indexes
 * (ts, type+ts, app+ts) take keys that are not in insertion order, so a batch of appends dirties a
 * page per event in each; at 1,000 pages nearly every commit would run a checkpoint that copies those pages
 * into the database file and fsyncs it. A longer WAL lets one checkpoint write each hot index page
 * once for many commits. Durability is unchanged: a commit is durable once its
 * frames are in the WAL and the WAL is fsynced (synchronous = FULL), whenever the checkpoint runs;
 * recovery replays at most this many frames at open.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/**
 * Connection settings, for every connection (the main thread's and the writer thread's, see
 * writer.ts): an acknowledged append must survive power loss (WAL + synchronous FULL).
 */
export const CONNECTION_PRAGMAS: readonly string[] = [
  'journal_mode = WAL',
  'synchronous = FULL',
  `wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`,
  'busy_timeout = 5000',
  'temp_store = MEMORY',
  // An erasure overwrites the freed bytes of an erased payload with zeros instead of leaving them in
  // free space of the page or the file (docs: erasure); only deletes and shrinking updates pay for it.
  'secure_delete = ON',
];

export function configureConnection(db: Database.Database): void {
  for (const p of CONNECTION_PRAGMAS) db.pragma(p);
}

/** Brings the schema to SCHEMA_VERSION, in one write transaction so concurrent openers don't race. */
export function migrate(db: Database.Database): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new Error(`database schema version ${current} is newer than this server's ${SCHEMA_VERSION}`);
    }
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    if (current < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
