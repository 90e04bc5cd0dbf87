// A mirror (FOLLOW_URL) against a real primary, both started as users start them (src/main.ts in a child
// process), on the suite's engine: catching up under live ingest and converging to the primary's events,
// checkpoints and proofs; the primary and the mirror restarted; writes refused; a tampered primary caught
// and its log stopped; a bad verifier key, a wrong API key and an unreachable primary at start; the lag
// in serverInfo and /metrics. Every wait is on a signal (serverInfo, /metrics) with a deadline.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { logVerifiers, openCheckpoint, signCheckpoint } from '../../src/core/checkpoint.js';
import { fromHex } from '../../src/core/hex.js';
import { eventLeafHash } from '../../src/core/leaf.js';
import { createSigner, createVerifier, parseVerifierKey } from '../../src/core/note/signed-note.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { verifyInclusion } from '../../src/core/proof/verify.js';
import { e2eMongoUri } from '../support/e2e-engine.js';
import { metric } from '../support/metrics.js';
import { freePort } from '../support/service-process.js';
import {
  converged,
  data,
  editStoredEvent,
  gql,
  latestSizes,
  mirrorInconsistencyReport,
  mirrorNodes,
  mirrorStatus,
  MIRROR_STATUS,
  ADMIN,
  stoppedFollowing,
  type MirrorNode,
} from '../support/mirror-nodes.js';
import { until } from '../support/wait.js';

const CONVERGE_MS = 120_000;
const { node, tempDir } = mirrorNodes('mirror');

let counter = 0;
async function ingest(primary: MirrorNode, app: string, count: number): Promise<void> {
  for (let done = 0; done < count;) {
    const n = Math.min(500, count - done);
    const inputs = Array.from({ length: n }, () => ({
      sourceAppId: app,
      eventType: 'order.placed',
      timestamp: new Date().toISOString(),
      payload: { n: counter++, items: ['a', 'b'], total: 12.5 },
    }));
    await data(primary, 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }', { inputs });
    done += n;
  }
}

async function allEvents(n: MirrorNode, app: string, size: number): Promise<any[]> {
  const out: any[] = [];
  for (let start = 0; start < size; start += 1000) {
    const d = await data(
      n,
      `query($app: String!, $s: SafeInt!, $e: SafeInt!) { rangeProof(sourceAppId: $app, start: $s, end: $e) {
        events { sourceAppId seq eventType timestamp receivedAt payload payloadHash payloadSalt prevHash hash } } }`,
      { app, s: start, e: Math.min(size, start + 1000) },
    );
    out.push(...d.rangeProof.events);
  }
  return out;
}

async function allCheckpoints(n: MirrorNode, app: string): Promise<any[]> {
  const out: any[] = [];
  let after: string | null = null;
  for (;;) {
    const d: any = await data(
      n,
      `query($app: String!, $after: String) { log(sourceAppId: $app) { checkpoints(first: 500, after: $after, order: ASC) {
        nodes { treeSize rootHash note publishedAt origin } pageInfo { endCursor hasNextPage } } } }`,
      { app, after },
    );
    out.push(...d.log.checkpoints.nodes);
    if (!d.log.checkpoints.pageInfo.hasNextPage) return out;
    after = d.log.checkpoints.pageInfo.endCursor;
  }
}

/** Same events and checkpoints on both, and the mirror's proofs verify with the primary's key. */
async function expectEqual(primary: MirrorNode, mirror: MirrorNode, app: string, primaryKey: string): Promise<number> {
  const size = (await latestSizes(primary))[app]!;
  expect((await data(mirror, `{ log(sourceAppId: "${app}") { size } }`)).log.size).toBe(size);
  expect(await allEvents(mirror, app, size)).toEqual(await allEvents(primary, app, size));
  expect(await allCheckpoints(mirror, app)).toEqual(await allCheckpoints(primary, app));
  const pinned = parseVerifierKey(primaryKey);
  const { serverInfo } = await data(mirror, '{ serverInfo { originPrefix } }');
  const origin = `${serverInfo.originPrefix}/${app}`;
  for (const seq of [0, Math.floor(size / 2), size - 1]) {
    const q = `{ inclusionProof(sourceAppId: "${app}", seq: ${seq}) { leafHash treeSize rootHash hashes checkpoint { note } } }`;
    const [m, p] = [(await data(mirror, q)).inclusionProof, (await data(primary, q)).inclusionProof];
    expect(m).toEqual(p);
    const cp = openCheckpoint(m.checkpoint.note, logVerifiers(createVerifier(origin, pinned.publicKey), origin), origin);
    verifyInclusion(fromHex(m.leafHash), seq, m.treeSize, m.hashes.map(fromHex), cp.rootHash);
  }
  return size;
}

