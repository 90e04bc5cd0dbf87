// Every kind of direct change to the SQLite file must be found by verifyLog, at the right position.
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerificationProblemKind } from '../../src/log/service.js';
import { event, openPipeline, type TestPipeline } from '../support/pipeline.js';

const APP = 'shop';
const SIZE = 64;

interface Tamper {
  name: string;
  /** SQL run against the stopped log's file. */
  apply: (db: Database.Database) => void;
  kinds: VerificationProblemKind[];
  firstBadSeq: number;
}

const tampers: Tamper[] = [
  {
    name: 'edit a payload',
    apply: (db) => db.prepare(`UPDATE events SET payload = '{"n":1,"note":"forged"}' WHERE seq = 17`).run(),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 17,
  },
  {
    name: 'edit a timestamp',
    apply: (db) => db.prepare('UPDATE events SET ts = ts + 1 WHERE seq = 30').run(),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 30,
  },
  {
    name: 'edit an event type',
    apply: (db) => db.prepare(`UPDATE events SET event_type = 'order.refunded' WHERE seq = 3`).run(),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 3,
  },
  {
    name: 'edit a stored hash',
    apply: (db) => db.prepare(`UPDATE events SET hash = '${'ab'.repeat(32)}' WHERE seq = 40`).run(),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 40,
  },
  {
    name: 're-link an event (edit prevHash and hash consistently)',
    apply: (db) => db.prepare(`UPDATE events SET prev_hash = '${'cd'.repeat(32)}' WHERE seq = 9`).run(),
    kinds: ['BROKEN_LINK'],
    firstBadSeq: 9,
  },
  {
    name: 'delete an event',
    apply: (db) => db.prepare('DELETE FROM events WHERE seq = 22').run(),
    kinds: ['GAP'],
    firstBadSeq: 22,
  },
  {
    name: 'delete the newest events',
    apply: (db) => {
      db.prepare('DELETE FROM events WHERE seq >= 60').run();
      db.prepare('UPDATE logs SET size = 60').run();
    },
    kinds: ['GAP'],
    firstBadSeq: 60,
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
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 25,
  },
  {
    name: 'swap the contents of two events',
    apply: (db) => {
      const a = db.prepare('SELECT payload, ts FROM events WHERE seq = 12').get() as { payload: string; ts: number };
      const b = db.prepare('SELECT payload, ts FROM events WHERE seq = 50').get() as { payload: string; ts: number };
      db.prepare('UPDATE events SET payload = ?, ts = ? WHERE seq = 12').run(b.payload, b.ts);
      db.prepare('UPDATE events SET payload = ?, ts = ? WHERE seq = 50').run(a.payload, a.ts);
    },
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 12,
  },
  {
    name: 'reorder two events (swap their positions)',
    apply: (db) => {
      db.prepare('UPDATE events SET seq = -1 WHERE seq = 33').run();
      db.prepare('UPDATE events SET seq = 33 WHERE seq = 34').run();
      db.prepare('UPDATE events SET seq = 34 WHERE seq = -1').run();
    },
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 33,
  },
  {
    name: 'alter a tree node',
    apply: (db) => db.prepare(`UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 5`).run(),
    kinds: ['TREE_NODE_MISMATCH'],
    firstBadSeq: 20,
  },
  {
    name: "alter a checkpoint's root column",
    apply: (db) => db.prepare(`UPDATE checkpoints SET root_hash = '${'ef'.repeat(32)}' WHERE tree_size = 32`).run(),
    kinds: ['BAD_CHECKPOINT'],
    firstBadSeq: 32,
  },
  {
    name: "alter a checkpoint's signed note",
    apply: (db) => db.prepare(`UPDATE checkpoints SET note = replace(note, '\n32\n', '\n31\n') WHERE tree_size = 32`).run(),
    kinds: ['BAD_SIGNATURE'],
    firstBadSeq: 32,
  },
];

describe('verifyLog finds direct changes to the SQLite file', () => {
  let pristine: TestPipeline;
  const counts = { tried: 0, detected: 0 };

  beforeAll(async () => {
    pristine = await openPipeline();
    for (let i = 0; i < 2; i++) {
      await pristine.service.append(Array.from({ length: SIZE / 2 }, () => event(APP)));
      await pristine.service.publishCheckpoints();
    }
    expect((await pristine.service.verifyLog(APP)).ok).toBe(true);
    await pristine.close();
  });
  afterAll(async () => {
    console.log(`tamper campaign (sqlite): ${counts.detected} detected of ${counts.tried} tried`);
    await pristine.destroy();
  });

  for (const t of tampers) {
    it(t.name, async () => {
      counts.tried++;
      const dir = mkdtempSync(join(tmpdir(), 'chainlog-tamper-'));
      for (const f of ['chainlog.db', 'signing-key.pem']) copyFileSync(join(pristine.dir, f), join(dir, f));
      const db = new Database(join(dir, 'chainlog.db'));
      db.transaction(() => t.apply(db))();
      db.close();

      const p = await openPipeline(dir);
      try {
        const report = await p.service.verifyLog(APP);
        expect(report.ok).toBe(false);
        expect(report.firstBadSeq).toBe(t.firstBadSeq);
        const kinds = report.problems.map((x) => x.kind);
        for (const k of t.kinds) expect(kinds).toContain(k);
        counts.detected++;
      } finally {
        await p.destroy();
      }
    });
  }
});

describe('no checkpoint is signed over an altered event', () => {
  it('quarantines a log whose not-yet-integrated event was altered before a restart', async () => {
    let p = await openPipeline();
    try {
      await p.service.append(Array.from({ length: 10 }, () => event(APP)));
      await p.service.publishCheckpoints();
      await p.service.append(Array.from({ length: 5 }, () => event(APP)));
      await p.close(); // stopped before the next cycle: events 10..14 are not in the tree yet
      const db = new Database(p.dbPath);
      db.prepare(`UPDATE events SET payload = '{"forged":true}' WHERE seq = 12`).run();
      db.close();
      p = await openPipeline(p.dir);
      await p.service.append([event(APP)]);
      expect(await p.service.publishCheckpoints()).toEqual([]);
      expect((await p.service.getCheckpoint(APP))!.treeSize).toBe(10);
      expect((await p.service.verifyLog(APP)).firstBadSeq).toBe(12);
    } finally {
      await p.destroy();
    }
  });
});
