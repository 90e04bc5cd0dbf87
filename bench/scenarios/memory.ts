// 7. Memory: resident size of the server process after the data set load, and its drift over a steady
// mixed load (ingest + queries + proofs). Baseline: the same process's RSS at idle before the load.
import { appNames, benchEvents, nextBatch } from '../events.js';
import { GraphQLClient, sleep } from '../http.js';
import { checkLogEventsResponse, logEventsBody } from '../ingest.js';
import { EVENTS_PAGE, INCLUSION } from '../queries.js';
import { figure, MB } from '../report.js';
import type { Scenario } from '../scenario.js';
import { sized, steadySeconds } from '../sizes.js';
import { mean, slope } from '../../src/simulator/stats.js';

export const memory: Scenario = {
  id: '7',
  title: 'Memory (server RSS after the data set load, drift under steady load)',
  usesDataset: true,
  measures:
    'VmRSS of the server child process right after loading the data set (baseline: its RSS at idle before), then ' +
    'sampled during a steady load (logEvents 1,000 events/s — FerretDB: 100/s — in batches of 100 over 20 logs, plus ~10 queries/s and ~10 ' +
    'inclusion proofs/s); drift = mean of the last quarter of samples minus the first quarter, after a warm-up.',
  async run(ctx) {
    const { engine, options } = ctx;
    const ds = ctx.dataset!;
    const seconds = steadySeconds(ctx);
    const warmup = Math.min(30, Math.max(1, Math.round(seconds / 10)));
    const sampleEvery = options.quick ? 250 : 2000;
    const rate = sized(ctx, { quick: 500, full: 1000, slowQuick: 100, slowFull: 100 });
    const http = new GraphQLClient(ds.server.url, { maxSockets: 4 });
    const source = benchEvents({ seed: 70, logs: appNames('steady', 20) });
    const samples: Array<{ t: number; rss: number }> = [];
    let stop = false;
    let failures = 0;
    let firstFailure: string | undefined;
    const guard = async (fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        failures++;
        firstFailure ??= (err as Error).message;
      }
    };
    ctx.log(`7: steady load for ${seconds} s (warm-up ${warmup} s)`);
    const t0 = performance.now();
    const ingest = (async () => {
      let sent = 0;
      while (!stop) {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate) - sent;
        if (due >= 100) {
          sent += 100;
          await guard(async () => {
            const r = await http.post(logEventsBody(nextBatch(source, 100)));
            checkLogEventsResponse(r.status, r.body, 100);
          });
        } else await sleep(20);
      }
    })();
    const readers = (async () => {
      let i = 0;
      while (!stop) {
        await guard(async () => {
          await http.request(EVENTS_PAGE, {
            filter: i % 2 ? { sourceAppIds: [ds.smallLogs[i % ds.smallLogs.length]!] } : {},
            first: 100,
          });
          await http.request(INCLUSION, { app: ds.bigLog, seq: (i * 7919) % ds.bigSize });
        });
        i++;
        await sleep(100);
      }
    })();
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      samples.push({ t: (performance.now() - t0) / 1000, rss: ds.server.rssBytes() });
      await sleep(sampleEvery);
    }
    stop = true;
    await Promise.all([ingest, readers]);
    http.close();
    if (failures > 0) throw new Error(`${failures} requests failed during the steady load: ${firstFailure}`);

    const window = samples.filter((s) => s.t >= warmup);
    const q = Math.max(1, Math.floor(window.length / 4));
    const startMb = mean(window.slice(0, q).map((s) => s.rss)) / MB;
    const endMb = mean(window.slice(-q).map((s) => s.rss)) / MB;
    const drift = endMb - startMb;
    const perMinute = slope(
      window.map((s) => s.t / 60),
      window.map((s) => s.rss / MB),
    );
    const allowed = Math.max(10, startMb * 0.05);
    return {
      figures: [
        figure(engine.name, `RSS after loading ${ds.total.toLocaleString('en-US')} events`, ds.loadedRssBytes / MB, 'MB', {
          baseline: { name: 'idle RSS before the load', value: ds.idleRssBytes / MB, unit: 'MB' },
          target: { op: '<=', value: 400, text: '<= 400 MB after 1M events' },
        }),
        figure(engine.name, `RSS drift over ${seconds} s steady load`, drift, 'MB', {
          baseline: { name: 'RSS at the window start', value: startMb, unit: 'MB' },
          target: { op: '<=', value: allowed, text: `no growth (<= ${allowed.toFixed(0)} MB: 5% of the start, min 10 MB)` },
          note: `slope ${perMinute.toFixed(2)} MB/min`,
        }),
      ],
      details: {
        loadedRssMb: ds.loadedRssBytes / MB,
        idleRssMb: ds.idleRssBytes / MB,
        steadySeconds: seconds,
        warmupSeconds: warmup,
        ingestRate: rate,
        startMb,
        endMb,
        driftMb: drift,
        slopeMbPerMinute: perMinute,
        maxMb: Math.max(...samples.map((s) => s.rss)) / MB,
        samples: samples.map((s) => [Number(s.t.toFixed(1)), Number((s.rss / MB).toFixed(1))]),
      },
    };
  },
};
