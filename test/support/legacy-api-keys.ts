// An API-key table as versions before `created_by` wrote it, holding one admin key: what an operator
// upgrading from such a version has on disk (the keys may have been created while AUTH=off).
import Database from 'better-sqlite3';

export function writeLegacyAdminKey(dbPath: string, key: { id: string; secretHash: string; name: string }): void {
  const db = new Database(dbPath);
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
      source_app_ids TEXT, name TEXT, created_at INTEGER NOT NULL, revoked_at INTEGER)`);
    db.prepare('INSERT INTO api_keys (id, secret_hash, role, source_app_ids, name, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
      key.id,
      key.secretHash,
      'admin',
      null,
      key.name,
      1,
    );
  } finally {
    db.close();
  }
}
