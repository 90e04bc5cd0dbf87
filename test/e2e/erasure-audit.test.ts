// The erasures an auditor proves (erasureRecords and the audit's use of it) against the real service, on
// the e2e suites' engine: records proven by inclusion in the erasures log, a key limited to some logs
// (records that name other logs withheld), a record not checkpointed yet when the audit asks, and the
// consistency proof a page carries from a size of the erasures log the reader trusts.
// The service publishes only when told (publishCheckpoints), so which records a checkpoint covers is known.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit, type AuditReport } from '../../src/auditor/audit.js';
import { GraphqlClient } from '../../src/auditor/graphql-client.js';
import { StateFile } from '../../src/auditor/state-file.js';
import {
  fromHex,
  leafHashHex,
  logVerifiers,
  openCheckpoint,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
  type NoteVerifier,
} from '../../src/core/index.js';
import { startService, type RunningService } from '../support/service.js';

let svc: RunningService;
let verifier: NoteVerifier;
let dir: string;
/** AUDITOR keys limited to `people`, to `people` and `others`, and to `others`. */
const keys = { people: '', both: '', others: '' };

async function logTo(sourceAppId: string, n: number) {
  const inputs = Array.from({ length: n }, (_, i) => ({
    sourceAppId,
    eventType: 'user.updated',
    timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
    payload: { userId: `u${i}`, email: `${i}@example.com` },
  }));
  const res = await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', { in: inputs });
  expect(res.errors).toBeUndefined();
}

async function erase(ids: string[]) {
  const res = await svc.gql(`mutation($in: EraseEventsInput!) { eraseEvents(input: $in) { erased recordId } }`, {
    in: { reason: 'test', ids },
  });
  expect(res.errors).toBeUndefined();
  return res.data.eraseEvents as { erased: number; recordId: string };
}

async function publish() {
  expect((await svc.gql('mutation { publishCheckpoints { treeSize } }')).errors).toBeUndefined();
}

async function auditorKey(sourceAppIds: string[]): Promise<string> {
  const res = await svc.gql(`mutation($apps: [String!]) { createApiKey(role: AUDITOR, sourceAppIds: $apps) { secret } }`, {
    apps: sourceAppIds,
  });
  expect(res.errors).toBeUndefined();
  return res.data.createApiKey.secret;
}

function audit(key: string, more: Partial<Parameters<typeof runAudit>[0]> = {}): Promise<AuditReport> {
  return StateFile.load(join(mkdtempSync(join(dir, 'state-')), 's.json')).then((state) =>
    runAudit({
      client: new GraphqlClient({ url: svc.url, apiKey: key }),
      url: svc.url,
      app: 'people',
      verifier,
      from: 0,
      state,
      spotChecks: 0,
      ...more,
    }),
  );
}

const RECORDS = `query($app: String!, $size: SafeInt, $from: SafeInt) {
  erasureRecords(sourceAppId: $app, treeSize: $size, from: $from) {
    checkpoint { note treeSize rootHash }
    records { event { sourceAppId seq eventType timestamp receivedAt payload prevHash hash } hashes }
    withheld
    next
  }
}`;

const CONSISTENT = `query($app: String!, $size: SafeInt, $with: SafeInt) {
  erasureRecords(sourceAppId: $app, treeSize: $size, consistentWith: $with) {
    checkpoint { note treeSize rootHash }
    consistencyProof
  }
}`;

let prefix: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-erasure-audit-'));
  svc = await startService({ env: { CHECKPOINT_INTERVAL_MS: '3600000', CHECKPOINT_MIN_GAP_MS: '0' } });
  const info = (await svc.gql('{ serverInfo { verifierKey originPrefix } }')).data.serverInfo;
  verifier = parseVerifierKey(info.verifierKey);
  prefix = info.originPrefix;
  await logTo('people', 4);
  await logTo('others', 2);
  expect(await erase(['people/1'])).toEqual({ erased: 1, recordId: '_erasures/0' });
  // One record that names two logs: a key limited to one of them may not see it.
  expect(await erase(['people/2', 'others/0'])).toEqual({ erased: 2, recordId: '_erasures/1' });
  await publish();
  keys.people = await auditorKey(['people']);
  keys.both = await auditorKey(['people', 'others']);
  keys.others = await auditorKey(['others']);
});

