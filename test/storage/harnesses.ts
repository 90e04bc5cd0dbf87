// Fresh stores for the engine contracts (contract.ts, api-key-contract.ts): a SQLite file in a temp dir, or a
// fresh database on a MongoDB test server (one server per file, a fresh database per test: cheaper than a server
// per test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { freshDbName, type MongoTestServer } from '../support/mongo-test-server.js';
import type { LogStorage } from '../../src/storage/types.js';
import type { HarnessOptions, StorageHarness } from './contract.js';

export function sqliteHarness(tmpPrefix: string, options: HarnessOptions = {}): StorageHarness {
  const dir = mkdtempSync(join(tmpdir(), tmpPrefix));
  const path = join(dir, 'log.db');
  return {
    storage: new SqliteStorage({ path, ...options }),
    reopen: async () => new SqliteStorage({ path, ...options }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A MongoDB harness can also open the same database as a process whose clock differs (leases, receipt times). */
export interface MongoHarness extends StorageHarness {
  reopenWithClock(now: () => number): Promise<LogStorage>;
}

export function mongoHarness(server: MongoTestServer, options: HarnessOptions = {}): MongoHarness {
  const dbName = `${server.dbName}_${freshDbName().slice(-6)}`;
  const { timeIndex: _sqliteOnly, ...mongoOptions } = options;
  const open = (now?: () => number) => new MongoStorage({ uri: server.uri, dbName, ...mongoOptions, ...(now && { now }) });
  return {
    storage: open(),
    reopen: async () => open(),
    reopenWithClock: async (now) => open(now),
    cleanup: async () => {
      const client = new MongoClient(server.uri);
      try {
        await client.db(dbName).dropDatabase();
      } finally {
        await client.close();
      }
    },
  };
}
