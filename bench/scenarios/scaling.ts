// 8. Horizontal scaling: batch ingest with 1 and with K API processes on one database.
//
// Runs only where the engine declares itself shareable by several processes (LogStorage.coordination:
// leases for the sequencer and publisher, commit tailing for subscriptions). Where it does not, the
// scenario is skipped with that reason: K processes on a store that does not coordinate them would
// measure an unsupported deployment.
import { cpus } from 'node:os';
import { loadConfig } from '../../src/config.js';
import { openStorage } from '../../src/storage/open.js';
import { appNames, benchEvents, nextBatch } from '../events.js';
import { GraphQLClient } from '../http.js';
import { checkLogEventsResponse, logEventsBody } from '../ingest.js';
import { figure } from '../report.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { startServer, type ServerHandle } from '../server.js';
import { sized } from '../sizes.js';

const BATCH = 500;
const CLIENTS_PER_PROCESS = 4;
const LOGS = 10;
/** The hot log (issue 22): small requests from many writers to one log, as a busy service's clients send them. */
const HOT_BATCH = 20;
const HOT_WRITERS = 24;

async function shareable(ctx: ScenarioContext): Promise<boolean> {
  const store = await ctx.engine.freshStore('s8-probe');
  try {
    const { storage } = await openStorage(loadConfig({ ...store.env }));
    try {
      return (storage as { coordination?: unknown }).coordination !== undefined;
    } finally {
      await storage.close();
    }
  } finally {
    await store.dispose();
  }
}

/**
 * Ingests `total` events from CLIENTS_PER_PROCESS clients per server, client i on server i % K. Log j
 * is written through server j % K only, as a load balancer routing by log (the compose file's nginx,
 * `npm run scale`'s) sends it: each process then keeps the leases of its own logs.
 */
async function ingest(
  servers: ServerHandle[],
  total: number,
  seed: number,
): Promise<{ eventsPerSecond: number; seconds: number }> {
  const logs = appNames('scale', LOGS);
  const sources = servers.map((_, k) => benchEvents({ seed: seed + k, logs: logs.filter((_, j) => j % servers.length === k) }));
  const clients = servers.map((s) => new GraphQLClient(s.url, { maxSockets: CLIENTS_PER_PROCESS }));
  let generated = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: CLIENTS_PER_PROCESS * servers.length }, async (_, i) => {
        const client = clients[i % clients.length]!;
        const source = sources[i % clients.length]!;
        while (generated < total) {
          const n = Math.min(BATCH, total - generated);
          generated += n;
          const r = await client.post(logEventsBody(nextBatch(source, n)));
          checkLogEventsResponse(r.status, r.body, n);
        }
      }),
    );
  } finally {
    for (const c of clients) c.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { eventsPerSecond: total / seconds, seconds };
}

interface HotRun {
  eventsPerSecond: number;
  seconds: number;
}

/** Rounds of each hot-log variant (one in quick mode). */
const HOT_ROUNDS = 2;

/**
 * HOT_WRITERS writers append `total` events to one log in requests of HOT_BATCH, with idempotency keys.
 * `routed`: every request goes to the first server, as a balancer routing by log sends them. Otherwise
 * request n goes to server n % K (round robin, no routing header), and the servers hand each append to
 * the holder of the log's lease. Every request must succeed (no retries).
 */
async function ingestHot(servers: ServerHandle[], total: number, routed: boolean, tag: string): Promise<HotRun> {
  const clients = servers.map((s) => new GraphQLClient(s.url, { maxSockets: HOT_WRITERS }));
  let generated = 0;
  let sent = 0;
  const timestamp = new Date().toISOString();
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: HOT_WRITERS }, async () => {
        while (generated < total) {
          const n = Math.min(HOT_BATCH, total - generated);
          const first = generated;
          generated += n;
          const client = clients[routed ? 0 : sent++ % clients.length]!;
          const inputs = Array.from({ length: n }, (_, i) => ({
            sourceAppId: 'hot',
            eventType: 'hot.append',
            timestamp,
            payload: { n: first + i },
            idempotencyKey: `${tag}-${first + i}`,
          }));
          const r = await client.post(JSON.stringify({ query: HOT_APPEND, variables: { inputs } }));
          checkLogEventsResponse(r.status, r.body, n);
        }
      }),
    );
  } finally {
    for (const c of clients) c.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { eventsPerSecond: total / seconds, seconds };
}

/**
 * One variant of the hot log on `k` fresh processes over a fresh database (ADVERTISE_URL and a shared
 * PROCESS_SECRET): `hotTotal` events, every acknowledged one stored exactly once.
 */
async function hotVariant(engine: ScenarioContext['engine'], k: number, hotTotal: number, routed: boolean): Promise<HotRun> {
  const tag = routed ? 'routed' : 'unrouted';
  const hotStore = await engine.freshStore(`s8-hot-${tag}`);
  const servers: ServerHandle[] = [];
  try {
    for (let i = 0; i < k; i++) {
      servers.push(
        await startServer({
          engine,
          label: `s8-hot-${tag}-${i}`,
          store: hotStore,
          processSecret: 'bench-process-secret-0123456789abcdef',
        }),
      );
    }
    const r = await ingestHot(servers, hotTotal, routed, tag);
    const stored = await storedEvents(servers[0]!);
    if (stored !== hotTotal) throw new Error(`hot log, ${tag}: stored ${stored} events, expected ${hotTotal}`);
    return r;
  } finally {
    for (const s of servers.splice(0)) await s.stop();
    await hotStore.dispose();
  }
}

