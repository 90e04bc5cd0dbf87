// The tamper campaigns' shared setup: one pristine store per suite (built once, checked to verify), a copy of
// it per case that the case tampers with while no service runs on it, and the campaign's tally. The engines
// differ only in how a store is copied (a DATA_DIR with cpSync, a MongoDB database with cloneDb).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, expect } from 'vitest';
import { Integrator, IntegrityError } from '../../../src/log/integrator.js';
import type { ChainlogService } from '../../../src/log/chainlog-service.js';
import type { LogStorage } from '../../../src/storage/types.js';
import { startCliService, type CliService } from '../../support/cli-service.js';
import { startMongoTestServer, type MongoTestServer } from '../../support/mongo-test-server.js';
import { event, type EnginePipeline } from '../../support/pipeline.js';
import { buildLog } from '../cli-harness.js';
import { failingRangeReads } from '../malformed-tampers.js';
import { APP, cloneDb, SIZE } from '../mongo-tampers.js';
import { applySqliteTamper, type SqliteTamper } from '../sqlite-tampers.js';
import { expectVerifyLogFinds, type VerifyLogFinding } from '../verify-log.js';

export { APP, SIZE };

/**
 * The in-process campaigns' log: SIZE events of APP, checkpointed at SIZE / 2 and SIZE, and with `other` one
 * event of a second log (which a tamper of APP must leave verifying).
 */
export async function buildPristineLog(service: ChainlogService, { other = false }: { other?: boolean } = {}): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await service.append(Array.from({ length: SIZE / 2 }, () => event(APP)));
    await service.publishCheckpoints();
  }
  if (other) {
    await service.append([event('other')]);
    await service.publishCheckpoints();
  }
  expect((await service.getCheckpoint(APP))?.treeSize).toBe(SIZE);
  expect((await service.verifyLog(APP)).ok).toBe(true);
}

/**
 * After integration state is forgotten on a tampered store: integration fails with an IntegrityError (quarantine,
 * not an error to retry), a failure to read stays transient, and the service, which quarantined the log at start,
 * accepts a new event but covers it with no checkpoint, while verifyLog still reports the tamper.
 */
export async function expectQuarantined(p: EnginePipeline<LogStorage>, t: VerifyLogFinding): Promise<void> {
  const err = await new Integrator(p.storage).integrate(APP).catch((e: unknown) => e);
  expect(err, String(err)).toBeInstanceOf(IntegrityError);
  const dropped = new Error('connection reset');
  await expect(new Integrator(failingRangeReads(p.storage, dropped)).integrate(APP)).rejects.toBe(dropped);
  await p.service.append([event(APP)]);
  expect(await p.service.publishCheckpoints()).toEqual([]);
  expect((await p.service.getCheckpoint(APP))?.treeSize).toBe(SIZE);
  expectVerifyLogFinds(await p.service.verifyLog(APP), t);
}

/** How many cases a campaign tried and detected (and which through a refused proof query), printed at its end. */
export function useTally(label: string): { tried(): void; detected(name: string, refused?: boolean): void } {
  const counts = { tried: 0, detected: 0, refused: [] as string[] };
  afterAll(() => {
    console.log(`tamper campaign (${label}): ${counts.detected} detected of ${counts.tried} tried`);
    if (counts.refused.length > 0)
      console.log(`  detected through a refused proof query (exit 1, PROOF_UNAVAILABLE): ${counts.refused.join('; ')}`);
  });
  return {
    tried: () => void counts.tried++,
    detected(name, refused = false) {
      counts.detected++;
      if (refused) counts.refused.push(name);
    },
  };
}

export interface MongoCampaign {
  readonly server: MongoTestServer;
  readonly client: MongoClient;
  /** Where the signing key (and CLI state files) live: one key for the pristine database and every clone. */
  readonly keyDir: string;
  /**
   * Clones the pristine database as `<test db>_<label><name>`, tampers with the clone, runs `body` on it
   * and drops it.
   */
  onClone<T>(name: string | number, tamper: (db: Db) => Promise<void>, body: (dbName: string) => Promise<T>): Promise<T>;
}

