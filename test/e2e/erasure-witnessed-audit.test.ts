// --policy and the erasures log, end to end on the e2e suites' engine: a log with a witness policy submits
// the checkpoints of its erasures log (`_erasures`) to its witnesses as it does any log's, and a real
// chainlog witness cosigns them once its list of witnessed logs names that origin. An audit with the policy
// requires the quorum on the erasures log's checkpoint it proves erasures against, as on the audited log's,
// and waits within the late-record wait for one just published to be cosigned.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/auditor/audit.js';
import { GraphqlClient } from '../../src/auditor/graphql-client.js';
import { StateFile } from '../../src/auditor/state-file.js';
import { parsePolicy, parseVerifierKey, rawPublicKey, verifierKeyString, type Policy } from '../../src/core/index.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { data } from '../support/mirror-nodes.js';
import { E2E_ADMIN_KEY as ADMIN } from '../support/service.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

const PREFIX = 'erasures.test';
const logKey = generateKeyPairSync('ed25519').privateKey;
const vkeyOf = (app: string) => verifierKeyString(`${PREFIX}/${app}`, rawPublicKey(logKey));

let dir: string;
let witness: ServiceProcess;
let log: ServiceProcess;
let logsFile: string;
let policy: Policy;

const gql = (query: string, variables?: Record<string, unknown>) => data(log, query, variables);

const latest = async (app: string) =>
  (await gql('query($app: String!) { checkpoint(sourceAppId: $app) { treeSize witnessed } }', { app })).checkpoint as {
    treeSize: number;
    witnessed: boolean;
  } | null;

const witnessedAt = (app: string, size: number) =>
  until(
    `${app} witnessed at size ${size}`,
    async () => {
      const cp = await latest(app);
      return cp !== null && cp.treeSize === size && cp.witnessed;
    },
    { timeoutMs: 20_000 },
  );

async function erase(id: string) {
  await gql('mutation($in: EraseEventsInput!) { eraseEvents(input: $in) { erased } }', { in: { reason: 'test', ids: [id] } });
}

async function audit(more: Partial<Parameters<typeof runAudit>[0]> = {}) {
  const verifier = parseVerifierKey((await gql('{ serverInfo { verifierKey } }')).serverInfo.verifierKey);
  return runAudit({
    client: new GraphqlClient({ url: log.url, apiKey: ADMIN }),
    url: log.url,
    app: 'people',
    verifier,
    from: 0,
    state: await StateFile.load(join(mkdtempSync(join(dir, 'state-')), 's.json')),
    spotChecks: 0,
    policy,
    ...more,
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-erasure-witnessed-'));
  // The witness is told of the audited log only, at first.
  logsFile = join(dir, 'witnessed-logs');
  writeFileSync(logsFile, `log ${vkeyOf('people')}\n`);
  witness = new ServiceProcess(await freePort(), join(dir, 'witness'), {
    AUTH: 'on',
    ADMIN_API_KEY: ADMIN,
    LOG_LEVEL: 'info',
    WITNESSED_LOGS_FILE: logsFile,
    WITNESS_NAME: 'witness.test/w1',
    WITNESS_RATE_LIMIT_PER_SEC: '0',
    ...e2eEngineEnv('erasure_witness'),
  });
  await witness.start();
  const witnessKey = (await data(witness, '{ serverInfo { witnessVerifierKey } }')).serverInfo.witnessVerifierKey as string;
  policy = parsePolicy(`witness w1 ${witnessKey}\nquorum w1\n`);
  const policyFile = join(dir, 'policy');
  writeFileSync(policyFile, `witness w1 ${witnessKey} ${witness.url}/witness\nquorum w1\n`);
  const keyFile = join(dir, 'log-key.pem');
  writeFileSync(keyFile, logKey.export({ type: 'pkcs8', format: 'pem' }));
  log = new ServiceProcess(await freePort(), join(dir, 'log'), {
    AUTH: 'on',
    ADMIN_API_KEY: ADMIN,
    LOG_LEVEL: 'info',
    ORIGIN_PREFIX: PREFIX,
    CHECKPOINT_INTERVAL_MS: '100',
    SIGNING_KEY_FILE: keyFile,
    WITNESS_POLICY_FILE: policyFile,
    WITNESS_SUBMIT_MAX_BACKOFF_MS: '200',
    ...e2eEngineEnv('erasure_witness_log'),
  });
  await log.start();
  const inputs = Array.from({ length: 3 }, (_, i) => ({
    sourceAppId: 'people',
    eventType: 'user.updated',
    timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
    payload: { userId: `u${i}` },
  }));
  await gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', { in: inputs });
}, 180_000);

afterAll(async () => {
  await Promise.all([log?.stop(), witness?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("--policy and the erasures log's checkpoint", () => {
  it('fails the audit while the witnesses do not cosign the erasures log, though they cosign the audited one', async () => {
    await erase('people/1');
    await witnessedAt('people', 3);
    // The log submits the erasures log's checkpoint like any other; this witness refuses an origin it does not know.
    await until('the witness refusing the erasures log', async () => {
      const [w] = (await gql('{ witnesses { lastError } }')).witnesses as Array<{ lastError: string | null }>;
      return w?.lastError?.startsWith('_erasures size 1: 404') ?? false;
    });
    // Its witnesses have the wait (the checkpoint may be just published), and do not cosign it within it.
    let waited = false;
    const r = await audit({ lateRecordWaitMs: 300, onWaitingForRecords: () => (waited = true) });
    expect(waited).toBe(true);
    expect(r.verdict).toBe('FAILED');
    expect(r.witnesses).toMatchObject({ met: true });
    expect(r.eventsErased).toBe(1);
    expect(r.findings).toEqual([
      expect.objectContaining({
        kind: 'NO_QUORUM',
        message: `the erasures log's checkpoint (${PREFIX}/_erasures) of size 1 is cosigned by no policy witness; the policy's quorum "w1" needs w1`,
      }),
    ]);
  });

  it("waits for the erasures log's checkpoint it reads to be cosigned, and passes once the witnesses cosign it", async () => {
    await erase('people/2');
    await until('the witness refusing the erasures log at size 2', async () => {
      const [w] = (await gql('{ witnesses { lastError } }')).witnesses as Array<{ lastError: string | null }>;
      return w?.lastError?.startsWith('_erasures size 2: 404') ?? false;
    });
    // The audit reads a checkpoint of the erasures log no witness cosigned; while it waits, the witness is
    // told of the erasures log, and the log's next submission is cosigned.
    const reloads = witness.output().split('witnessed logs reloaded').length;
    let waitedAt: number | null | undefined;
    const r = await audit({
      lateRecordWaitMs: 60_000,
      onWaitingForRecords: (size) => {
        waitedAt = size;
        writeFileSync(logsFile, `log ${vkeyOf('people')}\nlog ${vkeyOf('_erasures')}\n`);
        witness.signal('SIGHUP');
      },
    });
    expect(waitedAt).toBeNull();
    expect(witness.output().split('witnessed logs reloaded').length).toBeGreaterThan(reloads);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ verdict: 'OK', eventsErased: 2, erasures: { checkpoint: { treeSize: 2 } } });
    expect((await latest('_erasures'))?.witnessed).toBe(true);
  });
});
