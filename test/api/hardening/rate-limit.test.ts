// Per-client rate limits against the real service: reads (requests/s) and writes (events/s) are separate
// budgets; over budget, GraphQL answers RATE_LIMITED with extensions.retryAfterMs (HTTP 429 +
// Retry-After), REST answers 429 + Retry-After, the WebSocket answers RATE_LIMITED, and nothing is written.
// The service runs in this process with a clock the test moves: a window ends only when the test says so,
// never because the machine was slow between two requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, startInProcess, type InProcessService } from '../../support/in-process.js';
import { SubscriptionProbe } from '../../support/service.js';

const clock = new ManualClock();
let svc: InProcessService & { gql(query: string): Promise<{ errors?: unknown[]; data?: any }> };
beforeAll(async () => {
  const started = await startInProcess(
    { AUTH: 'off', RATE_LIMIT_READS_PER_SEC: '3', RATE_LIMIT_WRITES_PER_SEC: '5', MAX_BATCH_SIZE: '5' },
    clock,
  );
  svc = { ...started, gql: async (query) => (await post(query)).body };
});
afterAll(async () => svc?.stop());

/** Ends every fixed window of the limiter. */
const freshWindow = () => clock.advance(1000);

const event = (k: number) => ({
  eventType: 'rl.test',
  timestamp: new Date().toISOString(),
  sourceAppId: 'rate-app',
  payload: { k },
});
const LOG_EVENTS = 'mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }';
const SIZE = '{ log(sourceAppId: "rate-app") { size } }';

async function post(query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${svc.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
}

async function logSize(): Promise<number> {
  freshWindow();
  const res = await svc.gql(SIZE);
  expect(res.errors).toBeUndefined();
  return res.data.log?.size ?? 0;
}

describe('read budget (requests/s)', () => {
  it('lets RATE_LIMIT_READS_PER_SEC queries through per second and refuses the rest with 429 RATE_LIMITED', async () => {
    freshWindow();
    const results = await Promise.all(Array.from({ length: 6 }, () => post('{ serverInfo { version } }')));
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok).toHaveLength(3);
    expect(limited).toHaveLength(3);
    for (const r of limited) {
      expect(r.body.data).toBeUndefined();
      expect(r.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', rule: 'readsPerSec' });
      expect(r.body.errors[0].extensions.retryAfterMs).toBeGreaterThan(0);
      expect(r.body.errors[0].extensions.retryAfterMs).toBeLessThanOrEqual(1000);
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect((await post('{ serverInfo { version } }')).status).toBe(429);
    clock.advance(Math.max(...limited.map((r) => r.body.errors[0].extensions.retryAfterMs)));
    expect((await post('{ serverInfo { version } }')).status).toBe(200);
  });

  it('charges WebSocket operations to the same budget', async () => {
    freshWindow();
    for (let i = 0; i < 3; i++) expect((await post('{ serverInfo { version } }')).status).toBe(200);
    const probe = new SubscriptionProbe(svc.wsAs(null), '{ serverInfo { version } }');
    await probe.until((p) => p.completed);
    expect(probe.values).toEqual([]);
    expect(probe.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED', rule: 'readsPerSec' }) }),
    ]);
  });
});

describe('write budget (events/s)', () => {
  it('is separate from reads, counts events, and writes nothing when it refuses', async () => {
    const before = await logSize();
    freshWindow();
    // Reads exhausted: writes still pass.
    for (let i = 0; i < 3; i++) await post('{ serverInfo { version } }');
    expect((await post('{ serverInfo { version } }')).status).toBe(429);
    const batch = await post(LOG_EVENTS, { in: [0, 1, 2, 3, 4].map(event) });
    expect(batch.status).toBe(200);
    expect(batch.body.data.logEvents).toHaveLength(5);

    const one = await post(LOG_EVENTS, { in: [event(5)] });
    expect(one.status).toBe(429);
    expect(one.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', rule: 'writesPerSec' });
    expect(Number(one.retryAfter)).toBeGreaterThanOrEqual(1);

    const rest = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([event(6), event(7)]),
    });
    expect(rest.status).toBe(429);
    expect(Number(rest.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await rest.json()) as any).errors[0]).toMatchObject({ code: 'RATE_LIMITED', rule: 'writesPerSec' });

    expect(await logSize()).toBe(before + 5);
  });

  it('counts a query as the items it asks for: events(first: 3) takes the whole read window', async () => {
    freshWindow();
    expect((await post('{ events(first: 3) { edges { cursor } } }')).status).toBe(200);
    const next = await post('{ serverInfo { version } }');
    expect(next.status).toBe(429);
    expect(next.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', rule: 'readsPerSec' });
    freshWindow();
    // More items than one window holds: served alone, as the window's whole budget.
    expect((await post('{ events(first: 50) { edges { cursor } } }')).status).toBe(200);
    expect((await post('{ serverInfo { version } }')).status).toBe(429);
  });

  it('admits again after the window and over REST', async () => {
    freshWindow();
    const rest = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event(8)),
    });
    expect(rest.status).toBe(201);
  });
});
