// POST /graphql in its common form is served without Express, and an operation that passes every check
// before execution is executed without Apollo's pipeline (src/api/graphql/lean-graphql.ts); any other
// form goes through the Express route and Apollo. Each request below is sent in both forms, the lean one
// (Content-Type application/json) and one the lean route leaves to Express (a Content-Type parameter
// body-parser ignores): the answers (status, the headers a client reads, the body byte for byte) must be
// the same for every refusal, resolver error, oversized answer and rate limit, in development and in
// production, for every Accept; the acknowledgements the same but for the event's own fields; and what
// is acknowledged is stored once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leanTakes } from '../../src/api/lean-http.js';
import { startService, type RunningService } from '../support/service.js';

let svc: RunningService;
let writerA: string;
let reader: string;

const APP = 'lean-gql-a';
const LEAN = 'application/json';
/** Served by Express: the lean route takes no Content-Type parameter but charset=utf-8. */
const EXPRESS = 'application/json; profile=x';
const LOG_EVENT = 'mutation($input: LogEventInput!) { logEvent(input: $input) { id seq sourceAppId receivedAt } }';

let n = 0;
const event = (sourceAppId = APP, extra: Record<string, unknown> = {}) => ({
  sourceAppId,
  eventType: 'lean.graphql',
  timestamp: new Date(Date.UTC(2025, 0, 1) + ++n * 1000).toISOString(),
  payload: { n },
  ...extra,
});
const logEvent = (input: unknown) => JSON.stringify({ query: LOG_EVENT, variables: { input } });

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  text: string;
}

