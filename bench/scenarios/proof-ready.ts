// 3. Proof-ready latency: from an acknowledged append to the moment a checkpoint that includes it is
// published (received over graphql-ws `checkpointPublished`), with the default settings (eager
// publishing, CHECKPOINT_MIN_GAP_MS 50, interval 1 s): (a) single events at random moments on one log;
// (b) batch ingest at 2,000 events/s over 10 logs, beside the same load with eager publishing off
// (CHECKPOINT_MIN_GAP_MS=0, a checkpoint each 1 s interval) in the same run.
import { GraphQLClient, sleep } from '../http.js';
import { appNames, benchEvents } from '../events.js';
import { checkLogEventsResponse, logEventsBody } from '../ingest.js';
import { nextBatch } from '../events.js';
import { LOG_EVENT, PUBLISH, SUB_CHECKPOINTS } from '../queries.js';
import { figure, type Figure } from '../report.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { withServer } from '../server.js';
import { sized } from '../sizes.js';
import { roundSummary, summarize, type Distribution } from '../../src/simulator/stats.js';
import { subscribe, wsClient } from '../ws.js';
import { coverLatencies, steadyIngest, SUB_ALL_CHECKPOINTS, until, type Delivery } from './federation.js';

const APP = 'proof-ready';
const INTERVAL_MS = 1000;
/** Issue 22's target: proof-ready p95 at 2,000 events/s over 10 logs (and for single events). */
export const PROOF_READY_P95_TARGET_MS = 250;
const LOAD_LOGS = 10;
const LOAD_RATE = 2000;

interface LoadMeasure {
  proofReady: Distribution;
  ack: Distribution;
  events: number;
  achievedEventsPerSecond: number;
  checkpoints: number;
  /** Checkpoints per log per second, over the run. */
  checkpointsPerLogPerSecond: number;
  /** Server CPU per event while under the load (user + system), µs; null where unknown. */
  cpuUsPerEvent: number | null;
}

/** (b): steady batch ingest over 10 logs; every acknowledged event timed to the first checkpoint of its log covering it. */
async function underLoad(ctx: ScenarioContext, env: Record<string, string>, label: string): Promise<LoadMeasure> {
  const { engine } = ctx;
  const rate = sized(ctx, { quick: 500, full: LOAD_RATE });
  const seconds = sized(ctx, { quick: 5, full: 30 });
  const batch = Math.max(LOAD_LOGS, Math.round(rate / 20));
  const apps = appNames(`pr-${label}`, LOAD_LOGS);
  return withServer(
    { engine, label: `s3-${label}`, env: { CHECKPOINT_INTERVAL_MS: String(INTERVAL_MS), ...env } },
    async (server) => {
      const published = new Map<string, Delivery[]>(apps.map((a) => [a, []]));
      const ws = wsClient(server.wsUrl);
      const sub = subscribe<{ checkpointPublished: { checkpoint: { sourceAppId: string; treeSize: number } } }>(
        ws,
        SUB_ALL_CHECKPOINTS,
        undefined,
        (d) =>
          published
            .get(d.checkpointPublished.checkpoint.sourceAppId)
            ?.push({ size: d.checkpointPublished.checkpoint.treeSize, at: Date.now() }),
      );
      const source = benchEvents({ seed: 33, logs: apps });
      try {
        const warm = new GraphQLClient(server.url, { maxSockets: 1 });
        try {
          // The subscription is live once a checkpoint of every log arrived (events keep coming meanwhile).
          await until(
            'a checkpoint of every log',
            30_000,
            async () => {
              if ([...published.values()].every((d) => d.length > 0)) return true;
              const r = await warm.post(logEventsBody(nextBatch(source, LOAD_LOGS)));
              checkLogEventsResponse(r.status, r.body, LOAD_LOGS);
              return false;
            },
            250,
          );
        } finally {
          warm.close();
        }
        const before = new Map([...published].map(([a, d]) => [a, d.length]));
        ctx.log(`3: ${rate} events/s over ${LOAD_LOGS} logs for ${seconds} s (${label})`);
        const cpu0 = server.cpuSeconds();
        const load = steadyIngest(server.url, source, rate, batch);
        await Promise.race([sleep(seconds * 1000), load.failed()]);
        const { seconds: ran } = await load.stop();
        const cpu1 = server.cpuSeconds();
        const acks = load.acks;
        const last = new Map<string, number>();
        for (const a of acks) last.set(a.app, Math.max(last.get(a.app) ?? -1, a.seq));
        await until(
          'a checkpoint covering the last event of every log',
          3 * INTERVAL_MS + 10_000,
          () => [...last].every(([app, seq]) => (published.get(app) ?? []).some((d) => d.size > seq)),
          20,
        );
        const pr = coverLatencies(acks, published);
        if (pr.missing > 0) throw new Error(`of ${acks.length} events, ${pr.missing} were never in a published checkpoint`);
        const checkpoints = [...published].reduce((n, [a, d]) => n + d.length - (before.get(a) ?? 0), 0);
        return {
          proofReady: summarize(pr.latencies),
          ack: summarize(acks.map((a) => a.ackMs)),
          events: acks.length,
          achievedEventsPerSecond: Math.round(acks.length / ran),
          checkpoints,
          checkpointsPerLogPerSecond: Math.round((checkpoints / LOAD_LOGS / ran) * 10) / 10,
          cpuUsPerEvent: cpu0 === null || cpu1 === null ? null : Math.round(((cpu1 - cpu0) * 1e6) / acks.length),
        };
      } finally {
        sub.unsubscribe();
        await ws.dispose();
      }
    },
  );
}

