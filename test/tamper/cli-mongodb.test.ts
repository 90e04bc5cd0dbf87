// The auditor CLI campaign of cli.test.ts on the MongoDB engine: the service runs as a child process with
// MONGODB_URI (the FerretDB-based test server), the tampers of mongo-tampers.ts change a clone of one pristine
// database with the driver while no service runs on it, and the CLI must exit 1 naming the first bad position.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliService, type CliService } from '../support/cli-service.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { buildLog, CLI_CASES, exact, expectBothModesDetect, type CliCase } from './cli-harness.js';
import { cloneDb, mongoTampers } from './mongo-tampers.js';

// What the CLI sees of each tamper of mongo-tampers.ts: what it sees of the same case on SQLite (CLI_CASES),
// but for the few below, and the cases of this engine only. The tampers of the checkpoint at 32 are left out
// (checked in beforeAll): the CLI audits the latest checkpoint only.
const cliCases: Record<string, CliCase> = {
  ...CLI_CASES,
  'insert an event (shifting the later ones)': { ...CLI_CASES['insert an event (shifting the later ones)']!, fine: exact(24, 'BAD_RANGE_PROOF') },
  'reorder two events (swap their positions)': { ...CLI_CASES['reorder two events (swap their positions)']!, fine: exact(32, 'BAD_RANGE_PROOF') },
  'alter a tree node (level 2, index 5: leaves 20..23)': {
    ...CLI_CASES['alter a tree node (level 2, index 5: leaves 20..23)']!,
    fine: { ...exact(16, 'BAD_RANGE_PROOF'), proofPosition: true },
  },
  'edit a receivedAt': { default: exact(45, 'LEAF_HASH_MISMATCH'), fine: exact(45, 'LEAF_HASH_MISMATCH') },
  // Node (3, 6) covers 48..55; the proofs that need it are those of 56..63, which the service then refuses.
  'delete a tree node': {
    default: { firstBadSeq: 56, kinds: ['PROOF_UNAVAILABLE'], refused: true, proofPosition: true },
    fine: { firstBadSeq: 56, kinds: ['PROOF_UNAVAILABLE'], refused: true, proofPosition: true },
    defaultArgs: ['--spot-checks', '64'],
  },
  'move an event to another log': {
    default: { firstBadSeq: 10, kinds: ['PROOF_UNAVAILABLE'], refused: true },
    fine: { firstBadSeq: 10, kinds: ['PROOF_UNAVAILABLE'], refused: true },
  },
};

const cases = mongoTampers.filter((t) => t.name in cliCases).map((t) => ({ ...t, ...cliCases[t.name]! }));

describe('the auditor CLI finds direct changes to the MongoDB collections of a live service', () => {
  let server: MongoTestServer;
  let client: MongoClient;
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-tamper-cli-mongo-'));
  const counts = { tried: 0, detected: 0, refused: [] as string[] };
  const pristineDb = () => `${server.dbName}_pristine`;
  const start = (dbName: string) =>
    startCliService({ dataDir: keyDir, env: { MONGODB_URI: server.uri, MONGODB_DB: dbName } });

  beforeAll(async () => {
    expect(mongoTampers.filter((t) => !(t.name in cliCases)).map((t) => t.name)).toEqual([
      "alter a checkpoint's root field",
      "alter a checkpoint's signed note",
    ]);
    server = await startMongoTestServer();
    client = new MongoClient(server.uri);
    const s = await start(pristineDb());
    try {
      await buildLog(s, join(keyDir, 'pristine'));
    } finally {
      await s.stop();
    }
  });
  afterAll(async () => {
    console.log(`tamper campaign (auditor CLI, mongodb): ${counts.detected} detected of ${counts.tried} tried`);
    if (counts.refused.length > 0) console.log(`  detected through a refused proof query (exit 1, PROOF_UNAVAILABLE): ${counts.refused.join('; ')}`);
    await client?.close();
    await server?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  cases.forEach((t, i) => {
    it(t.name, async () => {
      counts.tried++;
      const dbName = `${server.dbName}_c${i}`;
      await cloneDb(client, pristineDb(), dbName);
      await t.apply(client.db(dbName));
      let s: CliService | undefined;
      try {
        s = await start(dbName);
        await expectBothModesDetect(s, join(keyDir, `state-${i}`), t, t.firstBadSeq);
        counts.detected++;
        if (t.default.refused || t.fine.refused) counts.refused.push(t.name);
      } finally {
        await s?.stop();
        await client.db(dbName).dropDatabase();
      }
    }, 90_000);
  });
});
