// InconsistencyStore on SQLite: a table of its own, created idempotently (outside the log schema's
// migrations), written with INSERT ... ON CONFLICT DO NOTHING so a record is never replaced.
import type Database from 'better-sqlite3';
import type { Detector, InconsistencyQuery, InconsistencyRecord, InconsistencyStore } from '../inconsistency-store.js';

interface Row {
  id: string;
  kind: string;
  proven: number;
  origin: string;
  source_app_id: string | null;
  detected_by: Detector;
  source: string;
  detected_at: number;
  evidence: string;
}

export class SqliteInconsistencyStore implements InconsistencyStore {
  constructor(private readonly db: Database.Database) {}

  async init(): Promise<void> {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS inconsistencies (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        proven INTEGER NOT NULL,
        origin TEXT NOT NULL,
        source_app_id TEXT,
        detected_by TEXT NOT NULL,
        source TEXT NOT NULL,
        detected_at INTEGER NOT NULL,
        evidence TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS inconsistencies_by_time ON inconsistencies (detected_at, id);
      CREATE INDEX IF NOT EXISTS inconsistencies_by_origin ON inconsistencies (origin, detected_at, id);
      CREATE INDEX IF NOT EXISTS inconsistencies_by_app ON inconsistencies (source_app_id, detected_at, id);
    `);
  }

  async record(r: InconsistencyRecord): Promise<boolean> {
    const result = this.db
      .prepare(
        `INSERT INTO inconsistencies (id, kind, proven, origin, source_app_id, detected_by, source, detected_at, evidence)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(r.id, r.kind, r.proven ? 1 : 0, r.origin, r.sourceAppId, r.detectedBy, r.source, r.detectedAt, r.evidence);
    return result.changes === 1;
  }

  async list(q: InconsistencyQuery): Promise<InconsistencyRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.origin !== undefined) {
      where.push('origin = ?');
      params.push(q.origin);
    }
    if (q.sourceAppIds) {
      if (q.sourceAppIds.length === 0) return [];
      where.push(`source_app_id IN (${q.sourceAppIds.map(() => '?').join(', ')})`);
      params.push(...q.sourceAppIds);
    }
    if (q.after) {
      where.push('(detected_at < ? OR (detected_at = ? AND id < ?))');
      params.push(q.after.detectedAt, q.after.detectedAt, q.after.id);
    }
    const rows = this.db
      .prepare(
        `SELECT * FROM inconsistencies${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY detected_at DESC, id DESC LIMIT ?`,
      )
      .all(...params, q.limit) as Row[];
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      proven: r.proven === 1,
      origin: r.origin,
      sourceAppId: r.source_app_id,
      detectedBy: r.detected_by,
      source: r.source,
      detectedAt: r.detected_at,
      evidence: r.evidence,
    }));
  }
}
