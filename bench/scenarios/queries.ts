// 4. Queries over the loaded data set: a page of 100 for each filter kind, at page 1 and at page 1000
// (reached by walking the cursors), p50/p95; the trivial query is sampled in the same loop as baseline.
import { GraphQLClient } from '../http.js';
import { typeShare } from '../events.js';
import { EVENTS_PAGE, TRIVIAL } from '../queries.js';
import { figure, type Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';
import { budget } from '../load.js';
import { sized } from '../sizes.js';

const PAGE = 100;
const DEEP_PAGE = 1000;

/** Two of the most common event types of the generator, so that page 1000 exists at full size. */
const TYPES = ['search.query', 'email.sent'];

interface Page {
  events: { edges: unknown[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

export const queries: Scenario = {
  id: '4',
  title: 'Queries (events, pages of 100, page 1 and page 1000 per filter kind)',
  usesDataset: true,
  measures:
    'Round trip of events(filter, first: 100) with all event fields, newest first, on the loaded data set: page 1, and the ' +
    'deepest page up to 1000 reached by walking cursors; filter kinds none, sourceAppIds (6 of the 10 small logs), ' +
    `eventTypes (${TYPES.join(', ')}: ${Math.round(typeShare(TYPES) * 100)}% of the events), ` +
    'from/to (middle half of the time span). Samples alternate page 1, deep page and the trivial query.',
  async run(ctx) {
    const { engine } = ctx;
    const ds = ctx.dataset!;
    const samples = sized(ctx, { quick: 30, full: 200, slowQuick: 5, slowFull: 50 });
    // Per filter kind: the walk and the sampling each stop early at this many seconds.
    const seconds = sized(ctx, { quick: 5, full: 120, slowQuick: 1.5, slowFull: 20 });
    const span = ds.tsEnd - ds.tsStart;
    const kinds: Array<{ name: string; filter: Record<string, unknown> }> = [
      { name: 'none', filter: {} },
      { name: 'sourceAppIds', filter: { sourceAppIds: ds.smallLogs.slice(0, 6) } },
      { name: 'eventTypes', filter: { eventTypes: TYPES } },
      {
        name: 'from/to',
        filter: { from: new Date(ds.tsStart + span / 4).toISOString(), to: new Date(ds.tsStart + (3 * span) / 4).toISOString() },
      },
    ];
    const client = new GraphQLClient(ds.server.url, { maxSockets: 1 });
    const figures: Figure[] = [];
    const details: Record<string, unknown> = {
      pageSize: PAGE,
      maxSamplesPerPage: samples,
      secondsBudgetPerStep: seconds,
      dataset: { events: ds.total, bigLog: ds.bigSize },
    };
    try {
      for (const kind of kinds) {
        // Walk to the deep page; the cursor that opens it is kept.
        const walk: number[] = [];
        let after: string | null = null;
        let deepAfter: string | null = null;
        let depth = 0;
        const walking = budget(DEEP_PAGE, seconds, 2);
        for (let page = 1; walking(); page++) {
          const t = performance.now();
          const r: Page = await client.request<Page>(EVENTS_PAGE, { filter: kind.filter, first: PAGE, after });
          walk.push(performance.now() - t);
          if (r.events.edges.length < PAGE) break;
          depth = page;
          deepAfter = after;
          if (!r.events.pageInfo.hasNextPage) break;
          after = r.events.pageInfo.endCursor;
        }
        ctx.log(`4: ${kind.name}: walked ${walk.length} pages; sampling page 1 and page ${depth}`);
        const first: number[] = [];
        const deep: number[] = [];
        const trivial: number[] = [];
        const sampling = budget(samples, seconds);
        while (sampling()) {
          let t = performance.now();
          await client.request(EVENTS_PAGE, { filter: kind.filter, first: PAGE, after: null });
          first.push(performance.now() - t);
          t = performance.now();
          const d = await client.request<Page>(EVENTS_PAGE, { filter: kind.filter, first: PAGE, after: deepAfter });
          deep.push(performance.now() - t);
          if (d.events.edges.length !== PAGE)
            throw new Error(`deep page of ${kind.name} returned ${d.events.edges.length} events`);
          t = performance.now();
          await client.request(TRIVIAL);
          trivial.push(performance.now() - t);
        }
        const s1 = summarize(first);
        const sd = summarize(deep);
        const st = summarize(trivial);
        const base = { name: 'trivial query p95', value: st.p95, unit: 'ms' };
        figures.push(
          figure(engine.name, `query p95, filter ${kind.name}, page 1`, s1.p95, 'ms', {
            baseline: base,
            target: { op: '<=', value: 15, text: '<= 15 ms' },
          }),
          figure(engine.name, `query p95, filter ${kind.name}, page ${depth}`, sd.p95, 'ms', {
            baseline: base,
            target: { op: '<=', value: 15, text: '<= 15 ms' },
          }),
          figure(engine.name, `page ${depth} / page 1 (p95), filter ${kind.name}`, sd.p95 / s1.p95, 'x', {
            target: { op: '<=', value: 2, text: 'page 1000 within 2x of page 1' },
            ...(depth < DEEP_PAGE ? { note: `walk stopped at page ${depth} (data set size or time budget)` } : {}),
          }),
        );
        details[kind.name] = {
          filter: kind.filter,
          deepPage: depth,
          pagesWalked: walk.length,
          page1Ms: roundSummary(s1),
          deepPageMs: roundSummary(sd),
          trivialMs: roundSummary(st),
          walkMs: roundSummary(summarize(walk)),
        };
      }
    } finally {
      client.close();
    }
    return { figures, details };
  },
};
