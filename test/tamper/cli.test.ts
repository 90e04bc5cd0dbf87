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
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliService, type CliService } from '../support/cli-service.js';
import { buildLog, exact, expectDetected, MODES, parseReport, verify, type Expect, type Run } from './cli-harness.js';

const work = mkdtempSync(join(tmpdir(), 'chainlog-tamper-cli-'));
const pristineDir = join(work, 'pristine');

interface Tamper {
  name: string;
  apply: (db: Database.Database) => void;
  /** Where verifyLog puts the first bad position (test/log/tamper-sqlite.test.ts). */
  at: number;
  default: Expect;
  fine: Expect;
}


const tampers: Tamper[] = [
  {
    name: 'edit a payload',
    apply: (db) => db.prepare(`UPDATE events SET payload = '{"n":1,"note":"forged"}' WHERE seq = 17`).run(),
    at: 17,
    default: exact(17, 'LEAF_HASH_MISMATCH', 'BROKEN_LINK'),
    fine: exact(17, 'LEAF_HASH_MISMATCH', 'BAD_INCLUSION_PROOF'),
  },
  {
    name: 'edit a timestamp',
    apply: (db) => db.prepare('UPDATE events SET ts = ts + 1 WHERE seq = 30').run(),
    at: 30,
    default: exact(30, 'LEAF_HASH_MISMATCH'),
    fine: exact(30, 'LEAF_HASH_MISMATCH'),
  },
  {
    name: 'edit an event type',
    apply: (db) => db.prepare(`UPDATE events SET event_type = 'order.refunded' WHERE seq = 3`).run(),
    at: 3,
    default: exact(3, 'LEAF_HASH_MISMATCH'),
    fine: exact(3, 'LEAF_HASH_MISMATCH'),
  },
  {
    name: 'edit a stored hash',
    apply: (db) => db.prepare(`UPDATE events SET hash = '${'ab'.repeat(32)}' WHERE seq = 40`).run(),
    at: 40,
    default: exact(40, 'LEAF_HASH_MISMATCH'),
    fine: exact(40, 'LEAF_HASH_MISMATCH'),
  },
  {
    name: 're-link an event (edit its prevHash)',
    apply: (db) => db.prepare(`UPDATE events SET prev_hash = '${'cd'.repeat(32)}' WHERE seq = 9`).run(),
    at: 9,
    default: exact(9, 'BROKEN_LINK', 'LEAF_HASH_MISMATCH'),
    fine: exact(9, 'BROKEN_LINK', 'LEAF_HASH_MISMATCH'),
  },
  {
    name: 'delete an event',
    apply: (db) => db.prepare('DELETE FROM events WHERE seq = 22').run(),
    at: 22,
    // The server refuses the range ("events 0..63 are not all stored", NOT_FOUND); the CLI halves the page
    // down to the first position it cannot prove.
    default: { firstBadSeq: 22, kinds: ['PROOF_UNAVAILABLE'], refused: true },
    fine: { firstBadSeq: 22, kinds: ['PROOF_UNAVAILABLE'], refused: true },
  },
  {
    name: 'delete the newest events',
    apply: (db) => {
      db.prepare('DELETE FROM events WHERE seq >= 60').run();
      db.prepare('UPDATE logs SET size = 60').run();
    },
    at: 60,
    // NOT_FOUND for the whole-log page; for [60, 61) the prover misses leaf 61 (INTERNAL_SERVER_ERROR).
    default: { firstBadSeq: 60, kinds: ['PROOF_UNAVAILABLE'], refused: true },
    fine: { firstBadSeq: 60, kinds: ['PROOF_UNAVAILABLE'], refused: true },
  },
  {
    name: 'insert an event (shifting the later ones)',
    apply: (db) => {
      db.prepare('UPDATE events SET seq = -seq - 1 WHERE seq >= 25').run();
      db.prepare('UPDATE events SET seq = -seq WHERE seq < 0').run();
      db.prepare(
        `INSERT INTO events (source_app_id, seq, event_type, ts, received_at, payload, prev_hash, hash)
         SELECT source_app_id, 25, 'order.created', ts, received_at, '{"n":0}', hash, hash FROM events WHERE seq = 24`,
      ).run();
    },
    at: 25,
    // Neither the recomputed nor the served leaves fold into the signed root; halving the page (or one-event
    // pages) stops at 24: the proof of [24, 25) already carries the forged leaf 25 (level-0 nodes are stored hashes).
    default: exact(24, 'BAD_RANGE_PROOF', 'BROKEN_LINK'),
    fine: exact(24, 'BAD_RANGE_PROOF', 'BAD_INCLUSION_PROOF'),
  },
  {
    name: 'swap the contents of two events',
    apply: (db) => {
      const a = db.prepare('SELECT payload, ts FROM events WHERE seq = 12').get() as { payload: string; ts: number };
      const b = db.prepare('SELECT payload, ts FROM events WHERE seq = 50').get() as { payload: string; ts: number };
      db.prepare('UPDATE events SET payload = ?, ts = ? WHERE seq = 12').run(b.payload, b.ts);
      db.prepare('UPDATE events SET payload = ?, ts = ? WHERE seq = 50').run(a.payload, a.ts);
    },
    at: 12,
    default: exact(12, 'LEAF_HASH_MISMATCH'),
    fine: exact(12, 'LEAF_HASH_MISMATCH'),
  },
  {
    name: 'reorder two events (swap their positions)',
    apply: (db) => {
      db.prepare('UPDATE events SET seq = -1 WHERE seq = 33').run();
      db.prepare('UPDATE events SET seq = 33 WHERE seq = 34').run();
      db.prepare('UPDATE events SET seq = 34 WHERE seq = -1').run();
    },
    at: 33,
    default: exact(32, 'BAD_RANGE_PROOF', 'BROKEN_LINK'),
    fine: exact(32, 'BAD_RANGE_PROOF', 'BROKEN_LINK'),
  },
  {
    name: 'alter a tree node (level 2, index 5: leaves 20..23)',
    apply: (db) => db.prepare('UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 5').run(),
    at: 20,
    // The whole-log page needs no inner node; only the fine audit, whose proofs of 16..19 carry it, sees it
    // (the default audit's 3 random spot checks see it only if one lands on 16..19): see the it.fails below.
    default: { ...exact(16, 'BAD_INCLUSION_PROOF'), proofPosition: true },
    fine: { ...exact(16, 'BAD_RANGE_PROOF', 'BAD_INCLUSION_PROOF'), proofPosition: true },
  },
  {
    // The note is intact, so every proof verifies; what is wrong is what the service says beside it.
    name: "alter the latest checkpoint's root column",
    apply: (db) => db.prepare(`UPDATE checkpoints SET root_hash = '${'ef'.repeat(32)}' WHERE tree_size = 64`).run(),
    at: 64,
    default: exact(64, 'BAD_CHECKPOINT'),
    fine: exact(64, 'BAD_CHECKPOINT'),
  },
  {
    name: "alter the latest checkpoint's signed note",
    apply: (db) => db.prepare(`UPDATE checkpoints SET note = replace(note, '\n64\n', '\n63\n') WHERE tree_size = 64`).run(),
    at: 64,
    // The finding names the size the forged note claims.
    default: exact(63, 'BAD_SIGNATURE'),
    fine: exact(63, 'BAD_SIGNATURE'),
  },
];
// The default audit of the tree node case is random; run it with every spot check so it is deterministic.
const DEFAULT_ARGS: Record<string, string[]> = { 'alter a tree node (level 2, index 5: leaves 20..23)': ['--spot-checks', '64'] };