/** The figures of part (b), eager publishing against interval-only in the same run (a test checks their shape). */
export function loadFigures(engine: ScenarioContext['engine']['name'], eager: LoadMeasure, intervalOnly: LoadMeasure): Figure[] {
  const load = `${eager.achievedEventsPerSecond} events/s over ${LOAD_LOGS} logs`;
  return [
    figure(engine, `proof-ready latency p50 under load (${LOAD_RATE} events/s, ${LOAD_LOGS} logs)`, eager.proofReady.p50, 'ms', {
      baseline: { name: 'interval only (CHECKPOINT_MIN_GAP_MS=0)', value: intervalOnly.proofReady.p50, unit: 'ms' },
      note: load,
    }),
    figure(engine, `proof-ready latency p95 under load (${LOAD_RATE} events/s, ${LOAD_LOGS} logs)`, eager.proofReady.p95, 'ms', {
      baseline: { name: 'interval only (CHECKPOINT_MIN_GAP_MS=0)', value: intervalOnly.proofReady.p95, unit: 'ms' },
      target: { op: '<=', value: PROOF_READY_P95_TARGET_MS, text: `<= ${PROOF_READY_P95_TARGET_MS} ms (issue 22)` },
      note: load,
    }),
    figure(engine, 'checkpoints per log per second under load', eager.checkpointsPerLogPerSecond, 'per s', {
      baseline: { name: 'interval only', value: intervalOnly.checkpointsPerLogPerSecond, unit: 'per s' },
    }),
  ];
}

export const proofReady: Scenario = {
  id: '3',
  title: 'Proof-ready latency (append acknowledged → in a published checkpoint), default settings',
  measures:
    'The time from the acknowledgement to receiving (graphql-ws checkpointPublished) the first checkpoint whose tree size ' +
    'covers the event, with eager publishing (CHECKPOINT_MIN_GAP_MS 50, interval 1 s): (a) single events appended at ' +
    'random moments (logEvent, one at a time, 50-250 ms apart), baseline the logEvent acknowledgement; (b) logEvents ' +
    'batches at 2,000 events/s over 10 logs, baseline the same load with eager publishing off (a checkpoint per 1 s ' +
    'interval: ideally p50 500 ms, p95 950 ms).',
  async run(ctx) {
    const single = await singleEvents(ctx);
    const eager = await underLoad(ctx, {}, 'eager');
    const intervalOnly = await underLoad(ctx, { CHECKPOINT_MIN_GAP_MS: '0' }, 'interval');
    return {
      figures: [...single.figures, ...loadFigures(ctx.engine.name, eager, intervalOnly)],
      details: {
        single: single.details,
        underLoad: {
          eager: { ...eager, proofReady: roundSummary(eager.proofReady), ack: roundSummary(eager.ack) },
          intervalOnly: {
            ...intervalOnly,
            proofReady: roundSummary(intervalOnly.proofReady),
            ack: roundSummary(intervalOnly.ack),
          },
        },
      },
    };
  },
};

