// The auditor CLI (scripts/verify.ts) against the live service, both as child processes, after direct changes
// to the stopped service's SQLite file: every tamper visible through the API must make the CLI exit 1 and name
// the first bad position it can see. One pristine DATA_DIR (64 events, checkpoints at 32 and 64) is copied per case.
//
// Each case runs the CLI twice, on a fresh state file (first run, nothing trusted):
// - "default": the audit as users run it (one range proof page over the whole log, 3 random spot checks);
// - "fine": --page-size 1 --spot-checks 64, so every page and every inclusion proof is small and checked.
// A page's finding names the page's start, so where the server refuses a page or serves a proof that does not
// fold, the default audit names position 0 (the page start) and the fine audit the first one-event page whose
// proof material (which reaches past the page) is wrong — at or before the tampered position, never after.
// Each page comes with the stored tree nodes its events complete, which the CLI compares with the ones it computes.
// A bad tree node is named by the positions whose proofs carry it (its sibling subtree), not by its own leaves.
// The random spot checks of the default audit cannot move its first bad position: only the altered leaf's own
// inclusion proof fails, at that same position.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI_CASES, expectBothModesDetect, expectMissingNodeAnswers, parseReport, verify } from './cli-harness.js';
import { sqliteTampers } from './sqlite-tampers.js';
import { useSqliteCliCampaign, useTally } from './support/campaign.js';

// Every tamper of sqlite-tampers.ts with what the CLI must report of it (CLI_CASES); the ones of the checkpoint
// at 32 and the event past the head are left out (checked in beforeAll): the CLI audits the latest checkpoint only.
const cases = sqliteTampers.filter((t) => t.name in CLI_CASES).map((t) => ({ ...t, ...CLI_CASES[t.name]! }));
const TREE_NODE = sqliteTampers.find((t) => t.name === 'alter a tree node (level 2, index 5: leaves 20..23)')!;
const DELETE_NODE = sqliteTampers.find((t) => t.name === 'delete a tree node')!;

describe('the auditor CLI finds direct changes to the SQLite file of a live service', () => {
  beforeAll(async () => {
    // An event past the head is covered by no checkpoint: the CLI, which audits what is signed, cannot see it.
    expect(sqliteTampers.filter((t) => !(t.name in CLI_CASES)).map((t) => t.name)).toEqual([
      "alter a checkpoint's root column",
      "alter a checkpoint's signed note",
      'store an extra event past the head',
    ]);
  });
  const campaign = useSqliteCliCampaign('cli');
  const tally = useTally('auditor CLI');

  // One page over the whole log has no left or right hashes, and without spot checks no inclusion proof
  // is asked: only the stored nodes served with the page show the zeroed node (2, 5), whose wrong proofs
  // the service would serve for 16..19 (and in range proofs) to every client.
  it('alter a tree node, audited with one page and no spot checks', async () => {
    tally.tried();
    const s = await campaign.tamperedService('one page', TREE_NODE.apply);
    try {
      const run = await verify(s, join(s.dataDir, 'state.json'), ['--spot-checks', '0']);
      const report = parseReport(run);
      expect(report).toMatchObject({ ok: false, firstBadSeq: 16, pages: 1, spotChecked: [], stateUpdated: false });
      expect(report.findings.map((f) => [f.kind, f.seq])).toEqual([['BAD_TREE_NODE', 16]]);
      tally.detected('alter a tree node, one page');
    } finally {
      await s.stop();
    }
  }, 90_000);

  // A server that alters every event earns a finding per event and more: the report keeps the lowest
  // --max-findings of them and counts the rest, so such a server cannot make the auditor hold one per event.
  it('every event altered: the report lists the lowest --max-findings findings and counts the others', async () => {
    const s = await campaign.tamperedService('every event', (db) => {
      expect(db.prepare(`UPDATE events SET payload = '{"forged":true}'`).run().changes).toBe(64);
    });
    try {
      const all = parseReport(await verify(s, join(s.dataDir, 'all.json'), ['--page-size', '1', '--spot-checks', '0']));
      expect(all).toMatchObject({ ok: false, firstBadSeq: 0, findingsOmitted: 0 });
      expect(all.findings.length).toBe(64);
      const bounded = parseReport(
        await verify(s, join(s.dataDir, 'bounded.json'), ['--page-size', '1', '--spot-checks', '0', '--max-findings', '10']),
      );
      expect(bounded).toMatchObject({ ok: false, firstBadSeq: 0, findingsOmitted: all.findings.length - 10 });
      expect(bounded.findings).toEqual(all.findings.slice(0, 10));
    } finally {
      await s.stop();
    }
  }, 90_000);

  it('a proof that needs a deleted tree node is refused with MISSING_TREE_NODE naming it', async () => {
    const s = await campaign.tamperedService('missing node answers', DELETE_NODE.apply);
    try {
      await expectMissingNodeAnswers(s);
    } finally {
      await s.stop();
    }
  });

  for (const t of cases) {
    it(
      t.name,
      async () => {
        tally.tried();
        const s = await campaign.tamperedService(t.name, t.apply);
        try {
          // The position verifyLog names is the one the CLI may not point past.
          await expectBothModesDetect(s, join(s.dataDir, 'state'), t, t.firstBadSeq);
          tally.detected(t.name, t.default.refused || t.fine.refused);
        } finally {
          await s.stop();
        }
      },
      90_000,
    );
  }
});
