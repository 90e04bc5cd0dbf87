// ApiKeyStore on SQLite: one table of its own, created idempotently (outside the log schema's
// migrations, so the log tables' versioning is untouched by it).
import type Database from 'better-sqlite3';
import { ApiKeyConflictError, type ApiKeyInfo, type ApiKeyStore, type NewApiKey } from '../api-key-store.js';

interface ApiKeyRow {
  id: string;
  role: ApiKeyInfo['role'];
  source_app_ids: string | null;
  name: string | null;
  created_at: number;
  created_by: string | null;
  revoked_at: number | null;
}

const COLUMNS = 'id, role, source_app_ids, name, created_at, created_by, revoked_at';

const fromRow = (r: ApiKeyRow): ApiKeyInfo => ({
  id: r.id,
  role: r.role,
  sourceAppIds: r.source_app_ids === null ? null : (JSON.parse(r.source_app_ids) as string[]),
  name: r.name,
  createdAt: r.created_at,
  createdBy: r.created_by,
  revokedAt: r.revoked_at,
});

export class SqliteApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: Database.Database) {}

  async init(): Promise<void> {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        source_app_ids TEXT,
        name TEXT,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      CREATE INDEX IF NOT EXISTS api_keys_by_created ON api_keys (created_at, id);
    `);
    // Tables made before the creator was recorded get the column; their keys keep created_by NULL.
    const columns = this.db.prepare('PRAGMA table_info(api_keys)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'created_by')) this.db.exec('ALTER TABLE api_keys ADD COLUMN created_by TEXT');
  }

  async create(key: NewApiKey): Promise<ApiKeyInfo> {
    try {
      this.db
        .prepare(
          `INSERT INTO api_keys (id, secret_hash, role, source_app_ids, name, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          key.id,
          key.secretHash,
          key.role,
          key.sourceAppIds === null ? null : JSON.stringify(key.sourceAppIds),
          key.name,
          key.createdAt,
          key.createdBy,
        );
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT'))
        throw new ApiKeyConflictError('an API key with that id or secret exists');
      throw err;
    }
    const { secretHash: _h, ...info } = key;
    return { ...info, sourceAppIds: key.sourceAppIds && [...key.sourceAppIds], revokedAt: null };
  }

  async findBySecretHash(secretHash: string): Promise<ApiKeyInfo | null> {
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM api_keys WHERE secret_hash = ?`).get(secretHash) as ApiKeyRow | undefined;
    return row ? fromRow(row) : null;
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<ApiKeyInfo[]> {
    const where = options.includeRevoked ? '' : 'WHERE revoked_at IS NULL';
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM api_keys ${where} ORDER BY created_at, id`).all() as ApiKeyRow[];
    return rows.map(fromRow);
  }

  async revoke(id: string, at: number): Promise<ApiKeyInfo | null> {
    this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id);
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`).get(id) as ApiKeyRow | undefined;
    return row ? fromRow(row) : null;
  }
}
