// Document limits, CSRF prevention, body and frame limits, the connection_init timeout, and the
// WebSocket connection and subscription caps, against the real service started with low limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metric, whenSubscribed } from '../../support/metrics.js';
import { startService, SubscriptionProbe, type RunningService } from '../../support/service.js';
import { until } from '../../support/wait.js';
import { openRaw } from '../../support/raw-ws.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService({
    env: {
      AUTH: 'off',
      GRAPHQL_MAX_DEPTH: '5',
      GRAPHQL_MAX_ALIASES: '3',
      GRAPHQL_MAX_COST: '200',
      GRAPHQL_MAX_TOKENS: '200',
      GRAPHQL_MAX_DIRECTIVES: '2',
      MAX_BODY_BYTES: '4096',
      WS_MAX_PAYLOAD_BYTES: '4096',
      WS_CONNECTION_INIT_TIMEOUT_MS: '300',
      WS_MAX_CONNECTIONS_PER_CLIENT: '3',
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2',
      WS_MAX_SUBSCRIPTIONS_PER_CLIENT: '3',
    },
  });
});
afterAll(async () => svc?.stop());

const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, k) => `a${k}: serverInfo { version }`).join(' ')} }`;

const LIMITS: Array<[rule: string, ok: string, tooMuch: string]> = [
  [
    'maxDepth',
    '{ logs { edges { node { latestCheckpoint { treeSize } } } } }',
    '{ logs { edges { node { checkpoints { edges { cursor } } } } } }',
  ],
  ['maxAliases', aliases(3), aliases(4)],
  ['maxCost', '{ events(first: 10) { edges { cursor } } }', '{ events(first: 500) { edges { cursor } } }'],
  [
    'maxDirectives',
    '{ serverInfo @include(if: true) { version @skip(if: false) } }',
    '{ serverInfo @include(if: true) { version @skip(if: false) keyName @skip(if: false) } }',
  ],
  ['maxTokens', `{ serverInfo { ${'version '.repeat(50)}} }`, `{ serverInfo { ${'version '.repeat(250)}} }`],
];

async function overWs(query: string) {
  const probe = new SubscriptionProbe(svc.ws(), query);
  await probe.until((p) => p.completed);
  return probe;
}

describe('document limits', () => {
  it.each(LIMITS)(
    '%s: within the limit passes, over it is a 400 GRAPHQL_VALIDATION_FAILED over HTTP',
    async (rule, ok, tooMuch) => {
      const good = await svc.gql(ok);
      expect(good.status).toBe(200);
      expect(good.errors).toBeUndefined();
      const bad = await svc.gql(tooMuch);
      expect(bad.status).toBe(400);
      expect(bad.errors!.length).toBeGreaterThan(0);
      for (const e of bad.errors!) expect(e.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', rule });
    },
  );

  it.each(LIMITS)('%s: the same over the WebSocket', async (rule, ok, tooMuch) => {
    const good = await overWs(ok);
    expect(good.errors).toEqual([]);
    expect(good.values).toHaveLength(1);
    const bad = await overWs(tooMuch);
    expect(bad.values).toEqual([]);
    expect(bad.errors.length).toBeGreaterThan(0);
    for (const e of bad.errors as Array<{ extensions: unknown }>)
      expect(e.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', rule });
  });
});

describe('CSRF prevention (Apollo default)', () => {
  it('refuses simple requests: GET and POST without a JSON content type or apollo-require-preflight', async () => {
    const get = await fetch(`${svc.url}/graphql?query=${encodeURIComponent('{ serverInfo { version } }')}`);
    expect(get.status).toBe(400);
    expect(await get.text()).toMatch(/CSRF/i);
    // A POST that is not JSON is refused before Apollo, saying what to send (src/api/graphql/content-type.ts).
    const text = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: '{ serverInfo { version } }' }),
    });
    expect(text.status).toBe(415);
    expect(((await text.json()) as any).errors[0].message).toContain('send Content-Type: application/json');
    const form = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'query=%7B%20serverInfo%20%7B%20version%20%7D%20%7D',
    });
    expect(form.status).toBe(415);
  });

  it('accepts a GET with apollo-require-preflight and a JSON POST', async () => {
    const get = await fetch(`${svc.url}/graphql?query=${encodeURIComponent('{ serverInfo { version } }')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(get.status).toBe(200);
    expect((await svc.gql('{ serverInfo { version } }')).status).toBe(200);
  });
});

