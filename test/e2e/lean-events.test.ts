// POST /v1/events in its common form is served before Express (src/api/rest/lean-events.ts); any other
// form goes to the Express route. Each request below is sent in both forms, the lean one (Content-Type
// application/json) and one the lean route leaves to Express (a Content-Type parameter body-parser
// ignores): the answers (status, the headers a client reads, the body byte for byte) must be the same,
// for every refusal as for the acknowledgements, and what is acknowledged is stored once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leanTakes } from '../../src/api/lean-http.js';
import { e2eMongoUri } from '../support/e2e-engine.js';
import { metric } from '../support/metrics.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

let svc: RunningService;
let writerA: string;
let reader: string;

const LEAN = 'application/json';
/** Served by Express: the lean route takes no Content-Type parameter but charset=utf-8. */
const EXPRESS = 'application/json; profile=x';

let n = 0;
const event = (sourceAppId = 'lean-a', extra: Record<string, unknown> = {}) => ({
  sourceAppId,
  eventType: 'lean.test',
  timestamp: new Date(Date.UTC(2025, 0, 1) + ++n * 1000).toISOString(),
  payload: { n },
  ...extra,
});

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  text: string;
}

async function post(
  contentType: string,
  body: string,
  key: string | null = svc.adminKey,
  extra: Record<string, string> = {},
  query = '',
): Promise<Answer> {
  const res = await fetch(`${svc.url}/v1/events${query}`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(key && { 'x-api-key': key }), ...extra },
    body,
  });
  const headers: Record<string, string | null> = {};
  for (const name of ['content-type', 'retry-after', 'idempotent-replayed', 'preference-applied'])
    headers[name] = res.headers.get(name);
  return { status: res.status, headers, text: await res.text() };
}

/** The same request, lean and through Express. */
async function both(body: string, key?: string | null, extra?: Record<string, string>): Promise<[Answer, Answer]> {
  return [await post(LEAN, body, key, extra), await post(EXPRESS, body, key, extra)];
}

const size = async (app: string): Promise<number> =>
  (await svc.gql(`{ log(sourceAppId: "${app}") { size } }`)).data.log?.size ?? 0;

beforeAll(async () => {
  svc = await startService();
  const create = 'mutation($role: ApiKeyRole!, $apps: [String!]) { createApiKey(role: $role, sourceAppIds: $apps) { secret } }';
  writerA = (await svc.gql(create, { role: 'WRITER', apps: ['lean-a'] })).data.createApiKey.secret;
  reader = (await svc.gql(create, { role: 'READER' })).data.createApiKey.secret;
});
afterAll(async () => svc?.stop());

