// Keyset pagination of `events` against the real service: walk every page both ways under every filter kind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../support/service.js';

let svc: RunningService;
const APPS = ['alpha', 'beta', 'gamma'];
const TYPES = ['order.created', 'order.paid'];
const BASE = Date.UTC(2025, 2, 1);

interface Sent {
  id: string;
  sourceAppId: string;
  eventType: string;
  t: number;
  /** Ingest order = commit order: the tie-break after timestamp. */
  order: number;
}
const sent: Sent[] = [];

beforeAll(async () => {
  svc = await startService();
  const seqs = new Map<string, number>();
  const inputs = Array.from({ length: 520 }, (_, i) => {
    const sourceAppId = APPS[i % 3]!;
    const eventType = TYPES[(i * 7) % 5 === 0 ? 1 : 0]!;
    // Few distinct timestamps, so many ties are broken by commit position.
    const t = BASE + ((i * 7919) % 40) * 1000;
    const seq = seqs.get(sourceAppId) ?? 0;
    seqs.set(sourceAppId, seq + 1);
    sent.push({ id: `${sourceAppId}/${seq}`, sourceAppId, eventType, t, order: i });
    return { sourceAppId, eventType, timestamp: new Date(t).toISOString(), payload: { i } };
  });
  for (const chunk of [inputs.slice(0, 500), inputs.slice(500)]) {
    const res = await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { id } }', { in: chunk });
    expect(res.errors).toBeUndefined();
  }
});
afterAll(async () => svc?.stop());

