// 3. Proof-ready latency: from an acknowledged append to the moment a checkpoint that includes it is
// published (received over graphql-ws `checkpointPublished`), at the default 1 s interval.
import { GraphQLClient, sleep } from '../http.js';
import { benchEvents } from '../events.js';
import { LOG_EVENT, PUBLISH, SUB_CHECKPOINTS } from '../queries.js';
import { figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { withServer } from '../server.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';
import { subscribe, wsClient } from '../ws.js';

const APP = 'proof-ready';
const INTERVAL_MS = 1000;

export const proofReady: Scenario = {
  id: '3',
  title: 'Proof-ready latency (append acknowledged → in a published checkpoint), 1 s interval',
  measures:
    'For single events appended at random moments (logEvent, one at a time, 50-250 ms apart), the time from the ' +
    'acknowledgement to receiving (graphql-ws checkpointPublished) the first checkpoint whose tree size covers the event. ' +
    'Baseline: the logEvent acknowledgement latency itself; an ideal 1 s publisher gives p50 500 ms, p95 950 ms.',
  async run(ctx) {
    const { engine, options } = ctx;
    const seconds = options.quick ? 3 : 30;
    return withServer({ engine, label: 's3', env: { CHECKPOINT_INTERVAL_MS: String(INTERVAL_MS) } }, async (server) => {
      const http = new GraphQLClient(server.url, { maxSockets: 2 });
      const ws = wsClient(server.wsUrl);
      const checkpoints: Array<{ treeSize: number; at: number }> = [];
      const sub = subscribe<{ checkpointPublished: { checkpoint: { treeSize: number } } }>(
        ws,
        SUB_CHECKPOINTS,
        { app: APP },
        (d) => checkpoints.push({ treeSize: d.checkpointPublished.checkpoint.treeSize, at: Date.now() }),
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
              target: { op: '<=', value: 1500, text: '<= 1,500 ms at 1 s interval' },
            }),
          ],
          details: {
            intervalMs: INTERVAL_MS,
            events: acks.length,
            checkpointsReceived: checkpoints.length,
            proofReadyMs: roundSummary(s),
            ackMs: roundSummary(ack),
            idealMs: { p50: INTERVAL_MS / 2, p95: INTERVAL_MS * 0.95 },
          },
        };
      } finally {
        sub.unsubscribe();
        await ws.dispose();
        http.close();
      }
    });
  },
};
