// Every kind of direct change to the SQLite file (test/tamper/sqlite-tampers.ts) must be found by verifyLog,
// at the right position.
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, openPipeline, type TestPipeline } from '../support/pipeline.js';
import { applySqliteTamper, sqliteTampers } from './sqlite-tampers.js';
import { expectVerifyLogFinds } from './verify-log.js';

const APP = 'shop';
const SIZE = 64;

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

  for (const t of sqliteTampers) {
    it(t.name, async () => {
      counts.tried++;
      const dir = mkdtempSync(join(tmpdir(), 'chainlog-tamper-'));
      for (const f of ['chainlog.db', 'signing-key.pem']) copyFileSync(join(pristine.dir, f), join(dir, f));
      applySqliteTamper(join(dir, 'chainlog.db'), t.apply);

      const p = await openPipeline(dir);
      try {
        expectVerifyLogFinds(await p.service.verifyLog(APP), t);
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
      await p.crash(); // died before the next cycle: events 10..14 are not in the tree yet
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
