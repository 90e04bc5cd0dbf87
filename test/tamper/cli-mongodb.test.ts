// The auditor CLI campaign of cli.test.ts on the MongoDB engine: the service runs as a child process with
// MONGODB_URI (the FerretDB-based test server), the tampers of mongo-tampers.ts change a clone of one pristine
// database with the driver while no service runs on it, and the CLI must exit 1 naming the first bad position.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionNames as C } from '../../src/storage/mongodb/documents.js';
import { startCliService, type CliService } from '../support/cli-service.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { buildLog, exact, expectDetected, MODES, verify, type Expect } from './cli-harness.js';
import { APP, cloneDb, mongoTampers, type MongoTamper } from './mongo-tampers.js';

interface CliCase {
  default: Expect;
  fine: Expect;
  /** Arguments of the "default" run when the default audit would be random (spot checks). */
  defaultArgs?: string[];
}

// What the CLI sees of each tamper of mongo-tampers.ts; the same as on SQLite (cli.test.ts explains the
// page-granular positions). The non-latest checkpoint tampers are left out: the CLI audits the latest only.
const cliCases: Record<string, CliCase> = {
  'edit a payload': { default: exact(17, 'LEAF_HASH_MISMATCH', 'BROKEN_LINK'), fine: exact(17, 'LEAF_HASH_MISMATCH', 'BAD_INCLUSION_PROOF') },
  'edit a timestamp': { default: exact(30, 'LEAF_HASH_MISMATCH'), fine: exact(30, 'LEAF_HASH_MISMATCH') },
  'edit an event type': { default: exact(3, 'LEAF_HASH_MISMATCH'), fine: exact(3, 'LEAF_HASH_MISMATCH') },
  'edit a stored hash': { default: exact(40, 'LEAF_HASH_MISMATCH'), fine: exact(40, 'LEAF_HASH_MISMATCH') },
  're-link an event (edit prevHash and hash consistently)': {
    default: exact(9, 'BROKEN_LINK', 'LEAF_HASH_MISMATCH'),
    fine: exact(9, 'BROKEN_LINK', 'LEAF_HASH_MISMATCH'),
  },
  'delete an event': {
    default: { firstBadSeq: 22, kinds: ['PROOF_UNAVAILABLE'], refused: true },
    fine: { firstBadSeq: 22, kinds: ['PROOF_UNAVAILABLE'], refused: true },
  },
  'delete the newest events': {
    default: { firstBadSeq: 60, kinds: ['PROOF_UNAVAILABLE'], refused: true },
    fine: { firstBadSeq: 60, kinds: ['PROOF_UNAVAILABLE'], refused: true },
  },
  'insert an event (shifting the later ones)': { default: exact(24, 'BAD_RANGE_PROOF', 'BROKEN_LINK'), fine: exact(24, 'BAD_RANGE_PROOF') },
  'swap the contents of two events': { default: exact(12, 'LEAF_HASH_MISMATCH'), fine: exact(12, 'LEAF_HASH_MISMATCH') },
  'reorder two events (swap their positions)': { default: exact(32, 'BAD_RANGE_PROOF', 'BROKEN_LINK'), fine: exact(32, 'BAD_RANGE_PROOF') },
  'alter a tree node': {
    default: { ...exact(16, 'BAD_INCLUSION_PROOF'), proofPosition: true },
    fine: { ...exact(16, 'BAD_RANGE_PROOF'), proofPosition: true },
    defaultArgs: ['--spot-checks', '64'],
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

const latestNote: MongoTamper & CliCase = {
  name: "alter the latest checkpoint's signed note",
  apply: async (db: Db) => {
    const cp = await db.collection(C.checkpoints).findOne({ sourceAppId: APP, treeSize: 64 });
    const note = String(cp!.note);
    await db.collection(C.checkpoints).updateOne({ sourceAppId: APP, treeSize: 64 }, { $set: { note: note.replace('\n64\n', '\n63\n') } });
  },
  kinds: ['BAD_SIGNATURE'],
  firstBadSeq: 64,
  default: exact(63, 'BAD_SIGNATURE'),
  fine: exact(63, 'BAD_SIGNATURE'),
};

const cases = [
  ...mongoTampers.filter((t) => t.name in cliCases).map((t) => ({ ...t, ...cliCases[t.name]! })),
  latestNote,
];

describe('the auditor CLI finds direct changes to the MongoDB collections of a live service', () => {
  let server: MongoTestServer;
  let client: MongoClient;
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-tamper-cli-mongo-'));
  const counts = { tried: 0, detected: 0, refused: [] as string[] };
  const pristineDb = () => `${server.dbName}_pristine`;
  const start = (dbName: string) =>
    startCliService({ dataDir: keyDir, env: { MONGODB_URI: server.uri, MONGODB_DB: dbName } });

  beforeAll(async () => {
    expect(Object.keys(cliCases).filter((n) => !mongoTampers.some((t) => t.name === n))).toEqual([]);
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
        const [def, fine] = await Promise.all([
          verify(s, join(keyDir, `state-${i}-default.json`), t.defaultArgs ?? [...MODES.default]),
          verify(s, join(keyDir, `state-${i}-fine.json`), [...MODES.fine]),
        ]);
        expectDetected(def, t.default, t.firstBadSeq, 'default');
        expectDetected(fine, t.fine, t.firstBadSeq, 'fine');
        counts.detected++;
        if (t.default.refused || t.fine.refused) counts.refused.push(t.name);
      } finally {
        await s?.stop();
        await client.db(dbName).dropDatabase();
      }
    }, 90_000);
  });
});
