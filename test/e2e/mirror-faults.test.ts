// A mirror (FOLLOW_URL) whose primary goes wrong, both started as users start them (src/main.ts in a child
// process), on the suite's engine, the primary's store edited or restored behind its back while it is
// stopped: a latest checkpoint whose note does not verify under the pinned key is a failed sync (counted
// as invalid, named in serverInfo.mirror.lastError), retried with backoff and not a stop, and the mirror
// converges once the primary's note verifies again; a primary restored from an older backup (its latest
// checkpoint below the accepted one) and a primary that signed another root for the accepted size are
// HISTORY_BACKWARDS: that log is stopped, the report's notes open with the primary's key under the log's
// origin and show the conflict, and the other logs are still followed; a checkpoint above the accepted one
// whose root the copied events do not give is a ROOT_MISMATCH recorded with the mirror's own root. A
// primary (behind a real HTTP proxy) that answers HTTP 500 for one log's reads: that log fails alone,
// retried with its own backoff, and the others are followed. Every wait is on a signal (serverInfo,
// /metrics, the API, the mirror's log) with a deadline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSigner,
  createVerifier,
  logVerifiers,
  openCheckpoint,
  parseVerifierKey,
  signCheckpoint,
  toHex,
  type NoteVerifier,
} from '../../src/core/index.js';
import { parseEvidence, verifyEvidence } from '../../src/core/inconsistency/evidence.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { IN_FLIGHT_BYTES } from '../support/endless-answer.js';
import { startLogFailingProxy, type LogFailingProxy, type LogRequest } from '../support/log-failing-proxy.js';
import { metric } from '../support/metrics.js';
import {
  backupStore,
  converged,
  data,
  editStoredCheckpoint,
  latestSizes,
  mirrorInconsistencyReport,
  mirrorNodes,
  mirrorStatus,
  restoreStore,
  stoppedFollowing,
  type MirrorNode,
} from '../support/mirror-nodes.js';
import { until } from '../support/wait.js';
import { ERASURES_LOG } from '../../src/log/erasure.js';
import { MAX_PRIMARY_ANSWER_BYTES } from '../../src/mirror/primary-client.js';

const WAIT_MS = 120_000;
const { node } = mirrorNodes('mirror-faults');

let counter = 0;
async function ingest(n: MirrorNode, app: string, count: number): Promise<void> {
  const inputs = Array.from({ length: count }, () => ({
    sourceAppId: app,
    eventType: 'order.placed',
    timestamp: new Date().toISOString(),
    payload: { n: counter++ },
  }));
  await data(n, 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }', { inputs });
}

/** A log's size and latest checkpoint on a node. */
async function logOf(n: MirrorNode, app: string): Promise<{ size: number; latestCheckpoint: any }> {
  const q = 'query($app: String!) { log(sourceAppId: $app) { size latestCheckpoint { treeSize rootHash note } } }';
  return (await data(n, q, { app })).log;
}

/** The note of the node's checkpoint of `app` at `treeSize`. */
async function noteAt(n: MirrorNode, app: string, treeSize: number): Promise<string> {
  const q = 'query($app: String!, $size: SafeInt) { checkpoint(sourceAppId: $app, treeSize: $size) { note } }';
  return (await data(n, q, { app, size: treeSize })).checkpoint.note;
}

/** The inconsistency the mirror recorded for `app`, once it is recorded. */
async function recorded(mirror: MirrorNode, app: string) {
  return until(`the inconsistency of "${app}" to be recorded`, async () => {
    const d = await data(
      mirror,
      'query($app: String!) { inconsistencies(filter: { sourceAppId: $app }) { nodes { kind detectedBy source evidence } } }',
      { app },
    );
    return d.inconsistencies.nodes[0] ?? null;
  });
}

