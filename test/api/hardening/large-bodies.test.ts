// Large JSON bodies (over JSON_BODY_THREAD_BYTES) are checked in a worker thread before the event loop
// parses them (src/api/json-body.ts): against the service started from its sources, each refusal is
// the one a small body gets (status, code, message, field, rule) on REST and GraphQL, an accepted body
// is logged, other requests are answered while refused bodies are being checked, and a flood of large
// bodies is bounded. Structural assertions only: the order of answers and the service's own gauge.
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LARGE_BODIES } from '../../../src/api/body-check-thread.js';
import { ServiceProcess, startOnFreePort } from '../../support/service-process.js';
import { E2E_ADMIN_KEY } from '../../support/service.js';

const THREAD_BYTES = 512 * 1024;
const LOG_EVENTS = 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }';
const event = (i: number, payload: object = { i }) => ({
  eventType: 't',
  timestamp: '2024-01-01T00:00:00Z',
  sourceAppId: 'bodies',
  payload,
});
const many = (n: number) => Array.from({ length: n }, (_, i) => event(i));
/** Events of about 1 KB each: 600 of them are a body over the threshold, well within MAX_BATCH_SIZE. */
const padded = (n: number, extra: (i: number) => object = () => ({})) =>
  Array.from({ length: n }, (_, i) => event(i, { i, pad: 'x'.repeat(1000), ...extra(i) }));

let dataDir: string;
let proc: ServiceProcess;

interface Answer {
  status: number;
  body: any;
}

/** A POST over its own connection; `chunked` sends no Content-Length. `sent` resolves once every byte is handed to the socket. */
function post(path: string, body: string | Buffer, opts: { chunked?: boolean; sent?: () => void } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = request(`${proc.url}${path}`, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'x-api-key': E2E_ADMIN_KEY,
        ...(!opts.chunked && { 'content-length': bytes.length }),
      },
    });
    req.on('error', reject);
    req.on('finish', () => opts.sent?.());
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    if (opts.chunked) for (let o = 0; o < bytes.length; o += 64 * 1024) req.write(bytes.subarray(o, o + 64 * 1024));
    else req.write(bytes);
    req.end();
  });
}

const graphql = (variables: object, query = LOG_EVENTS) => JSON.stringify({ query, variables });
/** A number a double does not keep, written into the JSON text (a JavaScript value would already be rounded). */
const mark = (i: number) => (i === 2 ? { n: 'INEXACT' } : {});
const inexact = (json: string) => json.replace('"INEXACT"', '9007199254740993');
/** A member name its object repeats, written into the JSON text (a JavaScript object cannot hold one). */
const twice = (i: number) => (i === 2 ? { n: 'TWICE' } : {});
const repeated = (json: string) => json.replace('"n":"TWICE"', '"n":1,"n":2');

/** A byte that is not UTF-8, written into the body's bytes (a JavaScript string cannot hold one); at the same offset in a small body and a large one. */
const badByte = (i: number) => (i === 0 ? { n: 'NOT_UTF8' } : {});
const notUtf8 = (json: string) => Buffer.from(json.replace('"NOT_UTF8"', '"\u00ff"'), 'latin1');

