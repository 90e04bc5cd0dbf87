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
// A bad tree node is named by the positions whose proofs carry it (its sibling subtree), not by its own leaves.
// The random spot checks of the default audit cannot move its first bad position: only the altered leaf's own
// inclusion proof fails, at that same position.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliService, type CliService } from '../support/cli-service.js';
import { buildLog, CLI_CASES, exact, expectBothModesDetect, parseReport, verify, type Expect, type Run } from './cli-harness.js';
import { applySqliteTamper, sqliteTampers, type SqliteTamper } from './sqlite-tampers.js';

const work = mkdtempSync(join(tmpdir(), 'chainlog-tamper-cli-'));
const pristineDir = join(work, 'pristine');

// Every tamper of sqlite-tampers.ts with what the CLI must report of it (CLI_CASES); the ones of the checkpoint
// at 32 and the event past the head are left out (checked in beforeAll): the CLI audits the latest checkpoint only.
const cases = sqliteTampers.filter((t) => t.name in CLI_CASES).map((t) => ({ ...t, ...CLI_CASES[t.name]! }));
const TREE_NODE = sqliteTampers.find((t) => t.name === 'alter a tree node (level 2, index 5: leaves 20..23)')!;

async function tamperedService(name: string, apply: SqliteTamper['apply']): Promise<CliService> {
  const dir = join(work, name.replace(/[^a-z0-9]+/gi, '-'));
  cpSync(pristineDir, dir, { recursive: true });
  applySqliteTamper(join(dir, 'chainlog.db'), apply);
  return startCliService({ dataDir: dir });
}

describe('the auditor CLI finds direct changes to the SQLite file of a live service', () => {
  const counts = { tried: 0, detected: 0, refused: [] as string[] };
  /** Runs of the expected failures: they must have failed on the exit code, not on a broken setup. */
  const missRuns: Run[] = [];

  beforeAll(async () => {
    // An event past the head is covered by no checkpoint: the CLI, which audits what is signed, cannot see it.
    expect(sqliteTampers.filter((t) => !(t.name in CLI_CASES)).map((t) => t.name)).toEqual([
      "alter a checkpoint's root column",
      "alter a checkpoint's signed note",
      'store an extra event past the head',
    ]);
    const s = await startCliService({ dataDir: mkdtempSync(join(work, 'build-')) });
    try {
      await buildLog(s, join(work, 'pristine'));
    } finally {
      await s.stop();
    }
    cpSync(s.dataDir, pristineDir, { recursive: true });
  });
  afterAll(() => {
    // An expected failure proves the gap only if the CLI ran: a report, exit 0 (ok) or 1.
    for (const run of missRuns) expect([0, 1], run.stderr).toContain(run.code);
    for (const run of missRuns) expect(JSON.parse(run.stdout)).toHaveProperty('ok');
    console.log(`tamper campaign (auditor CLI): ${counts.detected} detected of ${counts.tried} tried`);
    if (counts.refused.length > 0) console.log(`  detected through a refused proof query (exit 1, PROOF_UNAVAILABLE): ${counts.refused.join('; ')}`);
    rmSync(work, { recursive: true, force: true });
  });

  // Tampers the CLI does not see. Each is a gap reported to the team, kept here as an expected failure.
  const misses: Array<{ name: string; apply: SqliteTamper['apply']; args: string[]; want: Expect }> = [
    {
      // GAP (src/auditor/audit.ts): a whole-log range page has no left/right hashes, so no stored inner node is
      // ever checked; only inclusion spot checks touch them, 3 random ones by default (here 0 to be deterministic).
      // A zeroed node (2,5) makes the service serve wrong inclusion proofs for 16..19 (and wrong range proofs) to
      // every client, yet the audit exits 0. verifyLog reports TREE_NODE_MISMATCH at 20.
      name: 'alter a tree node, audited with one page and no spot checks',
      apply: TREE_NODE.apply,
      args: ['--spot-checks', '0'],
      want: exact(16, 'BAD_INCLUSION_PROOF'),
    },
  ];
  for (const m of misses) {
    it.fails(`${m.name} (known gap: the CLI exits 0)`, async () => {
      counts.tried++;
      const s = await tamperedService(m.name, m.apply);
      try {
        const run = await verify(s, join(s.dataDir, 'state.json'), m.args);
        missRuns.push(run);
        const report = parseReport(run);
        expect(report.firstBadSeq).toBe(m.want.firstBadSeq);
        counts.detected++;
      } finally {
        await s.stop();
      }
    }, 90_000);
  }

  for (const t of cases) {
    it(t.name, async () => {
      counts.tried++;
      const s = await tamperedService(t.name, t.apply);
      try {
        // The position verifyLog names is the one the CLI may not point past.
        await expectBothModesDetect(s, join(s.dataDir, 'state'), t, t.firstBadSeq);
        counts.detected++;
        if (t.default.refused || t.fine.refused) counts.refused.push(t.name);
      } finally {
        await s.stop();
      }
    }, 90_000);
  }
});
