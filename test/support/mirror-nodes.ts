// A primary and its mirrors for the end-to-end mirror suites: real services (service-process.ts) on the
// suite's engine with authentication on, the GraphQL reads those suites make of them, the waits on their
// signals, and edits of a stopped node's store that bypass the service (on SQLite or MongoDB): a stored
// event or checkpoint changed, the whole store backed up and restored.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, type Document, type UpdateFilter } from 'mongodb';
import { afterAll, expect } from 'vitest';
import { collectionNames } from '../../src/storage/mongodb/documents.js';
import { applySqliteTamper } from '../tamper/sqlite-tampers.js';
import { e2eEngineEnv, e2eMongoUri } from './e2e-engine.js';
import { E2E_ADMIN_KEY, type GraphqlResponse } from './service.js';
import { freePort, ServiceProcess, startOnFreePort } from './service-process.js';
import { until } from './wait.js';

export const ADMIN = { 'x-api-key': E2E_ADMIN_KEY };

export interface MirrorNode {
  proc: ServiceProcess;
  dataDir: string;
  env: Record<string, string>;
  url: string;
  authHeaders: () => Record<string, string>;
}

/**
 * The node factory of one suite: `node(name)` starts a service (unless `start` is false) on a fresh data
 * directory and database named after `prefix` and `name`; `tempDir(name)` makes a directory for the suite's
 * other files. Call it at the top of a test file: it kills every node it made and removes the directories
 * after the file's tests.
 */
