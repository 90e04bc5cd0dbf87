// Leaf version 2 and eraseEvents through the real server (a child process, on the engine of the vitest
// project): the API's fields, who may erase, input errors, the erasures log as auditors read it, and
// (SQLite) that the erased payload is nowhere in the store's files.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leafHashHex, payloadMatchesCommitment } from '../../src/core/index.js';
import { startService, type RunningService } from '../support/service.js';
import { e2eMongoUri } from '../support/e2e-engine.js';
import { REPO_ROOT } from '../support/service-process.js';
import { until } from '../support/wait.js';

/** `npm run verify` (scripts/verify.ts) against the service, as an auditor runs it, with `apiKey` (default: admin). */
function verifyCli(args: string[], apiKey = svc.adminKey!): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/verify.ts', '--url', svc.url, ...args],
      { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, CHAINLOG_API_KEY: apiKey } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

let svc: RunningService;
const EVENT =
  'id sourceAppId seq eventType timestamp receivedAt payload prevHash hash payloadHash payloadSalt erasedAt erasureReason';
/** A payload value found nowhere else: the byte search looks for it. */
const MARKER = 'erase-me-7f3a9c-personal-data';

beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => {
  await svc?.stop();
});

async function log(sourceAppId: string, payload: object, i = 0) {
  const res = await svc.gql(`mutation($in: LogEventInput!) { logEvent(input: $in) { ${EVENT} } }`, {
    in: { sourceAppId, eventType: 'user.updated', timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(), payload },
  });
  expect(res.errors).toBeUndefined();
  return res.data.logEvent;
}

const ERASE = `mutation($in: EraseEventsInput!) { eraseEvents(input: $in) { erased recordId recordIds more } }`;