/**
 * A campaign on the MongoDB engine (the FerretDB-based test server): `build` fills the pristine database
 * `dbName` before any case runs. Registers its beforeAll/afterAll in the calling describe.
 */
export function useMongoCampaign(
  label: string,
  build: (dbName: string, keyDir: string, server: MongoTestServer) => Promise<void>,
): MongoCampaign {
  const keyDir = mkdtempSync(join(tmpdir(), `chainlog-tamper-${label}-`));
  let server: MongoTestServer | undefined;
  let client: MongoClient | undefined;
  const pristineDb = () => `${campaign.server.dbName}_${label}pristine`;
  const campaign: MongoCampaign = {
    get server() {
      if (!server) throw new Error('the MongoDB test server starts in beforeAll');
      return server;
    },
    get client() {
      if (!client) throw new Error('the MongoDB client connects in beforeAll');
      return client;
    },
    keyDir,
    async onClone(name, tamper, body) {
      const dbName = `${campaign.server.dbName}_${label}${name}`;
      await cloneDb(campaign.client, pristineDb(), dbName);
      try {
        await tamper(campaign.client.db(dbName));
        return await body(dbName);
      } finally {
        await campaign.client.db(dbName).dropDatabase();
      }
    },
  };
  beforeAll(async () => {
    server = await startMongoTestServer();
    client = new MongoClient(server.uri);
    await build(pristineDb(), keyDir, server);
  });
  afterAll(async () => {
    if (server)
      await client
        ?.db(pristineDb())
        .dropDatabase()
        .catch(() => undefined);
    await client?.close();
    await server?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });
  return campaign;
}

/** Starts the service (a child process) on the MongoDB database `dbName`, signing with the key in `keyDir`. */
export const startCliServiceOnMongo = (server: MongoTestServer, keyDir: string, dbName: string): Promise<CliService> =>
  startCliService({ dataDir: keyDir, env: { MONGODB_URI: server.uri, MONGODB_DB: dbName } });

/** The CLI campaigns' pristine MongoDB database: the log of buildLog, written through the service. */
export async function buildCliLogOnMongo(dbName: string, keyDir: string, server: MongoTestServer): Promise<void> {
  const s = await startCliServiceOnMongo(server, keyDir, dbName);
  try {
    await buildLog(s, join(keyDir, 'pristine'));
  } finally {
    await s.stop();
  }
}

export interface SqliteCliCampaign {
  /** The campaign's scratch folder: the pristine DATA_DIR and one copy per case. */
  readonly work: string;
  /** A copy of the pristine DATA_DIR named after the case, its SQLite file tampered with, and the service started on it. */
  tamperedService(name: string, apply: SqliteTamper['apply']): Promise<CliService>;
}

/**
 * A campaign of the auditor CLI against the service (a child process) on SQLite: the pristine DATA_DIR holds
 * the log of buildLog (64 events, checkpoints at 32 and 64), built once before any case runs. Registers its
 * beforeAll/afterAll in the calling describe.
 */
export function useSqliteCliCampaign(label: string): SqliteCliCampaign {
  const work = mkdtempSync(join(tmpdir(), `chainlog-tamper-${label}-`));
  const pristineDir = join(work, 'pristine');
  beforeAll(async () => {
    const s = await startCliService({ dataDir: mkdtempSync(join(work, 'build-')) });
    try {
      await buildLog(s, join(work, 'pristine'));
    } finally {
      await s.stop();
    }
    cpSync(s.dataDir, pristineDir, { recursive: true });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  return {
    work,
    async tamperedService(name, apply) {
      const dir = join(work, name.replace(/[^a-z0-9]+/gi, '-'));
      cpSync(pristineDir, dir, { recursive: true });
      applySqliteTamper(join(dir, 'chainlog.db'), apply);
      return startCliService({ dataDir: dir });
    },
  };
}
