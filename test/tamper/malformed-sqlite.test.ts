// Malformed rows in the SQLite file (malformed-tampers.ts): verifyLog reports each with its kind at the first
// bad position, never throws; integration turns each into an IntegrityError and the log is quarantined.
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Integrator, IntegrityError } from '../../src/log/integrator.js';
import { event, openPipeline, type TestPipeline } from '../support/pipeline.js';
import { APP, failingRangeReads, forgetIntegrationSqlite, sqliteMalformedTampers } from './malformed-tampers.js';
import { applySqliteTamper } from './sqlite-tampers.js';
import { expectVerifyLogFinds } from './verify-log.js';

const SIZE = 64;

describe('malformed rows in the SQLite file are reported, never thrown', () => {
  let pristine: TestPipeline;

  beforeAll(async () => {
    pristine = await openPipeline();
    for (let i = 0; i < 2; i++) {
      await pristine.service.append(Array.from({ length: SIZE / 2 }, () => event(APP)));
      await pristine.service.publishCheckpoints();
    }
    await pristine.service.append([event('other')]);
    await pristine.service.publishCheckpoints();
    expect((await pristine.service.verifyLog(APP)).ok).toBe(true);
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

        // Integration from scratch: an IntegrityError (quarantine), not an error to retry.
        await p.close();
        applySqliteTamper(join(dir, 'chainlog.db'), forgetIntegrationSqlite);
        p = await openPipeline(dir);
        const err = await new Integrator(p.storage).integrate(APP).catch((e: unknown) => e);
        expect(err, String(err)).toBeInstanceOf(IntegrityError);
        // A failure to read stays what it is: transient, retried, never a reason to quarantine.
        const dropped = new Error('connection reset');
        await expect(new Integrator(failingRangeReads(p.storage, dropped)).integrate(APP)).rejects.toBe(dropped);
        // The service quarantined it at start: a new event is accepted, but no checkpoint covers it.
        await p.service.append([event(APP)]);
        expect(await p.service.publishCheckpoints()).toEqual([]);
        expect((await p.service.getCheckpoint(APP))?.treeSize).toBe(SIZE);
        expectVerifyLogFinds(await p.service.verifyLog(APP), t);
      } finally {
        await p.destroy();
      }
    });
  }
});
