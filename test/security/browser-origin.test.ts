// Adversarial suite, part 2: a web page driving a server on the developer's machine (AUTH=off).
// - Cross-site WebSocket hijacking: an upgrade carrying a foreign Origin is refused (403) before any
//   graphql-ws work; the server's own origin, ALLOWED_ORIGINS and clients without Origin pass.
// - DNS rebinding: bound to loopback, a request whose Host is not loopback (or ALLOWED_HOSTS) is refused.
// - Keys minted while AUTH=off would outlive it: createApiKey is refused with AUTH=off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../support/service.js';
import { metric, rawRequest, upgrade } from './support.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService({
    env: { AUTH: 'off', ALLOWED_ORIGINS: 'https://console.example.com', ALLOWED_HOSTS: 'chainlog.internal:8443' },
  });
});
afterAll(async () => svc?.stop());

const port = () => new URL(svc.url).port;

describe('WebSocket Origin (cross-site WebSocket hijacking)', () => {
  it('refuses an upgrade from a foreign page with 403, before graphql-ws sees it', async () => {
    const before = await metric(svc, 'chainlog_ws_connections');
    const refusedBefore = await metric(svc, 'chainlog_api_errors_total', { code: 'FORBIDDEN', transport: 'ws' });
    const res = await upgrade(svc, { origin: 'https://evil.example' });
    expect(res.socket).toBeUndefined();
    expect(res.status).toBe(403);
    expect(await metric(svc, 'chainlog_api_errors_total', { code: 'FORBIDDEN', transport: 'ws' })).toBe(refusedBefore + 1);
    expect(await metric(svc, 'chainlog_ws_connections')).toBe(before);
  });

  it('refuses a look-alike: same host name, another port', async () => {
    expect((await upgrade(svc, { origin: `http://127.0.0.1:${Number(port()) + 1}` })).status).toBe(403);
  });

  it.each([
    ['no Origin (not a browser)', {}],
    ['the server’s own origin', { origin: `http://127.0.0.1:${'PORT'}` }],
    ['an origin of ALLOWED_ORIGINS', { origin: 'https://console.example.com' }],
  ])('accepts %s', async (_name, headers: Record<string, string>) => {
    const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace('PORT', port())]));
    const res = await upgrade(svc, h);
    expect(res.status).toBeUndefined();
    res.socket!.close();
  });
});

describe('Host (DNS rebinding) while bound to loopback', () => {
  it('refuses a request whose Host is a foreign name with 403 FORBIDDEN naming the rule', async () => {
    const res = await rawRequest(svc, {
      method: 'POST',
      path: '/graphql',
      headers: { host: `evil.example:${port()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ serverInfo { version } }' }),
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', rule: 'host', field: 'Host' });
    const rest = await rawRequest(svc, { path: '/healthz', headers: { host: 'evil.example' } });
    expect(rest.status).toBe(403);
    expect(JSON.parse(rest.body).errors[0]).toMatchObject({ code: 'FORBIDDEN', rule: 'host' });
  });

  it('refuses a WebSocket upgrade with a foreign Host even without Origin', async () => {
    expect((await upgrade(svc, { host: `evil.example:${port()}` })).status).toBe(403);
  });

  it.each([
    'localhost',
    '127.0.0.1',
    '[::1]',
    'localhost:PORT',
    '127.0.0.1:PORT',
    '[::1]:PORT',
    'localhost:9999',
    'chainlog.internal:8443',
  ])('accepts Host %s', async (host) => {
    const res = await rawRequest(svc, { path: '/healthz', headers: { host: host.replace('PORT', port()) } });
    expect(res.status).toBe(200);
  });

  it('refuses a foreign name even on the server’s port, and a name that only starts like loopback', async () => {
    expect((await rawRequest(svc, { path: '/healthz', headers: { host: `rebind.example:${port()}` } })).status).toBe(403);
    expect((await rawRequest(svc, { path: '/healthz', headers: { host: 'localhost.evil.example' } })).status).toBe(403);
    expect((await rawRequest(svc, { path: '/healthz', headers: { host: '127.0.0.1.evil.example' } })).status).toBe(403);
  });
});

describe('API keys and AUTH=off', () => {
  it('refuses createApiKey with FORBIDDEN rule authOff: a key minted now would stay valid under AUTH=on', async () => {
    const res = await svc.gql('mutation { createApiKey(role: ADMIN) { id secret } }');
    expect(res.data).toBeNull();
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', rule: 'authOff' });
    expect(res.errors?.[0]?.message).toMatch(/AUTH=off/);
  });
});
