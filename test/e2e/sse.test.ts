// GraphQL over Server-Sent Events at /graphql/stream against the real service: the graphql-sse client
// and an EventSource-style reader, resume with `after`, authentication, document limits as on the
// WebSocket, per-client caps and keep-alive comments.
import { request, type IncomingMessage } from 'node:http';
import { createClient, type Client as SseClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whenSubscribed } from '../support/metrics.js';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';
import { openSse, parseEventStream } from '../support/sse.js';
import {
  expectResumeAfterReceived,
  fillStalledLog,
  STALLED_EVENTS,
  STALLED_LOG,
  STALLED_QUERY,
} from '../support/stalled-subscriber.js';
import { until } from '../support/wait.js';

let svc: RunningService;
const clients: SseClient[] = [];
beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => {
  for (const c of clients) c.dispose();
  await svc?.stop();
});

const EVENT_LOGGED = `subscription($filter: EventFilter, $after: ID) { eventLogged(filter: $filter, after: $after) { id seq sourceAppId } }`;
const CHECKPOINT = `subscription($app: String) { checkpointPublished(sourceAppId: $app) { checkpoint { sourceAppId treeSize rootHash } } }`;

let n = 0;
async function ingest(sourceAppId: string, count: number): Promise<string[]> {
  const inputs = Array.from({ length: count }, () => ({
    sourceAppId,
    eventType: 'sse',
    timestamp: new Date(Date.UTC(2025, 6, 1) + ++n).toISOString(),
    payload: { n },
  }));
  const res = await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { id } }', { in: inputs });
  expect(res.errors).toBeUndefined();
  return res.data.logEvents.map((e: { id: string }) => e.id) as string[];
}

function sseClient(key: string | null = svc.adminKey): SseClient {
  const client = createClient({
    url: `${svc.url}/graphql/stream`,
    headers: key ? { 'x-api-key': key } : {},
    retryAttempts: 0,
  });
  clients.push(client);
  return client;
}

/** SubscriptionProbe takes any client with graphql-ws's subscribe(request, sink); graphql-sse's has it. */
const probeOf = <T>(client: SseClient, query: string, variables?: Record<string, unknown>) =>
  new SubscriptionProbe<T>(client as never, query, variables);

describe('the graphql-sse client', () => {
  it('receives live events and checkpoints on distinct connections', async () => {
    const client = sseClient();
    const events = await whenSubscribed(svc, () =>
      probeOf<{ eventLogged: { id: string } }>(client, EVENT_LOGGED, { filter: { sourceAppIds: ['sse-live'] } }),
    );
    type Update = { checkpointPublished: { checkpoint: { sourceAppId: string; treeSize: number } } };
    const checkpoints = await whenSubscribed(svc, () => probeOf<Update>(client, CHECKPOINT, { app: 'sse-live' }), {
      field: 'checkpointPublished',
    });
    const ids = await ingest('sse-live', 5);
    await ingest('sse-noise', 2);
    await events.until((p) => p.values.length >= 5);
    await checkpoints.until((p) => p.values.some((v) => v.checkpointPublished.checkpoint.treeSize === 5));
    expect(events.errors).toEqual([]);
    expect(checkpoints.errors).toEqual([]);
    expect(events.values.map((v) => v.eventLogged.id)).toEqual(ids);
    expect(checkpoints.values.every((v) => v.checkpointPublished.checkpoint.sourceAppId === 'sse-live')).toBe(true);
    events.unsubscribe();
    checkpoints.unsubscribe();
  });

  it('resumes with after across a dropped connection, none missed or repeated', async () => {
    const first = await ingest('sse-resume', 4);
    const before = probeOf<{ eventLogged: { id: string } }>(sseClient(), EVENT_LOGGED, {
      filter: { sourceAppIds: ['sse-resume'] },
      after: 'sse-resume/-1',
    });
    await before.until((p) => p.values.length >= 4);
    before.unsubscribe(); // the connection is dropped
    const seen = before.values.map((v) => v.eventLogged.id);
    const meanwhile = await ingest('sse-resume', 3);
    const after = probeOf<{ eventLogged: { id: string } }>(sseClient(), EVENT_LOGGED, {
      filter: { sourceAppIds: ['sse-resume'] },
      after: seen.at(-1),
    });
    await after.until((p) => p.values.length >= 3);
    const live = await ingest('sse-resume', 2);
    await after.until((p) => p.values.length >= 5);
    expect([...seen, ...after.values.map((v) => v.eventLogged.id)]).toEqual([...first, ...meanwhile, ...live]);
    expect(after.errors).toEqual([]);
    after.unsubscribe();
  });
});

