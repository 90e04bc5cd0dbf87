// Malformed rows in the SQLite file (malformed-tampers.ts): verifyLog reports each with its kind at the first
// bad position, never throws; integration turns each into an IntegrityError and the log is quarantined.
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPipeline, type TestPipeline } from '../support/pipeline.js';
import { APP, forgetIntegrationSqlite, sqliteMalformedTampers } from './malformed-tampers.js';
import { applySqliteTamper } from './sqlite-tampers.js';
import { buildPristineLog, expectQuarantined, SIZE } from './support/campaign.js';
import { expectVerifyLogFinds } from './verify-log.js';

describe('malformed rows in the SQLite file are reported, never thrown', () => {
  let pristine: TestPipeline;

  beforeAll(async () => {
    pristine = await openPipeline();
    await buildPristineLog(pristine.service, { other: true });
    await pristine.close();
  });
  afterAll(async () => {
    await pristine.destroy();
  });

  const copy = () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-malformed-'));
    for (const f of ['chainlog.db', 'signing-key.pem']) copyFileSync(join(pristine.dir, f), join(dir, f));
    return dir;
  };

  for (const t of sqliteMalformedTampers) {
    it(t.name, async () => {
      const dir = copy();
      applySqliteTamper(join(dir, 'chainlog.db'), t.apply);
      let p = await openPipeline(dir);
      try {
        // verifyLog: a report at the first bad position, and the other log is served and verifies.
        expectVerifyLogFinds(await p.service.verifyLog(APP), t);
        const other = await p.service.verifyLog('other');
        if (t.other) expectVerifyLogFinds(other, t.other);
        else expect(other.ok).toBe(true);
        expect((await p.service.getLogHead(APP))?.size).toBe(SIZE);
        await p.close();
        applySqliteTamper(join(dir, 'chainlog.db'), forgetIntegrationSqlite);
        p = await openPipeline(dir);
        await expectQuarantined(p, t);
      } finally {
        await p.destroy();
      }
    });
  }
});