describe('leaf version 2 and erasure over the API', () => {
  it('serves the commitment and salt, and the log version (LEAF_VERSION defaults to 2)', async () => {
    const e = await log('people', { userId: 'u1', email: 'a@example.com' });
    expect(e.payloadHash).toMatch(/^[0-9a-f]{64}$/);
    expect(e.payloadSalt).toMatch(/^[0-9a-f]{64}$/);
    expect(e.erasedAt).toBeNull();
    expect(payloadMatchesCommitment(e.payload, e.payloadSalt, e.payloadHash)).toBe(true);
    expect(leafHashHex(e)).toBe(e.hash);
    const res = await svc.gql(`query { log(sourceAppId: "people") { leafVersion } }`);
    expect(res.data.log.leafVersion).toBe(2);
  });

  it('erases by payload field as admin: payload and salt null, hash kept, recorded, verifyLog counts it', async () => {
    const kept = await log('people', { userId: 'u2', note: 'keep' }, 1);
    const gone = await log('people', { userId: 'u42', note: MARKER }, 2);
    const res = await svc.gql(ERASE, {
      in: { reason: 'GDPR art. 17, ticket 99', sourceAppId: 'people', payloadField: { path: 'userId', equals: 'u42' } },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.eraseEvents).toEqual({
      erased: 1,
      recordId: expect.stringMatching(/^_erasures\/\d+$/),
      recordIds: [expect.any(String)],
      more: false,
    });
    expect(res.data.eraseEvents.recordIds).toEqual([res.data.eraseEvents.recordId]);
    const read = await svc.gql(`query($id: ID!) { event(id: $id) { ${EVENT} } }`, { id: gone.id });
    const e = read.data.event;
    expect(e).toMatchObject({
      payload: null,
      payloadSalt: null,
      payloadHash: gone.payloadHash,
      hash: gone.hash,
      erasureReason: 'GDPR art. 17, ticket 99',
    });
    expect(e.erasedAt).toEqual(expect.any(String));
    // The leaf recomputes from the served fields without the payload.
    expect(leafHashHex(e)).toBe(gone.hash);
    const other = (await svc.gql(`query($id: ID!) { event(id: $id) { payload } }`, { id: kept.id })).data.event;
    expect(other.payload).toEqual({ userId: 'u2', note: 'keep' });
    // The record, as an auditor reads it: the erasures log is readable and lists the event, not the value.
    const rec = await svc.gql(`query($id: ID!) { event(id: $id) { payload } }`, { id: res.data.eraseEvents.recordId });
    expect(rec.errors).toBeUndefined();
    expect(rec.data.event.payload.events).toEqual([['people', gone.seq, gone.payloadHash]]);
    expect(JSON.stringify(rec.data.event.payload)).not.toContain('u42');
    const report = await svc.gql(`query { verifyLog(sourceAppId: "people") { ok eventsErased problems { kind seq } } }`);
    expect(report.data.verifyLog).toEqual({ ok: true, eventsErased: 1, problems: [] });
  });

  it('leaves no copy of an erased payload in the SQLite files (secure_delete, WAL truncated)', async () => {
    if (e2eMongoUri()) return; // MongoDB: the fields are unset (test/log/erasure.test.ts reads them back)
    const files = ['chainlog.db', 'chainlog.db-wal'].map((f) => join(svc.dataDir, f)).filter((f) => existsSync(f));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readFileSync(f).includes(Buffer.from(MARKER)), f).toBe(false);
    // The search can find it: a payload that was not erased is there.
    const present = 'still-here-0c1d2e-marker';
    await log('people', { userId: 'u3', note: present }, 3);
    await svc.gql(`mutation { publishCheckpoints { treeSize } }`);
    const all = files.map((f) => readFileSync(f));
    expect(all.some((b) => b.includes(Buffer.from(present)))).toBe(true);
  });

  it('is admin only, and refuses bad input naming the field and the rule', async () => {
    const created = await svc.gql(`mutation { createApiKey(role: WRITER, sourceAppIds: ["people"]) { secret } }`);
    const writer = created.data.createApiKey.secret as string;
    const forbidden = await svc.gqlAs(writer, ERASE, { in: { reason: 'r', ids: ['people/0'] } });
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const cases: Array<[object, string, string]> = [
      [{ reason: ' ', ids: ['people/0'] }, 'input.reason', 'length'],
      [{ reason: 'r'.repeat(257), ids: ['people/0'] }, 'input.reason', 'length'],
      [{ reason: 'r', ids: ['people/0'], eventTypes: ['a'] }, 'input.ids', 'oneSelection'],
      [{ reason: 'r', ids: ['people/0'], payloadField: { path: 'a', equals: 1 } }, 'input.ids', 'oneSelection'],
      // The schema's list bound refuses it before the input is read.
      [{ reason: 'r', ids: Array.from({ length: 1001 }, (_, i) => `people/${i}`) }, 'input.ids', 'maxItems'],
      [{ reason: 'r' }, 'input', 'oneSelection'],
      [{ reason: 'r', ids: ['people/0'], sourceAppId: 'people' }, 'input', 'oneSelection'],
      [{ reason: 'r', ids: [] }, 'input.ids', 'length'],
      [{ reason: 'r', ids: ['nope'] }, 'input.ids[0]', 'format'],
      [{ reason: 'r', sourceAppId: 'people', payloadField: { path: 'a..b', equals: 1 } }, 'input.payloadField.path', 'format'],
      [
        { reason: 'r', sourceAppId: 'people', from: '2026-01-01T00:00:00Z', payloadField: { path: 'a', equals: 1 } },
        'input.payloadField',
        'oneSelection',
      ],
    ];
    for (const [input, field, rule] of cases) {
      const res = await svc.gql(ERASE, { in: input });
      expect(res.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', field, rule });
    }
    const missing = await svc.gql(ERASE, { in: { reason: 'r', sourceAppId: 'no-such-log' } });
    expect(missing.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'input.sourceAppId' });
    // The erasures log itself is version 1 and cannot be erased.
    const self = await svc.gql(ERASE, { in: { reason: 'r', sourceAppId: '_erasures' } });
    expect(self.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.sourceAppId',
      rule: 'leafVersion2',
      leafVersion: 1,
    });
    expect(self.errors?.[0]?.message).toMatch(/leaf version 1/);
  });

  it('npm run verify counts erased payloads that the erasures log lists, and finds one erased outside it', async () => {
    const key = (await svc.gql(`{ serverInfo { verifierKey } }`)).data.serverInfo.verifierKey as string;
    const size = (await svc.gql(`{ log(sourceAppId: "people") { size } }`)).data.log.size as number;
    await until('a checkpoint of the whole log', async () => {
      await svc.gql(`mutation { publishCheckpoints { treeSize } }`);
      return (await svc.gql(`{ checkpoint(sourceAppId: "people") { treeSize } }`)).data.checkpoint?.treeSize === size;
    });
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-erasure-verify-'));
    try {
      // The admin key reads every log: nothing may be withheld from it, and nothing is.
      const ok = await verifyCli([
        '--app',
        'people',
        '--key',
        key,
        '--state',
        join(dir, 'a.json'),
        '--json',
        '--key-reads-every-log',
      ]);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, eventsErased: 1, findings: [] });
      // A key limited to the log, which may not read the erasures log, proves the erasure by its record's proof.
      const created = await svc.gql(`mutation { createApiKey(role: AUDITOR, sourceAppIds: ["people"]) { secret } }`);
      const scopedKey = created.data.createApiKey.secret as string;
      expect(
        (await svc.gqlAs(scopedKey, `{ events(filter: { sourceAppIds: ["_erasures"] }) { nodes { seq } } }`)).errors?.[0],
      ).toMatchObject({
        extensions: { code: 'FORBIDDEN' },
      });
      const scoped = await verifyCli(['--app', 'people', '--key', key, '--state', join(dir, 's.json'), '--json'], scopedKey);
      expect(scoped.code, scoped.stdout + scoped.stderr).toBe(0);
      expect(JSON.parse(scoped.stdout)).toMatchObject({ ok: true, eventsErased: 1, findings: [] });
      if (e2eMongoUri()) return; // the deletion below writes the SQLite file (test/log/erasure.test.ts covers both engines)
      // A payload deleted outside the erasure path: the row looks erased, no record lists it.
      const db = new Database(join(svc.dataDir, 'chainlog.db'));
      try {
        db.pragma('busy_timeout = 5000');
        const changed = db
          .prepare(
            `UPDATE events SET payload = '', payload_salt = NULL, erased_at = 1, erasure_reason = 'sneaky' WHERE source_app_id = 'people' AND seq = 0`,
          )
          .run().changes;
        expect(changed).toBe(1);
      } finally {
        db.close();
      }
      const bad = await verifyCli(['--app', 'people', '--key', key, '--state', join(dir, 'b.json'), '--json']);
      expect(bad.code, bad.stdout + bad.stderr).toBe(1);
      const report = JSON.parse(bad.stdout);
      expect(report).toMatchObject({ ok: false, firstBadSeq: 0, eventsErased: 1 });
      expect(report.findings).toEqual([expect.objectContaining({ kind: 'UNRECORDED_ERASURE', seq: 0 })]);

      // The same deletion covered by an edited record: the record no longer proves, so it excuses nothing.
      const edit = new Database(join(svc.dataDir, 'chainlog.db'));
      let erasedSeq: number;
      try {
        edit.pragma('busy_timeout = 5000');
        const row = edit.prepare(`SELECT payload FROM events WHERE source_app_id = '_erasures' AND seq = 0`).get() as {
          payload: string;
        };
        const record = JSON.parse(row.payload);
        erasedSeq = record.events[0][1];
        record.events.unshift(['people', 0, record.events[0][2]]);
        const changed = edit
          .prepare(`UPDATE events SET payload = ? WHERE source_app_id = '_erasures' AND seq = 0`)
          .run(JSON.stringify(record)).changes;
        expect(changed).toBe(1);
      } finally {
        edit.close();
      }
      const forged = await verifyCli(['--app', 'people', '--key', key, '--state', join(dir, 'c.json'), '--json'], scopedKey);
      expect(forged.code, forged.stdout + forged.stderr).toBe(1);
      const forgedReport = JSON.parse(forged.stdout);
      expect(forgedReport).toMatchObject({ ok: false, firstBadSeq: 0, eventsErased: 0 });
      expect(forgedReport.findings).toEqual([
        expect.objectContaining({ kind: 'BAD_INCLUSION_PROOF', seq: 0, message: expect.stringMatching(/_erasures\/0/) }),
        expect.objectContaining({ kind: 'UNRECORDED_ERASURE', seq: 0 }),
        expect.objectContaining({ kind: 'UNRECORDED_ERASURE', seq: erasedSeq }),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
