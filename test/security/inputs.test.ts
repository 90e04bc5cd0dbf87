// Adversarial suite, part 3: inputs changed silently, and what the server says about hostile sockets.
// - Numbers a double does not keep (RFC 7493 I-JSON) are refused, naming the field, on REST (raw body),
//   GraphQL (variables' raw JSON and literals) and the WebSocket (raw message): what is hashed is what
//   was sent, or nothing is.
// - Bytes that are not UTF-8 are refused (415, rule encoding) on REST and GraphQL bodies, and close a
//   WebSocket with 1007 whether they come as a text or a binary message: nothing of them is stored. A
//   path parameter that does not percent-decode to UTF-8 is a 400 naming the path.
// - One timestamp rule and one charset rule for REST and GraphQL.
// - /graphql is logged and counted under its own path; oversized frames and clients that stop reading
//   are told plainly (info, a counter), not as internal errors; the database files are 0600.
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaw } from '../support/raw-ws.js';
import { e2eMongoUri } from '../support/e2e-engine.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';
import { metric } from './support.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService({ env: { WS_MAX_PAYLOAD_BYTES: '4096', WS_KEEP_ALIVE_MS: '200' } });
});
afterAll(async () => svc?.stop());

const TS = '2024-05-01T12:00:00.000Z';
const eventText = (app: string, payload: string, timestamp = TS) =>
  `{"eventType":"sec.num","timestamp":"${timestamp}","sourceAppId":"${app}","payload":${payload}}`;

async function restPost(body: string, contentType = 'application/json') {
  const res = await fetch(`${svc.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...svc.authHeaders() },
    body,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function graphqlRaw(body: string, contentType = 'application/json') {
  const res = await fetch(`${svc.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...svc.authHeaders() },
    body,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function size(app: string): Promise<number> {
  const res = await svc.gql('query($a: String!) { log(sourceAppId: $a) { size } }', { a: app });
  return res.data.log?.size ?? 0;
}

const LOG_EVENT = 'mutation($in: LogEventInput!) { logEvent(input: $in) { seq payload } }';

/** The extensions of the error a raw subscribe message running logEvent (its JSON text as written) gets back. */
async function wsRefusal(app: string, payload: string): Promise<Record<string, unknown>> {
  const raw = await openRaw(svc.url);
  await raw.init({ 'x-api-key': svc.adminKey! });
  raw.socket.send(
    `{"id":"w1","type":"subscribe","payload":{"query":${JSON.stringify(LOG_EVENT)},"variables":{"in":${eventText(app, payload)}}}}`,
  );
  const reply = await raw.next('w1');
  await raw.close();
  expect(reply.type).toBe('error');
  return reply.payload[0].extensions;
}

describe('numbers a double does not keep (RFC 7493 I-JSON)', () => {
  it.each([
    ['9007199254740993', 'payload.n'],
    ['1e-400', 'payload.n'],
    ['-0', 'payload.n'],
    ['1e400', 'payload.n'],
    ['0.10000000000000000001', 'payload.n'],
  ])('REST refuses %s with 400 BAD_USER_INPUT naming %s, and stores nothing', async (n, field) => {
    const res = await restPost(eventText('num-rest', `{"n":${n}}`));
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field, rule: 'exactNumber' });
    expect(res.body.errors[0].message).toContain(n);
    expect(await size('num-rest')).toBe(0);
  });

  it('REST names the item of a batch and the nested field', async () => {
    const res = await restPost(`[${eventText('num-rest', '{"ok":1}')},${eventText('num-rest', '{"a":{"b":[1,-0.0]}}')}]`);
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: '[1].payload.a.b[1]', rule: 'exactNumber' });
    expect(await size('num-rest')).toBe(0);
  });

  it('GraphQL refuses them in variables (raw JSON) and in literals', async () => {
    const vars = await graphqlRaw(
      `{"query":${JSON.stringify(LOG_EVENT)},"variables":{"in":${eventText('num-gql', '{"n":9007199254740993}')}}}`,
    );
    expect(vars.status).toBe(400);
    expect(vars.body.errors[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'variables.in.payload.n',
      rule: 'exactNumber',
    });
    const literal = await svc.gql(
      `mutation { logEvent(input: { eventType: "sec.num", timestamp: "${TS}", sourceAppId: "num-gql", payload: { n: 1e-400 } }) { seq } }`,
    );
    expect(literal.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'payload.n', rule: 'exactNumber' });
    expect(await size('num-gql')).toBe(0);
  });

  it('the WebSocket refuses them in a raw subscribe message', async () => {
    expect(await wsRefusal('num-ws', '{"n":-0}')).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'payload.variables.in.payload.n',
      rule: 'exactNumber',
    });
    expect(await size('num-ws')).toBe(0);
  });

  it('keeps numbers a double holds exactly, as sent', async () => {
    const res = await restPost(eventText('num-ok', '{"a":0.1,"b":1e2,"c":9007199254740991,"d":-1.5,"e":5e-324}'));
    expect(res.status).toBe(201);
    expect(res.body.events[0].payload).toEqual({ a: 0.1, b: 100, c: 9007199254740991, d: -1.5, e: 5e-324 });
  });
});