afterAll(async () => {
  await svc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('erasureRecords', () => {
  it('gives the records that list the log, each proven in the erasures log, withholding those that name other logs', async () => {
    const scoped = await svc.gqlAs(keys.people, RECORDS, { app: 'people' });
    expect(scoped.errors).toBeUndefined();
    const page = scoped.data.erasureRecords;
    expect(page.records.map((r: { event: { seq: number } }) => r.event.seq)).toEqual([0]);
    expect(page.withheld).toEqual([1]);
    expect(page.next).toBeNull();
    const prefix = (await svc.gql('{ serverInfo { originPrefix } }')).data.serverInfo.originPrefix;
    const cp = openCheckpoint(page.checkpoint.note, logVerifiers(verifier, `${prefix}/_erasures`));
    expect(cp.size).toBe(2);
    const [record] = page.records;
    expect(record.event.payload.events).toEqual([['people', 1, expect.stringMatching(/^[0-9a-f]{64}$/)]]);
    // The auditor's own check: the record's leaf, recomputed, is in the signed tree.
    verifyInclusion(fromHex(leafHashHex(record.event)), 0, cp.size, record.hashes.map(fromHex), cp.rootHash);

    const both = await svc.gqlAs(keys.both, RECORDS, { app: 'people' });
    expect(both.data.erasureRecords.records.map((r: { event: { seq: number } }) => r.event.seq)).toEqual([0, 1]);
    expect(both.data.erasureRecords.withheld).toEqual([]);
  });

  it('refuses a log outside the key, and bad positions, naming the field; past the checkpoint is empty', async () => {
    const forbidden = await svc.gqlAs(keys.others, RECORDS, { app: 'people' });
    expect(forbidden.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', field: 'sourceAppId' });
    // Past the checkpoint (one smaller than a reader saw before): nothing there.
    const past = await svc.gql(RECORDS, { app: 'people', from: 3 });
    expect(past.data.erasureRecords).toMatchObject({ records: [], withheld: [], next: null, checkpoint: { treeSize: 2 } });
    const noSuchCheckpoint = await svc.gql(RECORDS, { app: 'people', size: 7 });
    expect(noSuchCheckpoint.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'treeSize' });
    const negative = await svc.gql(RECORDS, { app: 'people', from: -1 });
    expect(negative.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'from' });
  });

  it('refuses a consistentWith that is negative or past the checkpoint, naming the argument and the rule', async () => {
    const negative = await svc.gqlAs(keys.people, CONSISTENT, { app: 'people', with: -1 });
    expect(negative.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'consistentWith', rule: 'min' });
    // The erasures log's checkpoint has size 2: a trusted size past it cannot be proven.
    const past = await svc.gqlAs(keys.people, CONSISTENT, { app: 'people', with: 3 });
    expect(past.status).toBe(200);
    expect(past.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'consistentWith',
      rule: 'beyondCheckpoint',
    });
    expect(past.errors?.[0]?.message).toMatch(/at most the checkpoint's size 2/);
    const ok = await svc.gqlAs(keys.people, CONSISTENT, { app: 'people', with: 2 });
    expect(ok.errors).toBeUndefined();
    expect(ok.data.erasureRecords).toMatchObject({ checkpoint: { treeSize: 2 }, consistencyProof: [] });
    expect((await svc.gqlAs(keys.people, CONSISTENT, { app: 'people' })).data.erasureRecords.consistencyProof).toBeNull();
  });
});

describe('the audit of erased payloads', () => {
  it('proves every erasure with a key limited to the logs its records name', async () => {
    const r = await audit(keys.both);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ verdict: 'OK', eventsErased: 2 });
  });

  it('is UNKNOWN, not FAILED, when a record that may list an erased payload is withheld from the key', async () => {
    // The audit still waits for a later checkpoint to list it (this server publishes only when told).
    let waited = false;
    const r = await audit(keys.people, { lateRecordWaitMs: 300, onWaitingForRecords: () => (waited = true) });
    expect(waited).toBe(true);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ verdict: 'UNKNOWN', eventsErased: 1 });
    expect(r.unknown).toMatch(/position 2 .*positions 1\b/);
  });

  it('waits for the erasures log to checkpoint a record, and reports an erasure no checkpoint covers', async () => {
    // Recorded and applied, not checkpointed: the audit sees the payload gone before any record proves it.
    await erase(['people/3']);
    let waitedAt: number | null | undefined;
    const late = await audit(keys.both, {
      lateRecordWaitMs: 60_000,
      onWaitingForRecords: (size) => {
        waitedAt = size;
        void publish();
      },
    });
    expect(waitedAt).toBe(2);
    expect(late.findings).toEqual([]);
    expect(late).toMatchObject({ verdict: 'OK', eventsErased: 3 });

    await erase(['people/0']);
    const never = await audit(keys.both, { lateRecordWaitMs: 300 });
    expect(never.verdict).toBe('FAILED');
    expect(never.eventsErased).toBe(3);
    expect(never.findings).toEqual([expect.objectContaining({ kind: 'UNRECORDED_ERASURE', seq: 0 })]);
    expect(never.findings[0]!.message).toMatch(/checkpoint of size 3/);
  });
});

describe("the erasures log's checkpoint an audit trusts", () => {
  it('comes with its page, with the proof that it extends a size the reader trusts, to a key that may not ask consistencyProof of it', async () => {
    await publish(); // the record of people/0 (the test before left it unpublished): size 4
    const refused = await svc.gqlAs(
      keys.people,
      '{ consistencyProof(sourceAppId: "_erasures", fromSize: 2, toSize: 4) { hashes } }',
    );
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    const page = (await svc.gqlAs(keys.people, CONSISTENT, { app: 'people', with: 2 })).data.erasureRecords;
    const erasuresOrigin = `${prefix}/_erasures`;
    const latest = openCheckpoint(page.checkpoint.note, logVerifiers(verifier, erasuresOrigin));
    const old = (await svc.gql('{ checkpoint(sourceAppId: "_erasures", treeSize: 2) { note } }')).data.checkpoint;
    const trusted = openCheckpoint(old.note, logVerifiers(verifier, erasuresOrigin));
    expect([trusted.size, latest.size]).toEqual([2, 4]);
    verifyConsistency(2, 4, page.consistencyProof.map(fromHex), trusted.rootHash, latest.rootHash);
    // A reader that trusts a larger checkpoint than the one it names gets no proof, and is told why.
    const pinned = await svc.gqlAs(keys.people, CONSISTENT, { app: 'people', size: 2, with: 4 });
    expect(pinned.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'consistentWith',
      rule: 'beyondCheckpoint',
    });
  });
});
