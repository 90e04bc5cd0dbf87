// With authentication on, budgets and connection caps belong to the API key, not the IP: two keys on the
// same host have their own. The rate limits' clock is the test's (in-process service), so a window never
// ends between two requests of one case.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, startInProcess, type InProcessService } from '../../support/in-process.js';
import { openRaw } from '../../support/raw-ws.js';

const ADMIN = `admin-${'k'.repeat(30)}`;
const clock = new ManualClock();
let svc: InProcessService;
let reader: string;

beforeAll(async () => {
  svc = await startInProcess(
    { AUTH: 'on', ADMIN_API_KEY: ADMIN, RATE_LIMIT_READS_PER_SEC: '2', WS_MAX_CONNECTIONS_PER_CLIENT: '1' },
    clock,
  );
  const created = await call(ADMIN, 'mutation { createApiKey(role: READER, name: "fuzz reader") { secret } }');
  expect(created.status).toBe(200);
  reader = created.body.data.createApiKey.secret;
});
afterAll(async () => svc?.stop());

async function call(key: string, query: string) {
  const res = await fetch(`${svc.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('per API key', () => {
  it('keeps a read budget per key', async () => {
    clock.advance(1000);
    const admin = await Promise.all([0, 1, 2].map(() => call(ADMIN, '{ serverInfo { version } }')));
    expect(admin.map((r) => r.status).sort()).toEqual([200, 200, 429]);
    expect(admin.find((r) => r.status === 429)!.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    const other = await call(reader, '{ serverInfo { version } }');
    expect(other.status).toBe(200);
  });

  it('caps WebSocket connections per key', async () => {
    const first = await openRaw(svc.url);
    await first.init({ apiKey: ADMIN });
    const second = await openRaw(svc.url);
    second.send({ type: 'connection_init', payload: { apiKey: ADMIN } });
    expect((await second.closed).code).toBe(4429);
    const otherKey = await openRaw(svc.url);
    await otherKey.init({ apiKey: reader });
    await first.close();
    await otherKey.close();
  });
});
