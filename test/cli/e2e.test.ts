// The simulator and the auditor as child processes against the real service, then a tampered database.
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, fromHex, rawPublicKey, signCheckpoint, toHex, verifierKeyString } from '../../src/core/index.js';
import { startCliService, type CliService } from '../support/cli-service.js';
import { REPO_ROOT } from '../support/service-process.js';
import { until } from '../support/wait.js';

const APP = 'checkout';
const work = mkdtempSync(join(tmpdir(), 'chainlog-cli-e2e-'));
const statePath = join(work, 'state.json');
let service: CliService;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', script, ...args],
      { cwd: REPO_ROOT, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const simulate = (args: string[]) => runCli('scripts/simulate.ts', ['--url', service.url, '--apps', '2', '--json', ...args]);
const verify = (args: string[] = [], key = service.verifierKey) =>
  runCli('scripts/verify.ts', ['--url', service.url, '--app', APP, '--key', key, '--state', statePath, ...args]);

async function gql<T>(query: string): Promise<T> {
  const res = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return ((await res.json()) as { data: T }).data;
}

/** Waits for the periodic checkpoint to cover the whole log; returns its size. */
async function checkpointedSize(): Promise<number> {
  return until(
    'a checkpoint covering the log',
    async () => {
      const { log } = await gql<{ log: { size: number; latestCheckpoint: { treeSize: number } | null } | null }>(
        `{ log(sourceAppId: "${APP}") { size latestCheckpoint { treeSize } } }`,
      );
      return log && log.size > 0 && log.latestCheckpoint?.treeSize === log.size ? log.size : 0;
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
}

beforeAll(async () => {
  service = await startCliService();
});
afterAll(async () => {
  await service?.stop();
  if (service) rmSync(service.dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('simulate → verify against the real service', () => {
  let firstSize = 0;

  it('the simulator sends a paced run of events; bad ones are rejected, good ones accepted', async () => {
    // A count, not a duration (how much fits in a duration depends on the machine's load); paced to at
    // least 3 s, so progress lines are printed.
    const run = await simulate(['--count', '1200', '--rate', '400', '--batch', '10', '--seed', '11', '--invalid-ratio', '0.05']);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.accepted + summary.invalid.sent).toBe(1200);
    expect(summary.invalid.sent).toBeGreaterThan(0);
    expect(summary.invalid).toMatchObject({ accepted: 0, rejected: summary.invalid.sent });
    expect(summary.rejectedByCode).toEqual({ BAD_USER_INPUT: summary.invalid.sent });
    expect(summary.apps).toEqual(['checkout', 'auth']);
    expect(run.stderr).toContain('accepted'); // periodic progress lines (no TTY)
  });

  it('verify exits 0 on the first run and trusts the checkpoint', async () => {
    firstSize = await checkpointedSize();
    const run = await verify(['--json', '--page-size', '100']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({
      ok: true,
      consistency: 'first-run',
      eventsChecked: firstSize,
      findings: [],
      stateUpdated: true,
    });
    expect(report.pages).toBe(Math.ceil(firstSize / 100));
    expect(report.spotChecked).toHaveLength(3);
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    expect(Object.values(state.logs)).toEqual([expect.objectContaining({ treeSize: firstSize })]);
  });

  it('after more events (over REST), verify demands and checks a consistency proof from the trusted size', async () => {
    const run = await simulate(['--transport', 'rest', '--count', '200', '--rate', '0', '--batch', '25']);
    expect(JSON.parse(run.stdout).accepted).toBe(200);
    const size = await checkpointedSize();
    expect(size).toBeGreaterThan(firstSize);
    const v = await verify();
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toContain(`proved from the trusted size ${firstSize}`);
    expect(v.stdout).toContain(`checkpoint   size ${size}`);
    // --from checks the tail only, starting one event early to check the link into it.
    const tail = JSON.parse((await verify(['--from', String(firstSize), '--json'])).stdout);
    expect(tail).toMatchObject({
      ok: true,
      consistency: 'unchanged',
      range: { from: firstSize - 1, to: size },
      eventsChecked: size - firstSize + 1,
    });
  });

  it('a --url of the GraphQL endpoint audits the service behind it', async () => {
    // Taken as is, the REST pages went to /graphql/v1/..., which the GraphQL server refuses.
    const v = await runCli('scripts/verify.ts', [
      ...['--url', `${service.url}/graphql`, '--app', APP, '--key', service.verifierKey],
      ...['--state', statePath, '--json', '--page-size', '100'],
    ]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, url: service.url, findings: [] });
  });

  it('a trusted checkpoint larger than the served one is a rollback; same size, other root a fork', async () => {
    const size = await checkpointedSize();
    const original = readFileSync(statePath, 'utf8');
    // The state file is authenticated: the trusted checkpoints must be ones the log's key signed, as a log
    // that rolled back or forked did.
    const key = createPrivateKey(readFileSync(join(service.dataDir, 'signing-key.pem'), 'utf8'));
    const rewrite = (treeSize: number, root: Uint8Array) => {
      const state = JSON.parse(original);
      for (const entry of Object.values<Record<string, unknown>>(state.logs)) {
        entry.treeSize = treeSize;
        entry.rootHash = toHex(root);
        entry.note = signCheckpoint(
          { origin: `e2e.chainlog/${APP}`, size: treeSize, rootHash: root },
          createSigner(`e2e.chainlog/${APP}`, key),
        );
      }
      writeFileSync(statePath, JSON.stringify(state));
    };
    rewrite(size + 10, fromHex('cd'.repeat(32)));
    const rollback = await verify(['--json']);
    expect(rollback.code).toBe(1);
    expect(JSON.parse(rollback.stdout)).toMatchObject({
      ok: false,
      consistency: 'failed',
      firstBadSeq: size,
      stateUpdated: false,
    });
    expect(JSON.parse(rollback.stdout).findings).toContainEqual(expect.objectContaining({ kind: 'ROLLBACK', seq: size }));
    rewrite(size, fromHex('ab'.repeat(32)));
    const before = readFileSync(statePath, 'utf8');
    const fork = await verify(['--json']);
    expect(fork.code).toBe(1);
    expect(JSON.parse(fork.stdout).findings).toContainEqual(expect.objectContaining({ kind: 'FORK', seq: size }));
    expect(readFileSync(statePath, 'utf8')).toBe(before); // a failed run never moves what is trusted
    writeFileSync(statePath, original);
  });

  it('a wrong verifier key fails, even with the key name the server uses', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const wrong = verifierKeyString('e2e.chainlog', rawPublicKey(privateKey));
    const run = await verify(['--json'], wrong);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).findings[0]).toMatchObject({ kind: 'BAD_SIGNATURE' });
  });

  it('a payload tampered in the database is found at its seq after a restart', async () => {
    const trusted = await checkpointedSize();
    await service.stop();
    const db = new Database(service.dbPath);
    const changed = db
      .prepare(`UPDATE events SET payload = json_set(payload, '$.tampered', 1) WHERE source_app_id = ? AND seq = ?`)
      .run(APP, 7).changes;
    db.close();
    expect(changed).toBe(1);
    service = await startCliService({ dataDir: service.dataDir, port: service.port });

    const run = await verify();
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain('first bad position 7');
    // The log is of leaf version 2 (the default): its leaf commits to the payload, which no longer matches.
    expect(run.stdout).toMatch(/PAYLOAD_MISMATCH at 7: event 7: SHA-256\(payloadSalt \|\| payload\) is not its payloadHash/);
    expect(run.stdout).toContain(`still trusting size ${trusted}`);
  });

  it('usage and connection problems exit 2', async () => {
    expect((await runCli('scripts/verify.ts', ['--app', APP])).code).toBe(2);
    const down = await runCli('scripts/verify.ts', [
      '--url',
      'http://127.0.0.1:9',
      '--app',
      APP,
      '--key',
      service.verifierKey,
      '--state',
      statePath,
    ]);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/cannot reach/);
  });
});
