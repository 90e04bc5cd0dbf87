// Auth beyond single requests: the simulator and the auditor with role keys on an auth-on service,
// /metrics with METRICS_TOKEN, and a revocation made on one process reaching another that shares
// the database.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'chainlog-auth-tools-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runCli(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

async function createKey(s: RunningService, role: string, apps: string[] | null): Promise<{ id: string; secret: string }> {
  const res = await s.gql<{ createApiKey: { id: string; secret: string } }>(
    `mutation ($role: ApiKeyRole!, $apps: [String!]) { createApiKey(role: $role, sourceAppIds: $apps, name: "tools test") { id secret } }`,
    { role, apps },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.createApiKey;
}

describe('the simulator and the auditor with role keys', () => {
  let service: RunningService;
  const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
  beforeAll(async () => {
    service = await startService({ env: { METRICS_TOKEN } });
  });
  afterAll(() => service.stop());

  it('writes with a writer key and verifies with an auditor key; fails without one', async () => {
    const writer = await createKey(service, 'WRITER', ['checkout']);
    const auditor = await createKey(service, 'AUDITOR', ['checkout']);
    const sim = (key: string[]) =>
      runCli('scripts/simulate.ts', ['--url', service.url, '--apps', '1', '--count', '40', '--json', ...key]);

    const refused = await sim([]);
    expect(refused.code, refused.stderr).not.toBe(0);
    const written = await sim(['--api-key', writer.secret]);
    expect(written.code, written.stderr).toBe(0);
    expect(JSON.parse(written.stdout)).toMatchObject({ accepted: 40 });

    await service.gql('mutation { publishCheckpoints { treeSize } }');
    const info = await service.gql<{ serverInfo: { verifierKey: string } }>('{ serverInfo { verifierKey } }');
    const verify = (key: string[]) =>
      runCli('scripts/verify.ts', [
        '--url',
        service.url,
        '--app',
        'checkout',
        '--key',
        info.data!.serverInfo.verifierKey,
        '--state',
        join(work, `state-${key.length}.json`),
        '--json',
        ...key,
      ]);
    expect((await verify([])).code).toBe(2); // refused: no key is a usage/access error, not a verdict
    expect((await verify(['--api-key', writer.secret])).code).toBe(2); // a writer may not read proofs
    const audited = await verify(['--api-key', auditor.secret]);
    expect(audited.code, audited.stdout + audited.stderr).toBe(0);
    expect(JSON.parse(audited.stdout)).toMatchObject({ ok: true, eventsChecked: 40 });
  }, 120_000);

  it('serves /metrics with METRICS_TOKEN as a Bearer token, and to nobody else but admins', async () => {
    const get = (headers: Record<string, string>) => fetch(`${service.url}/metrics`, { headers });
    const ok = await get({ authorization: `Bearer ${METRICS_TOKEN}` });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('chainlog_');
    expect((await get({ authorization: 'Bearer not-the-token-0123456789' })).status).toBe(401);
    expect((await get({})).status).toBe(401);
    const reader = await createKey(service, 'READER', null);
    expect((await get({ 'x-api-key': reader.secret })).status).toBe(403);
    expect((await get(service.authHeaders())).status).toBe(200);
  });
});

describe('revocation across processes sharing a database', () => {
  it('reaches the other process within the 2 s key cache', async () => {
    const mongo = await startMongoTestServer();
    const keyFile = loadSigningKey({ dataDir: mkdtempSync(join(work, 'key-')) }).source;
    const env = { MONGODB_URI: mongo.uri, MONGODB_DB: freshDbName(), SIGNING_KEY_FILE: keyFile };
    const a = await startService({ env });
    const b = await startService({ env });
    try {
      const reader = await createKey(a, 'READER', null);
      expect((await b.gqlAs(reader.secret, '{ serverInfo { version } }')).errors).toBeUndefined();
      const revoked = await a.gql(`mutation { revokeApiKey(id: "${reader.id}") { revokedAt } }`);
      expect(revoked.errors).toBeUndefined();
      // At once on the process that revoked it.
      expect((await a.gqlAs(reader.secret, '{ serverInfo { version } }')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      // Within the cache lifetime (2 s) on the other.
      const refused = async () =>
        (await b.gqlAs(reader.secret, '{ serverInfo { version } }')).errors?.[0]?.extensions?.code === 'UNAUTHENTICATED';
      await until('the other process to refuse the revoked key', refused, { timeoutMs: 3_500, intervalMs: 100 }); // 2 s cache, with room for a loaded machine
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await mongo.stop();
    }
  }, 120_000);
});