describe('a mirror following a primary', () => {
  let primary: MirrorNode;
  let mirror: MirrorNode;
  let auditorKey: string;
  let primaryKey: string;
  let mirrorEnv: Record<string, string>;

  beforeAll(async () => {
    primary = await node('primary');
    primaryKey = (await data(primary, '{ serverInfo { verifierKey } }')).serverInfo.verifierKey;
    auditorKey = (await data(primary, 'mutation { createApiKey(role: AUDITOR, name: "mirror") { secret } }')).createApiKey.secret;
    mirrorEnv = { FOLLOW_URL: primary.url, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: auditorKey };
  });

  it(
    'catches up with a primary under live ingest, converges, and serves the same proofs under the primary key',
    { timeout: 400_000 },
    async () => {
      // FerretDB (the MongoDB engine's test server) is far slower than SQLite: a smaller backlog there.
      const backlog = e2eMongoUri() ? 1500 : 6000;
      const ingestStarted = Date.now();
      await ingest(primary, 'shop', backlog);
      const ingestRate = Math.round(backlog / ((Date.now() - ingestStarted) / 1000));
      await ingest(primary, 'billing', 50);
      // The mirror is a witness of "shop" and "billing" too.
      const shopKey = (await data(primary, '{ log(sourceAppId: "shop") { verifierKey } }')).log.verifierKey;
      const billingKey = (await data(primary, '{ log(sourceAppId: "billing") { verifierKey } }')).log.verifierKey;
      const logsFile = join(tempDir('witnessed'), 'logs.txt');
      writeFileSync(logsFile, `log ${shopKey}\nlog ${billingKey}\n`);
      mirrorEnv.WITNESSED_LOGS_FILE = logsFile;
      const started = Date.now();
      mirror = await node('mirror', mirrorEnv);
      // The catch-up rate, from the first copied event to the last of the backlog (the process start excluded).
      const first = await until(
        'the first events copied',
        async () => {
          const copied = (await mirrorStatus(mirror)).eventsCopied as number;
          return copied > 0 ? { copied, at: Date.now() } : null;
        },
        { timeoutMs: CONVERGE_MS },
      );
      await until('the backlog copied', async () => (await mirrorStatus(mirror)).eventsCopied >= backlog + 50, {
        timeoutMs: CONVERGE_MS,
      });
      const seconds = (Date.now() - first.at) / 1000;
      const lastSync = await until('a sync that copied to end', async () => (await mirrorStatus(mirror)).catchUpEventsPerSecond, {
        timeoutMs: CONVERGE_MS,
      });
      console.log(
        `mirror catch-up: ${backlog + 50 - first.copied} events verified and stored in ${seconds.toFixed(2)} s ` +
          `(${Math.round((backlog + 50 - first.copied) / seconds)} events/s; serverInfo.mirror.catchUpEventsPerSecond ${lastSync}; ` +
          `the primary ingested the backlog at ${ingestRate} events/s in batches of 500)`,
      );
      // Live: the primary keeps taking events while the mirror follows.
      for (let i = 0; i < 10; i++) {
        await ingest(primary, i % 2 ? 'shop' : 'billing', 40);
        await ingest(primary, 'fresh', 3);
      }
      await converged(primary, mirror, CONVERGE_MS, ['shop', 'billing', 'fresh']);
      for (const app of ['shop', 'billing', 'fresh']) await expectEqual(primary, mirror, app, primaryKey);
      const info = (await data(mirror, MIRROR_STATUS)).serverInfo;
      expect(info.verifierKey).toBe(primaryKey);
      expect(info.mirror).toMatchObject({
        primaryUrl: primary.url,
        primaryReachable: true,
        eventsBehind: 0,
        logsBehind: 0,
        stoppedLogs: [],
      });
      expect(Date.parse(info.mirror.lastSyncAt)).toBeGreaterThan(started);
      expect(await metric(mirror, 'chainlog_mirror_events_copied_total')).toBe(info.mirror.eventsCopied);
      expect(await metric(mirror, 'chainlog_mirror_checkpoints_accepted_total')).toBeGreaterThan(0);
      expect(await metric(mirror, 'chainlog_mirror_events_behind')).toBe(0);
      expect(await metric(mirror, 'chainlog_mirror_last_sync_timestamp_seconds')).toBeGreaterThan(started / 1000);
    },
  );

  it('is a witness that cosigns only what its own copy verified', { timeout: 180_000 }, async () => {
    const addCheckpoint = (body: string) => fetch(`${mirror.url}/witness/add-checkpoint`, { method: 'POST', body });
    const latest = (await data(primary, '{ log(sourceAppId: "shop") { latestCheckpoint { treeSize rootHash note } } }')).log
      .latestCheckpoint;
    const ok = await addCheckpoint(`old 0\n\n${latest.note}`);
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(await ok.text()).toMatch(/^\u2014 /);
    // Signed with the primary's key (taken from its DATA_DIR) but never published: the copy has no such tree.
    const key = loadSigningKey({ dataDir: primary.dataDir });
    const { originPrefix } = (await data(primary, '{ serverInfo { originPrefix } }')).serverInfo;
    const origin = `${originPrefix}/shop`;
    // Beyond the cosigned size without a proof: refused as inconsistent with what the witness cosigned,
    // before the copy is asked.
    const forged = signCheckpoint(
      { origin, size: latest.treeSize + 1000, rootHash: new Uint8Array(32).fill(9) },
      createSigner(origin, key.privateKey),
    );
    const unproven = await addCheckpoint(`old ${latest.treeSize}\n\n${forged}`);
    expect(unproven.status).toBe(422);
    // A first checkpoint of "billing" (nothing cosigned yet) of a size the copy has not verified: the
    // witness would cosign it, the copy does not vouch for it.
    const billingOrigin = `${originPrefix}/billing`;
    const ahead = signCheckpoint(
      { origin: billingOrigin, size: 100_000, rootHash: new Uint8Array(32).fill(9) },
      createSigner(billingOrigin, key.privateKey),
    );
    const refused = await addCheckpoint(`old 0\n\n${ahead}`);
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain('has not verified size');
    // So nothing of "billing" is cosigned yet (old 0 is not answered 409): a checkpoint of a size the copy
    // verified, with another root than the copy's at that size, is what the witness alone would cosign.
    const [first] = await allCheckpoints(primary, 'billing');
    const mismatch = signCheckpoint(
      { origin: billingOrigin, size: first.treeSize, rootHash: new Uint8Array(32).fill(9) },
      createSigner(billingOrigin, key.privateKey),
    );
    const wrongRoot = await addCheckpoint(`old 0\n\n${mismatch}`);
    expect(wrongRoot.status).toBe(422);
    expect(await wrongRoot.text()).toContain(
      `this mirror's copy of the log has root ${first.rootHash} at size ${first.treeSize}, not ${'09'.repeat(32)}`,
    );
    // The checkpoint the primary published at that size is cosigned.
    const genuine = await addCheckpoint(`old 0\n\n${first.note}`);
    expect(genuine.status, await genuine.clone().text()).toBe(200);
    // Same size as one it cosigned, another root: refused as a fork.
    const fork = signCheckpoint(
      { origin, size: latest.treeSize, rootHash: new Uint8Array(32).fill(9) },
      createSigner(origin, key.privateKey),
    );
    const forkAnswer = await addCheckpoint(`old ${latest.treeSize}\n\n${fork}`);
    expect(forkAnswer.status).toBe(422);
  });

  it('refuses every write with READ_ONLY_MIRROR naming the primary', async () => {
    const input = { sourceAppId: 'shop', eventType: 'x', timestamp: new Date().toISOString(), payload: {} };
    const one = await gql(mirror, 'mutation($i: LogEventInput!) { logEvent(input: $i) { seq } }', { i: input });
    const many = await gql(mirror, 'mutation($i: [LogEventInput!]!) { logEvents(inputs: $i) { seq } }', { i: [input] });
    const publish = await gql(mirror, 'mutation { publishCheckpoints { treeSize } }');
    for (const res of [one, many, publish]) {
      expect(res.errors?.[0]?.extensions).toMatchObject({
        code: 'READ_ONLY_MIRROR',
        rule: 'readOnlyMirror',
        primary: primary.url,
      });
      expect(res.errors?.[0]?.message).toContain(primary.url);
    }
    const rest = await fetch(`${mirror.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...ADMIN },
      body: JSON.stringify(input),
    });
    expect(rest.status).toBe(403);
    const body = (await rest.json()) as { errors: Array<Record<string, unknown>> };
    expect(body.errors[0]).toMatchObject({ code: 'READ_ONLY_MIRROR', message: expect.stringContaining(primary.url) });
  });

  it('backs off while the primary is down and catches up after its restart', { timeout: 300_000 }, async () => {
    const errorsBefore = await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'unavailable' });
    await primary.proc.stop();
    await until('the mirror to see the primary down', async () => !(await mirrorStatus(mirror)).primaryReachable, {
      timeoutMs: CONVERGE_MS,
    });
    const down = await mirrorStatus(mirror);
    expect(down.lastError).toContain(primary.url);
    expect(await metric(mirror, 'chainlog_mirror_primary_up')).toBe(0);
    expect(await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'unavailable' })).toBeGreaterThan(errorsBefore);
    // Reads go on from the copy meanwhile.
    expect((await data(mirror, '{ log(sourceAppId: "shop") { size } }')).log.size).toBeGreaterThan(0);
    await primary.proc.start();
    await ingest(primary, 'shop', 120);
    await converged(primary, mirror, CONVERGE_MS, ['shop', 'billing', 'fresh']);
    await until('the mirror to see the primary up', async () => (await mirrorStatus(mirror)).primaryReachable, {
      timeoutMs: CONVERGE_MS,
    });
    await expectEqual(primary, mirror, 'shop', primaryKey);
  });

  it('resumes from its own store after its restart, without duplicates', { timeout: 300_000 }, async () => {
    await mirror.proc.stop();
    await ingest(primary, 'billing', 300);
    await ingest(primary, 'late', 5);
    await mirror.proc.start();
    await converged(primary, mirror, CONVERGE_MS, ['shop', 'billing', 'fresh', 'late']);
    // Only what it did not have is copied after the restart.
    expect((await mirrorStatus(mirror)).eventsCopied).toBe(305);
    for (const app of ['billing', 'late', 'shop']) await expectEqual(primary, mirror, app, primaryKey);
  });

  it(
    'catches a primary whose stored event changed, stops that log, keeps serving its copy and following the others',
    { timeout: 300_000 },
    async () => {
      const before = await allEvents(mirror, 'billing', 10);
      await primary.proc.stop();
      await tamperEvent(primary, 'billing', 7);
      await primary.proc.start();
      const status = await stoppedFollowing(mirror, 'billing', CONVERGE_MS);
      expect(status.stoppedLogs).toEqual([
        { sourceAppId: 'billing', reason: expect.stringMatching(/^EVENT_CHANGED: .*billing\/7/) },
      ]);
      expect(await metric(mirror, 'chainlog_mirror_inconsistencies_total', { kind: 'EVENT_CHANGED' })).toBe(1);
      expect(await metric(mirror, 'chainlog_mirror_logs_stopped')).toBe(1);
      // The error line carries the evidence: the copied event proven under the accepted note, with the primary's key.
      const report = mirrorInconsistencyReport(mirror);
      expect(report).toMatchObject({ kind: 'EVENT_CHANGED', sourceAppId: 'billing', seq: 7, primaryUrl: primary.url });
      const origin = report.origin as string;
      const accepted = openCheckpoint(report.acceptedNote, parseVerifierKey(report.verifierKey), origin);
      expect(createVerifier(origin, parseVerifierKey(primaryKey).publicKey).name).toBe(origin);
      expect(report.copied.event).toEqual(before[7]);
      verifyInclusion(
        fromHex(report.copied.event.hash),
        7,
        accepted.size,
        report.copied.proof.hashes.map(fromHex),
        accepted.rootHash,
      );
      expect(report.served.event.payload).toEqual({ forged: true });
      // Its verified copy is still served; the lag of the stopped log shows as it grows on the primary.
      expect((await allEvents(mirror, 'billing', 10))[7]).toEqual(before[7]);
      await ingest(primary, 'billing', 25);
      await ingest(primary, 'shop', 25);
      // The followed log catches up; the stopped one stays behind by what the primary added.
      const lagging = await until(
        'the lag of the stopped log alone',
        async () => {
          const s = await mirrorStatus(mirror);
          return s.eventsBehind >= 25 && s.logsBehind === 1 ? s : null;
        },
        { timeoutMs: CONVERGE_MS },
      );
      expect(lagging.logsBehind).toBe(1);
      expect(await metric(mirror, 'chainlog_mirror_events_behind')).toBeGreaterThanOrEqual(25);
      // The other logs are still followed.
      const shop = async () => (await latestSizes(primary)).shop === (await latestSizes(mirror)).shop;
      await until('"shop" to be followed still', shop, { timeoutMs: CONVERGE_MS });
    },
  );
});

/** Edit a stored event in the stopped primary's store: its payload to `{"forged":true}`, and its hash if given. */
async function tamperEvent(n: MirrorNode, app: string, seq: number, hash?: string): Promise<void> {
  const payload = '{"forged":true}';
  await editStoredEvent(
    n,
    app,
    seq,
    { set: 'payload = ?, hash = coalesce(?, hash)', params: [payload, hash ?? null] },
    { $set: { payload, ...(hash && { hash }) } },
  );
}

describe('a mirror at start', () => {
  let primary: MirrorNode;
  let primaryKey: string;
  let auditorKey: string;

  beforeAll(async () => {
    // Version 1 leaves hold their payload: a payload edited with its hash recomputed makes the signed
    // root wrong rather than the payload's commitment (the version 2 case is the first describe's).
    primary = await node('primary2', { LEAF_VERSION: '1' });
    primaryKey = (await data(primary, '{ serverInfo { verifierKey } }')).serverInfo.verifierKey;
    auditorKey = (await data(primary, 'mutation { createApiKey(role: AUDITOR) { secret } }')).createApiKey.secret;
  });

  async function failsToStart(env: Record<string, string>, expected: RegExp): Promise<void> {
    const n = await node('bad', env, false);
    await expect(n.proc.start(60_000)).rejects.toThrow(expected);
  }

  it(
    'refuses a malformed FOLLOW_VERIFIER_KEY, and one of another key than the primary signs with',
    { timeout: 180_000 },
    async () => {
      await failsToStart(
        { FOLLOW_URL: primary.url, FOLLOW_VERIFIER_KEY: 'not-a-key', FOLLOW_API_KEY: auditorKey },
        /FOLLOW_VERIFIER_KEY: must be an Ed25519 verifier key/,
      );
      const other = createVerifier('chainlog.local', new Uint8Array(32).fill(7));
      const { verifierKeyString } = await import('../../src/core/note/signed-note.js');
      await failsToStart(
        {
          FOLLOW_URL: primary.url,
          FOLLOW_VERIFIER_KEY: verifierKeyString('chainlog.local', other.publicKey),
          FOLLOW_API_KEY: auditorKey,
        },
        /FOLLOW_VERIFIER_KEY: the primary .* signs with/,
      );
    },
  );

  it('refuses a FOLLOW_API_KEY the primary does not know, or one that may not ask for proofs', { timeout: 180_000 }, async () => {
    await failsToStart(
      { FOLLOW_URL: primary.url, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: 'clk_not-a-key-of-the-primary-0123456789' },
      /FOLLOW_API_KEY: .*UNAUTHENTICATED/,
    );
    const reader = (await data(primary, 'mutation { createApiKey(role: READER) { secret } }')).createApiKey.secret;
    await failsToStart(
      { FOLLOW_URL: primary.url, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: reader },
      /FOLLOW_API_KEY: .*FORBIDDEN/,
    );
    await failsToStart({ FOLLOW_URL: primary.url }, /FOLLOW_VERIFIER_KEY: is required with FOLLOW_URL/);
  });

  it(
    'stops the logs of a primary tampered with before it copied them, and follows the others',
    { timeout: 300_000 },
    async () => {
      await ingest(primary, 'rehashed', 10);
      await ingest(primary, 'edited', 10);
      await ingest(primary, 'intact', 10);
      await until(
        'the primary to checkpoint every event',
        async () => {
          const d = await data(primary, '{ logs(first: 500) { nodes { size latestCheckpoint { treeSize } } } }');
          return d.logs.nodes.every((l: any) => l.latestCheckpoint?.treeSize === l.size);
        },
        { timeoutMs: CONVERGE_MS },
      );
      const [last] = await allEvents(primary, 'rehashed', 10).then((es) => es.slice(9));
      await primary.proc.stop();
      // The last event of "rehashed" edited with a matching hash: the events still link, the signed root no longer fits.
      const edited = { ...last, payload: { forged: true } };
      const hash = eventLeafHash({
        ...edited,
        timestamp: Date.parse(edited.timestamp),
        receivedAt: Date.parse(edited.receivedAt),
      });
      await tamperEvent(primary, 'rehashed', 9, hash);
      // A payload of "edited" changed alone: its stored hash no longer follows from its fields.
      await tamperEvent(primary, 'edited', 4);
      await primary.proc.start();
      const m = await node('tampered', { FOLLOW_URL: primary.url, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: auditorKey });
      const status = await until(
        'both logs stopped',
        async () => {
          const s = await mirrorStatus(m);
          return s.stoppedLogs.length === 2 && (await latestSizes(m)).intact === 10 ? s : null;
        },
        { timeoutMs: CONVERGE_MS },
      );
      const reasons = Object.fromEntries(status.stoppedLogs.map((l: any) => [l.sourceAppId, l.reason]));
      expect(reasons.rehashed).toMatch(/^ROOT_MISMATCH: /);
      expect(reasons.edited).toMatch(/^BAD_EVENT: .*edited\/4.*hash does not match the event fields/);
      expect(await metric(m, 'chainlog_mirror_inconsistencies_total', { kind: 'ROOT_MISMATCH' })).toBe(1);
      expect(await metric(m, 'chainlog_mirror_inconsistencies_total', { kind: 'BAD_EVENT' })).toBe(1);
      // No checkpoint was accepted for the stopped logs: nothing unverified is proven.
      const sizes = await latestSizes(m);
      expect([sizes.rehashed ?? 0, sizes.edited ?? 0]).toEqual([0, 0]);
      const report = mirrorInconsistencyReport(m, '"ROOT_MISMATCH"');
      expect(report).toMatchObject({ kind: 'ROOT_MISMATCH', sourceAppId: 'rehashed', acceptedNote: null });
      expect(report.conflictingNote).toContain('\n10\n');
      expect(report.ownRootHash).toMatch(/^[0-9a-f]{64}$/);
    },
  );

  it('starts while the primary is unreachable, says so, and keeps retrying with backoff', async () => {
    const port = await freePort();
    const absent = `http://127.0.0.1:${port}`;
    const m = await node('unreachable', { FOLLOW_URL: absent, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: auditorKey });
    const s = await mirrorStatus(m);
    expect(s).toMatchObject({ primaryUrl: absent, primaryReachable: false, lastSyncAt: null });
    expect(s.lastError).toContain('cannot be reached');
    await until(
      'a retried sync',
      async () => (await metric(m, 'chainlog_mirror_sync_errors_total', { kind: 'unavailable' })) >= 2,
      {
        timeoutMs: CONVERGE_MS,
      },
    );
  });
});