describe('POST /v1/events: the lean route answers as the Express route does', () => {
  const refusals: Array<[string, () => string, 'admin' | 'reader' | 'writerA' | null, number]> = [
    ['no API key', () => JSON.stringify(event()), null, 401],
    ['a READER key', () => JSON.stringify(event()), 'reader', 403],
    ['a source application outside the key', () => JSON.stringify(event('lean-b')), 'writerA', 403],
    ['a batch item outside the key', () => JSON.stringify([event(), event('lean-b')]), 'writerA', 403],
    ['a body that is not JSON', () => '{"sourceAppId":', 'admin', 400],
    ['JSON that is not an object or an array', () => '"lean"', 'admin', 400],
    ['a number a double does not keep', () => '{"sourceAppId":"lean-a","payload":{"n":9007199254740993}}', 'admin', 400],
    ['an event without its eventType', () => JSON.stringify({ ...event(), eventType: undefined }), 'admin', 400],
    ['a batch with one bad item', () => JSON.stringify([event(), { ...event(), timestamp: 'soon' }]), 'admin', 400],
  ];
  it.each(refusals)('refuses %s alike, and stores nothing', async (_what, body, who, status) => {
    const before = await size('lean-a');
    const key = who === null ? null : who === 'admin' ? svc.adminKey : who === 'reader' ? reader : writerA;
    const [lean, express] = await both(body(), key);
    expect(lean.status).toBe(status);
    expect(lean).toEqual(express);
    expect(JSON.parse(lean.text).errors[0].code).toBeTypeOf('string');
    expect(await size('lean-a')).toBe(before);
  });

  it('acknowledges one event and a batch with 201 alike, each stored once', async () => {
    const before = await size('lean-a');
    const answers = [
      await post(LEAN, JSON.stringify(event())),
      await post(EXPRESS, JSON.stringify(event())),
      await post(LEAN, JSON.stringify([event(), event()]), writerA),
      await post(EXPRESS, JSON.stringify([event(), event()]), writerA),
    ];
    for (const a of answers) {
      expect(a.status).toBe(201);
      expect(a.headers).toEqual({
        'content-type': 'application/json; charset=utf-8',
        'retry-after': null,
        'idempotent-replayed': null,
        'preference-applied': null,
      });
    }
    const shape = (a: Answer) => (JSON.parse(a.text).events as Array<Record<string, unknown>>).map((e) => Object.keys(e).sort());
    expect(shape(answers[0]!)).toEqual(shape(answers[1]!));
    expect(shape(answers[2]!)).toEqual(shape(answers[3]!));
    const seqs = answers.flatMap((a) => (JSON.parse(a.text).events as Array<{ seq: number }>).map((e) => e.seq));
    expect(seqs).toEqual([before, before + 1, before + 2, before + 3, before + 4, before + 5]);
    expect(await size('lean-a')).toBe(before + 6);
  });

  it('answers an idempotent retry with 200 and the replay marker alike, and a key reused with other content with 409 alike', async () => {
    const first = event('lean-a', { idempotencyKey: 'lean-key-1' });
    const created = await post(LEAN, JSON.stringify(first));
    expect(created.status).toBe(201);
    const before = await size('lean-a');
    const [lean, express] = await both(JSON.stringify(first));
    expect(lean.status).toBe(200);
    expect(lean.headers['idempotent-replayed']).toBe('true');
    expect(lean).toEqual(express);
    const [leanConflict, expressConflict] = await both(JSON.stringify({ ...first, payload: { other: true } }));
    expect(leanConflict.status).toBe(409);
    expect(leanConflict).toEqual(expressConflict);
    expect(await size('lean-a')).toBe(before);
  });

  it('groups concurrent single events into shared writer transactions, each event stored once', async () => {
    const before = await size('lean-a');
    const commits0 = await metric(svc, 'chainlog_group_commits', { count: 'commits' });
    const events0 = await metric(svc, 'chainlog_group_commits', { count: 'events' });
    const answers = await Promise.all(Array.from({ length: 40 }, () => post(LEAN, JSON.stringify(event()))));
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(201));
    const seqs = answers.map((a) => (JSON.parse(a.text).events as Array<{ seq: number }>)[0]!.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => before + i));
    expect(await size('lean-a')).toBe(before + 40);
    const commits = (await metric(svc, 'chainlog_group_commits', { count: 'commits' })) - commits0;
    expect((await metric(svc, 'chainlog_group_commits', { count: 'events' })) - events0).toBe(40);
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThan(40);
  });

  it("reports how many stored events the indexes do not cover yet: on SQLite, 0 once the writer's keeper has run", async () => {
    await Promise.all(Array.from({ length: 10 }, () => post(LEAN, JSON.stringify(event()))));
    const text = await (await fetch(`${svc.url}/metrics`, { headers: svc.authHeaders() })).text();
    if (e2eMongoUri()) {
      // MongoDB keeps its indexes with the appends: nothing to report.
      expect(text).not.toContain('chainlog_storage_index_lag_events');
      return;
    }
    expect(text).toMatch(/^chainlog_storage_index_lag_events \d+$/m);
    // The keeper adds the keys within its delay (100 ms) of the last write.
    await until('the index lag to reach 0', async () => (await metric(svc, 'chainlog_storage_index_lag_events')) === 0);
  });
});

