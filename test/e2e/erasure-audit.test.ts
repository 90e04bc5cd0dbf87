// The erasures an auditor proves (erasureRecords and the audit's use of it) against the real service, on
// the e2e suites' engine: records proven by inclusion in the erasures log, a key limited to some logs
// (records that name other logs withheld), a record not checkpointed yet when the audit asks, and the
// erasures log's checkpoint shown to extend the one the auditor's state file trusts (a second service
// signing another erasures log with the same key is caught, smaller or larger than the trusted one).
// The service publishes only when told (publishCheckpoints), so which records a checkpoint covers is known.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
/** AUDITOR keys limited to `people`, to `people` and `others`, and to `others`; and one for every log. */
const keys = { people: '', both: '', others: '', every: '' };

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

async function erase(ids: string[], on: RunningService = svc) {
  const res = await on.gql(`mutation($in: EraseEventsInput!) { eraseEvents(input: $in) { erased recordId } }`, {
    in: { reason: 'test', ids },
  });
  expect(res.errors).toBeUndefined();
  return res.data.eraseEvents as { erased: number; recordId: string };
}

async function publish(on: RunningService = svc) {
  expect((await on.gql('mutation { publishCheckpoints { treeSize } }')).errors).toBeUndefined();
}

async function auditorKey(sourceAppIds: string[] | null): Promise<string> {
  const res = await svc.gql(`mutation($apps: [String!]) { createApiKey(role: AUDITOR, sourceAppIds: $apps) { secret } }`, {
    apps: sourceAppIds,
  });
  expect(res.errors).toBeUndefined();
  return res.data.createApiKey.secret;
}

/** An audit of `people` on `on` (default: svc), with a state file of its own unless `statePath` is given. */
async function audit(
  key: string,
  more: Partial<Parameters<typeof runAudit>[0]> = {},
  opts: { statePath?: string; on?: RunningService } = {},
): Promise<AuditReport> {
  const state = await StateFile.load(opts.statePath ?? join(mkdtempSync(join(dir, 'state-')), 's.json'));
  const on = opts.on ?? svc;
  return runAudit({
    client: new GraphqlClient({ url: on.url, apiKey: key }),
    url: on.url,
    app: 'people',
    verifier,
    from: 0,
    state,
    spotChecks: 0,
    ...more,
  });
}

