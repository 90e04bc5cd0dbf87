// 10. Requests while an audit runs: p99 of the trivial query and of single-event ingest while verifyLog walks
// the big log of the shared data set, against the same figures with no audit running, in the same run; and
// the audit's own throughput. verifyLog reads and checks in bounded chunks and yields between them
// (src/log/verify-log.ts), so other requests wait for at most one chunk.
import { benchEvents } from '../events.js';
import { GraphQLClient } from '../http.js';
import { LOG_EVENT, TRIVIAL } from '../queries.js';
import { figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { sized } from '../sizes.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';

const APP = 'audit-probe';
const VERIFY = `query Verify($app: String!) { verifyLog(sourceAppId: $app) { ok eventsChecked firstBadSeq } }`;
/** Samples per phase at least, however short the audit. */
const MIN_SAMPLES = 50;

interface Phase {
  trivial: number[];
  ingest: number[];
}

export const auditFairness: Scenario = {
  id: '10',
  title: 'Requests while verifyLog audits the big log (trivial query and single-event ingest, p99)',
  usesDataset: true,
  measures:
    'Two clients in step, one sending the trivial query, one logEvent (one event to a small log), each waiting for its ' +
    'answer before the next: first with no audit running (baseline), then while verifyLog walks the whole big log of the ' +
    'shared data set over a third connection. p99 of each, and the audit throughput (events verified per second).',
  async run(ctx) {
    const { engine } = ctx;
    const ds = ctx.dataset!;
    const idleSeconds = sized(ctx, { quick: 3, full: 20, slowQuick: 3, slowFull: 10 });
    const trivialClient = new GraphQLClient(ds.server.url, { maxSockets: 1 });
    const ingestClient = new GraphQLClient(ds.server.url, { maxSockets: 1 });
    const auditClient = new GraphQLClient(ds.server.url, { maxSockets: 1, timeoutMs: 3_600_000 });
    const source = benchEvents({ seed: 9, logs: [APP] });
    /** Both clients sample until `done()` says stop (checked after each request). */
    const sample = async (done: (p: Phase) => boolean): Promise<Phase> => {
      const p: Phase = { trivial: [], ingest: [] };
      const loop = async (out: number[], send: () => Promise<unknown>) => {
        while (!done(p)) {
          const t = performance.now();
          await send();
          out.push(performance.now() - t);
        }
      };
      await Promise.all([
        loop(p.trivial, () => trivialClient.request(TRIVIAL)),
        loop(p.ingest, () => ingestClient.request(LOG_EVENT, { input: source.next().input })),
      ]);
      return p;
    };
    try {
      // Warm-up: the probe log exists and both connections are open before anything is measured.
      await sample((p) => p.trivial.length >= 10 && p.ingest.length >= 10);
      const idleEnd = performance.now() + idleSeconds * 1000;
      const idle = await sample(
        (p) => performance.now() >= idleEnd && p.trivial.length >= MIN_SAMPLES && p.ingest.length >= MIN_SAMPLES,
      );

      ctx.log(`audit: verifyLog over ${ds.bigSize.toLocaleString('en-US')} events while sampling`);
      let auditDone = false;
      const auditStart = performance.now();
      const audit = auditClient
        .request<{ verifyLog: { ok: boolean; eventsChecked: number; firstBadSeq: number | null } }>(VERIFY, { app: ds.bigLog })
        .finally(() => {
          auditDone = true;
        });
      const during = sample((p) => auditDone && p.trivial.length >= MIN_SAMPLES && p.ingest.length >= MIN_SAMPLES);
      const report = (await audit).verifyLog;
      const auditSeconds = (performance.now() - auditStart) / 1000;
      const busy = await during;
      if (!report.ok) throw new Error(`verifyLog of the big log is not ok (first bad position ${report.firstBadSeq})`);

      const s = {
        idle: { trivial: summarize(idle.trivial), ingest: summarize(idle.ingest) },
        busy: { trivial: summarize(busy.trivial), ingest: summarize(busy.ingest) },
      };
      const target = (idleP99: number) => {
        const value = Math.min(3 * idleP99, 50);
        return { op: '<=' as const, value, text: `<= 3x idle p99 (${(3 * idleP99).toFixed(1)} ms) and < 50 ms` };
      };
      return {
        figures: [
          figure(engine.name, 'trivial query p99 during an audit', s.busy.trivial.p99, 'ms', {
            baseline: { name: 'trivial query p99, no audit', value: s.idle.trivial.p99, unit: 'ms' },
            target: target(s.idle.trivial.p99),
          }),
          figure(engine.name, 'single-event ingest p99 during an audit', s.busy.ingest.p99, 'ms', {
            baseline: { name: 'single-event ingest p99, no audit', value: s.idle.ingest.p99, unit: 'ms' },
            target: target(s.idle.ingest.p99),
          }),
          figure(
            engine.name,
            'audit throughput (verifyLog over the big log, under that load)',
            report.eventsChecked / auditSeconds,
            'events/s',
          ),
        ],
        details: {
          auditedEvents: report.eventsChecked,
          auditSeconds,
          idleSeconds,
          idleMs: { trivial: roundSummary(s.idle.trivial), ingest: roundSummary(s.idle.ingest) },
          duringAuditMs: { trivial: roundSummary(s.busy.trivial), ingest: roundSummary(s.busy.ingest) },
        },
      };
    } finally {
      trivialClient.close();
      ingestClient.close();
      auditClient.close();
    }
  },
};
