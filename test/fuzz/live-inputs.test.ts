// Property-based fuzzing of every input path of the running service over real HTTP/WebSocket:
// GraphQL arguments (filters, cursors, proof sizes, ids), raw /graphql bodies, mutations and REST bodies.
// No answer may be a 5xx or carry INTERNAL_SERVER_ERROR, rejected writes write nothing, and the
// service stays up and its logs verify.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';

let svc: RunningService;
const APPS = ['fuzz-a', 'fuzz-b'];
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);

beforeAll(async () => {
  svc = await startService({ env: { AUTH: 'off', MAX_BODY_BYTES: '65536' } });
  for (const app of APPS) {
    const res = await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', {
      in: Array.from({ length: 7 }, (_, k) => ({
        eventType: 'seed',
        timestamp: new Date().toISOString(),
        sourceAppId: app,
        payload: { k },
      })),
    });
    expect(res.errors).toBeUndefined();
  }
  await svc.gql('mutation { publishCheckpoints { treeSize } }');
}, 60_000);
afterAll(async () => svc?.stop());

/** Values that stress parsers and coercion: numbers at the edges, odd strings, nested JSON. */
const edgeNumber = fc.oneof(
  fc.integer(),
  fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e308, -0, 0.5, Number.MAX_SAFE_INTEGER + 2),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const edgeString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    'fuzz-a',
    'fuzz-a/0',
    'fuzz-a/-1',
    'fuzz-a/99999999999999999999',
    '/',
    'a/b/c',
    '\u0000',
    '\ud800',
    'null',
    '💥'.repeat(10),
    'x'.repeat(600),
  ),
  fc.base64String({ maxLength: 60 }),
  fc.constantFrom(...APPS).map((a) => `${a}/${Math.floor(Math.random() * 10)}`),
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: edgeNumber },
  { weight: 3, arbitrary: edgeString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(edgeString, { maxLength: 4 }) },
);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

interface Answer {
  status: number;
  body: any;
}

