// Ingest over GraphQL and REST against the real service: rules, all-or-nothing batches, idempotency, conflicts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../support/service.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => svc?.stop());

const EVENT_FIELDS = 'id sourceAppId seq eventType timestamp receivedAt payload prevHash hash';
const LOG_EVENT = `mutation($input: LogEventInput!) { logEvent(input: $input) { ${EVENT_FIELDS} } }`;
const LOG_EVENTS = `mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { ${EVENT_FIELDS} } }`;
const ZERO = '0'.repeat(64);

let n = 0;
const input = (sourceAppId: string, extra: Record<string, unknown> = {}) => ({
  sourceAppId,
  eventType: 'order.created',
  timestamp: new Date(Date.UTC(2025, 0, 1) + ++n * 1000).toISOString(),
  payload: { n, text: 'grüße ✓' },
  ...extra,
});

const size = async (app: string): Promise<number> =>
  (await svc.gql(`{ log(sourceAppId: "${app}") { size } }`)).data.log?.size ?? 0;

async function rest(body: string, contentType = 'application/json') {
  const res = await fetch(`${svc.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...svc.authHeaders() },
    body,
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('GraphQL ingest', () => {
  it('logs an event and serves it back in the leaf format', async () => {
    const sent = input('shop', { timestamp: '2025-01-01T01:00:00.5+01:00' });
    const res = await svc.gql(LOG_EVENT, { input: sent });
    expect(res.errors).toBeUndefined();
    const e = res.data.logEvent;
    expect(e).toMatchObject({
      id: 'shop/0',
      sourceAppId: 'shop',
      seq: 0,
      eventType: 'order.created',
      prevHash: ZERO,
      payload: sent.payload,
    });
    expect(e.timestamp).toBe('2025-01-01T00:00:00.500Z');
    expect(e.receivedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await svc.gql(`{ event(id: "shop/0") { ${EVENT_FIELDS} } }`)).data.event).toEqual(e);
  });

  it('writes a batch all or nothing and reports every bad item by index', async () => {
    const res = await svc.gql(LOG_EVENTS, {
      inputs: [
        input('batch'),
        input('batch', { eventType: 'bad type' }),
        input('batch'),
        input('batch', { payload: { deep: [[[]]] }, timestamp: '2999-01-01T00:00:00Z' }),
      ],
    });
    expect(res.status).toBe(200);
    expect(res.data).toBeNull();
    expect(res.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'inputs', rule: 'items' });
    expect(res.errors![0]!.extensions!.errors.map((e: any) => [e.index, e.field, e.rule])).toEqual([
      [1, 'eventType', 'format'],
      [3, 'timestamp', 'future'],
    ]);
    expect(await size('batch')).toBe(0);

    const ok = await svc.gql(LOG_EVENTS, { inputs: [input('batch'), input('batch2'), input('batch')] });
    expect(ok.data.logEvents.map((e: any) => e.id)).toEqual(['batch/0', 'batch2/0', 'batch/1']);
    expect(ok.data.logEvents[2].prevHash).toBe(ok.data.logEvents[0].hash);
  });

  it('returns the original event when a request is retried with the same idempotency key', async () => {
    const sent = input('idem', { idempotencyKey: 'order-17' });
    const first = (await svc.gql(LOG_EVENT, { input: sent })).data.logEvent;
    const retry = await svc.gql(LOG_EVENT, { input: sent });
    expect(retry.data.logEvent).toEqual(first);
    expect(await size('idem')).toBe(1);
  });

  it('marks an idempotent retry as replayed, item by item, and nothing else', async () => {
    const sent = input('idem-mark', { idempotencyKey: 'order-18' });
    const first = await svc.gql(`mutation($input: LogEventInput!) { logEvent(input: $input) { id replayed } }`, { input: sent });
    expect(first.data.logEvent).toEqual({ id: 'idem-mark/0', replayed: false });
    const retry = await svc.gql(`mutation($input: LogEventInput!) { logEvent(input: $input) { id replayed } }`, { input: sent });
    expect(retry.data.logEvent).toEqual({ id: 'idem-mark/0', replayed: true });
    // A batch with one retry, one new event and a repeat of the new event's key within the batch.
    const fresh = input('idem-mark', { idempotencyKey: 'order-19' });
    const batch = await svc.gql(`mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { id replayed } }`, {
      inputs: [sent, fresh, fresh],
    });
    expect(batch.errors).toBeUndefined();
    expect(batch.data.logEvents).toEqual([
      { id: 'idem-mark/0', replayed: true },
      { id: 'idem-mark/1', replayed: false },
      { id: 'idem-mark/1', replayed: true },
    ]);
    expect((await svc.gql(`{ event(id: "idem-mark/0") { replayed } }`)).data.event).toEqual({ replayed: false });
  });

  it('says which form a DateTime takes when a timestamp has no time zone', async () => {
    const res = await svc.gql(LOG_EVENT, { input: input('dt', { timestamp: '2025-01-01T10:00:00' }) });
    expect(res.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.message).toContain(
      'must be an RFC 3339 date-time with a time zone, at most millisecond-precise, e.g. 2024-05-01T12:00:00.000Z',
    );
    const literal = await svc.gql(`{ events(filter: { from: "2025-01-01 10:00" }) { edges { cursor } } }`);
    expect(literal.errors![0]!.message).toContain('e.g. 2024-05-01T12:00:00.000Z');
  });

  it('rejects an idempotency key reused with other content as CONFLICT, writing nothing', async () => {
    const sent = input('idem2', { idempotencyKey: 'k1' });
    await svc.gql(LOG_EVENT, { input: sent });
    const res = await svc.gql(LOG_EVENT, { input: { ...sent, payload: { other: true } } });
    expect(res.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', field: 'idempotencyKey', rule: 'idempotencyKeyReused' });
    expect(await size('idem2')).toBe(1);
  });

  it('appends only on top of the expected head: a stale expectedPrevHash is a CONFLICT and writes nothing', async () => {
    const first = (await svc.gql(LOG_EVENT, { input: input('chain', { expectedPrevHash: ZERO }) })).data.logEvent;
    const second = await svc.gql(LOG_EVENT, { input: input('chain', { expectedPrevHash: first.hash }) });
    expect(second.data.logEvent.prevHash).toBe(first.hash);
    const stale = await svc.gql(LOG_EVENTS, { inputs: [input('other'), input('chain', { expectedPrevHash: first.hash })] });
    expect(stale.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', field: 'expectedPrevHash', rule: 'headMismatch' });
    expect(stale.errors![0]!.extensions!.errors).toEqual([expect.objectContaining({ index: 1, field: 'expectedPrevHash' })]);
    expect(await size('chain')).toBe(2);
    expect(await size('other')).toBe(0);
  });

  it('reports an oversized payload as PAYLOAD_TOO_LARGE', async () => {
    const res = await svc.gql(LOG_EVENT, { input: input('big', { payload: { s: 'x'.repeat(70_000) } }) });
    expect(res.errors![0]!.extensions).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'payload', rule: 'maxBytes' });
    expect(await size('big')).toBe(0);
  });
});

describe('GraphQL errors are client errors, never 500 or INTERNAL_SERVER_ERROR', () => {
  it.each([
    ['a syntax error', '{ events(first: ) { edges { cursor } } }', undefined, 'GRAPHQL_VALIDATION_FAILED'],
    ['an unknown field', '{ nope }', undefined, 'GRAPHQL_VALIDATION_FAILED'],
    ['a missing argument', '{ event { id } }', undefined, 'GRAPHQL_VALIDATION_FAILED'],
    ['a wrong literal type', '{ inclusionProof(sourceAppId: "a", seq: "x") { hashes } }', undefined, 'GRAPHQL_VALIDATION_FAILED'],
    ['a bad DateTime variable', LOG_EVENT, { input: { ...input('v'), timestamp: 'yesterday' } }, 'BAD_USER_INPUT'],
    ['a non-object payload variable', LOG_EVENT, { input: { ...input('v'), payload: [1] } }, 'BAD_USER_INPUT'],
    [
      'an unsafe SafeInt variable',
      'query($s: SafeInt!) { inclusionProof(sourceAppId: "a", seq: $s) { hashes } }',
      { s: 2 ** 60 },
      'BAD_USER_INPUT',
    ],
    ['a missing variable', LOG_EVENT, {}, 'BAD_USER_INPUT'],
  ])('%s', async (_name, query, variables, code) => {
    const res = await svc.gql(query, variables);
    expect([200, 400]).toContain(res.status);
    expect(res.errors!.map((e) => e.extensions!.code)).toEqual(res.errors!.map(() => code));
  });

  it('rejects documents with more aliases than the limit', async () => {
    const aliases = (n: number) => Array.from({ length: n }, (_, k) => `a${k}: serverInfo { version }`).join(' ');
    expect((await svc.gql(`{ ${aliases(30)} }`)).status).toBe(200);
    const res = await svc.gql(`{ ${aliases(31)} }`);
    expect(res.status).toBe(400);
    expect(res.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', rule: 'maxAliases' }) }),
    ]);
  });

  it('names the field of a bad id and returns null for a well-formed absent one', async () => {
    const bad = await svc.gql('{ event(id: "no-slash") { id } }');
    expect(bad.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id', rule: 'format' });
    expect((await svc.gql('{ event(id: "ghost/0") { id } }')).data.event).toBeNull();
  });

  it('answers NOT_FOUND for proofs of a log that does not exist', async () => {
    const res = await svc.gql('{ inclusionProof(sourceAppId: "ghost", seq: 0) { hashes } }');
    expect(res.errors![0]!.extensions!.code).toBe('NOT_FOUND');
  });

  it('rejects a malformed request body without a 500', async () => {
    const res = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...svc.authHeaders() },
      body: '{"query": ',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('REST ingest', () => {
  it('accepts one event or an array, answering 201 with the events', async () => {
    const one = await rest(JSON.stringify(input('rest')));
    expect(one.status).toBe(201);
    expect(one.body.events).toEqual([expect.objectContaining({ id: 'rest/0', seq: 0, prevHash: ZERO })]);
    const many = await rest(JSON.stringify([input('rest'), input('rest')]));
    expect(many.status).toBe(201);
    expect(many.body.events.map((e: any) => e.id)).toEqual(['rest/1', 'rest/2']);
    expect(many.body.events[0].prevHash).toBe(one.body.events[0].hash);
  });

  it('applies the same rules, listing every bad item, and writes nothing', async () => {
    const res = await rest(
      JSON.stringify([input('rest-bad'), { ...input('rest-bad'), sourceAppId: 'a/b' }, { ...input('rest-bad'), seq: 4 }]),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => [e.code, e.index, e.field, e.rule])).toEqual([
      ['BAD_USER_INPUT', 1, 'sourceAppId', 'format'],
      ['BAD_USER_INPUT', 2, 'seq', 'unknownField'],
    ]);
    expect(await size('rest-bad')).toBe(0);
  });

  it('answers an idempotent retry with 200 and a replay marker (header and field), a new event with 201', async () => {
    const sent = JSON.stringify(input('rest-idem', { idempotencyKey: 'pay-1' }));
    const first = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...svc.authHeaders() },
      body: sent,
    });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const created = ((await first.json()) as any).events[0];
    expect(created.replayed).toBe(false);
    const retry = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...svc.authHeaders() },
      body: sent,
    });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(((await retry.json()) as any).events).toEqual([{ ...created, replayed: true }]);
    // Part retry, part new: something was created.
    const mixed = await rest(JSON.stringify([JSON.parse(sent), input('rest-idem')]));
    expect(mixed.status).toBe(201);
    expect(mixed.body.events.map((e: any) => e.replayed)).toEqual([true, false]);
    expect(await size('rest-idem')).toBe(2);
  });

  it('answers 409 CONFLICT for a stale expectedPrevHash', async () => {
    const res = await rest(JSON.stringify(input('rest', { expectedPrevHash: ZERO })));
    expect(res.status).toBe(409);
    expect(res.body.errors[0]).toMatchObject({ code: 'CONFLICT', field: 'expectedPrevHash' });
  });

  it('answers 413 for an oversized payload and for a body over the limit', async () => {
    const payload = await rest(JSON.stringify(input('rest', { payload: { s: 'x'.repeat(70_000) } })));
    expect(payload.status).toBe(413);
    expect(payload.body.errors[0]).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'payload' });
    const body = await rest(
      JSON.stringify(Array.from({ length: 300 }, () => input('rest', { payload: { s: 'y'.repeat(60_000) } }))),
    );
    expect(body.status).toBe(413);
    expect(body.body.errors[0]).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'body' });
  });

  it('answers 400 for malformed JSON and 415 for other content types', async () => {
    const malformed = await rest('{"sourceAppId": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body', rule: 'json' });
    const scalar = await rest('"just a string"');
    expect(scalar.status).toBe(400);
    const text = await rest(JSON.stringify(input('rest')), 'text/plain');
    expect(text.status).toBe(415);
    expect(text.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', rule: 'contentType' });
  });
});

describe('operations', () => {
  it('reports health', async () => {
    const res = await fetch(`${svc.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('exposes Prometheus metrics for requests, errors, ingest and subscriptions', async () => {
    const res = await fetch(`${svc.url}/metrics`, { headers: svc.authHeaders() });
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/chainlog_http_requests_total\{method="POST",route="\/v1\/events",status="201"\} \d+/);
    expect(text).toMatch(/chainlog_http_request_duration_seconds_bucket\{/);
    expect(text).toMatch(/chainlog_api_errors_total\{code="CONFLICT",transport="graphql"\} \d+/);
    expect(text).toMatch(/chainlog_api_events_ingested_total\{transport="rest"\} [1-9]/);
    expect(text).toContain('chainlog_graphql_active_subscriptions');
    expect(text).toMatch(/chainlog_graphql_operations_total\{type="mutation",outcome="ok"\} \d+/);
  });

  it('never answered 500 to any of the above', async () => {
    expect(await (await fetch(`${svc.url}/metrics`, { headers: svc.authHeaders() })).text()).not.toMatch(/status="5\d\d"/);
  });
});
