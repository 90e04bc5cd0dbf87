// One process per SQLite DATA_DIR. A second process on the same directory would write to the same
// database, but neither would see the other's commits (sequencing, subscriptions and checkpoints
// assume one process owns the file), so it must refuse to start.
//
// The lock is an exclusive SQLite lock on DATA_DIR/chainlog.lock, held by an open transaction for
// the life of the process: SQLite takes it with a POSIX advisory lock (and its own in-process lock
// table), which the kernel releases when the process exits, however it exits (SIGKILL included).
// There is no stale-lock timeout to wait out after a crash.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export const LOCK_FILE = 'chainlog.lock';
/** Informational: the pid of the holder, for the refusal message. The lock is what counts. */
export const PID_FILE = 'chainlog.pid';

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

/** Takes the lock, or throws DataDirLockedError naming the directory when another live process holds it. */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  // timeout 0: a held lock answers SQLITE_BUSY at once instead of waiting for it.
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    // A write makes SQLite take the lock on the file now and keep it until the transaction ends.
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY' || (err as { code?: string }).code === 'SQLITE_LOCKED') {
      const pid = holderPid(dataDir);
      throw new DataDirLockedError(
        `DATA_DIR ${dataDir} is in use by another chainlog process${pid ? ` (pid ${pid})` : ''}. ` +
          "Two processes on one SQLite data directory would not see each other's events. " +
          'Stop the other process, or give this one another DATA_DIR (processes that should share logs share a MongoDB database: MONGODB_URI).',
      );
    }
    throw err;
  }
  writeFileSync(join(dataDir, PID_FILE), `${process.pid}\n`);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

function holderPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, PID_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