describe('member names an object repeats (RFC 7493 I-JSON)', () => {
  const repeated = '{"amount":1,"note":"x","amount":2}';

  it.each([
    ['the lean route', 'application/json'],
    ['the Express route', 'application/json; charset=utf-8; profile=x'],
  ])('REST refuses a payload that repeats a name on %s, naming the object, and stores nothing', async (_route, type) => {
    const res = await restPost(eventText('names-rest', repeated), type);
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'payload', rule: 'uniqueNames' });
    expect(res.body.errors[0].message).toContain('"amount"');
    const top = await restPost(
      `[${eventText('names-rest', '{}').replace('{"eventType"', '{"eventType":"a","eventType"')}]`,
      type,
    );
    expect(top.body.errors[0]).toMatchObject({ field: '[0]', rule: 'uniqueNames' });
    expect(await size('names-rest')).toBe(0);
  });

  it('GraphQL refuses it in variables (raw JSON) and in literals', async () => {
    const vars = await graphqlRaw(
      `{"query":${JSON.stringify(LOG_EVENT)},"variables":{"in":${eventText('names-gql', repeated)}}}`,
    );
    expect(vars.status).toBe(400);
    expect(vars.body.errors[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'variables.in.payload',
      rule: 'uniqueNames',
    });
    const literal = await svc.gql(
      `mutation { logEvent(input: { eventType: "sec.num", timestamp: "${TS}", sourceAppId: "names-gql", payload: { a: 1, a: 2 } }) { seq } }`,
    );
    expect(literal.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(literal.errors?.[0]?.message).toMatch(/only one input field named "a"/);
    expect(await size('names-gql')).toBe(0);
  });

  it('the WebSocket refuses it in a raw subscribe message', async () => {
    expect(await wsRefusal('names-ws', repeated)).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'payload.variables.in.payload',
      rule: 'uniqueNames',
    });
    expect(await size('names-ws')).toBe(0);
  });

  it('keeps the same name in different objects, and a name spelled with escapes once, as sent', async () => {
    const res = await restPost(eventText('names-ok', '{"a":{"id":1},"b":{"id":2},"\\u0063":3}'));
    expect(res.status).toBe(201);
    expect(res.body.events[0].payload).toEqual({ a: { id: 1 }, b: { id: 2 }, c: 3 });
  });
});