describe('an EventSource-style reader (GET, text/event-stream)', () => {
  it('reads next events, then resumes after the last one it saw on a new connection', async () => {
    const first = await ingest('sse-es', 3);
    const filter = { sourceAppIds: ['sse-es'] };
    const one = await openSse(svc.url, { query: EVENT_LOGGED, variables: { filter, after: 'sse-es/-1' }, key: svc.adminKey });
    expect(one.status).toBe(200);
    expect(one.contentType).toMatch(/^text\/event-stream/);
    await one.until('3 events', (s) => s.nexts().length >= 3);
    one.abort();
    const seen = one.nexts().map((d) => d.data.eventLogged.id as string);
    const meanwhile = await ingest('sse-es', 2);
    const two = await openSse(svc.url, { query: EVENT_LOGGED, variables: { filter, after: seen.at(-1) }, key: svc.adminKey });
    await two.until('2 events', (s) => s.nexts().length >= 2);
    expect([...seen, ...two.nexts().map((d) => d.data.eventLogged.id)]).toEqual([...first, ...meanwhile]);
    two.abort();
  });

  it('takes the operation as a POST body too', async () => {
    const first = await ingest('sse-post', 2);
    const s = await openSse(svc.url, {
      method: 'POST',
      query: EVENT_LOGGED,
      variables: { filter: { sourceAppIds: ['sse-post'] }, after: 'sse-post/-1' },
      key: svc.adminKey,
    });
    await s.until('2 events', (x) => x.nexts().length >= 2);
    expect(s.nexts().map((d) => d.data.eventLogged.id)).toEqual(first);
    s.abort();
  });

  it('ends a query with one next event and complete', async () => {
    const s = await openSse(svc.url, { query: '{ __typename }', key: svc.adminKey });
    await s.until('the end', (x) => x.ended);
    expect(s.events).toEqual([
      { event: 'next', data: { data: { __typename: 'Query' } } },
      { event: 'complete', data: null },
    ]);
  });
});

