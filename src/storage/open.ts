// Engine selection: MONGODB_URI picks MongoDB; otherwise the embedded SQLite file in DATA_DIR.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { LogStorage } from './types.js';

export interface OpenedStorage {
  storage: LogStorage;
  engine: 'sqlite' | 'mongodb';
  location: string;
}

/** `now`: the clock of the engine's leases (the only clock an engine reads). */
export async function openStorage(config: Config, now: () => number = Date.now): Promise<OpenedStorage> {
  if (config.MONGODB_URI) {
    const { MongoStorage, redactUri } = await import('./mongodb/mongo-storage.js');
    const storage = new MongoStorage({
      uri: config.MONGODB_URI,
      dbName: config.MONGODB_DB,
      readBudgetRows: config.READ_BUDGET_ROWS,
      timeoutMs: config.MONGODB_TIMEOUT_MS,
      ...(config.MONGODB_WRITE_CONCURRENCY !== undefined && { writeConcurrency: config.MONGODB_WRITE_CONCURRENCY }),
      now,
    });
    try {
      await storage.init();
    } catch (err) {
      await storage.close().catch(() => undefined);
      throw err;
    }
    return { storage, engine: 'mongodb', location: `${redactUri(config.MONGODB_URI)} db=${config.MONGODB_DB}` };
  }
  mkdirSync(config.DATA_DIR, { recursive: true });
  const path = join(config.DATA_DIR, 'chainlog.db');
  const { SqliteStorage } = await import('./sqlite/sqlite-storage.js');
  const storage = new SqliteStorage({ path, readBudgetRows: config.READ_BUDGET_ROWS });
  await storage.init();
  return { storage, engine: 'sqlite', location: path };
}