async function post(
  contentType: string,
  body: string,
  key: string | null = svc.adminKey,
  opts: { url?: string; accept?: string } = {},
): Promise<Answer> {
  const res = await fetch(`${opts.url ?? svc.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(key && { 'x-api-key': key }), ...(opts.accept && { accept: opts.accept }) },
    body,
  });
  const headers: Record<string, string | null> = {};
  for (const name of ['content-type', 'cache-control', 'retry-after', 'content-length', 'vary'])
    headers[name] = res.headers.get(name);
  return { status: res.status, headers, text: await res.text() };
}

/** The same request, lean and through Express. */
async function both(body: string, key?: string | null, opts?: { url?: string; accept?: string }): Promise<[Answer, Answer]> {
  return [await post(LEAN, body, key, opts), await post(EXPRESS, body, key, opts)];
}

const size = async (app: string): Promise<number> =>
  (await svc.gql(`{ log(sourceAppId: "${app}") { size } }`)).data.log?.size ?? 0;

beforeAll(async () => {
  svc = await startService();
  const create = 'mutation($role: ApiKeyRole!, $apps: [String!]) { createApiKey(role: $role, sourceAppIds: $apps) { secret } }';
  writerA = (await svc.gql(create, { role: 'WRITER', apps: [APP] })).data.createApiKey.secret;
  reader = (await svc.gql(create, { role: 'READER' })).data.createApiKey.secret;
});
afterAll(async () => svc?.stop());

describe('POST /graphql: the lean route answers as the Express route does', () => {
  const refusals: Array<[string, () => string, 'admin' | 'reader' | 'writerA' | null, number]> = [
    ['no API key', () => logEvent(event()), null, 401],
    ['a READER key', () => logEvent(event()), 'reader', 403],
    ['a source application outside the key', () => logEvent(event('lean-gql-b')), 'writerA', 200],
    ['a body that is not JSON', () => '{"query":', 'admin', 400],
    ['JSON that is not an object or an array', () => '"lean"', 'admin', 400],
    ['a body without a query', () => JSON.stringify({ variables: {} }), 'admin', 400],
    ['a query that does not parse', () => JSON.stringify({ query: 'mutation {' }), 'admin', 400],
    ['a field the schema lacks', () => JSON.stringify({ query: '{ noSuchField }' }), 'admin', 400],
    [
      'a number a double does not keep',
      () =>
        `{"query":${JSON.stringify(LOG_EVENT)},"variables":{"input":{"sourceAppId":"${APP}","payload":{"n":9007199254740993}}}}`,
      'admin',
      400,
    ],
    [
      'an object that repeats a member name',
      () => `{"query":${JSON.stringify(LOG_EVENT)},"variables":{"input":{"sourceAppId":"${APP}","payload":{"n":1,"n":2}}}}`,
      'admin',
      400,
    ],
    ['an event without its eventType', () => logEvent({ ...event(), eventType: undefined }), 'admin', 400],
    ['a timestamp that is not RFC 3339', () => logEvent({ ...event(), timestamp: 'soon' }), 'admin', 400],
    ['a batch of queries', () => JSON.stringify([{ query: LOG_EVENT, variables: { input: event() } }]), 'admin', 400],
  ];
  it.each(refusals)('refuses %s alike, and stores nothing', async (_what, body, who, status) => {
    const before = await size(APP);
    const key = who === null ? null : who === 'admin' ? svc.adminKey : who === 'reader' ? reader : writerA;
    const [lean, express] = await both(body(), key);
    expect(lean.status).toBe(status);
    expect(lean).toEqual(express);
    expect(JSON.parse(lean.text).errors[0].extensions.code).toBeTypeOf('string');
    expect(await size(APP)).toBe(before);
  });

  it('answers a query alike', async () => {
    const [lean, express] = await both(JSON.stringify({ query: `{ log(sourceAppId: "${APP}") { sourceAppId } }` }));
    expect(lean.status).toBe(200);
    expect(lean).toEqual(express);
  });

  it('acknowledges logEvent alike, each event stored once, in order', async () => {
    const before = await size(APP);
    const answers = [
      await post(LEAN, logEvent(event())),
      await post(EXPRESS, logEvent(event())),
      await post(LEAN, logEvent(event()), writerA),
      await post(EXPRESS, logEvent(event()), writerA),
    ];
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect({ ...a.headers, 'content-length': null }).toEqual({
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'retry-after': null,
        'content-length': null,
        vary: null,
      });
      expect(Number(a.headers['content-length'])).toBe(Buffer.byteLength(a.text));
      expect(JSON.parse(a.text).errors).toBeUndefined();
    }
    const events = answers.map((a) => JSON.parse(a.text).data.logEvent as { seq: number; sourceAppId: string });
    expect(events.map((e) => Object.keys(e))).toEqual(Array(4).fill(['id', 'seq', 'sourceAppId', 'receivedAt']));
    expect(events.map((e) => e.seq)).toEqual([before, before + 1, before + 2, before + 3]);
    expect(await size(APP)).toBe(before + 4);
  });
});

describe('POST /graphql: what the lean route executes itself is answered as Apollo answers it', () => {
  const query = (app = APP) => JSON.stringify({ query: `{ log(sourceAppId: "${app}") { sourceAppId size } }` });
  it.each([
    undefined,
    '*/*',
    'application/json',
    'application/graphql-response+json',
    'application/graphql-response+json, application/json;q=0.9',
    'text/html',
  ])('answers a query alike with Accept %s', async (accept) => {
    const [lean, express] = await both(query(), svc.adminKey, accept === undefined ? {} : { accept });
    expect(lean).toEqual(express);
  });

  it.each([
    ['two operations, one named', { query: 'query A { __typename } query B { ping: __typename }', operationName: 'B' }],
    ['two operations, none named', { query: 'query A { __typename } query B { ping: __typename }' }],
    ['an operationName that names none', { query: 'query A { __typename }', operationName: 'C' }],
    ['variables null and operationName null', { query: '{ __typename }', variables: null, operationName: null }],
    ['variables that are a list', { query: '{ __typename }', variables: [] }],
    ['an operationName that is a number', { query: '{ __typename }', operationName: 1 }],
    ['extensions', { query: '{ __typename }', extensions: { x: 1 } }],
    ['an unknown key', { query: '{ __typename }', other: 1 }],
    ['an empty query', { query: '' }],
    ['a subscription', { query: 'subscription { events { seq } }' }],
    ['an unknown variable type', { query: 'query($a: Nope) { __typename }', variables: { a: 1 } }],
    ['a variable of the wrong type', { query: 'query($n: Int) { __typename }', variables: { n: 'x' } }],
    // Coerced by graphql-js's execute after the rate limit's charge, on the lean route as in Apollo.
    [
      'a variable refused by coercion',
      { query: 'query($n: Int) { events(first: $n) { edges { node { seq } } } }', variables: { n: 'x' } },
    ],
    ['a required variable missing', { query: 'query($n: Int!) { events(first: $n) { edges { node { seq } } } }' }],
    [
      'a variable an input object refuses',
      { query: LOG_EVENT, variables: { input: { sourceAppId: APP, eventType: 'x', timestamp: 'soon', payload: {}, other: 1 } } },
    ],
    ['a field misspelt', { query: `{ lgo(sourceAppId: "${APP}") { size } }` }],
    ['introspection', { query: '{ __schema { queryType { name } } }' }],
    ['a resolver refusing the argument', { query: '{ events(first: -1) { edges { node { seq } } } }' }],
  ])('answers %s alike', async (_what, body) => {
    const [lean, express] = await both(JSON.stringify(body));
    expect(lean).toEqual(express);
  });

  // The ingest mutations run compiled (graphql-jit), which words its refusals of variables otherwise:
  // each refusal must still be graphql-js's, as Apollo gives it, and store nothing.
  const LOG_EVENTS = 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }';
  const WAITING = 'mutation($input: LogEventInput!, $w: Boolean) { logEvent(input: $input, waitForReceipt: $w) { seq } }';
  it.each([
    ['an eventType that is a number', () => ({ query: LOG_EVENT, variables: { input: { ...event(), eventType: 5 } } })],
    ['a payload that is a string', () => ({ query: LOG_EVENT, variables: { input: { ...event(), payload: 'x' } } })],
    ['a payload that is null', () => ({ query: LOG_EVENT, variables: { input: { ...event(), payload: null } } })],
    ['a timestamp that is a number', () => ({ query: LOG_EVENT, variables: { input: { ...event(), timestamp: 5 } } })],
    ['an idempotencyKey that is a number', () => ({ query: LOG_EVENT, variables: { input: { ...event(), idempotencyKey: 5 } } })],
    ['an input with a field it lacks', () => ({ query: LOG_EVENT, variables: { input: { ...event(), other: 1 } } })],
    ['an input without its timestamp', () => ({ query: LOG_EVENT, variables: { input: { ...event(), timestamp: undefined } } })],
    ['an input that is a list', () => ({ query: LOG_EVENT, variables: { input: [event()] } })],
    ['an input that is a string', () => ({ query: LOG_EVENT, variables: { input: 'x' } })],
    ['no input', () => ({ query: LOG_EVENT, variables: {} })],
    ['a waitForReceipt that is a string', () => ({ query: WAITING, variables: { input: event(), w: 'yes' } })],
    ['a list of inputs with a null', () => ({ query: LOG_EVENTS, variables: { inputs: [event(), null] } })],
    [
      'a list of inputs, one of them refused',
      () => ({ query: LOG_EVENTS, variables: { inputs: [event(), { ...event(), eventType: 1 }] } }),
    ],
  ])('refuses logEvent(s) with %s alike, and stores nothing', async (_what, body) => {
    const before = await size(APP);
    const text = JSON.stringify(body());
    const [lean, express] = await both(text);
    // Its operation is compiled once it comes back: the second answer is the compiled query's refusal.
    const again = await post(LEAN, text);
    expect(lean.status).toBe(400);
    expect(lean).toEqual(express);
    expect(again).toEqual(express);
    expect(JSON.parse(lean.text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(await size(APP)).toBe(before);
  });

  it("runs the operation a request names, whichever of a document's operations ran before", async () => {
    const text = `query Q { __typename } mutation L($input: LogEventInput!) { logEvent(input: $input) { seq } }`;
    const before = await size(APP);
    const send = async (operationName: string, variables?: unknown) =>
      JSON.parse((await post(LEAN, JSON.stringify({ query: text, operationName, variables }))).text) as {
        data: Record<string, unknown>;
      };
    // Run twice, L is compiled; Q, of the same document and with variables L would take, must not run it.
    expect((await send('L', { input: event() })).data).toEqual({ logEvent: { seq: before } });
    expect((await send('L', { input: event() })).data).toEqual({ logEvent: { seq: before + 1 } });
    expect((await send('Q', { input: event() })).data).toEqual({ __typename: 'Query' });
    expect((await send('Q', { input: event() })).data).toEqual({ __typename: 'Query' });
    expect((await send('L', { input: event() })).data).toEqual({ logEvent: { seq: before + 2 } });
    expect(await size(APP)).toBe(before + 3);
  });

  it('answers the same query text alike each time (its document is cached)', async () => {
    const first = await both(query());
    const again = await both(query());
    expect(first[0]).toEqual(first[1]);
    expect(again[0]).toEqual(first[0]);
  });
});

describe('POST /graphql: the lean route counts in the metrics what Apollo counts', () => {
  /** The counters of GraphQL operations, their errors by code, refused documents and events stored, by series. */
  const COUNTED =
    /^chainlog_(graphql_operations_total|graphql_operation_duration_seconds_count|api_errors_total|api_events_ingested_total|graphql_documents_refused_total)[{ ]/;
  async function counters(): Promise<Map<string, number>> {
    const text = await (await fetch(`${svc.url}/metrics`, { headers: svc.authHeaders() })).text();
    const series = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!COUNTED.test(line)) continue;
      const at = line.lastIndexOf(' ');
      series.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return series;
  }
  /** What one request added to the counters. */
  async function counted(send: () => Promise<Answer>): Promise<Record<string, number>> {
    const before = await counters();
    await send();
    const added: Record<string, number> = {};
    for (const [name, value] of await counters())
      if (value !== (before.get(name) ?? 0)) added[name] = value - (before.get(name) ?? 0);
    return added;
  }

  it.each([
    ['a logEvent', () => logEvent(event()), 'admin'],
    ['a scope refusal by the resolver', () => logEvent(event('lean-gql-b')), 'writerA'],
    ['a query', () => JSON.stringify({ query: `{ log(sourceAppId: "${APP}") { size } }` }), 'admin'],
    [
      'a resolver refusing the argument',
      () => JSON.stringify({ query: '{ events(first: -1) { edges { node { seq } } } }' }),
      'admin',
    ],
    ['a field the schema lacks', () => JSON.stringify({ query: '{ noSuchField }' }), 'admin'],
    [
      'a variable of the wrong type',
      () => JSON.stringify({ query: 'query($n: Int) { __typename }', variables: { n: 'x' } }),
      'admin',
    ],
    ['a variable refused by coercion', () => logEvent({ ...event(), timestamp: 'soon' }), 'admin'],
  ] as const)('counts %s alike', async (_what, body, who) => {
    const key = who === 'admin' ? svc.adminKey : writerA;
    const lean = await counted(() => post(LEAN, body(), key));
    const express = await counted(() => post(EXPRESS, body(), key));
    expect(Object.keys(lean).length).toBeGreaterThan(0);
    expect(lean).toEqual(express);
  });
});

describe('POST /graphql in production, with an answer bound and a write rate limit', () => {
  let prod: RunningService;
  let writer: string;
  const PROD_APP = 'lean-gql-prod';
  const BIG = 'x'.repeat(700);
  const WINDOW_EVENTS = 60;

  beforeAll(async () => {
    prod = await startService({
      env: {
        NODE_ENV: 'production',
        GRAPHQL_MAX_RESPONSE_BYTES: '1024',
        RATE_LIMIT_WRITES_PER_SEC: '1',
        // A write window of 60 s holding 60 events (rate-limit.ts): no window ends while the test runs.
        MAX_BATCH_SIZE: String(WINDOW_EVENTS),
      },
    });
    const create = 'mutation($role: ApiKeyRole!, $apps: [String!]) { createApiKey(role: $role, sourceAppIds: $apps) { secret } }';
    writer = (await prod.gql(create, { role: 'WRITER', apps: [PROD_APP] })).data.createApiKey.secret;
    const many = 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }';
    await prod.gql(many, { inputs: [event(PROD_APP, { payload: { big: BIG } }), event(PROD_APP, { payload: { big: BIG } })] });
  });
  afterAll(async () => prod?.stop());

  const opts = () => ({ url: prod.url });

  it.each([
    ['introspection', { query: '{ __schema { queryType { name } } }' }, 400],
    ['a field misspelt (no schema hint)', { query: `{ lgo(sourceAppId: "${PROD_APP}") { size } }` }, 400],
    ['a resolver refusing the argument', { query: '{ events(first: -1) { edges { node { seq } } } }' }, 200],
    [
      // Apollo hides schema hints from validation errors only: a coercion error keeps its hint.
      'a variable refused by coercion (its hint kept)',
      { query: 'mutation($role: ApiKeyRole!) { createApiKey(role: $role) { secret } }', variables: { role: 'WRITR' } },
      400,
    ],
    [
      'an answer over GRAPHQL_MAX_RESPONSE_BYTES',
      { query: `{ events(first: 5, filter: { sourceAppIds: ["${PROD_APP}"] }) { edges { node { seq payload } } } }` },
      400,
    ],
  ])('answers %s alike', async (_what, body, status) => {
    const [lean, express] = await both(JSON.stringify(body), prod.adminKey, opts());
    expect(lean).toEqual(express);
    expect(lean.status, lean.text).toBe(status);
  });

  it('answers a scope refusal by the resolver alike', async () => {
    const [lean, express] = await both(logEvent(event('lean-gql-other')), writer, opts());
    expect(lean.status).toBe(200);
    expect(lean).toEqual(express);
    expect(JSON.parse(lean.text).errors[0].extensions.code).toBe('FORBIDDEN');
  });

  it('refuses a write over the rate limit alike, and stores nothing', async () => {
    // A key of its own: its window holds exactly the 60 events below.
    const create = 'mutation($apps: [String!]) { createApiKey(role: WRITER, sourceAppIds: $apps) { secret } }';
    const writer = (await prod.gql(create, { apps: [PROD_APP] })).data.createApiKey.secret;
    const inputs = Array.from({ length: WINDOW_EVENTS }, () => event(PROD_APP));
    const fill = await post(
      LEAN,
      JSON.stringify({
        query: 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }',
        variables: { inputs },
      }),
      writer,
      opts(),
    );
    expect(fill.status).toBe(200);
    const sizeBefore = (await prod.gql(`{ log(sourceAppId: "${PROD_APP}") { size } }`)).data.log.size;
    const [lean, express] = await both(logEvent(event(PROD_APP)), writer, opts());
    // The time left in the window is in the message and in Retry-After: the two requests are ms apart.
    const timeless = (a: Answer) => ({
      ...a,
      headers: { ...a.headers, 'retry-after': a.headers['retry-after'] && 'N', 'content-length': null },
      text: a.text.replace(/\d+/g, 'N'),
    });
    expect(lean.status).toBe(429);
    expect(timeless(lean)).toEqual(timeless(express));
    expect(JSON.parse(lean.text).errors[0].extensions.code).toBe('RATE_LIMITED');
    expect((await prod.gql(`{ log(sourceAppId: "${PROD_APP}") { size } }`)).data.log.size).toBe(sizeBefore);
  });
});

describe('which requests the lean GraphQL route takes', () => {
  const req = (headers: Record<string, string>, method = 'POST', url = '/graphql') => ({
    method,
    url,
    headers: { 'content-type': 'application/json', 'content-length': '100', ...headers },
  });
  it('takes a POST of plain JSON to exactly /graphql with a Content-Length within the bound', () => {
    expect(leanTakes(req({}), '/graphql', 100)).toBe(true);
    expect(leanTakes(req({ 'content-type': 'application/json; charset=utf-8' }), '/graphql', 100)).toBe(true);
  });
  it('leaves everything else to Express', () => {
    expect(leanTakes(req({}, 'GET'), '/graphql', 100)).toBe(false);
    expect(leanTakes(req({}, 'POST', '/graphql?x=1'), '/graphql', 100)).toBe(false);
    expect(leanTakes(req({}, 'POST', '/graphql/stream'), '/graphql', 100)).toBe(false);
    expect(leanTakes(req({ 'content-type': 'application/graphql-response+json' }), '/graphql', 100)).toBe(false);
    expect(leanTakes(req({ 'content-length': '101' }), '/graphql', 100)).toBe(false);
  });
});