describe('a mirror whose primary goes wrong', () => {
  let primary: MirrorNode;
  let mirror: MirrorNode;
  let primaryKey: string;
  let originPrefix: string;
  /** The verifiers of a log's checkpoints an auditor builds offline from the primary's key and the log's origin. */
  const verifiersOf = (origin: string): NoteVerifier[] =>
    logVerifiers(createVerifier(origin, parseVerifierKey(primaryKey).publicKey), origin);

  beforeAll(async () => {
    primary = await node('primary');
    const info = (await data(primary, '{ serverInfo { verifierKey originPrefix } }')).serverInfo;
    primaryKey = info.verifierKey;
    originPrefix = info.originPrefix;
    const auditorKey = (await data(primary, 'mutation { createApiKey(role: AUDITOR, name: "mirror") { secret } }')).createApiKey
      .secret;
    for (const app of ['steady', 'garbled', 'rewound', 'forked', 'reforged']) await ingest(primary, app, 5);
    mirror = await node('mirror', { FOLLOW_URL: primary.url, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: auditorKey });
    await converged(primary, mirror, WAIT_MS);
    expect(await latestSizes(mirror)).toMatchObject({ steady: 5, garbled: 5, rewound: 5, forked: 5, reforged: 5 });
  });

  it(
    'retries a checkpoint whose note does not verify, without stopping its log, and converges once it verifies again',
    { timeout: 300_000 },
    async () => {
      // A checkpoint the mirror has not accepted yet: published while the mirror is down.
      await mirror.proc.stop();
      await ingest(primary, 'garbled', 3);
      const good = await until('the primary to checkpoint "garbled" at 8', async () => {
        const log = await logOf(primary, 'garbled');
        return log.latestCheckpoint?.treeSize === 8 ? log.latestCheckpoint : null;
      });
      await primary.proc.stop();
      // Its root line changed, its signature left as it was.
      const lines = (good.note as string).split('\n');
      lines[2] = Buffer.alloc(32, 7).toString('base64');
      const garbled = lines.join('\n');
      await editStoredCheckpoint(primary, 'garbled', 8, { note: garbled });
      await primary.proc.start();
      // Its events are all under that checkpoint: it stays the latest, as stored.
      expect((await logOf(primary, 'garbled')).latestCheckpoint).toMatchObject({ treeSize: 8, note: garbled });
      await mirror.proc.start();
      const failing = await until(
        'the sync to fail on the note, and be retried',
        async () => {
          const s = await mirrorStatus(mirror);
          const invalid = await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'invalid' });
          return invalid >= 2 && /"garbled".*size 8 does not verify/.test(s.lastError ?? '') ? s : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(failing.lastError).toMatch(/^log "garbled": the primary's checkpoint of size 8 does not verify: /);
      // A failed sync, not an inconsistency: the log is not stopped, and nothing unverified is accepted.
      expect(failing.stoppedLogs).toEqual([]);
      expect(await metric(mirror, 'chainlog_mirror_inconsistencies_total')).toBe(0);
      expect(await metric(mirror, 'chainlog_mirror_logs_stopped')).toBe(0);
      expect((await latestSizes(mirror)).garbled).toBe(5);
      // One log's answer failing holds up no other log: "steady", after "garbled" in the primary's order, is followed.
      await ingest(primary, 'steady', 2);
      await converged(primary, mirror, WAIT_MS, ['steady']);
      expect((await mirrorStatus(mirror)).lastError).toMatch(/^log "garbled": /);
      // The primary's answer good again: the same mirror, still retrying, converges.
      await primary.proc.stop();
      await editStoredCheckpoint(primary, 'garbled', 8, { note: good.note });
      await primary.proc.start();
      await ingest(primary, 'garbled', 2);
      await ingest(primary, 'steady', 2);
      await converged(primary, mirror, WAIT_MS);
      expect(await latestSizes(mirror)).toMatchObject({ steady: 9, garbled: 10 });
      expect(await noteAt(mirror, 'garbled', 8)).toBe(good.note);
      const status = await until('a sync to succeed', async () => {
        const s = await mirrorStatus(mirror);
        return s.lastError === null && s.primaryReachable ? s : null;
      });
      expect(status.stoppedLogs).toEqual([]);
    },
  );

  it(
    'stops a log whose primary went back below the accepted checkpoint, with evidence checkable offline, and follows the others',
    { timeout: 300_000 },
    async () => {
      // A backup of the primary with "rewound" at 5, taken before the log grows.
      await primary.proc.stop();
      const backup = await backupStore(primary);
      await primary.proc.start();
      await ingest(primary, 'rewound', 5);
      await converged(primary, mirror, WAIT_MS);
      expect((await latestSizes(mirror)).rewound).toBe(10);
      const accepted = (await logOf(mirror, 'rewound')).latestCheckpoint.note as string;
      const before = await metric(mirror, 'chainlog_mirror_inconsistencies_total', { kind: 'HISTORY_BACKWARDS' });
      // The primary restored from the backup: every event it holds is under its latest checkpoint, so it
      // publishes nothing new, and "rewound"'s latest checkpoint is 5 again.
      await primary.proc.stop();
      await restoreStore(primary, backup);
      await primary.proc.start();
      expect(await logOf(primary, 'rewound')).toMatchObject({ size: 5, latestCheckpoint: { treeSize: 5 } });

      const status = await stoppedFollowing(mirror, 'rewound', WAIT_MS);
      expect(status.stoppedLogs).toEqual([
        {
          sourceAppId: 'rewound',
          reason: "HISTORY_BACKWARDS: the primary's latest checkpoint has size 5, below the accepted 10",
        },
      ]);
      expect(await metric(mirror, 'chainlog_mirror_inconsistencies_total', { kind: 'HISTORY_BACKWARDS' })).toBe(before + 1);
      expect(await metric(mirror, 'chainlog_mirror_logs_stopped')).toBe(1);

      // The evidence: both notes open with the primary's key under the log's origin, the later one smaller.
      const origin = `${originPrefix}/rewound`;
      const report = mirrorInconsistencyReport(mirror, '"sourceAppId":"rewound"');
      expect(report).toMatchObject({ kind: 'HISTORY_BACKWARDS', sourceAppId: 'rewound', origin, primaryUrl: primary.url });
      expect(report.acceptedNote).toBe(accepted);
      expect(parseVerifierKey(report.verifierKey).publicKey).toEqual(parseVerifierKey(primaryKey).publicKey);
      const was = openCheckpoint(report.acceptedNote, verifiersOf(origin), origin);
      const now = openCheckpoint(report.conflictingNote, verifiersOf(origin), origin);
      expect([was.size, now.size]).toEqual([10, 5]);
      // The smaller note is one the mirror accepted before: the primary went back, nothing proves a fork.
      expect(report.conflictingNote).toBe(await noteAt(mirror, 'rewound', 5));
      const found = await recorded(mirror, 'rewound');
      expect(found).toMatchObject({ kind: 'UNPROVEN', detectedBy: 'MIRROR', source: primary.url });
      expect(parseEvidence(found.evidence)).toMatchObject({
        kind: 'unproven',
        observation: 'history-backwards',
        notes: [accepted, report.conflictingNote],
      });

      // The mirror keeps serving its verified copy, and follows the other logs.
      expect((await latestSizes(mirror)).rewound).toBe(10);
      await ingest(primary, 'steady', 3);
      await ingest(primary, 'forked', 3);
      await converged(primary, mirror, WAIT_MS, ['steady', 'garbled', 'forked']);
      expect(await latestSizes(mirror)).toMatchObject({ steady: 12, forked: 8, rewound: 10 });
    },
  );

  it(
    'stops a log whose primary signed another root for the accepted size, with evidence checkable offline, and follows the others',
    { timeout: 300_000 },
    async () => {
      const origin = `${originPrefix}/forked`;
      const accepted = (await logOf(mirror, 'forked')).latestCheckpoint;
      expect(accepted.treeSize).toBe(8);
      expect((await logOf(primary, 'forked')).latestCheckpoint.note).toBe(accepted.note);
      const before = await metric(mirror, 'chainlog_mirror_inconsistencies_total', { kind: 'HISTORY_BACKWARDS' });
      // The primary's latest checkpoint replaced by one of the same size with another root, signed with its key.
      await primary.proc.stop();
      const key = loadSigningKey({ dataDir: primary.dataDir });
      const otherRoot = new Uint8Array(32).fill(7);
      const forged = signCheckpoint({ origin, size: 8, rootHash: otherRoot }, createSigner(origin, key.privateKey));
      await editStoredCheckpoint(primary, 'forked', 8, { note: forged, rootHash: toHex(otherRoot) });
      await primary.proc.start();
      expect((await logOf(primary, 'forked')).latestCheckpoint).toMatchObject({ treeSize: 8, note: forged });

      const status = await stoppedFollowing(mirror, 'forked', WAIT_MS);
      expect(status.stoppedLogs).toContainEqual({
        sourceAppId: 'forked',
        reason: 'HISTORY_BACKWARDS: the primary signed two roots for size 8',
      });
      expect(status.stoppedLogs).toHaveLength(2);
      expect(await metric(mirror, 'chainlog_mirror_inconsistencies_total', { kind: 'HISTORY_BACKWARDS' })).toBe(before + 1);
      expect(await metric(mirror, 'chainlog_mirror_logs_stopped')).toBe(2);

      // The evidence: both notes open with the primary's key under the log's origin, one size, two roots.
      const report = mirrorInconsistencyReport(mirror, '"sourceAppId":"forked"');
      expect(report).toMatchObject({
        kind: 'HISTORY_BACKWARDS',
        sourceAppId: 'forked',
        origin,
        primaryUrl: primary.url,
        acceptedNote: accepted.note,
        conflictingNote: forged,
      });
      const was = openCheckpoint(report.acceptedNote, verifiersOf(origin), origin);
      const now = openCheckpoint(report.conflictingNote, verifiersOf(origin), origin);
      expect([was.size, now.size]).toEqual([8, 8]);
      expect(toHex(was.rootHash)).toBe(accepted.rootHash);
      expect(toHex(now.rootHash)).toBe(toHex(otherRoot));
      // Recorded as a proven fork, which anyone holding the primary's key can verify.
      const found = await recorded(mirror, 'forked');
      expect(found).toMatchObject({ kind: 'SAME_SIZE_DIFFERENT_ROOTS', detectedBy: 'MIRROR', source: primary.url });
      expect(verifyEvidence(found.evidence, parseVerifierKey(primaryKey))).toMatchObject({
        proves: true,
        kind: 'same-size-different-roots',
        origin,
      });

      // The mirror keeps serving its verified copy, and follows the other logs, also once the stopped
      // log's note on the primary no longer verifies (a stopped log's answer fails no sync).
      expect((await latestSizes(mirror)).forked).toBe(8);
      await primary.proc.stop();
      const lines = forged.split('\n');
      lines[2] = Buffer.alloc(32, 5).toString('base64');
      await editStoredCheckpoint(primary, 'forked', 8, { note: lines.join('\n') });
      await primary.proc.start();
      const invalid = await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'invalid' });
      await ingest(primary, 'steady', 3);
      await ingest(primary, 'garbled', 3);
      await converged(primary, mirror, WAIT_MS, ['steady', 'garbled']);
      expect(await latestSizes(mirror)).toMatchObject({ steady: 15, garbled: 13 });
      expect(await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'invalid' })).toBe(invalid);
      expect((await mirrorStatus(mirror)).lastError).toBeNull();
    },
  );

  it(
    'stops a log whose checkpoint above the accepted one signs a root its copy does not give, recorded with its own root',
    { timeout: 300_000 },
    async () => {
      const origin = `${originPrefix}/reforged`;
      expect((await latestSizes(mirror)).reforged).toBe(5);
      // A checkpoint the mirror has not accepted yet (published while it is down), replaced by one of the
      // same size with another root, signed with the primary's key: the events served for it give the
      // genuine root.
      await mirror.proc.stop();
      await ingest(primary, 'reforged', 3);
      const genuine = await until('the primary to checkpoint "reforged" at 8', async () => {
        const log = await logOf(primary, 'reforged');
        return log.latestCheckpoint?.treeSize === 8 ? log.latestCheckpoint : null;
      });
      await primary.proc.stop();
      const key = loadSigningKey({ dataDir: primary.dataDir });
      const otherRoot = new Uint8Array(32).fill(9);
      const forged = signCheckpoint({ origin, size: 8, rootHash: otherRoot }, createSigner(origin, key.privateKey));
      await editStoredCheckpoint(primary, 'reforged', 8, { note: forged, rootHash: toHex(otherRoot) });
      await primary.proc.start();
      await mirror.proc.start();

      const status = await stoppedFollowing(mirror, 'reforged', WAIT_MS);
      // The latest checkpoint accepted below 8 (5, or one the primary published on the way).
      const accepted = (await logOf(mirror, 'reforged')).latestCheckpoint;
      expect(accepted.treeSize).toBeGreaterThanOrEqual(5);
      expect(accepted.treeSize).toBeLessThan(8);
      const message = `the checkpoint of size 8 signs root ${toHex(otherRoot)}, the events served for it give ${genuine.rootHash}`;
      expect(status.stoppedLogs).toContainEqual({ sourceAppId: 'reforged', reason: `ROOT_MISMATCH: ${message}` });
      expect(await metric(mirror, 'chainlog_mirror_inconsistencies_total', { kind: 'ROOT_MISMATCH' })).toBe(1);
      // The report: the accepted note, the note of another size its copy contradicts, and its own root at 8.
      const report = mirrorInconsistencyReport(mirror, '"sourceAppId":"reforged"');
      expect(report).toMatchObject({
        kind: 'ROOT_MISMATCH',
        origin,
        acceptedNote: accepted.note,
        conflictingNote: forged,
        ownRootHash: genuine.rootHash,
        message,
      });
      // Recorded as what the mirror saw: not a consistency proof it could not get between notes of two sizes.
      const found = await recorded(mirror, 'reforged');
      expect(found).toMatchObject({ kind: 'UNPROVEN', detectedBy: 'MIRROR', source: primary.url });
      expect(parseEvidence(found.evidence)).toMatchObject({
        kind: 'unproven',
        origin,
        observation: 'root-mismatch',
        notes: [accepted.note, forged],
        detail: `mirror of ${primary.url}: ROOT_MISMATCH: ${message}`,
      });
    },
  );
});