async function tamperedService(name: string, apply: (db: Database.Database) => void): Promise<CliService> {
  const dir = join(work, name.replace(/[^a-z0-9]+/gi, '-'));
  cpSync(pristineDir, dir, { recursive: true });
  const db = new Database(join(dir, 'chainlog.db'));
  db.transaction(() => apply(db))();
  db.close();
  return startCliService({ dataDir: dir });
}


describe('the auditor CLI finds direct changes to the SQLite file of a live service', () => {
  const counts = { tried: 0, detected: 0, refused: [] as string[] };
  /** Runs of the expected failures: they must have failed on the exit code, not on a broken setup. */
  const missRuns: Run[] = [];

  beforeAll(async () => {
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
  const misses: Array<{ name: string; apply: (db: Database.Database) => void; args: string[]; want: Expect }> = [
    {
      // GAP (src/auditor/audit.ts): a whole-log range page has no left/right hashes, so no stored inner node is
      // ever checked; only inclusion spot checks touch them, 3 random ones by default (here 0 to be deterministic).
      // A zeroed node (2,5) makes the service serve wrong inclusion proofs for 16..19 (and wrong range proofs) to
      // every client, yet the audit exits 0. verifyLog reports TREE_NODE_MISMATCH at 20.
      name: 'alter a tree node, audited with one page and no spot checks',
      apply: (db) => db.prepare('UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 5').run(),
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

  for (const t of tampers) {
    it(t.name, async () => {
      counts.tried++;
      const s = await tamperedService(t.name, t.apply);
      try {
        const [def, fine] = await Promise.all([
          verify(s, join(s.dataDir, 'state-default.json'), DEFAULT_ARGS[t.name] ?? [...MODES.default]),
          verify(s, join(s.dataDir, 'state-fine.json'), [...MODES.fine]),
        ]);
        expectDetected(def, t.default, t.at, 'default');
        expectDetected(fine, t.fine, t.at, 'fine');
        counts.detected++;
        if (t.default.refused || t.fine.refused) counts.refused.push(t.name);
      } finally {
        await s.stop();
      }
    }, 90_000);
  }
});
