// The storage engines a benchmark runs on, and fresh stores on them: a new data directory for SQLite,
// a new database (plus a data directory for the signing key) for MongoDB.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import { startTestMongo } from '../scripts/mongo-test-server/start.js';
import type { EngineName } from './options.js';

export interface FreshStore {
  /** Environment that points a chainlog server (or loadConfig) at this store. */
  env: Record<string, string>;
  dataDir: string;
  /** Removes the data directory and drops the database. */
  dispose(): Promise<void>;
}

export interface Engine {
  name: EngineName;
  /** Human description, without credentials. */
  description: string;
  /** The FerretDB test server: sizes are capped (see sizes.ts). */
  slow: boolean;
  /** The MongoDB URI, for the raw baseline (undefined for SQLite). */
  mongoUri?: string;
  freshStore(label: string): Promise<FreshStore>;
  close(): Promise<void>;
}

export const repoRoot = resolve(import.meta.dirname, '..');
let counter = 0;

function dataDirFor(root: string, label: string): string {
  const dir = join(root, `${label}-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function sqliteEngine(dataRoot: string, keep: boolean): Engine {
  return {
    name: 'sqlite',
    description: 'SQLite (embedded, WAL, synchronous=FULL)',
    slow: false,
    async freshStore(label) {
      const dataDir = dataDirFor(dataRoot, `sqlite-${label}`);
      return {
        env: { DATA_DIR: dataDir },
        dataDir,
        async dispose() {
          if (!keep) rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
    async close() {},
  };
}

const redact = (uri: string) => uri.replace(/\/\/[^@/]*@/, '//***@');

/**
 * MONGODB_URI when set (a real MongoDB); else MONGODB_TEST_URI (the test suites' variable); else the
 * FerretDB-based test server, started here.
 */
export async function mongoEngine(dataRoot: string, keep: boolean): Promise<Engine> {
  let uri: string;
  let description: string;
  let stopServer: () => Promise<void> = async () => {};
  let slow = false;
  if (process.env.MONGODB_URI) {
    uri = process.env.MONGODB_URI;
    description = `MongoDB at ${redact(uri)}`;
  } else if (process.env.MONGODB_TEST_URI) {
    uri = process.env.MONGODB_TEST_URI;
    description = `MongoDB at ${redact(uri)} (MONGODB_TEST_URI)`;
  } else {
    const server = await startTestMongo();
    uri = server.uri;
    description = 'FerretDB test server (SQLite backend)';
    stopServer = () => server.stop();
    slow = true;
  }
  const admin = new MongoClient(uri);
  await admin.connect();
  return {
    name: 'mongodb',
    description: slow ? `${description}; sizes capped, set MONGODB_URI for a real MongoDB` : description,
    slow,
    mongoUri: uri,
    async freshStore(label) {
      const dataDir = dataDirFor(dataRoot, `mongodb-${label}`);
      const dbName = `chainlog_bench_${label.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 24)}_${randomBytes(4).toString('hex')}`;
      return {
        env: { DATA_DIR: dataDir, MONGODB_URI: uri, MONGODB_DB: dbName },
        dataDir,
        async dispose() {
          if (keep) return;
          rmSync(dataDir, { recursive: true, force: true });
          await admin
            .db(dbName)
            .dropDatabase()
            .catch(() => undefined);
        },
      };
    },
    async close() {
      await admin.close();
      await stopServer();
    },
  };
}