describe('bytes that are not UTF-8 (RFC 8259)', () => {
  /** The JSON text with `\u00ff` in it written as the one byte 0xFF, which no UTF-8 sequence begins with. */
  const withByteFF = (text: string) => Buffer.from(text, 'latin1');
  const postBytes = async (path: string, body: Buffer, contentType: string) => {
    const res = await fetch(`${svc.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType, ...svc.authHeaders() },
      body,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const routes = [
    ['the lean routes', 'application/json', 'lean'],
    ['the Express routes', 'application/json; charset=utf-8; profile=x', 'express'],
  ];

  it.each(routes)(
    'REST refuses them on %s with 415, rule encoding, naming the offset, and stores nothing',
    async (_r, type, route) => {
      const app = `utf8-rest-${route}`;
      const text = eventText(app, '{"s":"caf\u00ff"}');
      const res = await postBytes('/v1/events', withByteFF(text), type);
      expect(res.status).toBe(415);
      expect(res.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body', rule: 'encoding' });
      expect(res.body.errors[0].message).toContain(`offset ${text.indexOf('\u00ff')} (0xff)`);
      expect(await size(app)).toBe(0);
      // The same character sent as UTF-8 is stored as sent.
      const sent = await postBytes('/v1/events', Buffer.from(text, 'utf8'), type);
      expect(sent.status).toBe(201);
      expect(sent.body.events[0].payload).toEqual({ s: 'caf\u00ff' });
    },
  );

  it.each(routes)('GraphQL refuses them on %s with 415, rule encoding, and stores nothing', async (_r, type) => {
    const body = `{"query":${JSON.stringify(LOG_EVENT)},"variables":{"in":${eventText('utf8-gql', '{"s":"\u00ff"}')}}}`;
    const res = await postBytes('/graphql', withByteFF(body), type);
    expect(res.status).toBe(415);
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body', rule: 'encoding' });
    expect(await size('utf8-gql')).toBe(0);
  });

  it('a path parameter that does not percent-decode to UTF-8 gets 400 naming the path, not a body error', async () => {
    for (const path of ['/tlog/a%FF/checkpoint', '/tlog/a%E2%82/tile/0/000', '/v1/events/a%ED%A0%80/0/receipt']) {
      const res = await fetch(`${svc.url}${path}`, { headers: svc.authHeaders() });
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as any).errors[0], path).toEqual({
        code: 'BAD_USER_INPUT',
        message: 'path: must be percent-encoded UTF-8 (RFC 3986)',
        field: 'path',
        rule: 'encoding',
      });
    }
    // Percent-encoded UTF-8 is decoded: the route answers for the log it names.
    const decoded = await fetch(`${svc.url}/tlog/%6Eo-such-log/checkpoint`, { headers: svc.authHeaders() });
    expect(decoded.status).toBe(404);
    expect(((await decoded.json()) as any).errors[0].message).toContain('"no-such-log"');
  });

  it.each([
    ['text', false],
    ['binary', true],
  ])('a %s WebSocket message holding them closes the socket with 1007, counted, and stores nothing', async (kind, binary) => {
    const before = await metric(svc, 'chainlog_api_errors_total', { code: 'BAD_USER_INPUT', transport: 'ws' });
    const subscribe = (app: string, s: string) =>
      `{"id":"u1","type":"subscribe","payload":{"query":${JSON.stringify(LOG_EVENT)},"variables":{"in":${eventText(app, `{"s":"${s}"}`)}}}}`;
    const raw = await openRaw(svc.url);
    await raw.init({ 'x-api-key': svc.adminKey! });
    raw.socket.send(withByteFF(subscribe(`utf8-ws-${kind}`, '\u00ff')), { binary });
    expect((await raw.closed).code).toBe(1007);
    expect(await metric(svc, 'chainlog_api_errors_total', { code: 'BAD_USER_INPUT', transport: 'ws' })).toBe(before + 1);
    expect(svc.output()).not.toContain('WebSocket internal error');
    expect(await size(`utf8-ws-${kind}`)).toBe(0);
    // A message of the same kind in UTF-8 is read and its event stored.
    const ok = await openRaw(svc.url);
    await ok.init({ 'x-api-key': svc.adminKey! });
    ok.socket.send(Buffer.from(subscribe(`utf8-ws-${kind}`, '\u00ff'), 'utf8'), { binary });
    expect((await ok.next('u1')).payload.data.logEvent.payload).toEqual({ s: '\u00ff' });
    await ok.close();
  });
});

describe('one timestamp rule and one charset rule', () => {
  it('refuses a space for the T on REST and GraphQL alike; accepts the T on both', async () => {
    const spaced = '2024-05-01 12:00:00Z';
    const rest = await restPost(eventText('ts-app', '{}', spaced));
    expect(rest.status).toBe(400);
    expect(rest.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'timestamp' });
    const gql = await svc.gql(LOG_EVENT, { in: JSON.parse(eventText('ts-app', '{}', spaced)) });
    expect(gql.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(gql.errors?.[0]?.message).toMatch(/RFC 3339/);
    expect((await restPost(eventText('ts-app', '{}', '2024-05-01t12:00:00z'))).status).toBe(201);
    expect(
      (await svc.gql(LOG_EVENT, { in: JSON.parse(eventText('ts-app', '{}', '2024-05-01t12:00:00z')) })).errors,
    ).toBeUndefined();
  });

  it('refuses a digit below the millisecond on REST and GraphQL alike, and stores nothing; zeros there are the same instant', async () => {
    const micro = '2024-05-01T12:00:00.123456Z';
    const rest = await restPost(eventText('ts-micro', '{}', micro));
    expect(rest.status).toBe(400);
    expect(rest.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'timestamp', rule: 'format' });
    expect(rest.body.errors[0].message).toMatch(/millisecond/);
    const gql = await svc.gql(LOG_EVENT, { in: JSON.parse(eventText('ts-micro', '{}', micro)) });
    expect(gql.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(gql.errors?.[0]?.message).toMatch(/millisecond/);
    expect(await size('ts-micro')).toBe(0);
    const zeros = await restPost(eventText('ts-micro', '{}', '2024-05-01T14:00:00.123000+02:00'));
    expect(zeros.status).toBe(201);
    expect(zeros.body.events[0].timestamp).toBe('2024-05-01T12:00:00.123Z');
  });

  it('refuses a UTF-16 body with 415 BAD_USER_INPUT rule encoding on REST and GraphQL', async () => {
    const utf16 = (s: string) => Buffer.from(s, 'utf16le');
    const post = (path: string, body: Buffer) =>
      fetch(`${svc.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-16le', ...svc.authHeaders() },
        body,
      });
    const rest = await post('/v1/events', utf16(eventText('cs-app', '{}')));
    expect(rest.status).toBe(415);
    expect(((await rest.json()) as any).errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body', rule: 'encoding' });
    const gql = await post('/graphql', utf16(JSON.stringify({ query: '{ serverInfo { version } }' })));
    expect(gql.status).toBe(415);
    expect(((await gql.json()) as any).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', rule: 'encoding' });
    expect(await size('cs-app')).toBe(0);
  });
});

describe('what the server records', () => {
  it('logs and counts /graphql under its own path', async () => {
    const before = await metric(svc, 'chainlog_http_requests_total', { route: '/graphql' });
    await svc.gql('{ serverInfo { version } }');
    expect(await metric(svc, 'chainlog_http_requests_total', { route: '/graphql' })).toBeGreaterThan(before);
    const lines = svc
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"request"') && l.includes('"method":"POST"'));
    expect(lines.some((l) => l.includes('"path":"/graphql"'))).toBe(true);
    expect(lines.some((l) => l.includes('"path":"/"'))).toBe(false);
  });

  it('says plainly why it closed a socket whose message was over WS_MAX_PAYLOAD_BYTES (1009), not "internal error"', async () => {
    const raw = await openRaw(svc.url);
    await raw.init({ 'x-api-key': svc.adminKey! });
    raw.send({ id: 'big', type: 'subscribe', payload: { query: `{ serverInfo { version } } #${'x'.repeat(5000)}` } });
    expect((await raw.closed).code).toBe(1009);
    await until('the log line naming WS_MAX_PAYLOAD_BYTES', () => svc.output().includes('over WS_MAX_PAYLOAD_BYTES'), {
      timeoutMs: 5_000,
    });
    expect(svc.output()).not.toContain('WebSocket internal error');
  });

  it('drops clients that stop reading with one info line and a counter, not an error per socket', async () => {
    const before = await metric(svc, 'chainlog_ws_clients_dropped_total');
    const sockets = await Promise.all([0, 1, 2].map(() => openRaw(svc.url)));
    for (const s of sockets) {
      await s.init({ 'x-api-key': svc.adminKey! });
      s.send({ id: 's', type: 'subscribe', payload: { query: 'subscription { eventLogged { id } }' } });
    }
    // Stop reading: pings go unanswered, so the server drops each client after its keep-alive interval.
    for (const s of sockets) (s.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    await until('three clients dropped', async () => (await metric(svc, 'chainlog_ws_clients_dropped_total')) >= before + 3, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    const out = svc.output();
    expect(out.split('\n').filter((l) => l.includes('stopped reading') && l.includes('"level":30'))).toHaveLength(1);
    expect(out).not.toMatch(/"level":50[^\n]*(unexpected error|WebSocket internal error)/);
    for (const s of sockets) s.socket.terminate();
  });

  it.runIf(e2eMongoUri() === undefined)('creates the database files (main, -wal, -shm) 0600', () => {
    const files = readdirSync(svc.dataDir).filter((f) => f.startsWith('chainlog.db'));
    expect(files).toEqual(expect.arrayContaining(['chainlog.db', 'chainlog.db-wal', 'chainlog.db-shm']));
    for (const f of files) expect((statSync(join(svc.dataDir, f)).mode & 0o777).toString(8), f).toBe('600');
  });

  it.runIf(e2eMongoUri() === undefined)('makes database files left readable by others 0600 at start, and says so', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-perm-'));
    try {
      const open = new ServiceProcess(await freePort(), dataDir, { AUTH: 'off', LOG_LEVEL: 'info' });
      await open.start();
      await open.stop();
      chmodSync(join(dataDir, 'chainlog.db'), 0o644);
      await open.start();
      expect((statSync(join(dataDir, 'chainlog.db')).mode & 0o777).toString(8)).toBe('600');
      expect(open.output()).toContain('made it 0600');
      await open.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
