// Proofs served by the real service, verified here with the core library against the served verifier key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompactRange,
  completedNodes,
  fromHex,
  leafHashHex,
  toHex,
  logVerifiers,
  openCheckpoint,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
  verifyRange,
  type NoteVerifier,
} from '../../src/core/index.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

let svc: RunningService;
let verifier: NoteVerifier;
const APP = 'proofs';
const EVENT = 'sourceAppId seq eventType timestamp receivedAt payload prevHash hash payloadHash';
const CHECKPOINT = 'sourceAppId origin treeSize rootHash note publishedAt';

async function ingest(count: number) {
  const inputs = Array.from({ length: count }, (_, i) => ({
    sourceAppId: APP,
    eventType: 'audit.entry',
    timestamp: new Date(Date.UTC(2025, 3, 1) + i).toISOString(),
    payload: { i, nested: { list: [1, 'two', null, true] } },
  }));
  const res = await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', { in: inputs });
  expect(res.errors).toBeUndefined();
}

/** The latest checkpoint once it covers `size` events (published on the 200 ms interval or on demand). */
async function checkpointAt(size: number) {
  return until(
    `a checkpoint of size ${size}`,
    async () => {
      await svc.gql('mutation { publishCheckpoints { treeSize } }');
      const res = await svc.gql(`query($app: String!) { checkpoint(sourceAppId: $app) { ${CHECKPOINT} } }`, { app: APP });
      return res.data.checkpoint?.treeSize === size ? res.data.checkpoint : null;
    },
    { intervalMs: 50 },
  );
}

/** Open the signed note with the trusted key and check it says what the fields say. */
function trustedRoot(cp: { note: string; origin: string; treeSize: number; rootHash: string }): Uint8Array {
  const opened = openCheckpoint(cp.note, logVerifiers(verifier, `chainlog.local/${APP}`), `chainlog.local/${APP}`);
  expect(opened.size).toBe(cp.treeSize);
  expect(opened.rootHash).toEqual(fromHex(cp.rootHash));
  return opened.rootHash;
}

/** The leaf recomputed from the served fields, as an auditor does. */
const leafOf = (e: any) => fromHex(leafHashHex({ ...e }));

beforeAll(async () => {
  svc = await startService();
  const info = (await svc.gql('{ serverInfo { verifierKey keyName originPrefix checkpointIntervalMs version } }')).data
    .serverInfo;
  expect(info).toMatchObject({ keyName: 'chainlog.local', originPrefix: 'chainlog.local', checkpointIntervalMs: 200 });
  verifier = parseVerifierKey(info.verifierKey);
});
afterAll(async () => svc?.stop());

