// A mirror (FOLLOW_URL) follows its primary's erasures, verified by the primary's erasures log, on the
// suite's engine, both servers started as users start them: an erasure on the primary reaches the
// mirror within a sync (and its SQLite files keep no byte of the payload); events copied after their
// erasure are stored erased, whichever of the log and the erasures log the mirror reads first; a
// restart with an erasure accepted but not applied completes it before serving; a payload the primary
// deleted outside the erasure path is an UNRECORDED_ERASURE, recorded with its evidence, and the mirror
// keeps its copy. Every wait is on a signal (the API, /metrics) with a deadline.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseEvidence } from '../../src/core/inconsistency/evidence.js';
import { e2eMongoUri } from '../support/e2e-engine.js';
import { metric } from '../support/metrics.js';
import {
  converged,
  data,
  editStoredEvent,
  lowerErasureSizes,
  mirrorInconsistencyReport,
  mirrorNodes,
  mirrorStatus,
  stoppedFollowing,
  type MirrorNode,
} from '../support/mirror-nodes.js';
import { until } from '../support/wait.js';

const WAIT_MS = 120_000;
/** Payload values found nowhere else: the byte search looks for them. */
const ERASED_AFTER_COPY = 'mirror-erase-a1b2c3-after-copy';
const ERASED_BEFORE_COPY = 'mirror-erase-d4e5f6-before-copy';
const KEPT = 'mirror-keep-0f9e8d-still-here';

const { node } = mirrorNodes('mirror-erasure');

const EVENT =
  'sourceAppId seq eventType timestamp receivedAt payload payloadHash payloadSalt erasedAt erasureReason prevHash hash';

async function ingest(n: MirrorNode, app: string, payloads: object[]): Promise<void> {
  const inputs = payloads.map((payload) => ({
    sourceAppId: app,
    eventType: 'person.updated',
    timestamp: new Date().toISOString(),
    payload,
  }));
  await data(n, 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }', { inputs });
}

async function erase(n: MirrorNode, ids: string[], reason: string): Promise<void> {
  const r = await data(n, 'mutation($in: EraseEventsInput!) { eraseEvents(input: $in) { erased } }', {
    in: { reason, ids },
  });
  expect(r.eraseEvents.erased).toBe(ids.length);
}

async function event(n: MirrorNode, id: string): Promise<any> {
  return (await data(n, `query($id: ID!) { event(id: $id) { ${EVENT} } }`, { id })).event;
}

async function events(n: MirrorNode, app: string): Promise<any[]> {
  const size = (await data(n, `{ log(sourceAppId: "${app}") { size } }`)).log.size as number;
  const d = await data(n, `{ rangeProof(sourceAppId: "${app}", start: 0, end: ${size}) { events { ${EVENT} } } }`);
  return d.rangeProof.events;
}

async function verifyLog(n: MirrorNode, app: string) {
  return (await data(n, `{ verifyLog(sourceAppId: "${app}") { ok eventsErased problems { kind seq } } }`)).verifyLog;
}

/** The SQLite files of a data directory that exist. */
const sqliteFiles = (n: MirrorNode) =>
  ['chainlog.db', 'chainlog.db-wal'].map((f) => join(n.dataDir, f)).filter((f) => existsSync(f));