export function mirrorNodes(prefix: string) {
  const dirs: string[] = [];
  const nodes: MirrorNode[] = [];
  afterAll(async () => {
    for (const n of nodes) await n.proc.kill();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = (name: string): string => {
    const dir = mkdtempSync(join(tmpdir(), `chainlog-${prefix}-${name}-`));
    dirs.push(dir);
    return dir;
  };
  async function node(name: string, env: Record<string, string> = {}, start = true): Promise<MirrorNode> {
    const dataDir = tempDir(name);
    const fullEnv = {
      LOG_LEVEL: 'info',
      CHECKPOINT_INTERVAL_MS: '200',
      AUTH: 'on',
      ADMIN_API_KEY: E2E_ADMIN_KEY,
      ...e2eEngineEnv(`${prefix.replace(/-/g, '_')}_${name}`),
      ...env,
    };
    const make = (port: number) => new ServiceProcess(port, dataDir, fullEnv);
    const proc = start ? await startOnFreePort(make) : make(await freePort());
    const n = { proc, dataDir, env: fullEnv, url: proc.url, authHeaders: () => ADMIN };
    nodes.push(n);
    return n;
  }
  return { node, tempDir };
}

/** A GraphQL request with the admin key (or `headers`): the status and the body. */
export async function gql<T = any>(n: { url: string }, query: string, variables?: Record<string, unknown>, headers = ADMIN) {
  const res = await fetch(`${n.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as Omit<GraphqlResponse<T>, 'status'>) };
}

/** A GraphQL request's data; its errors are thrown. */
export async function data<T = any>(n: { url: string }, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await gql<T>(n, query, variables);
  if (res.errors) throw new Error(`${n.url}: ${JSON.stringify(res.errors)}`);
  return res.data!;
}

export const MIRROR_STATUS = `{ serverInfo { verifierKey originPrefix mirror { primaryUrl primaryReachable eventsBehind logsBehind
  lastSyncAt lastError catchUpEventsPerSecond eventsCopied stoppedLogs { sourceAppId reason } } } }`;
export const mirrorStatus = async (m: MirrorNode) => (await data(m, MIRROR_STATUS)).serverInfo.mirror;

/** Each log's latest checkpoint size (`missing` for a log without one). */
export async function latestSizes(n: MirrorNode, missing = 0): Promise<Record<string, number>> {
  const d = await data(n, '{ logs(first: 500) { nodes { sourceAppId size latestCheckpoint { treeSize } } } }');
  return Object.fromEntries(d.logs.nodes.map((l: any) => [l.sourceAppId, l.latestCheckpoint?.treeSize ?? missing]));
}

/**
 * The idle primary has checkpointed every event, and the mirror has accepted the primary's latest checkpoint
 * of each of `apps` (every log of the primary when not given) with nothing left to copy.
 */
export async function converged(primary: MirrorNode, mirror: MirrorNode, timeoutMs: number, apps?: string[]): Promise<void> {
  await until(
    'the primary to checkpoint every event',
    async () => {
      const d = await data(primary, '{ logs(first: 500) { nodes { size latestCheckpoint { treeSize } } } }');
      return d.logs.nodes.every((l: any) => l.latestCheckpoint?.treeSize === l.size);
    },
    { timeoutMs },
  );
  const want = await latestSizes(primary, -1);
  const names = apps ?? Object.keys(want);
  await until(
    `the mirror to accept ${JSON.stringify(want)}`,
    async () => {
      const have = await latestSizes(mirror, -1);
      return names.every((a) => have[a] === want[a]) && (await mirrorStatus(mirror)).eventsBehind === 0 ? true : null;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/** Waits for the mirror to stop following a log, and answers its status then. */
export async function stoppedFollowing(mirror: MirrorNode, app: string, timeoutMs: number) {
  return until(
    `the mirror to stop following "${app}"`,
    async () => {
      const s = await mirrorStatus(mirror);
      return s.stoppedLogs.some((l: { sourceAppId: string }) => l.sourceAppId === app) ? s : null;
    },
    { timeoutMs },
  );
}

/** The `mirrorInconsistency` report of the mirror's first log line that has one and also holds `mark`. */
export function mirrorInconsistencyReport(mirror: MirrorNode, mark = '"mirrorInconsistency"'): any {
  const line = mirror.proc
    .output()
    .split('\n')
    .find((l) => l.includes('"mirrorInconsistency"') && l.includes(mark));
  expect(line, mirror.proc.output(4000)).toBeDefined();
  return JSON.parse(line!).mirrorInconsistency;
}

/**
 * Edits one stored event of a stopped node behind the service's back: on SQLite `UPDATE events SET <set>`
 * with `params` bound before the event's key, on MongoDB `mongo` applied to its document. Exactly one event
 * changes.
 */
export async function editStoredEvent(
  n: MirrorNode,
  app: string,
  seq: number,
  sqlite: { set: string; params: unknown[] },
  mongo: UpdateFilter<any>,
): Promise<void> {
  const uri = e2eMongoUri();
  if (!uri) {
    applySqliteTamper(join(n.dataDir, 'chainlog.db'), (db) => {
      const r = db.prepare(`UPDATE events SET ${sqlite.set} WHERE source_app_id = ? AND seq = ?`).run(...sqlite.params, app, seq);
      expect(r.changes).toBe(1);
    });
    return;
  }
  const client = await MongoClient.connect(uri);
  try {
    const r = await client.db(n.env.MONGODB_DB).collection(collectionNames.events).updateOne({ sourceAppId: app, seq }, mongo);
    expect(r.modifiedCount).toBe(1);
  } finally {
    await client.close();
  }
}

/**
 * Lowers a stopped node's stored erasure sizes (LogStorage.erasuresAppliedBelow and erasuresCopiedBelow)
 * to at most `below`: the store as a stop before the records from `below` on were known applied leaves it.
 */
export async function lowerErasureSizes(n: MirrorNode, below: number): Promise<void> {
  const uri = e2eMongoUri();
  if (!uri) {
    applySqliteTamper(join(n.dataDir, 'chainlog.db'), (db) => {
      const r = db
        .prepare('UPDATE erasures_applied SET below = min(below, ?), copied_below = min(copied_below, ?)')
        .run(below, below);
      expect(r.changes).toBe(1);
    });
    return;
  }
  const client = await MongoClient.connect(uri);
  try {
    const r = await client
      .db(n.env.MONGODB_DB)
      .collection(collectionNames.erasuresApplied)
      .updateMany({}, { $min: { below, copiedBelow: below } });
    expect(r.matchedCount).toBeGreaterThanOrEqual(1);
  } finally {
    await client.close();
  }
}

/**
 * Edits one stored checkpoint of a stopped node behind the service's back: its note, and its root column
 * when `rootHash` is given (on SQLite its row of `checkpoints`, on MongoDB its document). Exactly one
 * checkpoint changes; on MongoDB it must have no later version of its note (cosignatures), which would
 * be served instead.
 */
export async function editStoredCheckpoint(
  n: MirrorNode,
  app: string,
  treeSize: number,
  fields: { note: string; rootHash?: string },
): Promise<void> {
  const uri = e2eMongoUri();
  if (!uri) {
    applySqliteTamper(join(n.dataDir, 'chainlog.db'), (db) => {
      const r = db
        .prepare('UPDATE checkpoints SET note = ?, root_hash = coalesce(?, root_hash) WHERE source_app_id = ? AND tree_size = ?')
        .run(fields.note, fields.rootHash ?? null, app, treeSize);
      expect(r.changes).toBe(1);
    });
    return;
  }
  const client = await MongoClient.connect(uri);
  try {
    const db = client.db(n.env.MONGODB_DB);
    expect(await db.collection(collectionNames.checkpointNotes).countDocuments({ sourceAppId: app, treeSize })).toBe(0);
    const r = await db
      .collection(collectionNames.checkpoints)
      .updateOne(
        { sourceAppId: app, treeSize },
        { $set: { note: fields.note, ...(fields.rootHash && { rootHash: fields.rootHash }) } },
      );
    expect(r.matchedCount).toBe(1);
  } finally {
    await client.close();
  }
}

/** A stopped node's whole store as backupStore took it: its SQLite files, or every collection of its MongoDB database. */
export type StoreBackup = { files: Map<string, Buffer> } | { collections: Map<string, Document[]> };

/** Copies the whole store of a stopped node, for restoreStore (as an operator's backup would). */
export async function backupStore(n: MirrorNode): Promise<StoreBackup> {
  const uri = e2eMongoUri();
  if (!uri) {
    const names = readdirSync(n.dataDir).filter((f) => f.startsWith('chainlog.db'));
    return { files: new Map(names.map((f) => [f, readFileSync(join(n.dataDir, f))])) };
  }
  const client = await MongoClient.connect(uri);
  try {
    const db = client.db(n.env.MONGODB_DB);
    const collections = new Map<string, Document[]>();
    for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
      if (name.startsWith('system.')) continue;
      collections.set(name, await db.collection(name).find({}).toArray());
    }
    return { collections };
  } finally {
    await client.close();
  }
}

/**
 * Puts a stopped node's store back as backupStore took it: the SQLite files replaced, or every document
 * of the MongoDB database replaced by the backup's (the collections and their indexes stay).
 */
export async function restoreStore(n: MirrorNode, backup: StoreBackup): Promise<void> {
  if ('files' in backup) {
    for (const f of readdirSync(n.dataDir).filter((name) => name.startsWith('chainlog.db'))) rmSync(join(n.dataDir, f));
    for (const [f, bytes] of backup.files) writeFileSync(join(n.dataDir, f), bytes);
    return;
  }
  const client = await MongoClient.connect(e2eMongoUri()!);
  try {
    const db = client.db(n.env.MONGODB_DB);
    for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
      if (!name.startsWith('system.')) await db.collection(name).deleteMany({});
    }
    for (const [name, docs] of backup.collections) if (docs.length > 0) await db.collection(name).insertMany(docs);
  } finally {
    await client.close();
  }
}