describe('proofs', () => {
  let first: any;
  let second: any;

  it('signs checkpoints the served verifier key opens', async () => {
    await ingest(20);
    first = await checkpointAt(20);
    expect(first.origin).toBe(`chainlog.local/${APP}`);
    expect(first.publishedAt).toMatch(/Z$/);
    trustedRoot(first);
  });

  it('proves the inclusion of an event, recomputed from its served fields', async () => {
    const res = await svc.gql(
      `query($app: String!) { event(id: "${APP}/7") { ${EVENT} } inclusionProof(sourceAppId: $app, seq: 7) {
        sourceAppId leafIndex treeSize leafHash rootHash hashes checkpoint { ${CHECKPOINT} } } }`,
      { app: APP },
    );
    const { event, inclusionProof: proof } = res.data;
    expect(proof).toMatchObject({ sourceAppId: APP, leafIndex: 7, treeSize: 20, leafHash: event.hash });
    const root = trustedRoot(proof.checkpoint);
    const leaf = leafOf(event);
    verifyInclusion(leaf, 7, 20, proof.hashes.map(fromHex), root);
    expect(() => verifyInclusion(leaf, 8, 20, proof.hashes.map(fromHex), root)).toThrow();
  });

  it('proves consistency between two checkpoints', async () => {
    await ingest(13);
    second = await checkpointAt(33);
    const res = await svc.gql(
      `query($app: String!) { consistencyProof(sourceAppId: $app, fromSize: 20, toSize: 33) {
      sourceAppId fromSize toSize fromRoot toRoot hashes } }`,
      { app: APP },
    );
    const proof = res.data.consistencyProof;
    expect(proof).toMatchObject({ fromSize: 20, toSize: 33, fromRoot: first.rootHash, toRoot: second.rootHash });
    verifyConsistency(20, 33, proof.hashes.map(fromHex), trustedRoot(first), trustedRoot(second));
  });

  it('proves a range of events against an older tree size', async () => {
    const res = await svc.gql(
      `query($app: String!) { rangeProof(sourceAppId: $app, start: 3, end: 11, treeSize: 20) {
      start end treeSize rootHash leftHashes rightHashes events { ${EVENT} } checkpoint { ${CHECKPOINT} } } }`,
      { app: APP },
    );
    const proof = res.data.rangeProof;
    expect(proof).toMatchObject({ start: 3, end: 11, treeSize: 20, rootHash: first.rootHash });
    expect(proof.events.map((e: any) => e.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    verifyRange(
      3,
      11,
      20,
      proof.events.map(leafOf),
      proof.leftHashes.map(fromHex),
      proof.rightHashes.map(fromHex),
      trustedRoot(first),
    );
  });

  it('serves the same range proof over REST, as one document, to a key that may prove', async () => {
    const fields = 'sourceAppId seq eventType timestamp receivedAt payload prevHash hash payloadHash payloadSalt erasedAt';
    const gql = await svc.gql(
      `query($app: String!) { rangeProof(sourceAppId: $app, start: 3, end: 11, treeSize: 20) {
      start end treeSize leftHashes rightHashes events { ${fields} } } }`,
      { app: APP },
    );
    const url = `${svc.url}/v1/logs/${APP}/range-proof?start=3&end=11&treeSize=20`;
    const res = await fetch(url, { headers: svc.authHeaders() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(gql.data.rangeProof);
    // Without treeSize: the latest checkpoint's.
    const latest = (await (
      await fetch(`${svc.url}/v1/logs/${APP}/range-proof?start=0&end=1`, { headers: svc.authHeaders() })
    ).json()) as {
      treeSize: number;
    };
    expect(latest.treeSize).toBe(33);
    // Without a key: refused as GraphQL's rangeProof is.
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNAUTHENTICATED');
  });

  it('adds the stored tree nodes the events complete with nodes=true, each the hash of its events', async () => {
    const page = async (query: string) => {
      const res = await fetch(`${svc.url}/v1/logs/${APP}/range-proof?${query}`, { headers: svc.authHeaders() });
      expect(res.status).toBe(200);
      return (await res.json()) as { leftHashes: string[]; events: Array<{ hash: string }>; nodes?: unknown };
    };
    const whole = await page('start=0&end=20&treeSize=20');
    expect(whole).not.toHaveProperty('nodes');
    expect((await page('start=3&end=11&treeSize=20&nodes=false')).nodes).toBeUndefined();
    // Every node of level >= 1 over [0, 20), as the leaves give it.
    const truth = new Map<string, string>();
    const tree = CompactRange.new(0);
    for (const e of whole.events)
      tree.append(fromHex(e.hash), (id, h) => id.level > 0 && truth.set(`${id.level}/${id.index}`, toHex(h)));
    for (const [start, end] of [
      [3, 11],
      [0, 20],
      [19, 20],
      [8, 16],
    ] as const) {
      const got = await page(`start=${start}&end=${end}&treeSize=20&nodes=true`);
      const want = completedNodes(start, end).map(({ level, first, count }) => ({
        level,
        index: first,
        hashes: Array.from({ length: count }, (_, i) => truth.get(`${level}/${first + i}`)),
      }));
      expect(want.length).toBeGreaterThan(0);
      expect(got.nodes, `[${start}, ${end})`).toEqual(want);
      // GraphQL's rangeProof serves the same runs, read only when `nodes` is selected.
      const gql = await svc.gql(
        `query($app: String!, $start: SafeInt!, $end: SafeInt!) {
          rangeProof(sourceAppId: $app, start: $start, end: $end, treeSize: 20) { nodes { level index hashes } } }`,
        { app: APP, start, end },
      );
      expect(gql.errors).toBeUndefined();
      expect(gql.data.rangeProof.nodes).toEqual(want);
    }
  });

  it.each([
    ['start=0&end=2&nodes=1', 'BAD_USER_INPUT', 'nodes'],
    ['start=0&end=2&nodes=true&nodes=true', 'BAD_USER_INPUT', 'nodes'],
    ['start=5&end=5', 'BAD_USER_INPUT', 'end'],
    ['start=05&end=6', 'BAD_USER_INPUT', 'start'],
    ['start=-1&end=6', 'BAD_USER_INPUT', 'start'],
    ['end=6', 'BAD_USER_INPUT', 'start'],
    ['start=0', 'BAD_USER_INPUT', 'end'],
    ['start=0&end=2&treeSize=1e3', 'BAD_USER_INPUT', 'treeSize'],
    ['start=0&end=40', 'BAD_USER_INPUT', 'end'],
    ['start=0&end=1001&treeSize=20', 'BAD_USER_INPUT', 'end'],
  ])('the REST range proof rejects %s', async (query, code, field) => {
    const res = await fetch(`${svc.url}/v1/logs/${APP}/range-proof?${query}`, { headers: svc.authHeaders() });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: unknown[] }).errors[0]).toMatchObject({ code, field });
  });

  it('the REST range proof of a log without a checkpoint is NOT_FOUND', async () => {
    const res = await fetch(`${svc.url}/v1/logs/ghost/range-proof?start=0&end=1`, { headers: svc.authHeaders() });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { errors: unknown[] }).errors[0]).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('lists the log checkpoints as a connection and reports the log head', async () => {
    const res = await svc.gql(
      `query($app: String!) { log(sourceAppId: $app) {
      size headHash integratedSize origin latestCheckpoint { treeSize }
      checkpoints(first: 10, order: ASC) { edges { node { treeSize } } pageInfo { hasNextPage } } } }`,
      { app: APP },
    );
    const log = res.data.log;
    expect(log).toMatchObject({ size: 33, origin: `chainlog.local/${APP}`, latestCheckpoint: { treeSize: 33 } });
    const sizes = log.checkpoints.edges.map((e: any) => e.node.treeSize);
    expect(sizes).toContain(20);
    expect(sizes.at(-1)).toBe(33);
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    const cp20 = await svc.gql(`query($app: String!) { checkpoint(sourceAppId: $app, treeSize: 20) { rootHash } }`, { app: APP });
    expect(cp20.data.checkpoint.rootHash).toBe(first.rootHash);
  });

  it('verifies the whole log', async () => {
    const res = await svc.gql(
      `query($app: String!) { verifyLog(sourceAppId: $app) {
      sourceAppId fromSeq toSeq eventsChecked checkpointsChecked ok firstBadSeq problems { kind seq message } } }`,
      { app: APP },
    );
    expect(res.data.verifyLog).toMatchObject({ sourceAppId: APP, ok: true, firstBadSeq: null, problems: [], eventsChecked: 33 });
  });

  it.each([
    [`inclusionProof(sourceAppId: "${APP}", seq: 5, treeSize: 5) { hashes }`, 'BAD_USER_INPUT', 'treeSize'],
    [`inclusionProof(sourceAppId: "${APP}", seq: -1) { hashes }`, 'BAD_USER_INPUT', 'seq'],
    [`inclusionProof(sourceAppId: "${APP}", seq: 40) { hashes }`, 'BAD_USER_INPUT', 'seq'],
    [`consistencyProof(sourceAppId: "${APP}", fromSize: 30, toSize: 20) { hashes }`, 'BAD_USER_INPUT', 'toSize'],
    [`consistencyProof(sourceAppId: "${APP}", fromSize: 20, toSize: 999) { hashes }`, 'BAD_USER_INPUT', 'toSize'],
    [`rangeProof(sourceAppId: "${APP}", start: 5, end: 5) { leftHashes }`, 'BAD_USER_INPUT', 'end'],
    [`rangeProof(sourceAppId: "bad id", start: 0, end: 1) { leftHashes }`, 'BAD_USER_INPUT', 'sourceAppId'],
    [`verifyLog(sourceAppId: "${APP}", fromSeq: 9, toSeq: 3) { ok }`, 'BAD_USER_INPUT', 'toSeq'],
    [`verifyLog(sourceAppId: "ghost") { ok }`, 'NOT_FOUND', 'sourceAppId'],
    [`checkpoint(sourceAppId: "${APP}", treeSize: -2) { rootHash }`, 'BAD_USER_INPUT', 'treeSize'],
  ])('rejects %s', async (field, code, name) => {
    const res = await svc.gql(`{ ${field} }`);
    expect(res.status).toBe(200);
    expect(res.errors![0]!.extensions).toMatchObject({ code, field: name });
  });
});
