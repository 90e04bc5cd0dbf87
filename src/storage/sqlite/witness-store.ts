// WitnessStore on SQLite: tables of their own, created idempotently (outside the log schema's
// migrations). Each compare-and-swap is one conditional statement on the main connection.
import type Database from 'better-sqlite3';
import type { StoredWitnessState, WitnessState, WitnessStore } from '../witness-store.js';

interface StateRow {
  origin: string;
  size: number;
  root_hash: string;
  note: string;
  updated_at: number;
}

export class SqliteWitnessStore implements WitnessStore {
  constructor(private readonly db: Database.Database) {}

  async init(): Promise<void> {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS witness_checkpoints (
        origin TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        root_hash TEXT NOT NULL,
        note TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS witness_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        verifier_key TEXT NOT NULL
      );
    `);
  }

  async latest(origin: string): Promise<StoredWitnessState | null> {
    const row = this.db
      .prepare('SELECT origin, size, root_hash, note, updated_at FROM witness_checkpoints WHERE origin = ?')
      .get(origin) as StateRow | undefined;
    // Sizes only grow and a size keeps its root: (size, root) identifies a state.
    return row
      ? {
          origin: row.origin,
          size: row.size,
          rootHash: row.root_hash,
          note: row.note,
          updatedAt: row.updated_at,
          revision: `${row.size}:${row.root_hash}`,
        }
      : null;
  }

  async compareAndSwap(expected: StoredWitnessState | null, next: WitnessState): Promise<boolean> {
    const values = [next.size, next.rootHash, next.note, next.updatedAt, next.origin];
    const result =
      expected === null
        ? this.db
            .prepare(
              'INSERT INTO witness_checkpoints (size, root_hash, note, updated_at, origin) VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO NOTHING',
            )
            .run(...values)
        : this.db
            .prepare(
              'UPDATE witness_checkpoints SET size = ?, root_hash = ?, note = ?, updated_at = ? WHERE origin = ? AND size = ? AND root_hash = ?',
            )
            .run(...values, expected.size, expected.rootHash);
    return result.changes === 1;
  }

  async claimVerifierKey(verifierKey: string): Promise<string> {
    // One row at most (id = 1): the first insert wins, a later one changes nothing.
    this.db.prepare('INSERT INTO witness_identity (id, verifier_key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING').run(verifierKey);
    const row = this.db.prepare('SELECT verifier_key FROM witness_identity WHERE id = 1').get() as { verifier_key: string };
    return row.verifier_key;
  }
}
