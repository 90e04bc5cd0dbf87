// The shared data set of scenarios 4, 5, 7, 9 and 10: one server (child process) loaded through the real
// ingest path — logEvents batches of 500 from 4 clients — so the trees and checkpoints are real.
// One big log holds `datasetSize` events (the 1,000,000-leaf tree of the proofs); ten small logs add a
// fifth on top (selective sourceAppIds filters). Timestamps spread evenly over the past 30 days. A sparse log
// of a few events is written first: a stream of it resumed after its first event replays the whole store
// for those few matches (scenario 9).
import { benchEvents, nextBatch } from './events.js';
import { GraphQLClient, sleep } from './http.js';
import { logEventsBody, sendBatches, streamBatches } from './ingest.js';
import { PUBLISH } from './queries.js';
import { figure } from './report.js';
import type { ScenarioResult } from './report.js';
import type { Dataset, ScenarioContext } from './scenario.js';
import { startServer } from './server.js';
import { datasetSize } from './sizes.js';
import { roundSummary, summarize } from '../src/simulator/stats.js';

export const BIG_LOG = 'ledger';
export const SMALL_LOGS = Array.from({ length: 10 }, (_, i) => `app-${i}`);
export const SPARSE_LOG = 'sparse';
const SPARSE_SIZE = 35;
const DAY = 86_400_000;

export type { Dataset } from './scenario.js';

export async function loadDataset(ctx: ScenarioContext): Promise<Dataset> {
  const { engine } = ctx;
  const started = new Date();
  const bigSize = datasetSize(ctx);
  // Every sixth event goes to a small log: the big log gets exactly bigSize when bigSize is a multiple of 5.
  const total = Math.round((bigSize * 6) / 5);
  const tsEnd = Date.now() - DAY;
  const tsStart = tsEnd - 30 * DAY;
  const source = benchEvents({
    seed: 7,
    logs: [BIG_LOG],
    logOf: (n) => (n % 6 === 5 ? SMALL_LOGS[Math.floor(n / 6) % SMALL_LOGS.length]! : BIG_LOG),
    timestampOf: (n) => tsStart + Math.floor((n * (tsEnd - tsStart)) / total),
  });
  const server = await startServer({ engine, label: 'dataset' });
  try {
    await sleep(1000);
    const idleRssBytes = server.rssBytes();
    ctx.log(`data set: loading ${total.toLocaleString('en-US')} events (big log ${bigSize.toLocaleString('en-US')})`);
    const sparse = nextBatch(benchEvents({ seed: 8, logs: [SPARSE_LOG], timestampOf: (n) => tsStart + n }), SPARSE_SIZE);
    await sendBatches(server.url, [{ body: logEventsBody(sparse), count: SPARSE_SIZE }], 1);
    const load = await streamBatches(server.url, source, total, 500, 4, (sent, s) =>
      ctx.log(`data set: ${sent.toLocaleString('en-US')} events in ${s.toFixed(0)} s (${Math.round(sent / s)}/s)`),
    );
    const loadedRssBytes = server.rssBytes();
    const client = new GraphQLClient(server.url, { maxSockets: 1 });
    try {
      await client.request(PUBLISH);
      const head = await client.request<{
        log: { size: number; integratedSize: number; latestCheckpoint: { treeSize: number } | null };
      }>('query ($app: String!) { log(sourceAppId: $app) { size integratedSize latestCheckpoint { treeSize } } }', {
        app: BIG_LOG,
      });
      if (head.log.latestCheckpoint?.treeSize !== head.log.size) {
        throw new Error(`big log checkpoint covers ${head.log.latestCheckpoint?.treeSize} of ${head.log.size} events`);
      }
      const actualBig = head.log.size;
      ctx.log(
        `data set: loaded in ${load.seconds.toFixed(1)} s (${Math.round(load.eventsPerSecond)}/s); big log checkpoint at ${actualBig}`,
      );
      const result: ScenarioResult = {
        id: '4-7',
        title: 'Shared data set load (sustained ingest through logEvents)',
        engine: engine.name,
        measures:
          'Loading the data set of scenarios 4, 5, 7, 9, 10 through the real ingest path (logEvents, batches of 500, 4 clients) on one server; ' +
          'sustained ingest as the database grows. Compare with scenario 1 (fresh database).',
        status: 'ok',
        figures: [
          figure(engine.name, `sustained ingest over ${total.toLocaleString('en-US')} events`, load.eventsPerSecond, 'events/s', {
            note: 'no separate target; scenario 1 has the raw baseline',
          }),
        ],
        details: {
          total,
          bigLog: BIG_LOG,
          bigLogSize: actualBig,
          smallLogs: SMALL_LOGS.length,
          sparseLog: { name: SPARSE_LOG, events: SPARSE_SIZE, written: 'first' },
          seconds: load.seconds,
          batchLatencyMs: roundSummary(summarize(load.batchLatencies)),
          timestampRange: [new Date(tsStart).toISOString(), new Date(tsEnd).toISOString()],
        },
        startedAt: started.toISOString(),
        durationMs: Date.now() - started.getTime(),
      };
      return {
        server,
        bigLog: BIG_LOG,
        bigSize: actualBig,
        smallLogs: SMALL_LOGS,
        sparseLog: SPARSE_LOG,
        sparseSize: SPARSE_SIZE,
        total,
        tsStart,
        tsEnd,
        idleRssBytes,
        loadedRssBytes,
        load,
        result,
      };
    } finally {
      client.close();
    }
  } catch (err) {
    await server.stop();
    throw err;
  }
}
