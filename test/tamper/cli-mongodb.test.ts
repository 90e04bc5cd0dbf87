// The auditor CLI campaign of cli.test.ts on the MongoDB engine: the service runs as a child process with
// MONGODB_URI (the FerretDB-based test server), the tampers of mongo-tampers.ts change a clone of one pristine
// database with the driver while no service runs on it, and the CLI must exit 1 naming the first bad position.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CliService } from '../support/cli-service.js';
import {
  CLI_CASES,
  exact,
  expectBothModesDetect,
  expectMissingNodeAnswers,
  parseReport,
  verify,
  type CliCase,
} from './cli-harness.js';
import { mongoTampers } from './mongo-tampers.js';
import { buildCliLogOnMongo, startCliServiceOnMongo, useMongoCampaign, useTally } from './support/campaign.js';

// What the CLI sees of each tamper of mongo-tampers.ts: what it sees of the same case on SQLite (CLI_CASES),
// but for the few below, and the cases of this engine only. The tampers of the checkpoint at 32 are left out
// (checked in beforeAll): the CLI audits the latest checkpoint only.
const cliCases: Record<string, CliCase> = {
  ...CLI_CASES,
  'insert an event (shifting the later ones)': {
    ...CLI_CASES['insert an event (shifting the later ones)']!,
    fine: exact(24, 'BAD_RANGE_PROOF'),
  },
  'reorder two events (swap their positions)': {
    ...CLI_CASES['reorder two events (swap their positions)']!,
    fine: exact(32, 'BAD_RANGE_PROOF'),
  },
  'alter a tree node (level 2, index 5: leaves 20..23)': {
    ...CLI_CASES['alter a tree node (level 2, index 5: leaves 20..23)']!,
    fine: { ...exact(16, 'BAD_TREE_NODE', 'BAD_RANGE_PROOF'), proofPosition: true },
  },
  'edit a receivedAt': { default: exact(45, 'LEAF_HASH_MISMATCH'), fine: exact(45, 'LEAF_HASH_MISMATCH') },
  'move an event to another log': {
    default: { firstBadSeq: 10, kinds: ['PROOF_UNAVAILABLE'], refused: true },
    fine: { firstBadSeq: 10, kinds: ['PROOF_UNAVAILABLE'], refused: true },
  },
};

const cases = mongoTampers.filter((t) => t.name in cliCases).map((t) => ({ ...t, ...cliCases[t.name]! }));

describe('the auditor CLI finds direct changes to the MongoDB collections of a live service', () => {
  beforeAll(() => {
    expect(mongoTampers.filter((t) => !(t.name in cliCases)).map((t) => t.name)).toEqual([
      "alter a checkpoint's root field",
      "alter a checkpoint's signed note",
    ]);
  });
  const tally = useTally('auditor CLI, mongodb');
  const campaign = useMongoCampaign('c', buildCliLogOnMongo);

  it('alter a tree node, audited with one page and no spot checks', async () => {
    tally.tried();
    const tamper = mongoTampers.find((t) => t.name === 'alter a tree node (level 2, index 5: leaves 20..23)')!;
    await campaign.onClone('onepage', tamper.apply, async (dbName) => {
      let s: CliService | undefined;
      try {
        s = await startCliServiceOnMongo(campaign.server, campaign.keyDir, dbName);
        const report = parseReport(await verify(s, join(campaign.keyDir, 'state-onepage.json'), ['--spot-checks', '0']));
        expect(report).toMatchObject({ ok: false, firstBadSeq: 16, pages: 1, spotChecked: [], stateUpdated: false });
        expect(report.findings.map((f) => [f.kind, f.seq])).toEqual([['BAD_TREE_NODE', 16]]);
        tally.detected('alter a tree node, one page');
      } finally {
        await s?.stop();
      }
    });
  }, 90_000);

  it('a proof that needs a deleted tree node is refused with MISSING_TREE_NODE naming it', async () => {
    const tamper = mongoTampers.find((t) => t.name === 'delete a tree node')!;
    await campaign.onClone('missingnode', tamper.apply, async (dbName) => {
      let s: CliService | undefined;
      try {
        s = await startCliServiceOnMongo(campaign.server, campaign.keyDir, dbName);
        await expectMissingNodeAnswers(s);
      } finally {
        await s?.stop();
      }
    });
  });

  cases.forEach((t, i) => {
    it(
      t.name,
      async () => {
        tally.tried();
        await campaign.onClone(i, t.apply, async (dbName) => {
          let s: CliService | undefined;
          try {
            s = await startCliServiceOnMongo(campaign.server, campaign.keyDir, dbName);
            await expectBothModesDetect(s, join(campaign.keyDir, `state-${i}`), t, t.firstBadSeq);
            tally.detected(t.name, t.default.refused || t.fine.refused);
          } finally {
            await s?.stop();
          }
        });
      },
      90_000,
    );
  });
});