const PAGE = `query($filter: EventFilter, $order: SortOrder, $first: Int, $after: String, $last: Int, $before: String) {
  events(filter: $filter, order: $order, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

interface Page {
  edges: Array<{ cursor: string; node: { id: string } }>;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

async function page(vars: Record<string, unknown>): Promise<Page> {
  const res = await svc.gql<{ events: Page }>(PAGE, vars);
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.events;
}

async function walkForward(filter: unknown, order: string, size: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (let i = 0; ; i++) {
    const p = await page({ filter, order, first: size, after });
    expect(p.pageInfo.hasPreviousPage).toBe(i > 0);
    expect(p.edges.length).toBeLessThanOrEqual(size);
    ids.push(...p.edges.map((e) => e.node.id));
    if (!p.pageInfo.hasNextPage) return ids;
    expect(p.edges).toHaveLength(size);
    expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)!.cursor);
    after = p.pageInfo.endCursor;
  }
}

async function walkBackward(filter: unknown, order: string, size: number): Promise<string[]> {
  const ids: string[] = [];
  let before: string | null = null;
  for (let i = 0; ; i++) {
    const p = await page({ filter, order, last: size, before });
    expect(p.pageInfo.hasNextPage).toBe(i > 0);
    ids.unshift(...p.edges.map((e) => e.node.id));
    if (!p.pageInfo.hasPreviousPage) return ids;
    expect(p.edges).toHaveLength(size);
    before = p.pageInfo.startCursor;
  }
}

function expected(
  filter: { sourceAppIds?: string[]; eventTypes?: string[]; from?: string; to?: string },
  order: string,
): string[] {
  const from = filter.from ? Date.parse(filter.from) : -Infinity;
  const to = filter.to ? Date.parse(filter.to) : Infinity;
  const rows = sent
    .filter(
      (s) =>
        (!filter.sourceAppIds || filter.sourceAppIds.includes(s.sourceAppId)) &&
        (!filter.eventTypes || filter.eventTypes.includes(s.eventType)),
    )
    .filter((s) => s.t >= from && s.t < to)
    .sort((a, b) => a.t - b.t || a.order - b.order);
  return (order === 'ASC' ? rows : rows.reverse()).map((s) => s.id);
}

const iso = (secs: number) => new Date(BASE + secs * 1000).toISOString();
const FILTERS: Array<[string, Record<string, unknown>]> = [
  ['no filter', {}],
  ['sourceAppIds', { sourceAppIds: ['beta', 'gamma'] }],
  ['eventTypes', { eventTypes: ['order.paid'] }],
  ['from (inclusive)', { from: iso(25) }],
  ['to (exclusive)', { to: iso(12) }],
  ['everything at once', { sourceAppIds: ['alpha'], eventTypes: ['order.created'], from: iso(5), to: iso(30) }],
  ['nothing matches', { sourceAppIds: ['nobody'] }],
];

describe('events connection', () => {
  // Dozens of pages each way, one request each: slow on the MongoDB test server under load.
  it.each(FILTERS)('walks every page forward and backward in both orders: %s', { timeout: 120_000 }, async (_name, filter) => {
    for (const order of ['ASC', 'DESC']) {
      const want = expected(filter, order);
      expect(await walkForward(filter, order, 37)).toEqual(want);
      expect(await walkBackward(filter, order, 41)).toEqual(want);
    }
  });

  it('defaults to 50 newest first and serves pages up to the maximum, 500', async () => {
    const first = await page({});
    expect(first.edges.map((e) => e.node.id)).toEqual(expected({}, 'DESC').slice(0, 50));
    expect((await page({ first: 500 })).edges).toHaveLength(500);
    expect((await page({ last: 500 })).edges).toHaveLength(500);
    expect((await page({ first: 0 })).edges).toHaveLength(0);
  });

  it.each([
    [`query($n: Int) { events(first: $n) { edges { cursor } } }`, { n: 501 }, 'first'],
    [`{ events(first: 501) { edges { cursor } } }`, {}, 'first'],
    [`query($n: Int) { events(last: $n) { edges { cursor } } }`, { n: 501 }, 'last'],
    [`query($n: Int) { logs(first: $n) { nodes { sourceAppId } } }`, { n: 501 }, 'first'],
    [`query($n: Int) { log(sourceAppId: "alpha") { checkpoints(first: $n) { nodes { treeSize } } } }`, { n: 501 }, 'first'],
  ])('refuses a page over the maximum instead of shortening it: %s', async (query, vars, field) => {
    const res = await svc.gql(query, vars);
    expect(res.status).toBeLessThan(500);
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field, rule: 'max', limit: 500 });
    expect(res.errors![0]!.message).toBe(`${field}: must be at most 500 (the maximum page size); page on with the cursors`);
  });

  it('offers nodes beside edges: the same items in the same order', async () => {
    for (const vars of [
      { order: 'ASC', first: 37 },
      { order: 'DESC', last: 41 },
      { filter: { sourceAppIds: ['beta'] }, first: 500 },
    ]) {
      const res = await svc.gql<{ events: Page & { nodes: Array<{ id: string }> } }>(
        `query($filter: EventFilter, $order: SortOrder, $first: Int, $last: Int) {
          events(filter: $filter, order: $order, first: $first, last: $last) { edges { node { id } } nodes { id } } }`,
        vars,
      );
      expect(res.errors).toBeUndefined();
      const { edges, nodes } = res.data!.events;
      expect(nodes.length).toBeGreaterThan(0);
      expect(nodes).toEqual(edges.map((e) => e.node));
    }
  });

  it('a page after a cursor continues exactly where the cursor is, in either direction', async () => {
    const all = expected({}, 'ASC');
    const p = await page({ order: 'ASC', first: 10, after: (await page({ order: 'ASC', first: 100 })).pageInfo.endCursor });
    expect(p.edges.map((e) => e.node.id)).toEqual(all.slice(100, 110));
    const back = await page({ order: 'ASC', last: 10, before: p.edges[0]!.cursor });
    expect(back.edges.map((e) => e.node.id)).toEqual(all.slice(90, 100));
    expect(back.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
  });

  it.each([
    [{ first: -1 }, 'first', 'min'],
    [{ last: -5 }, 'last', 'min'],
    [{ after: 'bm90LWEtY3Vyc29y' }, 'after', 'cursor'],
    [{ before: '!!' }, 'before', 'cursor'],
    [{ first: 5, last: 5 }, 'last', 'exclusive'],
    [{ filter: { from: iso(10), to: iso(5) } }, 'filter.to', 'range'],
    [{ filter: { sourceAppIds: ['a b'] } }, 'filter.sourceAppIds[0]', 'format'],
  ])('rejects %j naming %s', async (vars, field, rule) => {
    const res = await svc.gql(PAGE, vars);
    expect(res.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field, rule });
  });
});

describe('logs connection', () => {
  it('lists every log once, in sourceAppId order, with its latest checkpoint', async () => {
    await svc.gql('mutation { publishCheckpoints { treeSize } }');
    const Q = `query($after: String) { logs(first: 2, after: $after) {
      edges { cursor node { sourceAppId size origin latestCheckpoint { treeSize } } } pageInfo { hasNextPage endCursor } } }`;
    const seen: any[] = [];
    let after: string | null = null;
    for (;;) {
      const res: { data?: any } = await svc.gql(Q, { after });
      seen.push(...res.data!.logs.edges.map((e: any) => e.node));
      if (!res.data!.logs.pageInfo.hasNextPage) break;
      after = res.data!.logs.pageInfo.endCursor;
    }
    const sizes = APPS.map((a) => sent.filter((s) => s.sourceAppId === a).length);
    expect(seen).toEqual(
      APPS.map((a, i) => ({
        sourceAppId: a,
        size: sizes[i],
        origin: `chainlog.local/${a}`,
        latestCheckpoint: { treeSize: sizes[i] },
      })),
    );
  });

  it("offers nodes beside edges on logs and on a log's checkpoints", async () => {
    await svc.gql(
      'mutation { logEvent(input: { sourceAppId: "alpha", eventType: "order.created", timestamp: "2025-03-01T00:00:00.000Z", payload: {} }) { id } }',
    );
    await svc.gql('mutation { publishCheckpoints { treeSize } }');
    const res = await svc.gql<any>(`{ logs(first: 2) { edges { node { sourceAppId } } nodes { sourceAppId } }
      log(sourceAppId: "alpha") { checkpoints(first: 5) { edges { node { treeSize } } nodes { treeSize } } } }`);
    expect(res.errors).toBeUndefined();
    expect(res.data.logs.nodes).toEqual([{ sourceAppId: 'alpha' }, { sourceAppId: 'beta' }]);
    expect(res.data.logs.nodes).toEqual(res.data.logs.edges.map((e: any) => e.node));
    const checkpoints = res.data.log.checkpoints;
    expect(checkpoints.nodes.length).toBeGreaterThanOrEqual(2);
    expect(checkpoints.nodes).toEqual(checkpoints.edges.map((e: any) => e.node));
  });
});
