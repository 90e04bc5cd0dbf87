// 1. Batch ingest through logEvents over HTTP (batches of 500, 4 clients), to 1 log and to 100 logs,
// against the raw baseline: the same rows inserted in the same batches into the same engine, no hashing.
import { appNames, benchEvents, nextBatch, streamTimestamps } from '../events.js';
import { logEventsBody, sendBatches, type IngestRun } from '../ingest.js';
import { rawInsert, rowsFor, type RawRun } from '../raw-baseline.js';
import { figure, type Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { withServer } from '../server.js';
import { sized } from '../sizes.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';

const BATCH = 500;
const CLIENTS = 4;
/** Events/s of the live stream the batches' timestamps model (the target rate). */
const STREAM_RATE = 40_000;

export const batchIngest: Scenario = {
  id: '1',
  title: 'Batch ingest (logEvents, batches of 500, 4 clients)',
  measures:
    'Events/s acknowledged by logEvents over HTTP on a fresh server, to 1 log and to 100 logs; baseline: the same rows ' +
    'inserted raw in batches of 500 (same engine, same indexes, no hashing or sequencing). Best of the rounds, alternated. ' +
    'Event timestamps are those of a live stream at 40,000 events/s with up to 1 s of jitter.',
  async run(ctx) {
    const { engine, options } = ctx;
    const totalFor = (logs: number) =>
      sized(
        ctx,
        logs === 1
          ? { quick: 10_000, full: 200_000, slowQuick: 2_000, slowFull: 10_000 }
          : { quick: 10_000, full: 200_000, slowQuick: 500, slowFull: 2_000 },
      );
    const rounds = options.quick ? 1 : 2;
    const figures: Figure[] = [];
    const details: Record<string, unknown> = { batchSize: BATCH, clients: CLIENTS, rounds };
    for (const logs of [1, 100]) {
      const total = totalFor(logs);
      const source = benchEvents({
        seed: 1000 + logs,
        logs: appNames('ingest', logs),
        timestampOf: streamTimestamps(total, STREAM_RATE),
      });
      const inputs = nextBatch(source, total);
      const bodies: Array<{ body: string; count: number }> = [];
      for (let i = 0; i < inputs.length; i += BATCH) {
        const chunk = inputs.slice(i, i + BATCH);
        bodies.push({ body: logEventsBody(chunk), count: chunk.length });
      }
      const rows = rowsFor(inputs);
      const service: Array<IngestRun & { cpuUsPerEvent: number | null }> = [];
      const raw: RawRun[] = [];
      for (let r = 0; r < rounds; r++) {
        ctx.log(`1: ${logs} log(s), round ${r + 1}/${rounds}: logEvents`);
        service.push(
          await withServer({ engine, label: `s1-${logs}` }, async (server) => {
            const cpu0 = server.cpuSeconds();
            const run = await sendBatches(server.url, bodies, CLIENTS);
            const cpu1 = server.cpuSeconds();
            return { ...run, cpuUsPerEvent: cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) * 1e6) / run.events };
          }),
        );
        ctx.log(`1: ${logs} log(s), round ${r + 1}/${rounds}: raw inserts`);
        raw.push(await rawInsert(engine, `s1-${logs}`, rows, BATCH, CLIENTS));
      }
      const best = service.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
      const bestRaw = raw.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
      const label = logs === 1 ? '1 log' : '100 logs';
      figures.push(
        figure(engine.name, `batch ingest, ${label}`, best.eventsPerSecond, 'events/s', {
          baseline: { name: 'raw inserts', value: bestRaw.eventsPerSecond, unit: 'events/s' },
          target: { op: '>=', value: 40_000, text: '>= 40,000 events/s' },
        }),
        figure(engine.name, `batch ingest / raw, ${label}`, best.eventsPerSecond / bestRaw.eventsPerSecond, 'x', {
          target: { op: '>=', value: 0.5, text: '>= 0.5 of raw' },
        }),
      );
      // CPU per event is steadier than throughput on a shared machine: it shows what a change saves.
      const cpu = service.map((s) => s.cpuUsPerEvent).filter((c): c is number => c !== null);
      if (cpu.length > 0) {
        figures.push(
          figure(engine.name, `batch ingest, server CPU per event, ${label}`, Math.min(...cpu), 'us', {
            note: 'all server threads, user + system, during the timed run; least of the rounds',
          }),
        );
      }
      details[label] = {
        service: service.map((s) => ({
          eventsPerSecond: Math.round(s.eventsPerSecond),
          seconds: s.seconds,
          serverCpuUsPerEvent: s.cpuUsPerEvent === null ? null : Math.round(s.cpuUsPerEvent * 10) / 10,
          batchLatencyMs: roundSummary(summarize(s.batchLatencies)),
        })),
        events: total,
        raw: raw.map((s) => ({ eventsPerSecond: Math.round(s.eventsPerSecond), seconds: s.seconds })),
      };
    }
    return { figures, details };
  },
};
