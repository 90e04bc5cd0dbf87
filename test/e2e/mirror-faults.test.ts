// A mirror (FOLLOW_URL) whose primary goes wrong, both started as users start them (src/main.ts in a child
// process), on the suite's engine, the primary's store edited or restored behind its back while it is
// stopped: a latest checkpoint whose note does not verify under the pinned key is a failed sync (counted
// as invalid, named in serverInfo.mirror.lastError), retried with backoff and not a stop, and the mirror
// converges once the primary's note verifies again; a primary restored from an older backup (its latest
// checkpoint below the accepted one) and a primary that signed another root for the accepted size are
// HISTORY_BACKWARDS: that log is stopped, the report's notes open with the primary's key under the log's
// origin and show the conflict, and the other logs are still followed. Every wait is on a signal
// (serverInfo, /metrics, the API) with a deadline.
import { beforeAll, describe, expect, it } from 'vitest';
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
    for (const app of ['steady', 'garbled', 'rewound', 'forked']) await ingest(primary, app, 5);
    mirror = await node('mirror', { FOLLOW_URL: primary.url, FOLLOW_VERIFIER_KEY: primaryKey, FOLLOW_API_KEY: auditorKey });
    await converged(primary, mirror, WAIT_MS);
    expect(await latestSizes(mirror)).toMatchObject({ steady: 5, garbled: 5, rewound: 5, forked: 5 });
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
});