describe('body and frame limits', () => {
  it('answers 413 PAYLOAD_TOO_LARGE for a body over MAX_BODY_BYTES on /graphql and REST', async () => {
    const big = JSON.stringify({ query: '{ serverInfo { version } }', variables: { pad: 'x'.repeat(5000) } });
    const gql = await fetch(`${svc.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect(gql.status).toBe(413);
    expect(((await gql.json()) as any).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    const rest = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    });
    expect(rest.status).toBe(413);
    expect(((await rest.json()) as any).errors[0].code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('closes a WebSocket that sends a message over WS_MAX_PAYLOAD_BYTES with 1009', async () => {
    const ws = await openRaw(svc.url);
    await ws.init();
    ws.send({
      id: '1',
      type: 'subscribe',
      payload: { query: '{ serverInfo { version } }', variables: { pad: 'x'.repeat(5000) } },
    });
    expect((await ws.closed).code).toBe(1009);
  });

  it('closes a WebSocket that does not send connection_init in time with 4408', async () => {
    const ws = await openRaw(svc.url);
    const started = Date.now();
    const closed = await ws.closed;
    expect(closed.code).toBe(4408);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('WebSocket caps (per client: the API key, else the IP)', () => {
  const SUB = 'subscription { checkpointPublished { checkpoint { treeSize } } }';

  it('closes connections over WS_MAX_CONNECTIONS_PER_CLIENT with 4429 and a reason', async () => {
    const open = await Promise.all([0, 1, 2].map(() => openRaw(svc.url)));
    for (const ws of open) await ws.init();
    const extra = await openRaw(svc.url);
    extra.send({ type: 'connection_init' });
    const closed = await extra.closed;
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/Too many connections/);
    // Closing one frees a place (once the server has seen it close).
    const connections = await metric(svc, 'chainlog_ws_connections');
    await open[0]!.close();
    await until(
      'the server to see the connection close',
      async () => (await metric(svc, 'chainlog_ws_connections')) < connections,
    );
    const again = await openRaw(svc.url);
    await again.init();
    await Promise.all([again, ...open.slice(1)].map((ws) => ws.close()));
  });

  it('refuses subscriptions over WS_MAX_SUBSCRIPTIONS_PER_CONNECTION and per client with RATE_LIMITED', async () => {
    // The connections of the test before are closed on the server too, so this client starts with none.
    await until('no open WebSocket connection on the server', async () => (await metric(svc, 'chainlog_ws_connections')) === 0);
    const a = await openRaw(svc.url);
    await a.init();
    for (const id of ['1', '2', '3']) a.send({ id, type: 'subscribe', payload: { query: SUB } });
    const third = await a.next('3', ['error']);
    expect(third.payload[0].extensions).toMatchObject({ code: 'RATE_LIMITED', rule: 'maxSubscriptionsPerConnection' });
    expect(a.messages.filter((m) => m.type === 'error' && m.id !== '3')).toEqual([]);

    const b = await openRaw(svc.url);
    await b.init();
    b.send({ id: '1', type: 'subscribe', payload: { query: SUB } });
    b.send({ id: '2', type: 'subscribe', payload: { query: SUB } });
    const over = await b.next('2', ['error']);
    expect(over.payload[0].extensions).toMatchObject({ code: 'RATE_LIMITED', rule: 'maxSubscriptionsPerClient' });

    // Completing a subscription frees its place. graphql-ws drops the id as it reads the complete message,
    // so the answer to a query sent after it on the same connection means the place is free.
    a.send({ id: '1', type: 'complete' });
    a.send({ id: 'after-complete', type: 'subscribe', payload: { query: '{ __typename }' } });
    await a.next('after-complete', ['complete']);
    // Admitted: the server counts it open.
    await whenSubscribed(svc, () => b.send({ id: '4', type: 'subscribe', payload: { query: SUB } }), {
      field: 'checkpointPublished',
    });
    expect(b.messages.filter((m) => m.id === '4' && m.type === 'error')).toEqual([]);
    await a.close();
    await b.close();
    // The server is still fine.
    expect((await svc.gql('{ serverInfo { version } }')).status).toBe(200);
  });
});