describe('authentication', () => {
  it('refuses no key with 401 and an invalid key with 403, before reading the body', async () => {
    const none = await openSse(svc.url, { query: EVENT_LOGGED, key: null });
    expect(none.status).toBe(401);
    expect(none.refusal.errors[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', rule: 'missingKey' });
    const wrong = await openSse(svc.url, { query: EVENT_LOGGED, key: 'clk_not-a-key-of-this-server-0123456789ab' });
    expect(wrong.status).toBe(403);
    expect(wrong.refusal.errors[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', rule: 'invalidKey' });
    // A body that is not JSON at all is never read without a key.
    const res = await fetch(`${svc.url}/graphql/stream`, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(res.status).toBe(401);
  });

  it('gives a READER of one app only that app’s events, and refuses it a mutation', async () => {
    const created = await svc.gql(
      `mutation($apps: [String!]) { createApiKey(role: READER, sourceAppIds: $apps, name: "sse-reader") { secret } }`,
      { apps: ['sse-mine'] },
    );
    expect(created.errors).toBeUndefined();
    const key = created.data.createApiKey.secret as string;
    const probe = await whenSubscribed(svc, () => probeOf<{ eventLogged: { id: string } }>(sseClient(key), EVENT_LOGGED));
    await ingest('sse-other', 2);
    const mine = await ingest('sse-mine', 2);
    await ingest('sse-other', 1);
    await probe.until((p) => p.values.length >= 2);
    // The last of sse-other was committed after sse-mine: had it been delivered, it would be here by now.
    const later = await ingest('sse-mine', 1);
    await probe.until((p) => p.values.length >= 3);
    expect(probe.values.map((v) => v.eventLogged.id)).toEqual([...mine, ...later]);
    probe.unsubscribe();

    const mutation = await openSse(svc.url, {
      method: 'POST',
      query: 'mutation { createApiKey(role: READER) { secret } }',
      key,
    });
    await mutation.until('the end', (x) => x.ended);
    expect(mutation.nexts()[0].errors[0].extensions).toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('the request form', () => {
  it('refuses a method other than GET and POST with 405, and a client that does not accept an event stream with 406', async () => {
    const put = await fetch(`${svc.url}/graphql/stream`, {
      method: 'PUT',
      headers: { ...svc.authHeaders(), accept: 'text/event-stream' },
    });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
    expect(((await put.json()) as any).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'method' });
    const json = await fetch(`${svc.url}/graphql/stream?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { ...svc.authHeaders(), accept: 'application/json' },
    });
    expect(json.status).toBe(406);
    expect(((await json.json()) as any).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'Accept' });
  });

  it.each([
    [
      'a number a JSON number does not keep exactly',
      '{"filter": {"n": 12345678901234567890}}',
      'variables.filter.n',
      'exactNumber',
    ],
    [
      'an object that repeats a member name',
      '{"filter": {"sourceAppId": "a", "sourceAppId": "b"}}',
      'variables.filter',
      'uniqueNames',
    ],
  ])('refuses GET variables with %s, as in a body', async (_what, variables, field, rule) => {
    const url = new URL('/graphql/stream', svc.url);
    url.searchParams.set('query', EVENT_LOGGED);
    url.searchParams.set('variables', variables);
    const res = await fetch(url, { headers: { ...svc.authHeaders(), accept: 'text/event-stream' } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field, rule });
    expect(body.errors[0].message).toMatch(new RegExp(`^${field.replaceAll('.', '\\.')}: `));
  });
});

describe('document limits and errors as on the WebSocket', () => {
  it.each([
    ['too many aliases', `subscription { eventLogged { ${Array.from({ length: 40 }, (_, i) => `a${i}: id`).join(' ')} } }`],
    ['a syntax error', 'subscription { eventLogged( }'],
    ['an unknown field', 'subscription { eventLogged { nope } }'],
    ['too many tokens', `subscription { eventLogged { ${'id '.repeat(6_000)} } }`],
    ['a bad variable', EVENT_LOGGED, { filter: { from: 'not a date' } }],
    ['an unknown after', EVENT_LOGGED, { after: 'sse/999999' }],
  ])('refuses %s with the same extensions as graphql-ws', async (_name, query, variables?: Record<string, unknown>) => {
    const overWs = new SubscriptionProbe(svc.ws(), query, variables);
    await overWs.until((p) => p.completed);
    const overSse = await openSse(svc.url, { method: 'POST', query, ...(variables && { variables }), key: svc.adminKey });
    await overSse.until('the end', (s) => s.ended);
    expect(overSse.status).toBe(200);
    const errors = overSse.nexts().flatMap((d) => d.errors ?? []);
    const extensionsOf = (list: any[]) =>
      list.map((e) => ({ code: e.extensions?.code, rule: e.extensions?.rule, field: e.extensions?.field }));
    expect(errors.length).toBeGreaterThan(0);
    expect(extensionsOf(errors)).toEqual(extensionsOf(overWs.errors));
    expect(overSse.events.at(-1)!.event).toBe('complete');
  });
});

describe('settings: keep-alive comments and the per-client cap', () => {
  let small: RunningService;
  beforeAll(async () => {
    small = await startService({ env: { SSE_KEEP_ALIVE_MS: '100', SSE_MAX_CONNECTIONS_PER_CLIENT: '1' } });
  });
  afterAll(async () => small?.stop());

  it('sends keep-alive comments on the interval and refuses a second stream of the same key with 429', async () => {
    const s = await openSse(small.url, { query: EVENT_LOGGED, key: small.adminKey });
    expect(s.status).toBe(200);
    // The first comment flushes the headers; the rest are the keep-alive interval's.
    await s.until('three keep-alive comments', (x) => x.comments >= 4, 5_000);
    const second = await openSse(small.url, { query: EVENT_LOGGED, key: small.adminKey });
    expect(second.status).toBe(429);
    expect(second.refusal.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', rule: 'maxConnectionsPerClient' });
    s.abort();
    // The cap is released with the connection.
    const third = await until('a stream admitted again', async () => {
      const attempt = await openSse(small.url, { query: EVENT_LOGGED, key: small.adminKey });
      return attempt.status === 200 ? attempt : null;
    });
    third.abort();
  });
});

describe('the rate limit', () => {
  let limited: RunningService;
  beforeAll(async () => {
    limited = await startService({ env: { RATE_LIMIT_READS_PER_SEC: '1' } });
  });
  afterAll(async () => limited?.stop());

  it('charges an operation over SSE as over the WebSocket: over it, RATE_LIMITED', async () => {
    const codes: unknown[] = [];
    // One read a second: operations sent back to back soon find the bucket empty.
    for (let i = 0; i < 20 && !codes.includes('RATE_LIMITED'); i++) {
      const s = await openSse(limited.url, { query: '{ __typename }', key: limited.adminKey });
      await s.until('the end', (x) => x.ended);
      codes.push(s.nexts()[0].errors?.[0]?.extensions?.code ?? 'ok');
    }
    expect(codes[0]).toBe('ok');
    expect(codes).toContain('RATE_LIMITED');
  });
});

describe('a reader that stops reading', () => {
  // Its own service: an ended stream is given 2 keep-alive intervals to leave, longer than this test pauses.
  let slow: RunningService;
  beforeAll(async () => {
    slow = await startService({ env: { SSE_KEEP_ALIVE_MS: '120000' } });
  });
  afterAll(async () => slow?.stop());

  it('is held to a bounded buffer and ends with RESUME_REQUIRED after what it received, nothing skipped', async () => {
    const url = new URL('/graphql/stream', slow.url);
    url.searchParams.set('query', STALLED_QUERY);
    let text = '';
    let ended = false;
    // With a reading subscriber beside it, to know when every event has reached the subscriptions.
    const [res, witness] = await whenSubscribed(
      slow,
      async () => {
        const req = request(url, { headers: { accept: 'text/event-stream', 'x-api-key': slow.adminKey! } });
        const response = new Promise<IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject));
        req.end();
        const witness = probeOf<{ eventLogged: { id: string } }>(
          createClient({ url: url.href, headers: { 'x-api-key': slow.adminKey! }, retryAttempts: 0 }),
          EVENT_LOGGED,
          { filter: { sourceAppIds: [STALLED_LOG] } },
        );
        return [await response, witness] as const;
      },
      { count: 2 },
    );
    expect(res.statusCode).toBe(200);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.once('end', () => (ended = true));
    res.pause();

    await fillStalledLog(slow);
    await witness.until((p) => p.values.length === STALLED_EVENTS, 150_000);
    witness.unsubscribe();
    res.resume();

    await until('the stream to end', () => ended, { timeoutMs: 30_000 });
    const { events } = parseEventStream(text);
    const nexts = events.filter((e) => e.event === 'next').map((e) => e.data);
    const end = nexts.at(-1);
    expect(end.errors).toHaveLength(1);
    expect(events.at(-1)!.event).toBe('complete');
    expectResumeAfterReceived(
      nexts.slice(0, -1).map((d) => d.data.eventLogged.id as string),
      end.errors[0],
    );
  }, 300_000);
});