const HOT_APPEND = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }`;

/** Sum of the logs' sizes as one of the servers reports them. */
async function storedEvents(server: ServerHandle): Promise<number> {
  const c = new GraphQLClient(server.url, { maxSockets: 1 });
  try {
    const r = await c.request<{ logs: { edges: Array<{ node: { size: number } }> } }>(
      '{ logs(first: 500) { edges { node { size } } } }',
    );
    return r.logs.edges.reduce((a, e) => a + e.node.size, 0);
  } finally {
    c.close();
  }
}

export const scaling: Scenario = {
  id: '8',
  title: 'Horizontal scaling (1 vs K API processes on one database)',
  measures:
    'Batch ingest (logEvents, batches of 500, 4 clients per process, 10 logs, each log written through one process as a ' +
    'load balancer routing by log sends it) with 1 API process and with K processes sharing one database; every ' +
    'acknowledged event must be stored exactly once. Baseline: the 1-process run.',
  async run(ctx) {
    const { engine } = ctx;
    if (engine.name === 'sqlite') {
      return {
        figures: [],
        details: {},
        skipped: "the embedded engine is one file with one writer process by design; scaling out is the MongoDB engine's",
      };
    }
    if (!(await shareable(ctx))) {
      return {
        figures: [],
        details: {},
        skipped:
          'this build of the MongoDB engine does not offer multi-process coordination (LogStorage.coordination); ' +
          'K processes without it would measure an unsupported deployment',
      };
    }
    const k = Math.max(2, Math.min(4, cpus().length));
    const total = sized(ctx, { quick: 4_000, full: 100_000, slowQuick: 500, slowFull: 5_000 });
    const one = await (async () => {
      const server = await startServer({ engine, label: 's8-one' });
      try {
        const r = await ingest([server], total, 81);
        return { ...r, stored: await storedEvents(server) };
      } finally {
        await server.stop();
      }
    })();
    ctx.log(`8: 1 process: ${Math.round(one.eventsPerSecond)}/s; now ${k} processes`);
    const store = await engine.freshStore('s8-many');
    const servers: ServerHandle[] = [];
    try {
      // One after another: the first creates the schema and the signing key the others share.
      for (let i = 0; i < k; i++) servers.push(await startServer({ engine, label: `s8-many-${i}`, store }));
      const many = await ingest(servers, total, 82);
      const stored = await storedEvents(servers[0]!);
      if (one.stored !== total || stored !== total) {
        throw new Error(`stored events: 1 process ${one.stored}, ${k} processes ${stored}, expected ${total} each`);
      }
      for (const s of servers.splice(0)) await s.stop();
      // One hot log on K fresh processes (advertising themselves), routed by log, then unrouted, each
      // variant on a database of its own: on the FerretDB test server every idempotency-key lookup reads
      // the whole events collection, so a variant run second on the first one's events would pay for
      // them (docs/performance.md, session 29), not for how its requests are routed.
      const hotTotal = sized(ctx, { quick: 2_000, full: 20_000, slowQuick: 400, slowFull: 4_000 });
      // Rounds alternate, best of each: on the test server one round of the routed variant can run at
      // half the speed of the next (docs/performance.md, session 41), so the ratio of single rounds
      // says more of the moment than of the hand-off.
      const hotRounds: Array<{ routed: HotRun; unrouted: HotRun }> = [];
      for (let round = 0; round < (ctx.options.quick ? 1 : HOT_ROUNDS); round++) {
        hotRounds.push({
          routed: await hotVariant(engine, k, hotTotal, true),
          unrouted: await hotVariant(engine, k, hotTotal, false),
        });
      }
      const best = (runs: HotRun[]) => runs.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
      const routed = best(hotRounds.map((r) => r.routed));
      const unrouted = best(hotRounds.map((r) => r.unrouted));
      return {
        figures: [
          figure(engine.name, `batch ingest with ${k} processes`, many.eventsPerSecond, 'events/s', {
            baseline: { name: '1 process', value: one.eventsPerSecond, unit: 'events/s' },
          }),
          figure(engine.name, `${k} processes / 1 process`, many.eventsPerSecond / one.eventsPerSecond, 'x', {
            note: `${cpus().length} cores shared by the servers, the database and the clients`,
          }),
          figure(engine.name, `one hot log, ${k} processes, unrouted (round robin)`, unrouted.eventsPerSecond, 'events/s', {
            baseline: { name: 'routed by log', value: routed.eventsPerSecond, unit: 'events/s' },
            note: `${HOT_WRITERS} writers, requests of ${HOT_BATCH} events; appends handed to the lease holder (ADVERTISE_URL); best of ${hotRounds.length} alternating rounds each`,
          }),
          figure(engine.name, 'one hot log: unrouted / routed', unrouted.eventsPerSecond / routed.eventsPerSecond, 'x', {
            target: { op: '>=', value: 0.7, text: 'unrouted throughput >= 0.7 of the same load routed by log (issue 22)' },
          }),
        ],
        details: {
          processes: k,
          events: total,
          logs: LOGS,
          one,
          many: { ...many, stored },
          hot: { events: hotTotal, writers: HOT_WRITERS, batch: HOT_BATCH, routed, unrouted, rounds: hotRounds },
        },
      };
    } finally {
      for (const s of servers) await s.stop();
      await store.dispose();
    }
  },
};