describe("a mirror following its primary's erasures", () => {
  let primary: MirrorNode;
  let mirror: MirrorNode;

  beforeAll(async () => {
    primary = await node('primary');
    const primaryKey = (await data(primary, '{ serverInfo { verifierKey } }')).serverInfo.verifierKey as string;
    const auditorKey = (await data(primary, 'mutation { createApiKey(role: AUDITOR, name: "mirror") { secret } }')).createApiKey
      .secret as string;
    await ingest(
      primary,
      'people',
      Array.from({ length: 12 }, (_, i) => ({ userId: `u${i}`, note: i === 3 ? ERASED_AFTER_COPY : i === 4 ? KEPT : 'x' })),
    );
    mirror = await node('mirror', { FOLLOW_URL: primary.url, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: auditorKey });
    await converged(primary, mirror, WAIT_MS);
  }, 300_000);

  it('erases on the mirror within a sync what the primary erased, recorded alike, verifyLog clean, no byte left', async () => {
    expect((await event(mirror, 'people/3')).payload.note).toBe(ERASED_AFTER_COPY);
    await erase(primary, ['people/3'], 'GDPR art. 17, ticket 12');
    const erased = await until(
      'the mirror to erase people/3',
      async () => {
        const e = await event(mirror, 'people/3');
        return e.payload === null ? e : null;
      },
      { timeoutMs: WAIT_MS },
    );
    // The same event as the primary serves it: commitment kept, when and why as the erasures log records.
    expect(erased).toEqual(await event(primary, 'people/3'));
    expect(erased).toMatchObject({ payloadSalt: null, erasureReason: 'GDPR art. 17, ticket 12' });
    await converged(primary, mirror, WAIT_MS);
    expect(await events(mirror, '_erasures')).toEqual(await events(primary, '_erasures'));
    expect(await verifyLog(mirror, 'people')).toEqual({ ok: true, eventsErased: 1, problems: [] });
    expect(await verifyLog(mirror, '_erasures')).toMatchObject({ ok: true, problems: [] });
    // An auditor of the mirror proves the erasure as one of the primary does: the same record and proof,
    // under the primary's signed checkpoint of its erasures log.
    const records = `{ erasureRecords(sourceAppId: "people") { checkpoint { note } records { event { seq hash } hashes } withheld next } }`;
    const served = await data(mirror, records);
    expect(served.erasureRecords.records).toHaveLength(1);
    expect(served).toEqual(await data(primary, records));
    expect((await event(mirror, 'people/4')).payload.note).toBe(KEPT);
    if (!e2eMongoUri()) {
      // MongoDB: the fields are unset (test/log/erasure.test.ts reads the documents back).
      const files = sqliteFiles(mirror);
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect(readFileSync(f).includes(Buffer.from(ERASED_AFTER_COPY)), f).toBe(false);
      // The search can find a payload: one not erased is there.
      expect(files.some((f) => readFileSync(f).includes(Buffer.from(KEPT)))).toBe(true);
    }
  }, 300_000);

  it('stores erased what it copies after the erasure, whichever log it reads first, and across its restart', async () => {
    await mirror.proc.stop();
    // "Archive" sorts before "_erasures" (the mirror meets the erased event before its record), "zeta" after.
    for (const app of ['Archive', 'zeta']) {
      await ingest(primary, app, [
        { userId: 'u1', note: ERASED_BEFORE_COPY },
        { userId: 'u2', note: 'kept' },
      ]);
      await erase(primary, [`${app}/0`], `ticket for ${app}`);
    }
    await mirror.proc.start();
    await converged(primary, mirror, WAIT_MS);
    for (const app of ['Archive', 'zeta']) {
      expect(await events(mirror, app)).toEqual(await events(primary, app));
      expect((await event(mirror, `${app}/0`)).payload).toBeNull();
      expect(await verifyLog(mirror, app)).toEqual({ ok: true, eventsErased: 1, problems: [] });
    }
    expect((await mirrorStatus(mirror)).stoppedLogs).toEqual([]);
    if (!e2eMongoUri()) {
      for (const f of sqliteFiles(mirror)) expect(readFileSync(f).includes(Buffer.from(ERASED_BEFORE_COPY)), f).toBe(false);
    }
  }, 300_000);

  it('completes at its start an erasure it accepted but had not applied when it stopped', async () => {
    const before = await event(primary, 'people/6');
    await erase(primary, ['people/6'], 'ticket 13');
    await until('the mirror to erase people/6', async () => (await event(mirror, 'people/6')).payload === null, {
      timeoutMs: WAIT_MS,
    });
    const record = (await data(primary, '{ log(sourceAppId: "_erasures") { size } }')).log.size - 1;
    await mirror.proc.stop();
    // The store as a stop between accepting the erasures log's checkpoint and erasing leaves it: the
    // event not erased, and the sizes below which records are known applied not past the record.
    await unerase(mirror, 'people', 6, before.payload, before.payloadSalt);
    await lowerErasureSizes(mirror, record);
    await mirror.proc.start();
    // Before anything else is asked of it: the first read already finds it erased.
    expect((await event(mirror, 'people/6')).payload).toBeNull();
    expect(await verifyLog(mirror, 'people')).toEqual({ ok: true, eventsErased: 2, problems: [] });
  }, 300_000);

  it('finds a payload deleted on the primary outside the erasure path, records it, and keeps its copy', async () => {
    const copy = await event(mirror, 'people/5');
    expect(copy.payload).not.toBeNull();
    await primary.proc.stop();
    await deleteOutsideErasure(primary, 'people', 5);
    await primary.proc.start();
    const status = await stoppedFollowing(mirror, 'people', WAIT_MS);
    expect(status.stoppedLogs).toEqual([
      { sourceAppId: 'people', reason: expect.stringMatching(/^UNRECORDED_ERASURE: .*people\/5/) },
    ]);
    expect(await metric(mirror, 'chainlog_mirror_inconsistencies_total', { kind: 'UNRECORDED_ERASURE' })).toBe(1);
    // The copy keeps the payload and still verifies.
    expect(await event(mirror, 'people/5')).toEqual(copy);
    expect(await verifyLog(mirror, 'people')).toMatchObject({ ok: true, problems: [] });
    // Recorded with its evidence: an observation (the leaf is the same on both sides), without the payload.
    const found = await until('the inconsistency to be recorded', async () => {
      const d = await data(
        mirror,
        '{ inconsistencies(filter: { sourceAppId: "people" }) { nodes { kind detectedBy source evidence } } }',
      );
      return d.inconsistencies.nodes[0] ?? null;
    });
    expect(found).toMatchObject({ kind: 'UNPROVEN', detectedBy: 'MIRROR', source: primary.url });
    const evidence = parseEvidence(found.evidence);
    expect(evidence).toMatchObject({ kind: 'unproven', observation: 'unrecorded-erasure' });
    expect(found.evidence).not.toContain('"u5"');
    const report = mirrorInconsistencyReport(mirror);
    expect(report).toMatchObject({ kind: 'UNRECORDED_ERASURE', seq: 5, copied: { event: { hash: copy.hash, payload: null } } });
    expect(JSON.stringify(report)).not.toContain('"u5"');
    // Erasures the primary records are still applied to the stopped log's copy.
    await erase(primary, ['people/7'], 'ticket 14');
    await until('the mirror to erase people/7', async () => (await event(mirror, 'people/7')).payload === null, {
      timeoutMs: WAIT_MS,
    });
  }, 300_000);
});

/** In a stopped server's store: give an erased event its payload and salt back, not erased. */
async function unerase(n: MirrorNode, app: string, seq: number, payload: object, salt: string): Promise<void> {
  await editStoredEvent(
    n,
    app,
    seq,
    { set: 'payload = ?, payload_salt = ?, erased_at = NULL, erasure_reason = NULL', params: [JSON.stringify(payload), salt] },
    { $set: { payload: JSON.stringify(payload), payloadSalt: salt }, $unset: { erasedAt: '', erasureReason: '' } },
  );
}

/** In a stopped server's store: delete an event's payload as an erasure would, but with no record of it. */
async function deleteOutsideErasure(n: MirrorNode, app: string, seq: number): Promise<void> {
  await editStoredEvent(
    n,
    app,
    seq,
    { set: `payload = '', payload_salt = NULL, erased_at = 1, erasure_reason = 'sneaky'`, params: [] },
    { $unset: { payload: '', payloadSalt: '' }, $set: { erasedAt: 1, erasureReason: 'sneaky' } },
  );
}