async function metric(series: string): Promise<number> {
  const text = await (await fetch(`${proc.url}/metrics`, { headers: { 'x-api-key': E2E_ADMIN_KEY } })).text();
  return Number(new RegExp(`^${series.replace(/[{}"+]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'chainlog-bodies-'));
  proc = await startOnFreePort(
    (port) =>
      new ServiceProcess(port, dataDir, {
        AUTH: 'on',
        ADMIN_API_KEY: E2E_ADMIN_KEY,
        JSON_BODY_THREAD_BYTES: String(THREAD_BYTES),
      }),
    { timeoutMs: 120_000 },
  );
});

afterAll(async () => {
  await proc?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('large JSON bodies are checked off the event loop', () => {
  it('a large refused body gets the answer a small one gets, on REST and GraphQL', async () => {
    const cases: Array<[string, string | Buffer, string | Buffer]> = [
      ['/v1/events', JSON.stringify(many(1001)), JSON.stringify(many(150_000))],
      ['/graphql', graphql({ inputs: many(1001) }), graphql({ inputs: many(150_000) })],
      [
        '/graphql',
        graphql(
          { f: { sourceAppIds: Array.from({ length: 101 }, () => 'a') } },
          'query($f: EventFilter) { events(filter: $f) { edges { cursor } } }',
        ),
        graphql(
          { f: { sourceAppIds: Array.from({ length: 1_500_000 }, () => 'a') } },
          'query($f: EventFilter) { events(filter: $f) { edges { cursor } } }',
        ),
      ],
      ['/v1/events', inexact(JSON.stringify(padded(3, mark))), inexact(JSON.stringify(padded(600, mark)))],
      ['/graphql', inexact(graphql({ inputs: padded(3, mark) })), inexact(graphql({ inputs: padded(600, mark) }))],
      ['/v1/events', repeated(JSON.stringify(padded(3, twice))), repeated(JSON.stringify(padded(600, twice)))],
      ['/graphql', repeated(graphql({ inputs: padded(3, twice) })), repeated(graphql({ inputs: padded(600, twice) }))],
      ['/v1/events', notUtf8(JSON.stringify(padded(3, badByte))), notUtf8(JSON.stringify(padded(600, badByte)))],
      ['/graphql', notUtf8(graphql({ inputs: padded(3, badByte) })), notUtf8(graphql({ inputs: padded(600, badByte) }))],
      ['/v1/events', `${JSON.stringify(padded(3))},`, `${JSON.stringify(padded(600))},`],
      ['/graphql', `${graphql({ inputs: padded(3) })}}`, `${graphql({ inputs: padded(600) })}}`],
    ];
    const refusedBefore = await metric('chainlog_large_body_checks_total{outcome="refused"}').then((n) =>
      Number.isNaN(n) ? 0 : n,
    );
    let large = 0;
    for (const [path, small, big] of cases) {
      expect(small.length).toBeLessThan(THREAD_BYTES);
      expect(big.length).toBeGreaterThan(THREAD_BYTES);
      large++;
      const [a, b] = [await post(path, small), await post(path, big)];
      expect(b.status).toBeGreaterThanOrEqual(400);
      // Only the count in a maxItems message differs (the thread does not coerce, so neither does the answer).
      const sameCount = (x: Answer) => JSON.stringify(x).replace(/\(got \d+\)/, '(got n)');
      expect(sameCount(b)).toBe(sameCount(a));
    }
    expect(await metric('chainlog_large_body_checks_total{outcome="refused"}')).toBe(refusedBefore + large);
    // Chunked (no Content-Length): read as bytes, then checked by size.
    expect(await post('/v1/events', JSON.stringify(many(150_000)), { chunked: true })).toMatchObject({
      status: 400,
      body: { errors: [{ field: 'body', rule: 'maxItems' }] },
    });
    expect(await post('/v1/events', '[{"payload": {"n": -0}}]', { chunked: true })).toMatchObject({
      status: 400,
      body: { errors: [{ field: '[0].payload.n', rule: 'exactNumber' }] },
    });
    expect(await post('/v1/events', '[{"payload": {"n": 1, "n": 2}}]', { chunked: true })).toMatchObject({
      status: 400,
      body: { errors: [{ field: '[0].payload', rule: 'uniqueNames' }] },
    });
    expect(await post('/v1/events', Buffer.from('[{"payload": {"s": "\u00ff"}}]', 'latin1'), { chunked: true })).toMatchObject({
      status: 415,
      body: { errors: [{ field: 'body', rule: 'encoding' }] },
    });
    expect(await post('/v1/events', '[1,', { chunked: true })).toMatchObject({
      status: 400,
      body: { errors: [{ field: 'body', rule: 'json' }] },
    });
  });

  it('a large body that passes the checks is parsed and logged, with or without a Content-Length', async () => {
    const body = JSON.stringify(padded(600));
    expect(body.length).toBeGreaterThan(THREAD_BYTES);
    const rest = await post('/v1/events', body);
    expect(rest.status).toBe(201);
    expect(rest.body.events).toHaveLength(600);
    expect(rest.body.events[599].payload).toEqual({ i: 599, pad: 'x'.repeat(1000) });
    const chunked = await post('/v1/events', body, { chunked: true });
    expect(chunked.status).toBe(201);
    expect(chunked.body.events).toHaveLength(600);
    const gql = await post('/graphql', graphql({ inputs: padded(600) }));
    expect(gql.status).toBe(200);
    expect(gql.body.data.logEvents).toHaveLength(600);
    expect(await post('/v1/events', JSON.stringify([event(0, { small: true })]), { chunked: true })).toMatchObject({
      status: 201,
    });
  });

  it('a trivial query on another connection is answered while large refused bodies are being checked', async () => {
    const bigBodies = 4;
    const order: string[] = [];
    let sent = 0;
    const body = graphql({ inputs: many(150_000) });
    const refusals = Array.from({ length: bigBodies }, (_, k) =>
      post('/graphql', body, { sent: () => sent++ }).then((a) => {
        order.push(`refusal ${k}`);
        return a;
      }),
    );
    await until(async () => sent === bigBodies, 'the large bodies to be sent');
    // The service answers /metrics while it holds the large bodies: they are being checked, not parsed here.
    await until(async () => (await metric('chainlog_large_bodies')) >= 1, 'the large bodies to be held');
    const trivial = await post('/graphql', JSON.stringify({ query: '{ serverInfo { version } }' }));
    order.push('trivial');
    expect(trivial.status).toBe(200);
    expect(trivial.body.data.serverInfo.version).toEqual(expect.any(String));
    for (const r of await Promise.all(refusals))
      expect(r).toMatchObject({
        status: 400,
        body: { errors: [{ extensions: { code: 'BAD_USER_INPUT', field: 'inputs', rule: 'maxItems' } }] },
      });
    expect(order.indexOf('trivial')).toBeLessThan(bigBodies);
    await until(async () => (await metric('chainlog_large_bodies')) === 0, 'the large bodies to be released');
  });

  it(`at most ${MAX_LARGE_BODIES} large bodies are held at once; more are refused before they are read, and aborted ones free their place`, async () => {
    const size = 2 * THREAD_BYTES;
    const half = Buffer.alloc(size / 2, ' ');
    // Uploads that stop half way: each holds a place while the service waits for the rest of it.
    const stalled = Array.from({ length: MAX_LARGE_BODIES }, () => {
      const req = request(`${proc.url}/v1/events`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'x-api-key': E2E_ADMIN_KEY, 'content-length': size },
      });
      req.on('error', () => undefined);
      req.write(half);
      return req;
    });
    await until(async () => (await metric('chainlog_large_bodies')) === MAX_LARGE_BODIES, 'every place to be taken');
    const refused = await post('/v1/events', JSON.stringify(padded(600)));
    expect(refused).toEqual({
      status: 503,
      body: {
        errors: [
          {
            code: 'UNAVAILABLE',
            field: 'body',
            rule: 'bodyCheckBusy',
            message: expect.stringContaining(`at most ${MAX_LARGE_BODIES} at once`),
          },
        ],
      },
    });
    const gql = await post('/graphql', graphql({ inputs: padded(600) }));
    expect(gql.status).toBe(503);
    expect(gql.body.errors[0].extensions).toMatchObject({ code: 'UNAVAILABLE', rule: 'bodyCheckBusy', retryAfterMs: 1000 });
    // Small bodies are not held back.
    expect((await post('/v1/events', JSON.stringify([event(1)]))).status).toBe(201);
    for (const req of stalled) req.destroy();
    await until(async () => (await metric('chainlog_large_bodies')) === 0, 'the aborted uploads to free their places');
    expect((await post('/v1/events', JSON.stringify(padded(600)))).status).toBe(201);
  });
});