describe('POST /v1/events with Prefer: return=minimal', () => {
  const MINIMAL = { prefer: 'return=minimal' };
  const MINIMAL_KEYS = ['hash', 'id', 'receivedAt', 'replayed', 'seq', 'sourceAppId'];
  const items = (a: Answer) => JSON.parse(a.text).events as Array<Record<string, unknown>>;
  const stored = async (id: unknown) =>
    (await svc.gql('query($id: ID!) { event(id: $id) { id sourceAppId seq receivedAt hash } }', { id })).data.event;

  it('answers each event with what names it in the log, alike on both routes, each stored once', async () => {
    const before = await size('lean-a');
    const answers = [
      await post(LEAN, JSON.stringify(event()), svc.adminKey, MINIMAL),
      await post(EXPRESS, JSON.stringify(event()), svc.adminKey, MINIMAL),
      await post(LEAN, JSON.stringify([event(), event()]), writerA, MINIMAL),
      await post(EXPRESS, JSON.stringify([event(), event()]), writerA, MINIMAL),
    ];
    for (const a of answers) {
      expect(a.status).toBe(201);
      expect(a.headers['preference-applied']).toBe('return=minimal');
      for (const item of items(a)) {
        expect(Object.keys(item).sort()).toEqual(MINIMAL_KEYS);
        expect(item.replayed).toBe(false);
        // The values are the stored event's, as a read gives them.
        const { replayed: _replayed, ...named } = item;
        expect(await stored(item.id)).toEqual(named);
      }
    }
    expect(answers.flatMap(items).map((e) => e.seq)).toEqual(Array.from({ length: 6 }, (_, i) => before + i));
    expect(await size('lean-a')).toBe(before + 6);
  });

  it('answers an idempotent retry with 200, the replay marker and the first event, alike', async () => {
    const first = event('lean-a', { idempotencyKey: 'lean-minimal-1' });
    const created = await post(LEAN, JSON.stringify(first), svc.adminKey, MINIMAL);
    expect(created.status).toBe(201);
    const before = await size('lean-a');
    const [lean, express] = await both(JSON.stringify(first), svc.adminKey, MINIMAL);
    expect(lean.status).toBe(200);
    expect(lean.headers['idempotent-replayed']).toBe('true');
    expect(lean).toEqual(express);
    expect(items(lean)).toEqual([{ ...items(created)[0], replayed: true }]);
    expect(await size('lean-a')).toBe(before);
  });

  it('keeps the receipt a ?wait=receipt request asks for', async () => {
    const a = await post(LEAN, JSON.stringify(event()), svc.adminKey, MINIMAL, '?wait=receipt');
    expect(a.status).toBe(201);
    expect(a.headers['preference-applied']).toBe('return=minimal');
    const [item] = items(a);
    expect(Object.keys(item!).sort()).toEqual([...MINIMAL_KEYS, 'receipt'].sort());
    expect(item!.receipt).toMatchObject({ status: expect.stringMatching(/^(READY|PENDING)$/) });
  });

  it.each([
    ['return=representation', 'return=representation'],
    ['an unknown preference', 'respond-async, wait=5'],
    ['a return value not defined', 'return=short'],
    ['a later return=minimal, after the first return', 'return=representation, return=minimal'],
  ])('answers the whole event to %s, applying nothing', async (_what, prefer) => {
    const [lean, express] = await both(JSON.stringify(event()), svc.adminKey, { prefer });
    for (const a of [lean, express]) {
      expect(a.status).toBe(201);
      expect(a.headers['preference-applied']).toBeNull();
      expect(Object.keys(items(a)[0]!)).toEqual(expect.arrayContaining(['eventType', 'timestamp', 'payload', 'prevHash']));
    }
  });

  it('refuses bad input as without it, and stores nothing', async () => {
    const before = await size('lean-a');
    const [lean, express] = await both(JSON.stringify({ ...event(), eventType: undefined }), svc.adminKey, MINIMAL);
    expect(lean.status).toBe(400);
    expect(lean.headers['preference-applied']).toBeNull();
    expect(lean).toEqual(express);
    expect(JSON.parse(lean.text).errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'eventType' });
    expect(await size('lean-a')).toBe(before);
  });
});

describe('which requests the lean route takes', () => {
  const req = (headers: Record<string, string>, method = 'POST', url = '/v1/events') => ({
    method,
    url,
    headers: { 'content-type': 'application/json', 'content-length': '100', ...headers },
  });
  it('takes a POST of plain JSON to exactly /v1/events with a Content-Length within the bound', () => {
    expect(leanTakes(req({}), '/v1/events', 100)).toBe(true);
    expect(leanTakes(req({ 'content-type': 'application/json; charset=utf-8' }), '/v1/events', 100)).toBe(true);
    expect(leanTakes(req({ 'content-type': 'Application/JSON;charset="UTF-8"' }), '/v1/events', 100)).toBe(true);
  });
  it('leaves everything else to Express', () => {
    expect(leanTakes(req({}), '/v1/events', 99)).toBe(false);
    expect(leanTakes(req({ 'content-length': '0' }), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({}, 'PUT'), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({}, 'POST', '/v1/events?wait=receipt'), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({}, 'POST', '/v1/events/'), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({ 'transfer-encoding': 'chunked' }), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({ 'content-encoding': 'gzip' }), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({ 'content-type': 'application/json; charset=utf8' }), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({ 'content-type': 'application/json; charset=utf-16' }), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({ 'content-type': 'application/merge-patch+json' }), '/v1/events', 100)).toBe(false);
    expect(leanTakes(req({ 'content-type': 'text/plain' }), '/v1/events', 100)).toBe(false);
    const noLength = req({});
    delete (noLength.headers as Record<string, string>)['content-length'];
    expect(leanTakes(noLength, '/v1/events', 100)).toBe(false);
  });
});
