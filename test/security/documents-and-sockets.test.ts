// Adversarial suite, part 1: work a caller can make the server do before or while it is checked.
// - WebSocket without a key: refused at connection_init (4401 missing, 4403 wrong or revoked), and a
//   key revoked after connection_ack gets no parsing.
// - Documents whose validation grows with the square of their size (repeated fields, fragment fan-out):
//   refused before validation (the shape counter proves it), on HTTP and WebSocket alike.
// - Items and answer size: aliases of big pages, literal or `first: $n`, nesting; answers past
//   GRAPHQL_MAX_RESPONSE_BYTES are sent as their error alone.
// Each attack runs beside a trivial query on another connection, which must keep being answered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaw } from '../support/raw-ws.js';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';
import { metric, whileAttacking } from './support.js';

let svc: RunningService;
const RESPONSE_BYTES = 8192;
beforeAll(async () => {
  svc = await startService({ env: { GRAPHQL_MAX_RESPONSE_BYTES: String(RESPONSE_BYTES) } });
  // 20 events of ~1 KB payload each in "big": 20 KB of payloads, over the answer bound.
  const events = Array.from({ length: 20 }, (_, k) => ({
    eventType: 'sec.big',
    timestamp: new Date().toISOString(),
    sourceAppId: 'big',
    payload: { k, pad: 'x'.repeat(1000) },
  }));
  const res = await fetch(`${svc.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...svc.authHeaders() },
    body: JSON.stringify(events),
  });
  expect(res.status).toBe(201);
});
afterAll(async () => svc?.stop());

async function createKey(role: string): Promise<{ id: string; secret: string }> {
  const res = await svc.gql('mutation($r: ApiKeyRole!) { createApiKey(role: $r) { id secret } }', { r: role });
  expect(res.errors).toBeUndefined();
  return res.data.createApiKey;
}

/** A query over the WebSocket as admin: what it sent back (values and errors). */
async function overWs(query: string, variables?: Record<string, unknown>) {
  const probe = new SubscriptionProbe(svc.ws(), query, variables);
  await probe.until((p) => p.completed);
  return probe;
}

const ruleOf = (e: unknown) => (e as { extensions?: { code?: string; rule?: string } }).extensions;

describe('WebSocket without a valid key', () => {
  it('closes a connection_init without a key with 4401 and sends no connection_ack', async () => {
    const raw = await openRaw(svc.url);
    raw.send({ type: 'connection_init' });
    expect((await raw.closed).code).toBe(4401);
    expect(raw.messages).toEqual([]);
  });

  it('closes a connection_init with a wrong key with 4403', async () => {
    const raw = await openRaw(svc.url);
    raw.send({ type: 'connection_init', payload: { 'x-api-key': 'clk_not-a-key-at-all-0123456789abcdef' } });
    expect((await raw.closed).code).toBe(4403);
    expect(raw.messages).toEqual([]);
  });

  it('closes with 4403, before parsing anything, when the key was revoked after connection_ack', async () => {
    const key = await createKey('READER');
    const raw = await openRaw(svc.url);
    await raw.init({ 'x-api-key': key.secret });
    const revoked = await svc.gql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: key.id });
    expect(revoked.errors).toBeUndefined();
    const refusedBefore = await metric(svc, 'chainlog_graphql_documents_refused_total', { transport: 'ws' });
    const invalidBefore = await metric(svc, 'chainlog_api_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED', transport: 'ws' });
    raw.send({ id: '1', type: 'subscribe', payload: { query: `{ serverInfo { ${'version '.repeat(3750)}} }` } });
    expect((await raw.closed).code).toBe(4403);
    // The document was never looked at: neither the shape check nor validation counted it.
    expect(await metric(svc, 'chainlog_graphql_documents_refused_total', { transport: 'ws' })).toBe(refusedBefore);
    expect(await metric(svc, 'chainlog_api_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED', transport: 'ws' })).toBe(
      invalidBefore,
    );
  });
});

/** 30 KB of one field repeated: ~3,750 selections in one set (graphql-js's overlap rule is quadratic in it). */
const REPEATED = `{ serverInfo { ${'version '.repeat(3750)}} }`;
/** Few selections per set, but 50 spreads of a 90-field fragment: 4,500 fields once expanded. */
const FAN_OUT = `fragment F on Query { ${'__typename '.repeat(90)}} { ${'...F '.repeat(50)}}`;

describe('documents whose validation cost grows with their size', () => {
  it('refuses a 30 KB document of repeated fields before validation, over HTTP, with rule maxSelections', async () => {
    expect(REPEATED.length).toBeGreaterThanOrEqual(30_000);
    const before = await metric(svc, 'chainlog_graphql_documents_refused_total', { rule: 'maxSelections', transport: 'graphql' });
    const res = await svc.gql(REPEATED);
    expect(res.status).toBe(400);
    expect(res.errors?.map(ruleOf)).toEqual([
      expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', rule: 'maxSelections' }),
    ]);
    expect(res.errors![0]!.message).toMatch(/GRAPHQL_MAX_SELECTIONS/);
    expect(await metric(svc, 'chainlog_graphql_documents_refused_total', { rule: 'maxSelections', transport: 'graphql' })).toBe(
      before + 1,
    );
  });

  it('refuses fragment fan-out before validation with rule maxFields, over HTTP and WebSocket', async () => {
    const http = await svc.gql(FAN_OUT);
    expect(http.status).toBe(400);
    expect(http.errors?.map(ruleOf)).toEqual([expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', rule: 'maxFields' })]);
    const ws = await overWs(FAN_OUT);
    expect(ws.values).toEqual([]);
    expect(ws.errors.map(ruleOf)).toEqual([expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', rule: 'maxFields' })]);
  });

  it('refuses 80 such documents on 4 sockets before validation while a trivial query keeps being answered', async () => {
    const before = await metric(svc, 'chainlog_graphql_documents_refused_total', { rule: 'maxSelections', transport: 'ws' });
    const { result, slowestMs, answers } = await whileAttacking(svc, async () => {
      const sockets = await Promise.all(Array.from({ length: 4 }, () => openRaw(svc.url)));
      await Promise.all(sockets.map((s) => s.init({ 'x-api-key': svc.adminKey! })));
      for (const s of sockets)
        for (let i = 0; i < 20; i++) s.send({ id: String(i), type: 'subscribe', payload: { query: REPEATED } });
      const replies = await Promise.all(
        sockets.flatMap((s) => Array.from({ length: 20 }, (_, i) => s.next(String(i), ['error', 'next'], 30_000))),
      );
      await Promise.all(sockets.map((s) => s.close()));
      return replies;
    });
    for (const r of result) {
      expect(r.type).toBe('error');
      expect(r.payload.map(ruleOf)).toEqual([
        expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', rule: 'maxSelections' }),
      ]);
    }
    // Every document was refused by the shape check, which runs before graphql-js's validation.
    expect(await metric(svc, 'chainlog_graphql_documents_refused_total', { rule: 'maxSelections', transport: 'ws' })).toBe(
      before + 80,
    );
    expect(answers).toBeGreaterThan(0);
    // Unbounded, these 80 documents cost the main thread ~27 s of validation; refused, far under a second.
    expect(slowestMs).toBeLessThan(2_000);
  });
});

const pages = (n: number, first: string, select = 'node { payload }') =>
  Array.from({ length: n }, (_, k) => `a${k}: events(first: ${first}) { edges { ${select} } }`).join(' ');

describe('items a request may return (GRAPHQL_MAX_ITEMS, default 2000)', () => {
  const literal = `{ ${pages(15, '500')} }`;
  const withVariable = `query($n: Int) { ${pages(30, '$n')} }`;
  const nested = '{ logs(first: 50) { edges { node { checkpoints(first: 50) { edges { cursor } } } } } }';

  it.each([
    ['15 aliases of first: 500', literal, undefined, 7500],
    ['30 aliases of first: $n with $n = 500', withVariable, { n: 500 }, 15000],
    ['nested pages (50 logs x 50 checkpoints)', nested, undefined, 2550],
    // nodes is a second copy of a page: each list of items selected counts, under any alias.
    [
      'one page of $n = 500 as edges and four nodes lists',
      `query($n: Int) { events(first: $n) { edges { cursor } nodes { seq } a: nodes { seq } b: nodes { seq } c: nodes { seq } } }`,
      { n: 500 },
      2500,
    ],
    [
      'nested pages through nodes (50 logs x 50 checkpoints)',
      '{ logs(first: 50) { nodes { checkpoints(first: 50) { nodes { treeSize } } } } }',
      undefined,
      2550,
    ],
    [
      'nodes lists held in a fragment',
      'fragment L on EventConnection { nodes { seq } more: nodes { seq } } { events(first: 500) { ...L ... on EventConnection { edges { cursor } again: edges { cursor } } x: nodes { seq } } }',
      undefined,
      2500,
    ],
  ])(
    'refuses %s with 400 QUERY_TOO_EXPENSIVE naming the limit, over HTTP and WebSocket',
    async (_name, query, variables, items) => {
      const http = await svc.gql(query, variables);
      expect(http.status).toBe(400);
      expect(http.data ?? undefined).toBeUndefined();
      expect(http.errors?.map(ruleOf)).toEqual([
        expect.objectContaining({ code: 'QUERY_TOO_EXPENSIVE', rule: 'maxItems', items, limit: 2000 }),
      ]);
      expect(http.errors![0]!.message).toMatch(/GRAPHQL_MAX_ITEMS/);
      const ws = await overWs(query, variables);
      expect(ws.values).toEqual([]);
      expect(ws.errors.map(ruleOf)).toEqual([expect.objectContaining({ code: 'QUERY_TOO_EXPENSIVE', rule: 'maxItems', items })]);
    },
  );

  it('counts a variable as its value: 30 aliases of first: $n with $n = 2 pass', async () => {
    const res = await svc.gql(`query($n: Int) { ${pages(30, '$n', 'cursor')} }`, { n: 2 });
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
  });

  it('counts a variable default: first: $n with $n defaulting to 500 over 15 aliases is refused', async () => {
    const res = await svc.gql(`query($n: Int = 500) { ${pages(15, '$n')} }`);
    expect(res.errors?.map(ruleOf)).toEqual([expect.objectContaining({ code: 'QUERY_TOO_EXPENSIVE', rule: 'maxItems' })]);
  });
});

describe('answer size (GRAPHQL_MAX_RESPONSE_BYTES)', () => {
  const query = '{ events(first: 20, filter: { sourceAppIds: ["big"] }) { edges { node { seq payload } } } }';

  it('answers within the bound', async () => {
    const res = await svc.gql('{ events(first: 5, filter: { sourceAppIds: ["big"] }) { edges { node { payload } } } }');
    expect(res.errors).toBeUndefined();
    expect(res.data.events.edges).toHaveLength(5);
  });

  it('counts the payloads of nodes as well as of edges: the same page selected twice passes the bound', async () => {
    const page = '{ events(first: 7, filter: { sourceAppIds: ["big"] }) { SELECT } }';
    const once = await svc.gql(page.replace('SELECT', 'nodes { payload }'));
    expect(once.errors).toBeUndefined();
    expect(once.data.events.nodes).toHaveLength(7);
    const twice = await svc.gql(page.replace('SELECT', 'edges { node { payload } } nodes { payload }'));
    expect(twice.status).toBe(400);
    expect(twice.data).toBeUndefined();
    expect(twice.errors?.map(ruleOf)).toEqual([
      expect.objectContaining({ code: 'RESPONSE_TOO_LARGE', rule: 'maxResponseBytes' }),
    ]);
  });

  it('sends an answer past the bound as RESPONSE_TOO_LARGE alone, without data, over HTTP and WebSocket', async () => {
    const http = await svc.gql(query);
    expect(http.status).toBe(400);
    expect(http.data).toBeUndefined();
    expect(http.errors?.map(ruleOf)).toEqual([
      expect.objectContaining({ code: 'RESPONSE_TOO_LARGE', rule: 'maxResponseBytes', limit: RESPONSE_BYTES }),
    ]);
    const ws = await overWs(query);
    expect(ws.values).toEqual([]);
    expect(ws.errors.map(ruleOf)).toEqual([expect.objectContaining({ code: 'RESPONSE_TOO_LARGE', rule: 'maxResponseBytes' })]);
  });
});
