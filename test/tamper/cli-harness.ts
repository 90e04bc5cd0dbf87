// Shared by the auditor CLI tamper campaigns: the CLI as a child process, REST appends, checkpoint waits.
import { execFile } from 'node:child_process';
import { expect } from 'vitest';
import type { AuditReport } from '../../src/auditor/audit.js';
import type { FindingKind } from '../../src/auditor/findings.js';
import type { CliService } from '../support/cli-service.js';
import { REPO_ROOT } from '../support/service-process.js';
import { until } from '../support/wait.js';

export const APP = 'shop';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function verify(service: CliService, statePath: string, extra: string[]): Promise<Run> {
  const args = ['--url', service.url, '--app', APP, '--key', service.verifierKey, '--state', statePath, '--json', ...extra];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/verify.ts', ...args],
      { cwd: REPO_ROOT, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function gql<T>(service: CliService, query: string): Promise<T> {
  const res = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return ((await res.json()) as { data: T }).data;
}

let clock = Date.UTC(2026, 0, 1);
export async function append(service: CliService, n: number): Promise<void> {
  const body = Array.from({ length: n }, () => {
    clock += 7;
    return {
      sourceAppId: APP,
      eventType: 'order.created',
      timestamp: new Date(clock).toISOString(),
      payload: { n: clock % 1000, note: 'é ✓' },
    };
  });
  const res = await fetch(`${service.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(201);
}

/** Waits for the periodic checkpoint (every 200 ms) to reach `size`. */
export async function checkpointAt(service: CliService, size: number): Promise<void> {
  await until(
    `a checkpoint of size ${size}`,
    async () => {
      const { log } = await gql<{ log: { latestCheckpoint: { treeSize: number } | null } | null }>(
        service,
        `{ log(sourceAppId: "${APP}") { latestCheckpoint { treeSize } } }`,
      );
      return log?.latestCheckpoint?.treeSize === size;
    },
    { timeoutMs: 15_000, intervalMs: 50 },
  );
}

/** What one CLI run must report. `refused`: found because the server answered a proof query with an error. */
export interface Expect {
  firstBadSeq: number;
  kinds: FindingKind[];
  refused?: boolean;
  /** The position named is that of the proofs that carry a bad tree node, not of the node's leaves. */
  proofPosition?: boolean;
}

/** Each case runs the CLI in these two ways (see cli.test.ts). */
export const MODES = { default: [] as string[], fine: ['--page-size', '1', '--spot-checks', '64'] } as const;
export type Mode = keyof typeof MODES;

export const exact = (seq: number, ...kinds: FindingKind[]): Expect => ({ firstBadSeq: seq, kinds });

/** Asserts exit 1 and parses the --json report. */
export function parseReport(run: Run): AuditReport {
  expect(run.code, run.stdout + run.stderr).toBe(1);
  return JSON.parse(run.stdout) as AuditReport;
}

/** One run must fail with the expected first bad position and kinds, not pointing past the tampered position `at`. */
export function expectDetected(run: Run, want: Expect, at: number, label: string): void {
  const report = parseReport(run);
  expect(report, `${label}: ${run.stdout}`).toMatchObject({ ok: false, firstBadSeq: want.firstBadSeq, stateUpdated: false });
  const kinds = report.findings.map((f) => f.kind);
  for (const k of want.kinds) expect(kinds, `${label}: ${run.stdout}`).toContain(k);
  // An event tamper is never named later than its position; a tree node is named by the positions whose
  // proofs carry it (its sibling subtree), which may lie after its own leaves.
  if (!want.proofPosition) expect(report.firstBadSeq!).toBeLessThanOrEqual(at);
  if (want.refused)
    expect(
      report.findings.every((f) => f.kind === 'PROOF_UNAVAILABLE'),
      `${label}: ${run.stdout}`,
    ).toBe(true);
}

/** What the CLI must report of one tamper, in each mode. */
export interface CliCase {
  default: Expect;
  fine: Expect;
  /** Arguments of the "default" run where the default audit would be random (its spot checks). */
  defaultArgs?: string[];
}

/**
 * What the CLI sees of the tampers of sqlite-tampers.ts, by name (cli.test.ts explains the page-granular
 * positions); cli-mongodb.test.ts expects the same of the same cases on MongoDB, but for the few it overrides.
 * The tampers of the checkpoint at 32 have no entry: the CLI audits the latest checkpoint only.
 */
export const CLI_CASES: Record<string, CliCase> = {
  // Leaf version 2 (the default): the leaf holds the payload's commitment, so an edited payload no
  // longer matches it while the leaf, its link and its proofs stay intact.
  'edit a payload': {
    default: exact(17, 'PAYLOAD_MISMATCH'),
    fine: exact(17, 'PAYLOAD_MISMATCH'),
  },
  'edit a timestamp': { default: exact(30, 'LEAF_HASH_MISMATCH'), fine: exact(30, 'LEAF_HASH_MISMATCH') },
  'edit an event type': { default: exact(3, 'LEAF_HASH_MISMATCH'), fine: exact(3, 'LEAF_HASH_MISMATCH') },
  'edit a stored hash': { default: exact(40, 'LEAF_HASH_MISMATCH'), fine: exact(40, 'LEAF_HASH_MISMATCH') },
  're-link an event (edit its prevHash)': {
    default: exact(9, 'BROKEN_LINK', 'LEAF_HASH_MISMATCH'),
    fine: exact(9, 'BROKEN_LINK', 'LEAF_HASH_MISMATCH'),
  },
  // The server refuses the range ("events 0..63 are not all stored", NOT_FOUND); the CLI halves the page
  // down to the first position it cannot prove.
  'delete an event': {
    default: { firstBadSeq: 22, kinds: ['PROOF_UNAVAILABLE'], refused: true },
    fine: { firstBadSeq: 22, kinds: ['PROOF_UNAVAILABLE'], refused: true },
  },
  // NOT_FOUND for the whole-log page; for [60, 61) the prover misses leaf 61 (INTERNAL_SERVER_ERROR).
  'delete the newest events': {
    default: { firstBadSeq: 60, kinds: ['PROOF_UNAVAILABLE'], refused: true },
    fine: { firstBadSeq: 60, kinds: ['PROOF_UNAVAILABLE'], refused: true },
  },
  // Neither the recomputed nor the served leaves fold into the signed root; halving the page (or one-event
  // pages) stops at 24: the proof of [24, 25) already carries the forged leaf 25 (level-0 nodes are stored hashes).
  'insert an event (shifting the later ones)': {
    default: exact(24, 'BAD_RANGE_PROOF', 'BROKEN_LINK'),
    fine: exact(24, 'BAD_RANGE_PROOF', 'BAD_INCLUSION_PROOF'),
  },
  'swap the contents of two events': { default: exact(12, 'LEAF_HASH_MISMATCH'), fine: exact(12, 'LEAF_HASH_MISMATCH') },
  'reorder two events (swap their positions)': {
    default: exact(32, 'BAD_RANGE_PROOF', 'BROKEN_LINK'),
    fine: exact(32, 'BAD_RANGE_PROOF', 'BROKEN_LINK'),
  },
  // The whole-log page needs no inner node; only the fine audit, whose proofs of 16..19 carry it, sees it (the
  // default audit's 3 random spot checks see it only if one lands on 16..19, so it runs with every spot check
  // here; cli.test.ts keeps the random case as a known gap).
  // The pages' stored nodes name the node by its sibling subtree (16..19), as its inclusion proofs do.
  'alter a tree node (level 2, index 5: leaves 20..23)': {
    default: { ...exact(16, 'BAD_TREE_NODE', 'BAD_INCLUSION_PROOF'), proofPosition: true },
    fine: { ...exact(16, 'BAD_TREE_NODE', 'BAD_RANGE_PROOF', 'BAD_INCLUSION_PROOF'), proofPosition: true },
    defaultArgs: ['--spot-checks', '64'],
  },
  // Node (3, 6) covers 48..55; the proofs that need it are those of 56..63, which the service then refuses;
  // the page that completes it serves it as not stored.
  'delete a tree node': {
    default: { ...exact(56, 'BAD_TREE_NODE', 'PROOF_UNAVAILABLE'), proofPosition: true },
    fine: { ...exact(56, 'BAD_TREE_NODE', 'PROOF_UNAVAILABLE'), proofPosition: true },
    defaultArgs: ['--spot-checks', '64'],
  },
  // Node (1, 9) covers 18..19, carried by the proofs of 16..17. The fine audit stops at the page of 16, which
  // the service refuses, before the page of 19 that completes the node.
  'store a tree node as text': {
    default: { ...exact(16, 'BAD_TREE_NODE', 'PROOF_UNAVAILABLE'), proofPosition: true },
    fine: { ...exact(16, 'PROOF_UNAVAILABLE'), refused: true, proofPosition: true },
    defaultArgs: ['--spot-checks', '64'],
  },
  "alter the latest checkpoint's root column": { default: exact(64, 'BAD_CHECKPOINT'), fine: exact(64, 'BAD_CHECKPOINT') },
  // The finding names the size the forged note claims.
  "alter the latest checkpoint's signed note": { default: exact(63, 'BAD_SIGNATURE'), fine: exact(63, 'BAD_SIGNATURE') },
};

/**
 * Runs the CLI in both modes, each on a fresh state file under `statePrefix`, against a tampered service and
 * asserts that each finds the tamper (at or before position `at`, see expectDetected).
 */
export async function expectBothModesDetect(service: CliService, statePrefix: string, want: CliCase, at: number): Promise<void> {
  const [def, fine] = await Promise.all([
    verify(service, `${statePrefix}-default.json`, want.defaultArgs ?? [...MODES.default]),
    verify(service, `${statePrefix}-fine.json`, [...MODES.fine]),
  ]);
  expectDetected(def, want.default, at, 'default');
  expectDetected(fine, want.fine, at, 'fine');
}

/** Builds the campaign's log: 64 events, checkpoints at 32 and 64, and checks the CLI passes it in both modes. */
export async function buildLog(service: CliService, statePrefix: string): Promise<void> {
  await append(service, 32);
  await checkpointAt(service, 32);
  await append(service, 32);
  await checkpointAt(service, 64);
  for (const mode of Object.keys(MODES) as Mode[]) {
    const ok = await verify(service, `${statePrefix}-${mode}.json`, [...MODES[mode]]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, eventsChecked: 64, findings: [] });
  }
}

/**
 * A live service whose store lacks tree node (3, 6) (the tamper 'delete a tree node'): the proofs that need
 * it are refused with MISSING_TREE_NODE naming the node, over GraphQL and REST, and the others are served.
 */
export async function expectMissingNodeAnswers(service: CliService): Promise<void> {
  const gql = async (query: string) => {
    const res = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    return (await res.json()) as { data?: unknown; errors?: Array<{ message: string; extensions: Record<string, unknown> }> };
  };
  const message = `tree node (3, 6) of log "${APP}" is not stored`;
  const refused = await gql(`{ inclusionProof(sourceAppId: "${APP}", seq: 56, treeSize: 64) { hashes } }`);
  expect(refused.errors?.[0]).toMatchObject({
    message,
    extensions: { code: 'MISSING_TREE_NODE', rule: 'stored', sourceAppId: APP, level: 3, index: 6 },
  });
  expect((await gql(`{ inclusionProof(sourceAppId: "${APP}", seq: 40, treeSize: 64) { hashes } }`)).errors).toBeUndefined();
  const rest = await fetch(`${service.url}/v1/logs/${APP}/range-proof?start=56&end=57&treeSize=64`);
  expect(rest.status).toBe(500);
  expect(await rest.json()).toEqual({ errors: [{ code: 'MISSING_TREE_NODE', rule: 'stored', message }] });
  // A page that completes the node, and needs none outside it, is served: the node as null, the others as stored.
  const page = await gql(
    `{ rangeProof(sourceAppId: "${APP}", start: 48, end: 56, treeSize: 64) { nodes { level index hashes } } }`,
  );
  expect(page.errors).toBeUndefined();
  const nodes = (page.data as { rangeProof: { nodes: Array<{ level: number; index: number; hashes: Array<string | null> }> } })
    .rangeProof.nodes;
  expect(nodes.map((r) => [r.level, r.index, r.hashes.map((h) => (h === null ? null : h.length))])).toEqual([
    [1, 24, [64, 64, 64, 64]],
    [2, 12, [64, 64]],
    [3, 6, [null]],
  ]);
}
