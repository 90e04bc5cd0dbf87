// A real server that witnesses a log refuses a fork with 422 and records it as a proven inconsistency:
// listed by the inconsistencies query (auditor and admin keys, paginated, newest first), delivered by
// the inconsistencyDetected subscription, counted in chainlog_inconsistencies_total, logged at error
// level, and its evidence text verifies offline with the log's verifier key. On the e2e suites' engine.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifierKey } from '../../src/core/index.js';
import { verifyEvidence } from '../../src/core/inconsistency/evidence.js';
import { metric } from '../support/metrics.js';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';
import { addCheckpoint, TestLog } from '../support/witness-log.js';

const main = new TestLog('example.com/main');
let dir: string;
let svc: RunningService;
let auditor: string;
let reader: string;
let scopedAuditor: string;

const FIELDS = 'id kind proven origin sourceAppId detectedBy source detectedAt evidence';
const LIST = `query ($filter: InconsistencyFilter, $first: Int, $after: String) {
  inconsistencies(filter: $filter, first: $first, after: $after) {
    edges { cursor node { ${FIELDS} } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`;

async function createKey(role: string, apps?: string[]): Promise<string> {
  const res = await svc.gql<{ createApiKey: { secret: string } }>(
    'mutation ($role: ApiKeyRole!, $apps: [String!]) { createApiKey(role: $role, sourceAppIds: $apps) { secret } }',
    { role, apps },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.createApiKey.secret;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-inconsistencies-'));
  const logsFile = join(dir, 'witnessed-logs');
  writeFileSync(logsFile, `log ${main.vkey}\n`);
  svc = await startService({ env: { WITNESSED_LOGS_FILE: logsFile, WITNESS_RATE_LIMIT_PER_SEC: '0' } });
  auditor = await createKey('AUDITOR');
  reader = await createKey('READER');
  scopedAuditor = await createKey('AUDITOR', ['shop']);
});

afterAll(async () => {
  await svc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the witness's refused fork", () => {
  it('is delivered to inconsistencyDetected, listed, counted, logged, and its evidence proves the fork offline', async () => {
    const gauge = () => metric(svc, 'chainlog_graphql_active_subscriptions', { field: 'inconsistencyDetected' });
    const before = await gauge();
    const probe = new SubscriptionProbe<{ inconsistencyDetected: Record<string, unknown> }>(
      svc.wsAs(auditor),
      `subscription ($filter: InconsistencyFilter) { inconsistencyDetected(filter: $filter) { ${FIELDS} } }`,
      { filter: { origin: main.origin } },
    );
    await until('the subscription is open on the server', async () => (await gauge()) > before);

    expect((await addCheckpoint(svc.url, main.body(0, 10))).status).toBe(200);
    const split = main.fork(5);
    expect((await addCheckpoint(svc.url, split.body(10, 10, []))).status).toBe(422);

    await probe.until((p) => p.values.length === 1);
    const delivered = probe.values[0]!.inconsistencyDetected;
    expect(delivered).toMatchObject({
      kind: 'SAME_SIZE_DIFFERENT_ROOTS',
      proven: true,
      origin: main.origin,
      sourceAppId: null,
      detectedBy: 'WITNESS',
    });
    const verdict = verifyEvidence(delivered.evidence, parseVerifierKey(main.vkey));
    expect(verdict).toMatchObject({ proves: true, kind: 'same-size-different-roots' });

    const listed = await svc.gqlAs(auditor, LIST, { filter: { origin: main.origin } });
    expect(listed.errors).toBeUndefined();
    expect(listed.data.inconsistencies.edges.map((e: any) => e.node)).toEqual([delivered]);
    expect(
      await metric(svc, 'chainlog_inconsistencies_total', { kind: 'same-size-different-roots', detected_by: 'witness' }),
    ).toBe(1);
    expect(svc.output()).toMatch(
      /"level":50[^\n]*inconsistency detected and proven: example\.com\/main signed two checkpoints of size 10/,
    );

    // The same fork again is the same evidence: one record, no second delivery or count.
    expect((await addCheckpoint(svc.url, split.body(10, 10, []))).status).toBe(422);
    const again = await svc.gqlAs(auditor, LIST, {});
    expect(again.data.inconsistencies.edges).toHaveLength(1);
    expect(await metric(svc, 'chainlog_inconsistencies_total')).toBe(1);
    probe.unsubscribe();
  });

  it('a history that does not extend the cosigned one is an inconsistent prefix; pages go newest first', async () => {
    const split = main.fork(5);
    expect((await addCheckpoint(svc.url, split.body(10, 20))).status).toBe(422);
    const first = await svc.gqlAs(auditor, LIST, { first: 1 });
    expect(first.data.inconsistencies.edges.map((e: any) => e.node.kind)).toEqual(['INCONSISTENT_PREFIX']);
    expect(first.data.inconsistencies.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const second = await svc.gqlAs(auditor, LIST, { first: 1, after: first.data.inconsistencies.pageInfo.endCursor });
    expect(second.data.inconsistencies.edges.map((e: any) => e.node.kind)).toEqual(['SAME_SIZE_DIFFERENT_ROOTS']);
    expect(second.data.inconsistencies.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const evidence = first.data.inconsistencies.edges[0].node.evidence as string;
    expect(verifyEvidence(evidence, parseVerifierKey(main.vkey))).toMatchObject({ proves: true, kind: 'inconsistent-prefix' });
  });
});

describe('who may read inconsistencies', () => {
  it('admin and auditor keys; a reader key is FORBIDDEN; a scoped auditor sees its applications only', async () => {
    expect((await svc.gql(LIST, {})).data.inconsistencies.edges.length).toBe(2);
    const refused = await svc.gqlAs(reader, LIST, {});
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', field: 'inconsistencies', rule: 'role' });
    expect((await svc.gqlAs(scopedAuditor, LIST, {})).data.inconsistencies.edges).toEqual([]);
    const outside = await svc.gqlAs(scopedAuditor, LIST, { filter: { sourceAppId: 'other' } });
    expect(outside.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', field: 'filter.sourceAppId' });
    const sub = new SubscriptionProbe(svc.wsAs(reader), `subscription { inconsistencyDetected { id } }`);
    await sub.until((p) => p.completed);
    expect(JSON.stringify(sub.errors)).toContain('FORBIDDEN');
  });

  it('refuses a cursor it did not issue and a malformed origin, naming the field', async () => {
    const badCursor = await svc.gqlAs(auditor, LIST, { after: 'bm9wZQ' });
    expect(badCursor.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after', rule: 'cursor' });
    const badOrigin = await svc.gqlAs(auditor, LIST, { filter: { origin: 'a\nb' } });
    expect(badOrigin.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.origin', rule: 'format' });
  });
});