/** (a): single events at random moments on one log. */
async function singleEvents(ctx: ScenarioContext): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const { engine, options } = ctx;
  const seconds = options.quick ? 3 : 30;
  return withServer({ engine, label: 's3', env: { CHECKPOINT_INTERVAL_MS: String(INTERVAL_MS) } }, async (server) => {
    const http = new GraphQLClient(server.url, { maxSockets: 2 });
    const ws = wsClient(server.wsUrl);
    const checkpoints: Array<{ treeSize: number; at: number }> = [];
    const sub = subscribe<{ checkpointPublished: { checkpoint: { treeSize: number } } }>(ws, SUB_CHECKPOINTS, { app: APP }, (d) =>
      checkpoints.push({ treeSize: d.checkpointPublished.checkpoint.treeSize, at: Date.now() }),
    );
    const source = benchEvents({ seed: 3, logs: [APP] });
    try {
      // Until a checkpoint arrives, the subscription may not be active yet.
      await http.request(LOG_EVENT, { input: source.next().input });
      const deadline = Date.now() + 15_000;
      while (checkpoints.length === 0) {
        if (Date.now() > deadline) throw new Error('no checkpointPublished received within 15 s');
        // The log must grow each time: the interval may have published before the subscription was live.
        await http.request(LOG_EVENT, { input: source.next().input });
        await http.request(PUBLISH);
        await sleep(200);
      }
      const acks: Array<{ seq: number; at: number; ackMs: number }> = [];
      const end = Date.now() + seconds * 1000;
      while (Date.now() < end) {
        const t = performance.now();
        const r = await http.request<{ logEvent: { seq: number } }>(LOG_EVENT, { input: source.next().input });
        acks.push({ seq: r.logEvent.seq, at: Date.now(), ackMs: performance.now() - t });
        await sleep(50 + Math.random() * 200);
      }
      const last = acks[acks.length - 1]!.seq;
      const waitUntil = Date.now() + 3 * INTERVAL_MS + 5000;
      while (!checkpoints.some((c) => c.treeSize > last) && Date.now() < waitUntil) await sleep(50);
      const latencies: number[] = [];
      let missing = 0;
      for (const a of acks) {
        const c = checkpoints.find((cp) => cp.treeSize > a.seq);
        if (c) latencies.push(c.at - a.at);
        else missing++;
      }
      if (missing > 0) throw new Error(`${missing} of ${acks.length} events never appeared in a received checkpoint`);
      const s = summarize(latencies);
      const ack = summarize(acks.map((a) => a.ackMs));
      return {
        figures: [
          figure(engine.name, 'proof-ready latency p50', s.p50, 'ms', {
            baseline: { name: 'logEvent ack p50', value: ack.p50, unit: 'ms' },
          }),
          figure(engine.name, 'proof-ready latency p95', s.p95, 'ms', {
            baseline: { name: 'logEvent ack p95', value: ack.p95, unit: 'ms' },
            target: { op: '<=', value: PROOF_READY_P95_TARGET_MS, text: `<= ${PROOF_READY_P95_TARGET_MS} ms (issue 22)` },
          }),
        ],
        details: {
          intervalMs: INTERVAL_MS,
          events: acks.length,
          checkpointsReceived: checkpoints.length,
          proofReadyMs: roundSummary(s),
          ackMs: roundSummary(ack),
        },
      };
    } finally {
      sub.unsubscribe();
      await ws.dispose();
      http.close();
    }
  });
}
