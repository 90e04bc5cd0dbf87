// Fresh stores for the engine contracts (contract.ts, api-key-contract.ts): a SQLite file in a temp dir, or a
// fresh database on a MongoDB test server (one server per file, a fresh database per test: cheaper than a server
// per test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MongoClient } from 'mongodb';
import { collectionNames as C } from '../../src/storage/mongodb/documents.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { freshDbName, type MongoTestServer } from '../support/mongo-test-server.js';
import type { LogStorage } from '../../src/storage/types.js';
import type { HarnessOptions, StorageHarness } from './contract.js';

/** A harness whose stored events can be damaged behind the store's back, as someone with the database could. */
export interface TamperableHarness extends StorageHarness {
  /** Overwrite the stored event's link and hash (hex), exactly one event. */
  relinkEvent(sourceAppId: string, seq: number, prevHash: string, hash: string): Promise<void>;
  /** Set the log's stored integrated size lower, keeping its tree nodes and checkpoints. */
  lowerIntegrated(sourceAppId: string, size: number): Promise<void>;
}

export function sqliteHarness(tmpPrefix: string, options: HarnessOptions = {}): TamperableHarness {
  const dir = mkdtempSync(join(tmpdir(), tmpPrefix));
  const path = join(dir, 'log.db');
  return {
    storage: new SqliteStorage({ path, ...options }),
    reopen: async () => new SqliteStorage({ path, ...options }),
    relinkEvent: async (sourceAppId, seq, prevHash, hash) => {
      const db = new Database(path);
      try {
        const r = db
          .prepare('UPDATE events SET prev_hash = ?, hash = ? WHERE source_app_id = ? AND seq = ?')
          .run(prevHash, hash, sourceAppId, seq);
        if (r.changes !== 1) throw new Error(`no stored event ${sourceAppId}/${seq} to relink`);
      } finally {
        db.close();
      }
    },
    lowerIntegrated: async (sourceAppId, size) => {
      const db = new Database(path);
      try {
        const r = db
          .prepare('UPDATE logs SET integrated_size = ? WHERE source_app_id = ? AND integrated_size > ?')
          .run(size, sourceAppId, size);
        if (r.changes !== 1) throw new Error(`log ${sourceAppId} is not integrated past ${size}`);
      } finally {
        db.close();
      }
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A MongoDB harness can also open the same database as a process whose clock differs (leases, receipt times). */
export interface MongoHarness extends TamperableHarness {
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
    relinkEvent: async (sourceAppId, seq, prevHash, hash) => {
      const client = new MongoClient(server.uri);
      try {
        // The event's document is derived from its batch on the first read that needs it.
        const r = await client.db(dbName).collection(C.events).updateOne({ sourceAppId, seq }, { $set: { prevHash, hash } });
        if (r.modifiedCount !== 1) throw new Error(`no stored event ${sourceAppId}/${seq} to relink`);
      } finally {
        await client.close();
      }
    },
    lowerIntegrated: async (sourceAppId, size) => {
      const client = new MongoClient(server.uri);
      try {
        const r = await client
          .db(dbName)
          .collection<{ _id: string; size: number }>(C.integrated)
          .updateOne({ _id: sourceAppId, size: { $gt: size } }, { $set: { size } });
        if (r.modifiedCount !== 1) throw new Error(`log ${sourceAppId} is not integrated past ${size}`);
      } finally {
        await client.close();
      }
    },
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
