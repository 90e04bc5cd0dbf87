// The tamper kinds as SQL on a stopped service's SQLite file, with what verifyLog must report for each:
// shared by the verifyLog campaign (sqlite.test.ts) and the auditor CLI campaign (cli.test.ts).
// Positions are those of the campaigns' log: 64 events of one app, checkpoints at 32 and 64.
// mongo-tampers.ts has the same kinds (the event and tree node ones under the same names) for the MongoDB engine.
import Database from 'better-sqlite3';
import type { VerifyLogFinding } from './verify-log.js';

/** `kinds` and `firstBadSeq`: what verifyLog reports. */
export interface SqliteTamper extends VerifyLogFinding {
  name: string;
  /** SQL run against the stopped log's file (in one transaction). */
  apply: (db: Database.Database) => void;
}

export const sqliteTampers: SqliteTamper[] = [
  {
    name: 'edit a payload',
    apply: (db) => db.prepare(`UPDATE events SET payload = '{"n":1,"note":"forged"}' WHERE seq = 17`).run(),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 17,
  },
  {
    name: 'edit a timestamp',
    apply: (db) => db.prepare('UPDATE events SET ts = ts + 1 WHERE seq = 30').run(),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 30,
  },
  {
    name: 'edit an event type',
    apply: (db) => db.prepare(`UPDATE events SET event_type = 'order.refunded' WHERE seq = 3`).run(),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 3,
  },
  {
    name: 'edit a stored hash',
    apply: (db) => db.prepare(`UPDATE events SET hash = '${'ab'.repeat(32)}' WHERE seq = 40`).run(),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 40,
  },
  {
    name: 're-link an event (edit its prevHash)',
    apply: (db) => db.prepare(`UPDATE events SET prev_hash = '${'cd'.repeat(32)}' WHERE seq = 9`).run(),
    kinds: ['BROKEN_LINK'],
    firstBadSeq: 9,
  },
  {
    name: 'delete an event',
    apply: (db) => db.prepare('DELETE FROM events WHERE seq = 22').run(),
    kinds: ['GAP'],
    firstBadSeq: 22,
  },
  {
    name: 'delete the newest events',
    apply: (db) => {
      db.prepare('DELETE FROM events WHERE seq >= 60').run();
      db.prepare('UPDATE logs SET size = 60').run();
    },
    kinds: ['GAP'],
    firstBadSeq: 60,
  },
  {
    name: 'insert an event (shifting the later ones)',
    apply: (db) => {
      db.prepare('UPDATE events SET seq = -seq - 1 WHERE seq >= 25').run();
      db.prepare('UPDATE events SET seq = -seq WHERE seq < 0').run();
      db.prepare(
        `INSERT INTO events (source_app_id, seq, event_type, ts, received_at, payload, prev_hash, hash)
         SELECT source_app_id, 25, 'order.created', ts, received_at, '{"n":0}', hash, hash FROM events WHERE seq = 24`,
      ).run();
    },
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 25,
  },
  {
    name: 'swap the contents of two events',
    apply: (db) => {
      const a = db.prepare('SELECT payload, ts FROM events WHERE seq = 12').get() as { payload: string; ts: number };
      const b = db.prepare('SELECT payload, ts FROM events WHERE seq = 50').get() as { payload: string; ts: number };
      db.prepare('UPDATE events SET payload = ?, ts = ? WHERE seq = 12').run(b.payload, b.ts);
      db.prepare('UPDATE events SET payload = ?, ts = ? WHERE seq = 50').run(a.payload, a.ts);
    },
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 12,
  },
  {
    name: 'reorder two events (swap their positions)',
    apply: (db) => {
      db.prepare('UPDATE events SET seq = -1 WHERE seq = 33').run();
      db.prepare('UPDATE events SET seq = 33 WHERE seq = 34').run();
      db.prepare('UPDATE events SET seq = 34 WHERE seq = -1').run();
    },
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 33,
  },
  {
    name: 'alter a tree node (level 2, index 5: leaves 20..23)',
    apply: (db) => db.prepare('UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 5').run(),
    kinds: ['TREE_NODE_MISMATCH'],
    firstBadSeq: 20,
  },
  {
    name: 'delete a tree node',
    apply: (db) => {
      if (db.prepare('DELETE FROM tree_nodes WHERE level = 3 AND idx = 6').run().changes !== 1) throw new Error('no node (3, 6)');
    },
    kinds: ['TREE_NODE_MISMATCH'],
    firstBadSeq: 48,
  },
  {
    // Not bytes at all: read as not stored.
    name: 'store a tree node as text',
    apply: (db) => {
      if (db.prepare(`UPDATE tree_nodes SET hash = '${'ab'.repeat(32)}' WHERE level = 1 AND idx = 9`).run().changes !== 1)
        throw new Error('no node (1, 9)');
    },
    kinds: ['TREE_NODE_MISMATCH'],
    firstBadSeq: 18,
  },
  {
    name: "alter a checkpoint's root column",
    apply: (db) => db.prepare(`UPDATE checkpoints SET root_hash = '${'ef'.repeat(32)}' WHERE tree_size = 32`).run(),
    kinds: ['BAD_CHECKPOINT'],
    firstBadSeq: 32,
  },
  {
    name: "alter a checkpoint's signed note",
    apply: (db) => db.prepare(`UPDATE checkpoints SET note = replace(note, '\n32\n', '\n31\n') WHERE tree_size = 32`).run(),
    kinds: ['BAD_SIGNATURE'],
    firstBadSeq: 32,
  },
  {
    // Served by reads (and in the way of the next append at 64), covered by no checkpoint.
    name: 'store an extra event past the head',
    apply: (db) =>
      db
        .prepare(
          `INSERT INTO events (source_app_id, seq, event_type, ts, received_at, payload, prev_hash, hash)
           SELECT source_app_id, 64, event_type, ts + 1, received_at + 1, payload, hash, hash FROM events WHERE seq = 63`,
        )
        .run(),
    kinds: ['EVENT_PAST_HEAD'],
    firstBadSeq: 64,
  },
  // The same on the latest checkpoint, the only one the auditor CLI reads.
  {
    // The note is intact, so every proof verifies; what is wrong is what the service says beside it.
    name: "alter the latest checkpoint's root column",
    apply: (db) => db.prepare(`UPDATE checkpoints SET root_hash = '${'ef'.repeat(32)}' WHERE tree_size = 64`).run(),
    kinds: ['BAD_CHECKPOINT'],
    firstBadSeq: 64,
  },
  {
    name: "alter the latest checkpoint's signed note",
    apply: (db) => db.prepare(`UPDATE checkpoints SET note = replace(note, '\n64\n', '\n63\n') WHERE tree_size = 64`).run(),
    kinds: ['BAD_SIGNATURE'],
    firstBadSeq: 64,
  },
];

/** Opens the SQLite file at `dbPath` (no service may run on it) and applies `apply` in one transaction. */
export function applySqliteTamper(dbPath: string, apply: SqliteTamper['apply']): void {
  const db = new Database(dbPath);
  try {
    db.transaction(() => apply(db))();
  } finally {
    db.close();
  }
}
