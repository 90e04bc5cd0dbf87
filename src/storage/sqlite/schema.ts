// SQLite schema of the log store. Other tests tamper with these tables directly, so names stay plain.
//
// events       one row per event; the truth. pos (commit position) is the rowid.
//              payload is JSON text, hashes lowercase hex, times epoch ms.
//              The (source_app_id) index ends in the rowid, so pos order is a walk per app.
// event_times, event_type_times, event_app_times, event_type_positions
//              the keys behind the appends: the time index (schema version 4), keys (ts, pos),
//              (event_type, ts, pos) and (source_app_id, ts, pos), so (ts, pos) order is a walk per
//              filter kind; and (event_type, pos) (version 5), pos order per type. They hold the events
//              up to time_index.through. The writer adds the keys of newer events behind the appends,
//              many commits' worth at a time (time-index.ts); reads take the few events after `through`
//              from the events table itself (event-query-plan.ts).
// tree_nodes   Merkle nodes of level >= 1; level 0 is events.hash.
// logs         per-log head (size, head hash, integrated size), derived from events and
//              written in the same transaction as the appends / integration.
// checkpoints  signed notes by (log, tree size).
// erasures_applied
//              one row (version 6): `below`, the size of the erasures log below which every erasure
//              record is applied, so a start applies only the records after it (src/log/erasure.ts);
//              `copied_below` (version 7): on a mirror, the size below which no record lists an event
//              the mirror has yet to copy (src/mirror/follower.ts).
// erasure_listings
//              (source_app_id, record) (version 6): which records of the erasures log list events of
//              which log, complete below erasures_applied.below, written with it.
import type Database from 'better-sqlite3';

export const SCHEMA_VERSION = 7;

export const EVENT_INDEX = {
  /** (source_app_id, pos): every index ends in the rowid, which is pos. */
  byApp: 'events_by_app_pos',
} as const;

/**
 * The time index's tables (WITHOUT ROWID, the key is the whole row) and its state: `time_index` holds
 * one row, `through`, the position up to which every event's keys are in the three tables and no later
 * event's are.
 */
export const TIME_INDEX = {
  byTs: 'event_times',
  byTypeTs: 'event_type_times',
  byAppTs: 'event_app_times',
  state: 'time_index',
} as const;

/**
 * (event_type, pos) of the events up to `time_index.through` (WITHOUT ROWID): pos order per event type,
 * kept behind the appends with the time index, and by the same `through`.
 */
export const TYPE_POSITIONS = 'event_type_positions';

/**
 * The tables of keys behind the appends, each with the events' columns it holds, its key. A schema
 * version that adds one creates it, fills it up to `through` and recreates the triggers over the list
 * as that version has it (as version 5 does), so that what the triggers keep is every table's keys.
 */
export const KEYS_BEHIND = [
  { table: TIME_INDEX.byTs, columns: ['ts', 'pos'] },
  { table: TIME_INDEX.byTypeTs, columns: ['event_type', 'ts', 'pos'] },
  { table: TIME_INDEX.byAppTs, columns: ['source_app_id', 'ts', 'pos'] },
  { table: TYPE_POSITIONS, columns: ['event_type', 'pos'] },
] as const;

/**
 * Triggers that keep the tables of keys behind the appends exact when an event's row is changed or
 * deleted behind the service's back (a changed key is put back only where `through` covers it).
 * They do not fire on appends or erasures.
 */