/** The erasures log's entry of a state file (the file as written). */
function erasuresEntry(statePath: string): { treeSize: number; rootHash: string } | undefined {
  const logs = (JSON.parse(readFileSync(statePath, 'utf8')) as { logs: Record<string, { treeSize: number; rootHash: string }> })
    .logs;
  return Object.entries(logs).find(([k]) => k.startsWith(`${prefix}/_erasures+`))?.[1];
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
  keys.every = await auditorKey(null);
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

  it('with keyReadsEveryLog (--key-reads-every-log), a withheld record is a finding and the payload it may list unrecorded', async () => {
    // keys.people may not read `others`, so the server withholds record 1 from it: what a server hiding
    // records from a key that reads every log would answer.
    const r = await audit(keys.people, { keyReadsEveryLog: true, lateRecordWaitMs: 300 });
    expect(r).toMatchObject({ verdict: 'FAILED', unknown: null, eventsErased: 1 });
    expect(r.findings).toEqual([
      expect.objectContaining({ kind: 'WITHHELD_ERASURE_RECORDS', seq: 2, message: expect.stringMatching(/positions 1\)/) }),
      expect.objectContaining({ kind: 'UNRECORDED_ERASURE', seq: 2 }),
    ]);
    // A key that does read every log is shown every record: nothing withheld, every erasure proven.
    const every = await audit(keys.every, { keyReadsEveryLog: true });
    expect(every.findings).toEqual([]);
    expect(every).toMatchObject({ verdict: 'OK', eventsErased: 2 });
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
  const statePath = () => join(dir, 'trusted-erasures.json');

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

  it('is saved with the audited log, and the next run, with another key, proves that the newer one extends it', async () => {
    const first = await audit(keys.both, {}, { statePath: statePath() });
    expect(first.findings).toEqual([]);
    expect(first).toMatchObject({ verdict: 'OK', stateUpdated: true, erasures: { checkpoint: { treeSize: 4 }, trusted: null } });
    expect(erasuresEntry(statePath())).toMatchObject({ treeSize: 4, rootHash: first.erasures!.checkpoint.rootHash });

    await logTo('people', 2);
    await erase(['people/4']);
    await publish();
    const next = await audit(svc.adminKey!, {}, { statePath: statePath() });
    expect(next.findings).toEqual([]);
    expect(next).toMatchObject({
      verdict: 'OK',
      eventsErased: 5,
      erasures: { checkpoint: { treeSize: 5 }, trusted: { treeSize: 4 } },
    });
    expect(erasuresEntry(statePath())).toMatchObject({ treeSize: 5, rootHash: next.erasures!.checkpoint.rootHash });
  });

  it('fails the audit when it is another erasures log signed by the same key, smaller or larger, and stays trusted', async () => {
    // A second service with the same signing key (and origin prefix) and a history of erasures of its own.
    const other = await startService({
      env: {
        CHECKPOINT_INTERVAL_MS: '3600000',
        CHECKPOINT_MIN_GAP_MS: '0',
        SIGNING_KEY_FILE: join(svc.dataDir, 'signing-key.pem'),
      },
    });
    try {
      const res = await other.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', {
        in: Array.from({ length: 6 }, (_, i) => ({
          sourceAppId: 'people',
          eventType: 'user.updated',
          timestamp: new Date(Date.UTC(2026, 0, 2) + i).toISOString(),
          payload: { userId: `v${i}` },
        })),
      });
      expect(res.errors).toBeUndefined();
      const before = readFileSync(statePath(), 'utf8');
      const state = JSON.parse(before) as { logs: Record<string, unknown> };
      // Trust the erasures log only: the audited log of the other service is not a fork of one trusted.
      for (const k of Object.keys(state.logs)) if (!k.startsWith(`${prefix}/_erasures+`)) delete state.logs[k];
      const onlyErasures = join(dir, 'only-erasures.json');
      writeFileSync(onlyErasures, JSON.stringify(state));

      // Its erasures log smaller than the trusted one: the server refuses the proof from the trusted size.
      await erase(['people/0'], other);
      await publish(other);
      const smaller = await audit(other.adminKey!, { lateRecordWaitMs: 0 }, { statePath: onlyErasures, on: other });
      expect(smaller.verdict).toBe('FAILED');
      expect(smaller.findings).toEqual([
        expect.objectContaining({
          kind: 'ROLLBACK',
          seq: 0,
          message: expect.stringMatching(
            /^the erasures log \(.*\/_erasures\): the server's checkpoint is smaller than the one of size 5 trusted before \(it refuses the consistency proof from that size: consistentWith must be at most the checkpoint's size 1: /,
          ),
        }),
      ]);
      expect(smaller.stateUpdated).toBe(false);

      // Larger, of another history.
      for (let i = 1; i < 6; i++) await erase([`people/${i}`], other);
      await publish(other);
      const r = await audit(other.adminKey!, { lateRecordWaitMs: 0 }, { statePath: onlyErasures, on: other });
      expect(r.verdict).toBe('FAILED');
      expect(r.findings).toEqual([
        expect.objectContaining({
          kind: 'BAD_CONSISTENCY_PROOF',
          seq: 0,
          message: expect.stringMatching(
            /^the erasures log \(.*\/_erasures\): the new checkpoint \(size 6\) does not extend the trusted one \(size 5\)/,
          ),
        }),
      ]);
      expect(r.stateUpdated).toBe(false);
      expect(erasuresEntry(onlyErasures)).toMatchObject({ treeSize: 5 });
    } finally {
      await other.stop();
    }
  });
});
