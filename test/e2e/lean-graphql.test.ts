// POST /graphql in its common form goes to Apollo without Express (src/api/graphql/lean-graphql.ts); any
// other form goes through the Express route. Each request below is sent in both forms, the lean one
// (Content-Type application/json) and one the lean route leaves to Express (a Content-Type parameter
// body-parser ignores): the answers (status, the headers a client reads, the body byte for byte) must be
// the same for every refusal, the acknowledgements the same but for the event's own fields, and what is
// acknowledged is stored once.
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

async function post(contentType: string, body: string, key: string | null = svc.adminKey): Promise<Answer> {
  const res = await fetch(`${svc.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(key && { 'x-api-key': key }) },
    body,
  });
  const headers: Record<string, string | null> = {};
  for (const name of ['content-type', 'cache-control', 'retry-after', 'content-length']) headers[name] = res.headers.get(name);
  return { status: res.status, headers, text: await res.text() };
}

/** The same request, lean and through Express. */
async function both(body: string, key?: string | null): Promise<[Answer, Answer]> {
  return [await post(LEAN, body, key), await post(EXPRESS, body, key)];
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
