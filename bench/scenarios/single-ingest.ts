// 2. Single-event ingest through logEvent from 64 concurrent clients, against the same server answering
// a trivial query ({ serverInfo { version } }) on the same HTTP path with the same concurrency.
import { appNames, benchEvents } from '../events.js';
import { closedLoop, type LoopRun } from '../load.js';
import { LOG_EVENT, TRIVIAL } from '../queries.js';
import { figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { withServer } from '../server.js';
import { sized } from '../sizes.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';

const CLIENTS = 64;

export const singleIngest: Scenario = {
  id: '2',
  title: 'Single-event ingest (logEvent, 64 concurrent clients)',
  measures:
    'Events/s acknowledged by logEvent with 64 closed-loop clients (10 logs), against the same server answering ' +
    '{ serverInfo { version } } on POST /graphql with 64 clients; rounds alternate, best of each.',
  async run(ctx) {
    const { engine, options } = ctx;
    const seconds = sized(ctx, { quick: 2, full: 15, slowQuick: 1 });
    const rounds = options.quick ? 1 : 2;
    const source = benchEvents({ seed: 2, logs: appNames('single', 10) });
    const trivialBody = JSON.stringify({ query: TRIVIAL });
    const ingest: LoopRun[] = [];
    const trivial: LoopRun[] = [];
    await withServer({ engine, label: 's2' }, async (server) => {
      // Warm-up: JIT, connections, the logs' first rows.
      await closedLoop(server.url, CLIENTS, options.quick ? 0.5 : 2, () =>
        JSON.stringify({ query: LOG_EVENT, variables: { input: source.next().input } }),
      );
      for (let r = 0; r < rounds; r++) {
        ctx.log(`2: round ${r + 1}/${rounds}: trivial query`);
        trivial.push(await closedLoop(server.url, CLIENTS, seconds, () => trivialBody));
        ctx.log(`2: round ${r + 1}/${rounds}: logEvent`);
        ingest.push(
          await closedLoop(server.url, CLIENTS, seconds, () =>
            JSON.stringify({ query: LOG_EVENT, variables: { input: source.next().input } }),
          ),
        );
      }
    });
    for (const run of [...ingest, ...trivial]) {
      if (run.errors > 0) throw new Error(`${run.errors} of ${run.requests} requests failed: ${run.firstError}`);
    }
    const best = (xs: LoopRun[]) => xs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    const bi = best(ingest);
    const bt = best(trivial);
    const li = summarize(bi.latencies);
    const lt = summarize(bt.latencies);
    return {
      figures: [
        figure(engine.name, 'single-event ingest', bi.perSecond, 'events/s', {
          baseline: { name: 'trivial query', value: bt.perSecond, unit: 'req/s' },
        }),
        figure(engine.name, 'single-event ingest / trivial query', bi.perSecond / bt.perSecond, 'x', {
          target: { op: '>=', value: 0.6, text: '>= 0.6 of the trivial query' },
        }),
        figure(engine.name, 'logEvent latency p95', li.p95, 'ms', {
          baseline: { name: 'trivial query p95', value: lt.p95, unit: 'ms' },
        }),
      ],
      details: {
        clients: CLIENTS,
        secondsPerRun: seconds,
        rounds,
        logEvent: ingest.map((r) => ({
          perSecond: Math.round(r.perSecond),
          requests: r.requests,
          latencyMs: roundSummary(summarize(r.latencies)),
        })),
        trivialQuery: trivial.map((r) => ({
          perSecond: Math.round(r.perSecond),
          requests: r.requests,
          latencyMs: roundSummary(summarize(r.latencies)),
        })),
      },
    };
  },
};
