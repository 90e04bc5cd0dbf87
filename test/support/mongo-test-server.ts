// A MongoDB for a test suite: the FerretDB-based test server, or MONGODB_TEST_URI when set.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { ensureServerBinary } from '../../scripts/mongo-test-server/binary.js';
import { startServerProcess, stopServerProcess } from '../../scripts/mongo-test-server/server-process.js';

export interface MongoTestServer {
  uri: string;
  /** A fresh database name for this suite (on a shared MONGODB_TEST_URI server, suites must not collide). */
  dbName: string;
  /** Our server's process id (a test stalls it with SIGSTOP); undefined on an external server (MONGODB_TEST_URI). */
  pid?: number;
  /** Stops our server and removes its data, or drops the suite's database on an external server. */
  stop(): Promise<void>;
}

/**
 * Stalls a process (SIGSTOP) and resolves once every thread of it has stopped (Linux, /proc): a stop
 * lands asynchronously, and a request sent before it lands is still answered.
 */
export async function stallProcess(pid: number, timeoutMs = 5000): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const deadline = Date.now() + timeoutMs;
  const stateOf = async (task: string) => {
    const stat = await readFile(`/proc/${pid}/task/${task}/stat`, 'utf8').catch(() => null);
    return stat === null ? 'T' : stat.charAt(stat.lastIndexOf(')') + 2); // a thread gone is not running
  };
  for (;;) {
    const states = await Promise.all((await readdir(`/proc/${pid}/task`)).map(stateOf));
    if (states.every((s) => s === 'T' || s === 't')) return;
    if (Date.now() > deadline)
      throw new Error(`process ${pid} did not stop within ${timeoutMs} ms (thread states ${states.join('')})`);
    await new Promise((r) => setImmediate(r));
  }
}

export const freshDbName = () => `chainlog_test_${randomBytes(6).toString('hex')}`;

async function waitUntilAccepting(uri: string, timeoutMs = 20_000): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
}

export async function startMongoTestServer(): Promise<MongoTestServer> {
  const dbName = freshDbName();
  const external = process.env.MONGODB_TEST_URI;
  if (external) {
    await waitUntilAccepting(external);
    return {
      uri: external,
      dbName,
      async stop() {
        const client = new MongoClient(external);
        try {
          await client.db(dbName).dropDatabase();
        } finally {
          await client.close();
        }
      },
    };
  }

  const binary = await ensureServerBinary((line) => console.error(line));
  const dataDir = await mkdtemp(join(tmpdir(), 'chainlog-mongo-test-'));
  const server = await startServerProcess({ binary, listen: '127.0.0.1:0', dataDir });
  try {
    await waitUntilAccepting(server.uri);
  } catch (err) {
    await stopServerProcess(server);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    uri: server.uri,
    dbName,
    ...(server.child.pid !== undefined && { pid: server.child.pid }),
    async stop() {
      // A stalled server does not stop on SIGTERM: let it go on first.
      if (server.child.pid !== undefined) server.child.kill('SIGCONT');
      await stopServerProcess(server);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * For a test file: a test server for the whole file, a client to it, and a fresh database per test
 * (dropped after it). Call at the top level of the file; read the fields inside tests.
 */
export function useMongoTestDatabase(): {
  readonly server: MongoTestServer;
  readonly client: MongoClient;
  readonly dbName: string;
} {
  const state = {} as { server: MongoTestServer; client: MongoClient; dbName: string };
  beforeAll(async () => {
    state.server = await startMongoTestServer();
    state.client = new MongoClient(state.server.uri);
  });
  afterAll(async () => {
    await state.client?.close();
    await state.server?.stop();
  });
  beforeEach(() => {
    state.dbName = `${state.server.dbName}_${freshDbName().slice(-6)}`;
  });
  return state;
}
