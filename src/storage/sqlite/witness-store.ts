// WitnessStore on SQLite: tables of their own, created idempotently (outside the log schema's
// migrations). Each compare-and-swap is one conditional statement on the main connection.
import type Database from 'better-sqlite3';
import type { StoredWitnessState, WitnessEvidence, WitnessState, WitnessStore } from '../witness-store.js';

interface StateRow {
  origin: string;
  size: number;
  root_hash: string;
  note: string;
  updated_at: number;
}

interface EvidenceRow {
  id: string;
  origin: string;
  reason: string;
  cosigned_note: string | null;
  submitted_note: string;
  old_size: number;
  proof: string;
  recorded_at: number;
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
      CREATE TABLE IF NOT EXISTS witness_evidence (
        id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        reason TEXT NOT NULL,
        cosigned_note TEXT,
        submitted_note TEXT NOT NULL,
        old_size INTEGER NOT NULL,
        proof TEXT NOT NULL,
        recorded_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS witness_evidence_by_origin ON witness_evidence (origin, recorded_at);
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

  async recordEvidence(e: WitnessEvidence): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO witness_evidence (id, origin, reason, cosigned_note, submitted_note, old_size, proof, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      )
      .run(e.id, e.origin, e.reason, e.cosignedNote, e.submittedNote, e.oldSize, JSON.stringify(e.proof), e.recordedAt);
  }

  async listEvidence(origin?: string): Promise<WitnessEvidence[]> {
    const sql =
      'SELECT * FROM witness_evidence' + (origin === undefined ? '' : ' WHERE origin = ?') + ' ORDER BY recorded_at, id';
    const rows = (origin === undefined ? this.db.prepare(sql).all() : this.db.prepare(sql).all(origin)) as EvidenceRow[];
    return rows.map((r) => ({
      id: r.id,
      origin: r.origin,
      reason: r.reason,
      cosignedNote: r.cosigned_note,
      submittedNote: r.submitted_note,
      oldSize: r.old_size,
      proof: JSON.parse(r.proof) as string[],
      recordedAt: r.recorded_at,
    }));
  }
}