function keysBehindTriggers(): string {
  const match = (c: readonly string[]) => c.map((col) => `${col} = old.${col}`).join(' AND ');
  const covered = `new.pos <= (SELECT through FROM ${TIME_INDEX.state})`;
  return `
    CREATE TRIGGER time_index_on_delete AFTER DELETE ON events BEGIN
${KEYS_BEHIND.map((k) => `      DELETE FROM ${k.table} WHERE ${match(k.columns)};`).join('\n')}
    END;
    CREATE TRIGGER time_index_on_update AFTER UPDATE OF pos, ts, event_type, source_app_id ON events BEGIN
${KEYS_BEHIND.map((k) => `      DELETE FROM ${k.table} WHERE ${match(k.columns)};`).join('\n')}
${KEYS_BEHIND.map(
  (k) =>
    `      INSERT OR IGNORE INTO ${k.table} (${k.columns.join(', ')})
        SELECT ${k.columns.map((c) => `new.${c}`).join(', ')} WHERE ${covered};`,
).join('\n')}
    END;
  `;
}

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
    CREATE INDEX events_by_ts ON events (ts, pos);
    CREATE INDEX events_by_type_ts ON events (event_type, ts, pos);
    CREATE INDEX events_by_app_ts ON events (source_app_id, ts, pos);
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
  // order, instead of every event after the position. (The type index left in version 5.)
  2: `
    CREATE INDEX ${EVENT_INDEX.byApp} ON events (source_app_id);
    CREATE INDEX events_by_type_pos ON events (event_type);
  `,
  // Leaf version 2 (docs/log-format.md): the payload's salt and commitment, and its erasure. An erased
  // payload is '' and its salt NULL; payload_hash stays (the leaf holds it).
  3: `
    ALTER TABLE events ADD COLUMN payload_salt TEXT;
    ALTER TABLE events ADD COLUMN payload_hash TEXT;
    ALTER TABLE events ADD COLUMN erased_at INTEGER;
    ALTER TABLE events ADD COLUMN erasure_reason TEXT;
  `,
  // The time index leaves the events table: an index keyed by the event's own timestamp takes each new
  // key a little behind the newest, on a page of its own, so kept in the appends' transaction it wrote
  // three pages to the WAL per event (docs/performance.md, "The time index behind the appends"). Its
  // tables are filled here from the events there are; the writer keeps them up from then on. The
  // triggers keep them exact when an event's row is changed or deleted behind the service's back (they
  // do not fire on appends or erasures).
  4: `
    CREATE TABLE ${TIME_INDEX.byTs} (
      ts INTEGER NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (ts, pos)
    ) WITHOUT ROWID;
    CREATE TABLE ${TIME_INDEX.byTypeTs} (
      event_type TEXT NOT NULL, ts INTEGER NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (event_type, ts, pos)
    ) WITHOUT ROWID;
    CREATE TABLE ${TIME_INDEX.byAppTs} (
      source_app_id TEXT NOT NULL, ts INTEGER NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (source_app_id, ts, pos)
    ) WITHOUT ROWID;
    CREATE TABLE ${TIME_INDEX.state} (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      through INTEGER NOT NULL
    );
    INSERT INTO ${TIME_INDEX.byTs} SELECT ts, pos FROM events ORDER BY ts, pos;
    INSERT INTO ${TIME_INDEX.byTypeTs} SELECT event_type, ts, pos FROM events ORDER BY event_type, ts, pos;
    INSERT INTO ${TIME_INDEX.byAppTs} SELECT source_app_id, ts, pos FROM events ORDER BY source_app_id, ts, pos;
    INSERT INTO ${TIME_INDEX.state} (id, through) VALUES (1, coalesce((SELECT max(pos) FROM events), 0));
    DROP INDEX events_by_ts;
    DROP INDEX events_by_type_ts;
    DROP INDEX events_by_app_ts;

    CREATE TRIGGER time_index_on_delete AFTER DELETE ON events BEGIN
      DELETE FROM ${TIME_INDEX.byTs} WHERE ts = old.ts AND pos = old.pos;
      DELETE FROM ${TIME_INDEX.byTypeTs} WHERE event_type = old.event_type AND ts = old.ts AND pos = old.pos;
      DELETE FROM ${TIME_INDEX.byAppTs} WHERE source_app_id = old.source_app_id AND ts = old.ts AND pos = old.pos;
    END;
    CREATE TRIGGER time_index_on_update AFTER UPDATE OF pos, ts, event_type, source_app_id ON events BEGIN
      DELETE FROM ${TIME_INDEX.byTs} WHERE ts = old.ts AND pos = old.pos;
      DELETE FROM ${TIME_INDEX.byTypeTs} WHERE event_type = old.event_type AND ts = old.ts AND pos = old.pos;
      DELETE FROM ${TIME_INDEX.byAppTs} WHERE source_app_id = old.source_app_id AND ts = old.ts AND pos = old.pos;
      INSERT OR IGNORE INTO ${TIME_INDEX.byTs} (ts, pos)
        SELECT new.ts, new.pos WHERE new.pos <= (SELECT through FROM ${TIME_INDEX.state});
      INSERT OR IGNORE INTO ${TIME_INDEX.byTypeTs} (event_type, ts, pos)
        SELECT new.event_type, new.ts, new.pos WHERE new.pos <= (SELECT through FROM ${TIME_INDEX.state});
      INSERT OR IGNORE INTO ${TIME_INDEX.byAppTs} (source_app_id, ts, pos)
        SELECT new.source_app_id, new.ts, new.pos WHERE new.pos <= (SELECT through FROM ${TIME_INDEX.state});
    END;
  `,
  // The (event_type, pos) index leaves the events table too: the events of one commit have many types,
  // and each type's newest key is on a leaf page of its own, so in the appends' transaction it wrote a
  // page to the WAL per type per commit, about half a commit's frames at 55 events (docs/performance.md,
  // "The type index behind the appends (session 47)"). Its table takes the keys of the events the time
  // index's tables hold, up to the same `through`.
  5: `
    CREATE TABLE ${TYPE_POSITIONS} (
      event_type TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (event_type, pos)
    ) WITHOUT ROWID;
    INSERT INTO ${TYPE_POSITIONS} SELECT event_type, pos FROM events
      WHERE pos <= (SELECT through FROM ${TIME_INDEX.state}) ORDER BY event_type, pos;
    DROP INDEX events_by_type_pos;
    DROP TRIGGER time_index_on_delete;
    DROP TRIGGER time_index_on_update;
    ${keysBehindTriggers()}
  `,
  // Where a start's recovery of erasures begins: every record below `below` is applied, and listed by
  // the logs it names in erasure_listings. A store from before starts at 0, so its first start applies
  // (and lists) every record once, as every start applied them before.
  6: `
    CREATE TABLE erasures_applied (id INTEGER PRIMARY KEY CHECK (id = 1), below INTEGER NOT NULL);
    INSERT INTO erasures_applied (id, below) VALUES (1, 0);
    CREATE TABLE erasure_listings (
      source_app_id TEXT NOT NULL, record INTEGER NOT NULL, PRIMARY KEY (source_app_id, record)
    ) WITHOUT ROWID;
  `,
  // A mirror's start reads its erasures log from `copied_below` on (LogStorage.erasuresCopiedBelow);
  // a store from before starts at 0, so its first start reads every record once, as before.
  7: `
    ALTER TABLE erasures_applied ADD COLUMN copied_below INTEGER NOT NULL DEFAULT 0;
  `,
};

/**
 * WAL frames (pages) after which a commit checkpoints the WAL into the database file: ~40 MB at the
 * default 4 KiB page size, instead of SQLite's 1,000 pages (~4 MB). The time index's tables take keys
 * that are not in insertion order, so each of the writer's additions to them dirties many of their
 * pages; at 1,000 pages many commits would run a checkpoint that copies those pages into the database
 * file and fsyncs it. A longer WAL lets one checkpoint write each hot page once for many commits.
 * Durability is unchanged: a commit is durable once its frames are in the WAL and the WAL is fsynced
 * (synchronous = FULL), whenever the checkpoint runs; recovery replays at most this many frames at open.
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
