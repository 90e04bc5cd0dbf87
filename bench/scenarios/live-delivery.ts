// 6. Live delivery: subscribers on graphql-ws `eventLogged` while events are ingested at a fixed rate.
// Commit-to-receive is measured from the event's receivedAt (stamped by the server just before its
// commit, on the same machine clock), so it is an upper bound; ack-to-receive is reported beside it.
import type { Client } from 'graphql-ws';
import { benchEvents, nextBatch } from '../events.js';
import { GraphQLClient, sleep } from '../http.js';
import { checkLogEventsResponse, logEventsBody } from '../ingest.js';
import { SUB_EVENTS } from '../queries.js';
import { figure, MB } from '../report.js';
import type { Scenario } from '../scenario.js';
import { withServer } from '../server.js';
import { sized } from '../sizes.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';
import { subscribe, wsClient, type Subscription } from '../ws.js';

const APP = 'live';
const WARMUP_APP = 'live-warmup';

interface Subscriber {
  client: Client;
  sub: Subscription;
  warm: boolean;
  received: number;
  lastSeq: number;
  outOfOrder: number;
  error: string | null;
}

export const liveDelivery: Scenario = {
  id: '6',
  title: 'Live delivery (graphql-ws eventLogged subscribers while ingesting)',
  measures:
    'N subscribers (own WebSocket each, no filter) while events are ingested at a fixed rate with logEvents; per event, ' +
    'receive time minus its receivedAt (commit, upper bound) over all subscribers; every subscriber must get every event, ' +
    "in order, once. Baseline: the ingesting client's logEvents round trip.",
  async run(ctx) {
    const { engine, options } = ctx;
    const subscribers = options.quick ? 10 : 100;
    const rate = sized(ctx, { quick: 200, full: 2000, slowQuick: 100, slowFull: 200 });
    const seconds = sized(ctx, { quick: 3, full: 20, slowFull: 10 });
    return withServer({ engine, label: 's6' }, async (server) => {
      const http = new GraphQLClient(server.url, { maxSockets: 8 });
      const subs: Subscriber[] = [];
      const latencies: number[] = [];
      const ackAt = new Map<number, number>();
      const firstSubReceive = new Map<number, number>();
      try {
        for (let i = 0; i < subscribers; i++) {
          const client = wsClient(server.wsUrl);
          const s: Subscriber = {
            client,
            sub: undefined as unknown as Subscription,
            warm: false,
            received: 0,
            lastSeq: -1,
            outOfOrder: 0,
            error: null,
          };
          s.sub = subscribe<{ eventLogged: { id: string; eventType: string; receivedAt: string } }>(
            client,
            SUB_EVENTS,
            undefined,
            (d) => {
              const now = Date.now();
              const e = d.eventLogged;
              const slash = e.id.lastIndexOf('/');
              const app = e.id.slice(0, slash);
              if (app === WARMUP_APP) {
                s.warm = true;
                return;
              }
              if (app !== APP) return;
              const seq = Number(e.id.slice(slash + 1));
              if (seq !== s.lastSeq + 1) s.outOfOrder++;
              s.lastSeq = seq;
              s.received++;
              latencies.push(now - Date.parse(e.receivedAt));
              if (i === 0) firstSubReceive.set(seq, now);
            },
          );
          s.sub.done.then(
            () => (s.error ??= 'completed early'),
            (err: Error) => (s.error = err.message),
          );
          subs.push(s);
        }
        // Warm up until every subscription is live (they have no `after`, so they only see later events).
        const warm = benchEvents({ seed: 60, logs: [WARMUP_APP] });
        const deadline = Date.now() + 30_000;
        while (subs.some((s) => !s.warm)) {
          if (Date.now() > deadline) throw new Error(`${subs.filter((s) => !s.warm).length} subscribers not live after 30 s`);
          const r = await http.post(logEventsBody(nextBatch(warm, 1)));
          checkLogEventsResponse(r.status, r.body, 1);
          await sleep(200);
        }
        const setupErrors = subs.filter((s) => s.error).length;
        if (setupErrors > 0)
          throw new Error(`${setupErrors} subscriptions failed during warm-up: ${subs.find((s) => s.error)?.error}`);

        ctx.log(`6: ${subscribers} subscribers live; ingesting ${rate}/s for ${seconds} s`);
        const liveRss = server.rssBytes();
        let peakRss = liveRss;
        const sampler = setInterval(() => (peakRss = Math.max(peakRss, server.rssBytes())), 250);
        const source = benchEvents({ seed: 6, logs: [APP] });
        const batchLatencies: number[] = [];
        const inFlight = new Set<Promise<void>>();
        let sent = 0;
        let ingestErrors = 0;
        let firstIngestError: string | undefined;
        const t0 = performance.now();
        const total = rate * seconds;
        while (sent < total) {
          const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate)) - sent;
          if (due > 0 && inFlight.size < 8) {
            const n = Math.min(due, 1000);
            sent += n;
            const body = logEventsBody(nextBatch(source, n));
            const t = performance.now();
            const p = http.post(body).then(
              (r) => {
                batchLatencies.push(performance.now() - t);
                try {
                  checkLogEventsResponse(r.status, r.body, n);
                  const now = Date.now();
                  for (const e of (JSON.parse(r.body) as { data: { logEvents: Array<{ seq: number }> } }).data.logEvents)
                    ackAt.set(e.seq, now);
                } catch (err) {
                  ingestErrors++;
                  firstIngestError ??= (err as Error).message;
                }
              },
              (err: Error) => {
                ingestErrors++;
                firstIngestError ??= err.message;
              },
            );
            inFlight.add(p);
            void p.finally(() => inFlight.delete(p));
          }
          await sleep(10);
        }
        await Promise.all(inFlight);
        const ingestSeconds = (performance.now() - t0) / 1000;
        if (ingestErrors > 0) throw new Error(`${ingestErrors} ingest batches failed: ${firstIngestError}`);
        // Let the subscribers drain.
        const drainUntil = Date.now() + 15_000;
        while (subs.some((s) => s.received < total && !s.error) && Date.now() < drainUntil) await sleep(100);
        clearInterval(sampler);

        const expected = total * subscribers;
        const received = subs.reduce((a, s) => a + s.received, 0);
        const missed = subs.reduce((a, s) => a + Math.max(0, total - s.received), 0);
        const outOfOrder = subs.reduce((a, s) => a + s.outOfOrder, 0);
        const failedSubs = subs.filter((s) => s.error);
        const lat = summarize(latencies);
        const ackRel: number[] = [];
        for (const [seq, at] of firstSubReceive) {
          const a = ackAt.get(seq);
          if (a !== undefined) ackRel.push(at - a);
        }
        const batch = summarize(batchLatencies);
        return {
          figures: [
            figure(engine.name, `delivery p99 (commit → receive), ${subscribers} subscribers at ${rate}/s`, lat.p99, 'ms', {
              baseline: { name: 'logEvents round trip p99', value: batch.p99, unit: 'ms' },
              target: { op: '<=', value: 100, text: '<= 100 ms' },
            }),
            figure(engine.name, 'events missed (all subscribers)', missed, 'events', {
              target: { op: '<=', value: 0, text: 'none missed' },
              note: `${received.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} deliveries, ${outOfOrder} out of order, ${failedSubs.length} subscriptions ended`,
            }),
            figure(engine.name, 'achieved ingest rate', sent / ingestSeconds, 'events/s', { note: `asked ${rate}/s` }),
            figure(engine.name, 'server peak RSS while delivering', peakRss / MB, 'MB', {
              baseline: { name: 'RSS with the subscribers live, before ingesting', value: liveRss / MB, unit: 'MB' },
            }),
          ],
          details: {
            subscribers,
            rate,
            seconds,
            events: total,
            deliveryMs: roundSummary(lat),
            ackToReceiveMsFirstSubscriber: roundSummary(summarize(ackRel)),
            logEventsRoundTripMs: roundSummary(batch),
            received,
            expected,
            missed,
            outOfOrder,
            subscriptionErrors: failedSubs.slice(0, 5).map((s) => s.error),
          },
        };
      } finally {
        for (const s of subs) s.sub.unsubscribe();
        await Promise.all(subs.map((s) => Promise.resolve(s.client.dispose())));
        http.close();
      }
    });
  },
};
