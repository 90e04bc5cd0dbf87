// What a newcomer meets on first contact, over HTTP and the CLIs: GET / says what this is, and the
// mistakes people make first (no Content-Type, a bare key in Authorization, a reader key for verify)
// get an answer that says what to do.
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawPublicKey, verifierKeyString } from '../../src/core/index.js';
import { REPO_ROOT } from '../support/service-process.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService({ env: { ORIGIN_PREFIX: 'first.contact' } });
});
afterAll(async () => svc?.stop());

describe('GET /', () => {
  it('answers a browser with an HTML page naming the API and docs', async () => {
    const res = await fetch(`${svc.url}/`, {
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('<title>chainlog</title>');
    expect(html).toContain(`${svc.url}/graphql`);
    expect(html).toContain('POST');
    expect(html).toContain('/v1/events');
    expect(html).toContain('README.md');
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs|jsdelivr)/); // nothing loaded from elsewhere
  });

  it('answers JSON to API clients and curl, without a key', async () => {
    for (const accept of ['application/json', '*/*']) {
      const res = await fetch(`${svc.url}/`, { headers: { accept } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as any;
      expect(body).toMatchObject({
        service: 'chainlog',
        graphql: { http: `${svc.url}/graphql` },
        rest: { ingest: `POST ${svc.url}/v1/events` },
        health: `${svc.url}/healthz`,
      });
      expect(body.docs).toContain('README.md');
    }
  });
});

describe('first mistakes get a useful answer', () => {
  it('POST /graphql without Content-Type: application/json says to send it (not a CSRF paragraph)', async () => {
    for (const headers of [{}, { 'content-type': 'text/plain' }] as Array<Record<string, string>>) {
      const res = await fetch(`${svc.url}/graphql`, {
        method: 'POST',
        headers: { ...headers, ...svc.authHeaders() },
        body: '{"query":"{ serverInfo { version } }"}',
      });
      expect(res.status).toBe(415);
      const body = (await res.json()) as any;
      expect(body.errors[0].message).toContain('send Content-Type: application/json');
      expect(body.errors[0].message).not.toContain('CSRF');
      expect(body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', rule: 'contentType' });
    }
  });

  it('Authorization: <key> without Bearer says which form is expected, on GraphQL and REST', async () => {
    const key = svc.adminKey!;
    const gql = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: key },
      body: '{"query":"{ serverInfo { version } }"}',
    });
    expect(gql.status).toBe(401);
    const gqlError = ((await gql.json()) as any).errors[0];
    expect(gqlError.message).toBe(
      'the Authorization header must be "Bearer <API key>" (or send the key alone as x-api-key: <API key>)',
    );
    expect(gqlError.extensions).toMatchObject({ code: 'UNAUTHENTICATED', rule: 'authorizationScheme' });
    const rest = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: key },
      body: '{}',
    });
    expect(rest.status).toBe(401);
    expect(((await rest.json()) as any).errors[0]).toMatchObject({ code: 'UNAUTHENTICATED', rule: 'authorizationScheme' });
    // The right form works, and a wrong key in the right form is still "invalid or revoked".
    const ok = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: '{"query":"{ serverInfo { version } }"}',
    });
    expect(ok.status).toBe(200);
    const wrong = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer clk_nope' },
      body: '{"query":"{ serverInfo { version } }"}',
    });
    expect(((await wrong.json()) as any).errors[0].message).toBe('the API key is invalid or revoked');
  });

  it('verify with a READER key says it needs an AUDITOR key, and how to pass one', { timeout: 60_000 }, async () => {
    const logged = await svc.gql(
      `mutation { logEvent(input: { sourceAppId: "checkout", eventType: "order.created", timestamp: "2025-01-01T00:00:00Z", payload: {} }) { seq } }`,
    );
    expect(logged.errors).toBeUndefined();
    await until(
      'a checkpoint of size 1',
      async () => (await svc.gql(`{ checkpoint(sourceAppId: "checkout") { treeSize } }`)).data?.checkpoint?.treeSize === 1,
      {
        timeoutMs: 15_000,
      },
    );
    const reader = (await svc.gql(`mutation { createApiKey(role: READER) { secret } }`)).data.createApiKey.secret;
    const pem = readFileSync(join(svc.dataDir, 'signing-key.pem'), 'utf8');
    const verifierKey = verifierKeyString('first.contact', rawPublicKey(createPrivateKey(pem)));
    const state = join(mkdtempSync(join(tmpdir(), 'chainlog-verify-')), 'state.json');
    const { CHAINLOG_API_KEY: _k, ...env } = process.env;
    const run = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/verify.ts', '--url', svc.url, '--app', 'checkout', '--key', verifierKey, '--state', state],
        { cwd: REPO_ROOT, env: { ...env, CHAINLOG_API_KEY: reader }, timeout: 60_000 },
        (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
      ),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('verify needs an AUDITOR API key');
    expect(run.stderr).toContain('CHAINLOG_API_KEY');
  });

  it('verify --help leads with CHAINLOG_API_KEY, not a key on the command line', async () => {
    const help = await new Promise<string>((resolve) =>
      execFile(process.execPath, ['--import', 'tsx', 'scripts/verify.ts', '--help'], { cwd: REPO_ROOT }, (_e, stdout) =>
        resolve(stdout),
      ),
    );
    expect(help.split('\n')[0]).toMatch(/^Usage: CHAINLOG_API_KEY=<auditor key> npm run verify/);
    expect(help).toContain('prefer env CHAINLOG_API_KEY');
  });
});
