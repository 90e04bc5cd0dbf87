// Refreshing cosignatures (WITNESS_REFRESH_INTERVAL_MS): a chainlog log whose witness policy names a real
// chainlog witness, started as users start them, resubmits an idle log's latest checkpoint once the
// witness's cosignature on it is older than the interval; the witness cosigns it again, the newer line
// replaces the older one in the stored note, and the auditor CLI's --max-age passes the idle log where
// the checkpoint as first cosigned fails it.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/auditor/audit.js';
import { rawPublicKey, verifierKeyString } from '../../src/core/index.js';
import { startCheckpointProxy, type CheckpointProxy } from '../cli/checkpoint-proxy.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { freePort, REPO_ROOT, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

const ADMIN = 'clk_e2e-admin-key-for-tests-only-0123456789';
const APP = 'idle';
const MAX_AGE_S = 3;

let dir: string;
const logKey = generateKeyPairSync('ed25519').privateKey;
const logVkey = verifierKeyString(`chainlog.local/${APP}`, rawPublicKey(logKey));
let witness: ServiceProcess;
let log: ServiceProcess;
let proxy: CheckpointProxy;
let policyFile: string;

async function gqlAt(url: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ADMIN },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

interface Checkpoint {
  treeSize: number;
  note: string;
  witnessed: boolean;
  cosignatures: { witness: string; timestamp: string }[];
}
async function latest(): Promise<Checkpoint | null> {
  const query =
    'query($app: String!) { checkpoint(sourceAppId: $app) { treeSize note witnessed cosignatures { witness timestamp } } }';
  return (await gqlAt(log.url, query, { app: APP })).checkpoint;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function verify(state: string): Promise<Run & { report: AuditReport }> {
  const args = ['--app', APP, '--url', proxy.url, '--key', logVkey, '--state', state, '--json'];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/verify.ts', ...args, '--policy', policyFile, '--max-age', `${MAX_AGE_S}s`],
      { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, CHAINLOG_API_KEY: ADMIN } },
      (err, stdout, stderr) =>
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
          stdout,
          stderr,
          report: JSON.parse(stdout) as AuditReport,
        }),
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-witness-refresh-'));
  const logsFile = join(dir, 'w1-logs');
  writeFileSync(logsFile, `log ${logVkey}\n`);
  witness = new ServiceProcess(await freePort(), join(dir, 'w1'), {
    AUTH: 'on',
    ADMIN_API_KEY: ADMIN,
    WITNESSED_LOGS_FILE: logsFile,
    WITNESS_NAME: 'witness.test/w1',
    WITNESS_RATE_LIMIT_PER_SEC: '0',
    ...e2eEngineEnv('refresh_w1'),
  });
  await witness.start();
  const w1Key = (await gqlAt(witness.url, '{ serverInfo { witnessVerifierKey } }')).serverInfo.witnessVerifierKey;
  const keyFile = join(dir, 'log-key.pem');
  writeFileSync(keyFile, logKey.export({ type: 'pkcs8', format: 'pem' }));
  policyFile = join(dir, 'policy');
  writeFileSync(policyFile, `witness w1 ${w1Key} ${witness.url}/witness\nquorum w1\n`);
  log = new ServiceProcess(await freePort(), join(dir, 'log'), {
    AUTH: 'on',
    ADMIN_API_KEY: ADMIN,
    CHECKPOINT_INTERVAL_MS: '100',
    SIGNING_KEY_FILE: keyFile,
    WITNESS_POLICY_FILE: policyFile,
    WITNESS_SUBMIT_TIMEOUT_MS: '2000',
    WITNESS_SUBMIT_MAX_BACKOFF_MS: '200',
    WITNESS_REFRESH_INTERVAL_MS: '1000',
    ...e2eEngineEnv('refresh_log'),
  });
  await log.start();
  proxy = await startCheckpointProxy(log.url);
}, 180_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all([log?.stop(), witness?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('refreshing the cosignatures of an idle log', () => {
  it("replaces the witness's cosignature with a newer one, so --max-age passes the idle log", async () => {
    await gqlAt(log.url, 'mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { id } }', {
      in: [0, 1].map((i) => ({
        sourceAppId: APP,
        eventType: 'tick',
        timestamp: new Date(Date.UTC(2025, 4, 1) + i).toISOString(),
        payload: { i },
      })),
    });
    const first = await until(
      'the idle log witnessed at size 2',
      async () => {
        const cp = await latest();
        return cp && cp.treeSize === 2 && cp.witnessed ? cp : null;
      },
      { timeoutMs: 20_000 },
    );
    // Cosignature.timestamp is a DateTime: compared in seconds.
    const seconds = (cp: { cosignatures: Array<{ timestamp: string }> }) => Date.parse(cp.cosignatures[0]!.timestamp) / 1000;
    const t0 = seconds(first);

    // No event arrives; the stored note changes anyway, each time to a newer cosignature by w1, until
    // the first one is older than the auditor's --max-age.
    const refreshed = await until(
      `a cosignature by w1 ${MAX_AGE_S + 1} s newer than the first`,
      async () => {
        const cp = await latest();
        return cp && seconds(cp) >= t0 + MAX_AGE_S + 1 ? cp : null;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(refreshed.treeSize).toBe(2);
    expect(refreshed.witnessed).toBe(true);
    // Same checkpoint, the log's signature first, exactly one line by w1: the newer one in place of the first.
    const body = first.note.slice(0, first.note.indexOf('\n\n') + 2);
    const sigs = (note: string) => note.slice(body.length, -1).split('\n');
    expect(refreshed.note.startsWith(body)).toBe(true);
    expect(sigs(refreshed.note)).toHaveLength(2);
    expect(sigs(refreshed.note)[0]).toBe(sigs(first.note)[0]);
    expect(sigs(refreshed.note)[1]).not.toBe(sigs(first.note)[1]);
    expect(refreshed.cosignatures.map((c) => c.witness)).toEqual(['w1']);

    // The auditor passes the idle log with --max-age ...
    const ok = await verify(join(dir, 'state-ok.json'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.report).toMatchObject({ ok: true, witnesses: { met: true, maxAgeSeconds: MAX_AGE_S } });

    // ... and fails the same checkpoint as first cosigned, as it would without the refresh.
    proxy.checkpoint = (served) => ({ ...served, note: first.note });
    const stale = await verify(join(dir, 'state-stale.json'));
    proxy.checkpoint = (served) => served;
    expect(stale.code, stale.stdout).toBe(1);
    expect(stale.report.findings).toEqual([expect.objectContaining({ kind: 'STALE_CHECKPOINT' })]);
  }, 90_000);
});