async function postJson(path: string, body: string, contentType = 'application/json'): Promise<Answer> {
  const res = await fetch(`${svc.url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

const gqlRaw = (query: string, variables: unknown) => postJson('/graphql', JSON.stringify({ query, variables }));

function expectNoServerError(answer: Answer, what: unknown) {
  const detail = JSON.stringify({ what, answer }).slice(0, 2000);
  expect(answer.status, detail).toBeLessThan(500);
  const errors = (answer.body as { errors?: Array<{ code?: string; extensions?: { code?: string } }> })?.errors ?? [];
  for (const e of errors) {
    expect(e.extensions?.code ?? e.code, detail).not.toBe('INTERNAL_SERVER_ERROR');
  }
}

async function totalSize(): Promise<number> {
  const res = await svc.gql('{ logs(first: 500) { edges { node { size } } } }');
  expect(res.errors).toBeUndefined();
  return res.data.logs.edges.reduce((n: number, e: { node: { size: number } }) => n + e.node.size, 0);
}

/** Queries whose every argument comes from a variable of a loose type, so coercion is exercised too. */
const QUERIES: Array<[string, string, string[]]> = [
  [
    'events',
    'query($filter: EventFilter, $order: SortOrder, $first: Int, $after: String, $last: Int, $before: String) { events(filter: $filter, order: $order, first: $first, after: $after, last: $last, before: $before) { edges { cursor node { id seq } } pageInfo { hasNextPage hasPreviousPage endCursor } } }',
    ['filter', 'order', 'first', 'after', 'last', 'before'],
  ],
  ['event', 'query($id: ID!) { event(id: $id) { id } }', ['id']],
  [
    'log',
    'query($app: String!, $first: Int, $after: String, $order: SortOrder) { log(sourceAppId: $app) { size checkpoints(first: $first, after: $after, order: $order) { edges { cursor } } } }',
    ['app', 'first', 'after', 'order'],
  ],
  [
    'logs',
    'query($first: Int, $after: String) { logs(first: $first, after: $after) { edges { cursor node { sourceAppId } } } }',
    ['first', 'after'],
  ],
  [
    'checkpoint',
    'query($app: String!, $size: SafeInt) { checkpoint(sourceAppId: $app, treeSize: $size) { treeSize } }',
    ['app', 'size'],
  ],
  [
    'inclusionProof',
    'query($app: String!, $seq: SafeInt!, $size: SafeInt) { inclusionProof(sourceAppId: $app, seq: $seq, treeSize: $size) { hashes } }',
    ['app', 'seq', 'size'],
  ],
  [
    'consistencyProof',
    'query($app: String!, $from: SafeInt!, $to: SafeInt!) { consistencyProof(sourceAppId: $app, fromSize: $from, toSize: $to) { hashes } }',
    ['app', 'from', 'to'],
  ],
  [
    'rangeProof',
    'query($app: String!, $start: SafeInt!, $end: SafeInt!, $size: SafeInt) { rangeProof(sourceAppId: $app, start: $start, end: $end, treeSize: $size) { leftHashes events { seq } } }',
    ['app', 'start', 'end', 'size'],
  ],
  [
    'verifyLog',
    'query($app: String!, $from: SafeInt, $to: SafeInt) { verifyLog(sourceAppId: $app, fromSeq: $from, toSeq: $to) { ok problems { kind } } }',
    ['app', 'from', 'to'],
  ],
];

/** Mostly plausible values for a named argument, sometimes anything. */
function argValue(name: string): fc.Arbitrary<unknown> {
  const plausible: Record<string, fc.Arbitrary<unknown>> = {
    app: fc.oneof(fc.constantFrom(...APPS), edgeString),
    seq: fc.integer({ min: -2, max: 12 }),
    size: fc.integer({ min: -2, max: 16 }),
    from: fc.integer({ min: -2, max: 16 }),
    to: fc.integer({ min: -2, max: 16 }),
    start: fc.integer({ min: -2, max: 16 }),
    end: fc.integer({ min: -2, max: 16 }),
    first: fc.integer({ min: -5, max: 1000 }),
    last: fc.integer({ min: -5, max: 1000 }),
    order: fc.constantFrom('ASC', 'DESC'),
    filter: fc.record(
      {
        sourceAppIds: maybe(fc.array(fc.oneof(fc.constantFrom(...APPS), edgeString), { maxLength: 3 })),
        eventTypes: maybe(fc.array(edgeString, { maxLength: 3 })),
        from: maybe(
          fc.oneof(
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            edgeString,
          ),
        ),
        to: maybe(
          fc.oneof(
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            edgeString,
          ),
        ),
      },
      { requiredKeys: [] },
    ),
  };
  return fc.oneof({ weight: 3, arbitrary: plausible[name] ?? edgeString }, { weight: 1, arbitrary: anyValue });
}

describe('GraphQL arguments over HTTP', () => {
  it.each(QUERIES)('%s: no 5xx and no INTERNAL_SERVER_ERROR for any argument values', async (_name, query, names) => {
    const vars = fc.record(Object.fromEntries(names.map((n) => [n, maybe(argValue(n))])), { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(vars, async (variables) => {
        expectNoServerError(await gqlRaw(query, variables), { query, variables });
      }),
      { numRuns: RUNS },
    );
  });

  it('cursors taken from real pages and then mangled are refused or served, never a 5xx', async () => {
    const page = await svc.gql('{ events(first: 5) { edges { cursor } } logs { edges { cursor } } }');
    const cursors: string[] = [...page.data.events.edges, ...page.data.logs.edges].map((e: { cursor: string }) => e.cursor);
    const mangled = fc
      .tuple(fc.constantFrom(...cursors), fc.nat(), fc.string({ minLength: 1, maxLength: 4 }))
      .map(([c, i, s]) => {
        const at = i % (c.length + 1);
        return c.slice(0, at) + s + c.slice(at + 1);
      });
    const flipped = fc
      .constantFrom(...cursors)
      .map((c) => Buffer.from(Buffer.from(c, 'base64url').toString('utf8').replace(/\d/g, '9'), 'utf8').toString('base64url'));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(mangled, flipped, fc.constantFrom(...cursors)),
        fc.constantFrom('after', 'before'),
        async (cursor, arg) => {
          for (const q of [
            `query($c: String) { events(${arg}: $c, ${arg === 'after' ? 'first' : 'last'}: 3) { edges { cursor } } }`,
            'query($c: String) { logs(after: $c) { edges { cursor } } }',
          ]) {
            expectNoServerError(await gqlRaw(q, { c: cursor }), { q, cursor });
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('raw /graphql bodies of any shape: no 5xx', async () => {
    const body = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            query: fc.oneof(fc.string({ maxLength: 120 }), anyValue),
            variables: maybe(anyValue),
            operationName: maybe(anyValue),
            extensions: maybe(anyValue),
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
      fc.constantFrom(
        '{"query": "{ serverInfo { version } }", "variables": "x"}',
        '[]',
        '[{"query":"{ serverInfo { version } }"}]',
        '{"query": "query A { serverInfo { version } } query B { serverInfo { version } }"}',
        '{"query": "{ __typename }", "operationName": 7}',
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => expectNoServerError(await postJson('/graphql', b), b)),
      { numRuns: RUNS * 2 },
    );
  });
});

/** Mostly near-valid events with one field broken, sometimes anything at all. */
const eventLike: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        eventType: fc.oneof(fc.constant('fuzz.type'), edgeString, anyValue),
        timestamp: fc.oneof(fc.constant(new Date().toISOString()), edgeString, anyValue),
        sourceAppId: fc.oneof(fc.constantFrom(...APPS, 'fuzz-c'), edgeString, anyValue),
        payload: fc.oneof(fc.constant({ ok: 1 }), fc.jsonValue({ maxDepth: 4 }), anyValue),
        idempotencyKey: maybe(fc.oneof(edgeString, anyValue)),
        expectedPrevHash: maybe(fc.oneof(fc.constant('0'.repeat(64)), edgeString, anyValue)),
      },
      { requiredKeys: ['eventType', 'timestamp', 'sourceAppId', 'payload'] },
    ),
  },
  { weight: 1, arbitrary: anyValue },
);

describe('writes', () => {
  it('REST bodies of any shape: no 5xx; only 201 answers write, and exactly their events not marked replayed', async () => {
    const before = await totalSize();
    let written = 0;
    const body = fc.oneof(
      eventLike.map((e) => JSON.stringify(e)),
      fc.array(eventLike, { maxLength: 4 }).map((a) => JSON.stringify(a)),
      fc.string({ maxLength: 100 }),
    );
    const type = fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/vnd.x+json',
      'application/json; charset=latin1',
    );
    await fc.assert(
      fc.asyncProperty(body, type, async (b, t) => {
        const answer = await postJson('/v1/events', b, t);
        expectNoServerError(answer, { b, t });
        const events = (answer.body as { events?: Array<{ replayed: boolean }> }).events;
        if (answer.status === 201) written += events!.filter((e) => !e.replayed).length;
        // 200: an idempotent retry of events written before; it writes nothing.
        else if (answer.status === 200)
          expect(
            events!.every((e) => e.replayed),
            JSON.stringify(answer),
          ).toBe(true);
        else expect(answer.status, JSON.stringify(answer)).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: RUNS * 2 },
    );
    expect(await totalSize()).toBe(before + written);
  });

  it('logEvent / logEvents variables of any shape: no 5xx; rejected mutations write nothing', async () => {
    const before = await totalSize();
    let written = 0;
    const one = eventLike.map((input) => ({
      query: 'mutation($input: LogEventInput!) { logEvent(input: $input) { seq } }',
      variables: { input },
    }));
    const many = fc.oneof(fc.array(eventLike, { maxLength: 4 }), anyValue).map((inputs) => ({
      query: 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }',
      variables: { inputs },
    }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(one, many), async ({ query, variables }) => {
        const answer = await gqlRaw(query, variables);
        expectNoServerError(answer, variables);
        const data = (answer.body as { data?: { logEvent?: unknown; logEvents?: unknown[] } | null }).data;
        if (data?.logEvent) written += 1;
        else if (data?.logEvents) written += data.logEvents.length;
        else expect((answer.body as { errors?: unknown[] }).errors?.length ?? 0).toBeGreaterThan(0);
      }),
      { numRuns: RUNS * 2 },
    );
    expect(await totalSize()).toBe(before + written);
  });
});

describe('subscriptions over the WebSocket', () => {
  it('eventLogged / checkpointPublished arguments of any shape: no INTERNAL_SERVER_ERROR', async () => {
    const client = svc.ws();
    const args = fc.oneof(
      fc
        .record({ filter: maybe(argValue('filter')), after: maybe(fc.oneof(edgeString, anyValue)) }, { requiredKeys: [] })
        .map((variables) => ({
          query: 'subscription($filter: EventFilter, $after: ID) { eventLogged(filter: $filter, after: $after) { id } }',
          variables,
        })),
      fc.record({ app: maybe(fc.oneof(edgeString, anyValue)) }, { requiredKeys: [] }).map((variables) => ({
        query: 'subscription($app: String) { checkpointPublished(sourceAppId: $app) { checkpoint { treeSize } } }',
        variables,
      })),
    );
    await fc.assert(
      fc.asyncProperty(args, async ({ query, variables }) => {
        const probe = new SubscriptionProbe(client, query, variables);
        // Errors arrive at once; a valid subscription stays open (replays, then waits) and is closed here.
        await probe.until((p) => p.completed || p.errors.length > 0 || p.values.length > 0, 300).catch(() => undefined);
        probe.unsubscribe();
        for (const e of probe.errors as Array<{ extensions?: { code?: string } }>) {
          expect(e.extensions?.code, JSON.stringify({ variables, e })).not.toBe('INTERNAL_SERVER_ERROR');
        }
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });
});

describe('afterwards', () => {
  it('the service is up and every log verifies', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    const logs = await svc.gql('{ logs(first: 500) { edges { node { sourceAppId } } } }');
    for (const { node } of logs.data.logs.edges as Array<{ node: { sourceAppId: string } }>) {
      const report = await svc.gql('query($app: String!) { verifyLog(sourceAppId: $app) { ok problems { kind message } } }', {
        app: node.sourceAppId,
      });
      expect(report.data.verifyLog, node.sourceAppId).toMatchObject({ ok: true, problems: [] });
    }
    expect(svc.output()).not.toMatch(/unexpected error/);
  });
});