/** The mirror's log lines that say `app` started failing (its later failures in a row are logged at debug level). */
function startedFailing(mirror: MirrorNode, app: string): string[] {
  return mirror.proc
    .output()
    .split('\n')
    .filter((l) => l.includes('syncing a log failed') && l.includes(`"sourceAppId":"${app}"`));
}

describe("a mirror whose primary fails one log's reads", () => {
  let primary: MirrorNode;
  let mirror: MirrorNode;
  let proxy: LogFailingProxy;

  beforeAll(async () => {
    primary = await node('primary500');
    proxy = await startLogFailingProxy(primary.url);
    const primaryKey = (await data(primary, '{ serverInfo { verifierKey } }')).serverInfo.verifierKey;
    const auditorKey = (await data(primary, 'mutation { createApiKey(role: AUDITOR, name: "mirror") { secret } }')).createApiKey
      .secret;
    // "broken" comes first in the primary's order: a failure that failed the pass would hold up "intact".
    for (const app of ['broken', 'intact']) await ingest(primary, app, 5);
    mirror = await node('mirror500', { FOLLOW_URL: proxy.url, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: auditorKey });
    await converged(primary, mirror, WAIT_MS);
    expect(await latestSizes(mirror)).toMatchObject({ broken: 5, intact: 5 });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  /** Waits for the mirror to accept `app`'s checkpoint of `size`. */
  const accepts = (app: string, size: number) =>
    until(`the mirror to accept "${app}" at ${size}`, async () => (await latestSizes(mirror))[app] === size, {
      timeoutMs: WAIT_MS,
    });

  it(
    'follows the other logs while the primary fails one log with HTTP 500, reports that log failing, and converges it once the primary answers',
    { timeout: 300_000 },
    async () => {
      const unavailable = await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'unavailable' });
      proxy.failing.add('broken');
      await ingest(primary, 'broken', 3);
      await ingest(primary, 'intact', 2);
      // "intact", after "broken" in the primary's order, is followed.
      await accepts('intact', 7);
      const failing = await until(
        'the sync of "broken" to fail, be logged, and be retried',
        async () => {
          const s = await mirrorStatus(mirror);
          const failures = (await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'unavailable' })) - unavailable;
          return failures >= 3 && /^log "broken": /.test(s.lastError ?? '') && startedFailing(mirror, 'broken').length > 0
            ? s
            : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(failing.lastError).toBe(`log "broken": primary ${proxy.url} answered HTTP 500 without JSON`);
      // The primary answers: a failure of one log, not of the primary, and not an inconsistency.
      expect(failing.primaryReachable).toBe(true);
      expect(failing.stoppedLogs).toEqual([]);
      expect(await metric(mirror, 'chainlog_mirror_inconsistencies_total')).toBe(0);
      // A warning when it starts failing; retried with its own growing backoff, not anew at every pass.
      expect(startedFailing(mirror, 'broken')).toHaveLength(1);
      expect(JSON.parse(startedFailing(mirror, 'broken')[0]!)).toMatchObject({ level: 40, err: failing.lastError });
      // "broken" is shown behind.
      const behind = await until('"broken" alone to be shown behind, by its 3 new events', async () => {
        const s = await mirrorStatus(mirror);
        return s.logsBehind === 1 && s.eventsBehind === 3 ? s : null;
      });
      expect(behind).toMatchObject({ primaryReachable: true, lastError: failing.lastError });
      expect((await latestSizes(mirror)).broken).toBe(5);

      // The primary answers for "broken" again: the same mirror, still retrying, converges.
      proxy.failing.delete('broken');
      await ingest(primary, 'broken', 2);
      await ingest(primary, 'intact', 2);
      await converged(primary, mirror, WAIT_MS);
      expect(await latestSizes(mirror)).toMatchObject({ broken: 10, intact: 9 });
      const status = await until('a sync with no log failing', async () => {
        const s = await mirrorStatus(mirror);
        return s.lastError === null && s.primaryReachable ? s : null;
      });
      expect(status.stoppedLogs).toEqual([]);
    },
  );

  it(
    "follows the other logs while the re-check of one log's copy fails, and re-checks it once the primary answers",
    { timeout: 300_000 },
    async () => {
      const started = startedFailing(mirror, 'broken').length;
      const unavailable = await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'unavailable' });
      // Nothing new in "broken": only the re-check of its copy (at most once a second, log after log) reads it.
      proxy.failing.add('broken');
      const failing = await until(
        'the re-check of "broken" to fail, be logged, and be retried',
        async () => {
          const s = await mirrorStatus(mirror);
          const failures = (await metric(mirror, 'chainlog_mirror_sync_errors_total', { kind: 'unavailable' })) - unavailable;
          return failures >= 3 && /^log "broken": /.test(s.lastError ?? '') && startedFailing(mirror, 'broken').length > started
            ? s
            : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(failing).toMatchObject({
        lastError: `log "broken": primary ${proxy.url} answered HTTP 500 without JSON`,
        primaryReachable: true,
        stoppedLogs: [],
      });
      expect(startedFailing(mirror, 'broken')).toHaveLength(started + 1);
      await ingest(primary, 'intact', 2);
      await accepts('intact', 11);
      expect(await mirrorStatus(mirror)).toMatchObject({ lastError: failing.lastError, primaryReachable: true });

      // The primary answers for "broken" again: its page is re-checked at its retry, and nothing fails.
      proxy.failing.delete('broken');
      const status = await until(
        'a sync with no log failing',
        async () => {
          const s = await mirrorStatus(mirror);
          return s.lastError === null && s.primaryReachable ? s : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(status.stoppedLogs).toEqual([]);
      expect(await latestSizes(mirror)).toMatchObject({ broken: 10, intact: 11 });
    },
  );

  it(
    'goes on re-checking a log after the page that failed, once its retry has read that page, not from its start',
    { timeout: 300_000 },
    async () => {
      for (let i = 0; i < 3; i++) await ingest(primary, 'long', 700);
      await converged(primary, mirror, WAIT_MS);
      // The re-check reads "long" a page of 1,000 events at a time: its page at 1,000 fails until told.
      const recheckOf = (r: LogRequest) => (r.app === 'long' && typeof r.variables.start === 'number' ? r.variables.start : null);
      const pagesRead = () => proxy.passed.map(recheckOf).filter((start) => start !== null);
      proxy.failWhen = (r) => recheckOf(r) === 1000;
      await until(
        'the re-check of "long" to fail at its second page',
        async () => /^log "long": /.test((await mirrorStatus(mirror)).lastError ?? ''),
        { timeoutMs: WAIT_MS },
      );
      const before = pagesRead().length;
      proxy.failWhen = null;
      // The retry re-reads the page at 1,000; the sweep, when it comes back to "long", reads on from 2,000.
      const after = await until(
        'the re-check of "long" to go on after its retried page',
        () => {
          const read = pagesRead().slice(before);
          return read.includes(2000) ? read : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(after.slice(0, after.indexOf(2000) + 1)).toEqual([1000, 2000]);
      await until('a sync with no log failing', async () => (await mirrorStatus(mirror)).lastError === null, {
        timeoutMs: WAIT_MS,
      });
      expect((await mirrorStatus(mirror)).stoppedLogs).toEqual([]);
    },
  );

  it(
    'goes on re-checking a log where it was when the log started failing, once the log is followed again',
    { timeout: 300_000 },
    async () => {
      const recheckOf = (r: LogRequest) => (r.app === 'long' && typeof r.variables.start === 'number' ? r.variables.start : null);
      const pagesRead = () => proxy.passed.map(recheckOf).filter((start) => start !== null);
      // Once the re-check has read the first page of "long", every read of that log fails: its sync of a
      // new event fails at the next pass, and the re-check passes over it, partway through, to the next log.
      const seen = pagesRead().length;
      await until('the re-check to read the first page of "long"', () => pagesRead().slice(seen).includes(0), {
        timeoutMs: WAIT_MS,
        intervalMs: 5,
      });
      proxy.failing.add('long');
      const failingFrom = proxy.passed.length;
      // A new event for the sync to copy (a log with nothing new is not read at all by its sync).
      await ingest(primary, 'long', 1);
      await until('"long" to fail', async () => /^log "long": /.test((await mirrorStatus(mirror)).lastError ?? ''), {
        timeoutMs: WAIT_MS,
      });
      // The re-check goes on with another log meanwhile (nothing else reads pages here).
      await until(
        'the re-check to read another log',
        () => proxy.passed.slice(failingFrom).some((r) => r.app !== 'long' && typeof r.variables.start === 'number'),
        { timeoutMs: WAIT_MS },
      );
      const before = pagesRead().length;
      proxy.failing.delete('long');
      // Its sync copies the new event (a read from 2,100); the re-check reads pages below that.
      const next = await until(
        'the re-check to come back to "long"',
        () => {
          const rechecked = pagesRead()
            .slice(before)
            .filter((start) => start < 2100);
          return rechecked.length > 0 ? { from: rechecked[0] } : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(next.from).toBe(1000);
      await until('a sync with no log failing', async () => (await mirrorStatus(mirror)).lastError === null, {
        timeoutMs: WAIT_MS,
      });
    },
  );

  it(
    'fails the whole pass while the primary fails its erasures log, whose records apply to every log, and recovers once it answers',
    { timeout: 300_000 },
    async () => {
      const erase = (id: string) =>
        data(primary, 'mutation($id: ID!) { eraseEvents(input: { reason: "test", ids: [$id] }) { erased } }', { id });
      await erase('intact/0');
      await converged(primary, mirror, WAIT_MS);
      proxy.failing.add(ERASURES_LOG);
      // The erasures log grows: the mirror reads it, and the primary fails that read.
      await erase('intact/1');
      const failing = await until(
        'the pass to fail on the erasures log',
        async () => {
          const s = await mirrorStatus(mirror);
          return !s.primaryReachable && s.lastError !== null ? s : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(failing.lastError).toBe(`primary ${proxy.url} answered HTTP 500 without JSON`);
      expect(startedFailing(mirror, ERASURES_LOG)).toEqual([]);

      proxy.failing.delete(ERASURES_LOG);
      await converged(primary, mirror, WAIT_MS);
      const status = await until(
        'a sync with no failure',
        async () => {
          const s = await mirrorStatus(mirror);
          return s.lastError === null && s.primaryReachable ? s : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(status.stoppedLogs).toEqual([]);
    },
  );

  it(
    'stops reading a primary answer longer than its bound, retries that log, and converges once the primary answers',
    { timeout: 300_000 },
    async () => {
      await converged(primary, mirror, WAIT_MS);
      proxy.endless.add('broken');
      await ingest(primary, 'broken', 2);
      const failing = await until(
        'the sync of "broken" to fail on the endless answer, twice',
        async () => {
          const s = await mirrorStatus(mirror);
          return proxy.endlessSent.length >= 2 && /^log "broken": .*longer than/.test(s.lastError ?? '') ? s : null;
        },
        { timeoutMs: WAIT_MS },
      );
      expect(failing.lastError).toBe(
        `log "broken": primary ${proxy.url} answered HTTP 200: answer longer than ${MAX_PRIMARY_ANSWER_BYTES} bytes`,
      );
      expect(failing).toMatchObject({ primaryReachable: true, stoppedLogs: [] });
      // Each answer was cut off at the bound (what the sockets' buffers hold besides), not read on.
      for (const { bytes } of proxy.endlessSent.slice(0, -1))
        expect(bytes).toBeLessThan(MAX_PRIMARY_ANSWER_BYTES + IN_FLIGHT_BYTES);

      proxy.endless.delete('broken');
      await converged(primary, mirror, WAIT_MS);
      await until('a sync with no log failing', async () => (await mirrorStatus(mirror)).lastError === null, {
        timeoutMs: WAIT_MS,
      });
    },
  );
});
