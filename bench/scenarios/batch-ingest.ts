// 1. Batch ingest through logEvents over HTTP (batches of 500, 4 clients), to 1 log and to 100 logs,
// against the raw baseline: the same rows inserted in the same batches into the same engine, no hashing.
//
// Cases: ~100-byte payloads on leaf version 2 (the default) to 1 and to 100 logs; on one log also
// ~250-byte payloads, and ~100-byte payloads on leaf version 1, so that the run gives version 2's cost
// beside version 1 on the same machine state. Each case's baseline holds exactly the rows the service
// writes for it. Beside them, raw inserts of index-friendly rows (timestamps in order, one event type):
// a minimal loop's rows, which write about half the index pages per batch (docs/performance.md).
// On SQLite also the first case's rows 4 batches to a transaction: the commit size the writer's group
// commit reaches at most with 4 clients. After the 100-log case, a server started again on the store it
// left, in the last round: its spawn-to-ready (the publisher's recovery over those logs) beside the
// fresh server's.
import { appNames, benchEvents, nextBatch, sizedPayload, streamTimestamps, type EventInput } from '../events.js';
import { logEventsBody, sendBatches, type IngestRun } from '../ingest.js';
import { rawInsert, rowsFor, type RawRun } from '../raw-baseline.js';
import { figure, type Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import type { Engine } from '../engines.js';
import { GraphQLClient, sleep } from '../http.js';
import { subscribe, wsClient } from '../ws.js';
import { startServer, withServer, type ServerHandle } from '../server.js';
import { sized } from '../sizes.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';

const BATCH = 500;
const CLIENTS = 4;
/** Events/s of the live stream the batches' timestamps model (the target rate). */
const STREAM_RATE = 40_000;

interface Case {
  label: string;
  logs: number;
  payloadBytes: number;
  leafVersion: 1 | 2;
}

const CASES: readonly Case[] = [
  { label: '1 log', logs: 1, payloadBytes: 100, leafVersion: 2 },
  { label: '1 log, leaf version 1', logs: 1, payloadBytes: 100, leafVersion: 1 },
  { label: '1 log, ~250-byte payloads', logs: 1, payloadBytes: 250, leafVersion: 2 },
  { label: '100 logs', logs: 100, payloadBytes: 100, leafVersion: 2 },
];

type ServiceRun = IngestRun & { cpuUsPerEvent: number | null };
/**
 * How the ingest's server ends before the restart: `stop` (SIGTERM: it publishes what it acknowledged,
 * then exits, so the restart finds every log published) or `kill` (SIGKILL: the restart's recovery
 * integrates and publishes the logs left behind).
 */
type Ending = 'stop' | 'kill';

/** Spawn-to-ready of the fresh server, how long its end took, and spawn-to-ready of one started again on the store it left (with its CPU time then). */
interface Restart {
  ending: Ending;
  startMs: number;
  /** Signal to exit. */
  endMs: number;
  restartMs: number;
  /** Spawn until every log is under a checkpoint of its size (the `logs` query once, then `checkpointPublished`). */
  publishedMs: number;
  restartCpuMs: number | null;
}

const LOGS_PUBLISHED = '{ logs(first: 500) { edges { node { sourceAppId size latestCheckpoint { treeSize } } } } }';
type LogsPublished = {
  logs: { edges: Array<{ node: { sourceAppId: string; size: number; latestCheckpoint: { treeSize: number } | null } }> };
};
const SUB_CHECKPOINTS = 'subscription { checkpointPublished { checkpoint { sourceAppId treeSize } } }';
type CheckpointDelivery = { checkpointPublished: { checkpoint: { sourceAppId: string; treeSize: number } } };

/**
 * Resolves once every log the server lists (up to 500) is under a checkpoint of its size: the logs and
 * their latest checkpoints read once (after subscribing), then the checkpoints delivered by
 * `checkpointPublished`. The logs are read again only after 10 s without a delivery (one published
 * between the read and the subscription taking effect is then seen): the wait is on deliveries, and a
 * poll would add its own reads to the recovery it measures.
 */
async function everyLogPublished(url: string, wsUrl: string, timeoutMs: number): Promise<void> {
  const client = new GraphQLClient(url, { maxSockets: 1, timeoutMs: 60_000 });
  const ws = wsClient(wsUrl);
  const waiting = new Map<string, number>();
  let progress: () => void = () => {};
  const sub = subscribe<CheckpointDelivery>(ws, SUB_CHECKPOINTS, undefined, ({ checkpointPublished: { checkpoint } }) => {
    const size = waiting.get(checkpoint.sourceAppId);
    if (size !== undefined && checkpoint.treeSize >= size) waiting.delete(checkpoint.sourceAppId);
    progress();
  });
  const deadline = performance.now() + timeoutMs;
  try {
    for (;;) {
      const { logs } = await client.request<LogsPublished>(LOGS_PUBLISHED);
      waiting.clear();
      for (const { node } of logs.edges)
        if ((node.latestCheckpoint?.treeSize ?? 0) < node.size) waiting.set(node.sourceAppId, node.size);
      while (waiting.size > 0) {
        const delivered = await Promise.race([
          new Promise<boolean>((resolve) => (progress = () => resolve(true))),
          sleep(10_000).then(() => false),
          sub.done.then(() => {
            throw new Error('checkpointPublished ended');
          }),
        ]);
        if (performance.now() > deadline) throw new Error(`logs not all published within ${timeoutMs} ms of ready`);
        if (!delivered) break;
      }
      if (waiting.size === 0) return;
    }
  } finally {
    sub.unsubscribe();
    await ws.dispose();
    client.close();
  }
}

/**
 * `ingest` on a fresh server, then that server ended (`ending`) and another started on the store it
 * left. Each start is timed as the benchmark's servers start (spawn until /healthz answers, polled
 * every 100 ms); the restarted server is ready once its publisher has recovered every log.
 */
async function ingestThenRestart(
  engine: Engine,
  label: string,
  env: Record<string, string>,
  ingest: (server: ServerHandle) => Promise<ServiceRun>,
  ending: Ending,
): Promise<ServiceRun & Restart> {
  const store = await engine.freshStore(label);
  try {
    let t = performance.now();
    const fresh = await startServer({ engine, label, env, store });
    const startMs = performance.now() - t;
    let run: ServiceRun;
    try {
      run = await ingest(fresh);
    } finally {
      t = performance.now();
      await (ending === 'stop' ? fresh.stop() : fresh.kill());
    }
    const endMs = performance.now() - t;
    t = performance.now();
    // A recovery over many logs behind on the FerretDB test server takes a minute (docs/performance.md, session 38).
    const again = await startServer({ engine, label, env, store, startTimeoutMs: 600_000 });
    const restartMs = performance.now() - t;
    const cpu = again.cpuSeconds();
    let publishedMs: number;
    try {
      await everyLogPublished(again.url, again.wsUrl, 600_000);
      publishedMs = performance.now() - t;
    } finally {
      await again.stop();
    }
    return { ...run, ending, startMs, endMs, restartMs, publishedMs, restartCpuMs: cpu === null ? null : Math.round(cpu * 1000) };
  } finally {
    await store.dispose();
  }
}

const best = <T extends { eventsPerSecond: number }>(runs: T[]): T =>
  runs.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));

export const batchIngest: Scenario = {
  id: '1',
  title: 'Batch ingest (logEvents, batches of 500, 4 clients)',
  measures:
    'Events/s acknowledged by logEvents over HTTP on a fresh server, to 1 log and to 100 logs, ~100-byte payloads; on 1 log ' +
    'also ~250-byte payloads and leaf version 1 (version 2 is the default; its cost is 1 - v2/v1). Baseline: the same rows ' +
    'inserted raw in batches of 500 (same engine, same indexes, no hashing or sequencing). Best of the rounds, alternated. ' +
    'Event timestamps are those of a live stream at 40,000 events/s with up to 1 s of jitter.',
  async run(ctx) {
    const { engine, options } = ctx;
    const totalFor = (logs: number) =>
      sized(
        ctx,
        logs === 1
          ? { quick: 10_000, full: 200_000, slowQuick: 2_000, slowFull: 10_000 }
          : { quick: 10_000, full: 200_000, slowQuick: 500, slowFull: 10_000 },
      );
    const rounds = options.quick ? 1 : 2;
    const figures: Figure[] = [];
    const details: Record<string, unknown> = { batchSize: BATCH, clients: CLIENTS, rounds };
    const inputsOf = (c: Case): EventInput[] => {
      const total = totalFor(c.logs);
      const source = benchEvents({
        seed: 1000 + c.logs,
        logs: appNames('ingest', c.logs),
        timestampOf: streamTimestamps(total, STREAM_RATE),
      });
      return nextBatch(source, total).map((e) => ({
        ...e,
        payload: sizedPayload(e.payload as Record<string, unknown>, c.payloadBytes),
      }));
    };
    const prepared = CASES.map((c) => {
      const inputs = inputsOf(c);
      const bodies: Array<{ body: string; count: number }> = [];
      for (let i = 0; i < inputs.length; i += BATCH) {
        const chunk = inputs.slice(i, i + BATCH);
        bodies.push({ body: logEventsBody(chunk), count: chunk.length });
      }
      return {
        c,
        bodies,
        rows: rowsFor(inputs, c.leafVersion),
        service: [] as ServiceRun[],
        raw: [] as RawRun[],
        restarts: [] as Restart[],
      };
    });
    // The minimal loop: the first case's rows with timestamps in order and one event type.
    const first = inputsOf(CASES[0]!);
    const t0 = Date.now() - first.length;
    const friendlyRows = rowsFor(
      first.map((e, i) => ({ ...e, eventType: 'bench.event', timestamp: new Date(t0 + i).toISOString() })),
      2,
    );
    const friendly: RawRun[] = [];
    // SQLite's writer commits every group waiting for it in one transaction, so with 4 clients a commit
    // holds up to 4 batches; raw inserts of the first case's rows 4 batches to a transaction show what
    // the engine takes at that commit size (fewer WAL frames per row: docs/performance.md, session 28).
    const groupedRows = engine.name === 'sqlite' ? prepared[0]!.rows : null;
    const grouped: RawRun[] = [];

    for (let r = 0; r < rounds; r++) {
      for (const p of prepared) {
        const { c } = p;
        ctx.log(`1: ${c.label}, round ${r + 1}/${rounds}: logEvents`);
        const label = `s1-${c.logs}-v${c.leafVersion}`;
        const env = { LEAF_VERSION: String(c.leafVersion) };
        const ingest = async (server: ServerHandle): Promise<ServiceRun> => {
          const cpu0 = server.cpuSeconds();
          const run = await sendBatches(server.url, p.bodies, CLIENTS);
          const cpu1 = server.cpuSeconds();
          return {
            ...run,
            cpuUsPerEvent: cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) * 1e6) / run.events,
          };
        };
        // Over 100 logs, each round ends its server and starts another on the store it left: the last
        // round by SIGKILL (the restart recovers the logs behind), the round before it by SIGTERM.
        const ending: Ending | null = c.logs === 1 ? null : r === rounds - 1 ? 'kill' : r === rounds - 2 ? 'stop' : null;
        if (!ending) p.service.push(await withServer({ engine, label, env }, ingest));
        else {
          const run = await ingestThenRestart(engine, label, env, ingest, ending);
          p.service.push(run);
          p.restarts.push(run);
        }
        ctx.log(`1: ${c.label}, round ${r + 1}/${rounds}: raw inserts`);
        p.raw.push(await rawInsert(engine, `s1-${c.logs}-v${c.leafVersion}`, p.rows, BATCH, CLIENTS));
      }
      ctx.log(`1: round ${r + 1}/${rounds}: raw inserts of index-friendly rows`);
      friendly.push(await rawInsert(engine, 's1-friendly', friendlyRows, BATCH, CLIENTS));
      if (groupedRows) {
        ctx.log(`1: round ${r + 1}/${rounds}: raw inserts, ${CLIENTS} batches per transaction`);
        grouped.push(await rawInsert(engine, 's1-grouped', groupedRows, BATCH * CLIENTS, CLIENTS));
      }
    }

    const leastCpu = (runs: ServiceRun[]) => {
      const cpu = runs.map((s) => s.cpuUsPerEvent).filter((c): c is number => c !== null);
      return cpu.length > 0 ? Math.min(...cpu) : null;
    };
    for (const { c, restarts } of prepared) {
      if (restarts.length === 0) continue;
      const fresh = { name: 'start to ready, empty store', value: Math.min(...restarts.map((x) => x.startMs)), unit: 'ms' };
      const killed = restarts.find((x) => x.ending === 'kill');
      const stopped = restarts.find((x) => x.ending === 'stop');
      if (killed) {
        const shared = engine.name === 'mongodb';
        figures.push(
          figure(engine.name, `restart to ready after SIGKILL, ${c.label}`, killed.restartMs, 'ms', {
            baseline: fresh,
            note: shared
              ? `a server started on the store a killed server's ingest left; sharing a database, it recovers the logs once the dead process's publisher lease expires, after ready; its CPU time to ready ${killed.restartCpuMs ?? '?'} ms; last round`
              : `a server started on the store a killed server's ingest left: the publisher integrates the logs behind before it listens; its CPU time then ${killed.restartCpuMs ?? '?'} ms; last round`,
          }),
          figure(engine.name, `restart to every log published after SIGKILL, ${c.label}`, killed.publishedMs, 'ms', {
            baseline: fresh,
            note: shared
              ? 'spawn until every log is under a checkpoint of its size: the dead publisher lease expiring (at least LEASE_TTL_MS and 3 checkpoint intervals), the recovery, the first publish; last round'
              : 'spawn until every log is under a checkpoint of its size (the recovery, then the first publish); last round',
          }),
        );
      }
      if (stopped) {
        figures.push(
          figure(engine.name, `graceful stop, ${c.label}`, stopped.endMs, 'ms', {
            ...(killed && { baseline: { name: 'SIGKILL to exit', value: killed.endMs, unit: 'ms' } }),
            note: 'SIGTERM to exit right after the ingest: the last checkpoint of every log that grew is published first; round before last',
          }),
          figure(engine.name, `restart to ready after a graceful stop, ${c.label}`, stopped.restartMs, 'ms', {
            baseline: fresh,
            note: `every log published at stop: the recovery checks each log's latest checkpoint; its CPU time then ${stopped.restartCpuMs ?? '?'} ms; round before last`,
          }),
        );
      }
      details[`restart, ${c.label}`] = restarts.map((x) => ({
        ending: x.ending,
        startMs: Math.round(x.startMs),
        endMs: Math.round(x.endMs),
        restartMs: Math.round(x.restartMs),
        publishedMs: Math.round(x.publishedMs),
        restartCpuMs: x.restartCpuMs,
      }));
    }
    for (const { c, service, raw, rows } of prepared) {
      const s = best(service);
      const b = best(raw);
      figures.push(
        figure(engine.name, `batch ingest, ${c.label}`, s.eventsPerSecond, 'events/s', {
          baseline: { name: 'raw inserts of the same rows', value: b.eventsPerSecond, unit: 'events/s' },
          target: { op: '>=', value: 40_000, text: '>= 40,000 events/s' },
        }),
        figure(engine.name, `batch ingest / raw, ${c.label}`, s.eventsPerSecond / b.eventsPerSecond, 'x', {
          target: { op: '>=', value: 0.5, text: '>= 0.5 of raw' },
        }),
      );
      // CPU per event is steadier than throughput on a shared machine: it shows what a change saves.
      const cpu = leastCpu(service);
      if (cpu !== null) {
        figures.push(
          figure(engine.name, `batch ingest, server CPU per event, ${c.label}`, cpu, 'us', {
            note: 'all server threads, user + system, during the timed run; least of the rounds',
          }),
        );
      }
      details[c.label] = {
        leafVersion: c.leafVersion,
        payloadBytes: c.payloadBytes,
        events: rows.length,
        service: service.map((x) => ({
          eventsPerSecond: Math.round(x.eventsPerSecond),
          seconds: x.seconds,
          serverCpuUsPerEvent: x.cpuUsPerEvent === null ? null : Math.round(x.cpuUsPerEvent * 10) / 10,
          batchLatencyMs: roundSummary(summarize(x.batchLatencies)),
        })),
        raw: raw.map((x) => ({ eventsPerSecond: Math.round(x.eventsPerSecond), seconds: x.seconds })),
      };
    }
    const bestFriendly = best(friendly);
    figures.push(
      figure(
        engine.name,
        'raw inserts, index-friendly rows (timestamps in order, one event type), 1 log',
        bestFriendly.eventsPerSecond,
        'events/s',
        {
          note: 'the ~100-byte rows of "1 log" as a minimal loop writes them; the service never gets such rows',
        },
      ),
    );
    details['raw, index-friendly rows'] = friendly.map((x) => ({
      eventsPerSecond: Math.round(x.eventsPerSecond),
      seconds: x.seconds,
    }));
    if (grouped.length > 0) {
      const g = best(grouped);
      const first = best(prepared[0]!.service);
      figures.push(
        figure(engine.name, `raw inserts, ${CLIENTS} batches per transaction, 1 log`, g.eventsPerSecond, 'events/s', {
          note: `the rows of "1 log", ${BATCH * CLIENTS} to a commit, as the writer groups ${CLIENTS} clients' batches at most; batch ingest against it: ${(first.eventsPerSecond / g.eventsPerSecond).toFixed(3)} x`,
        }),
      );
      details[`raw, ${CLIENTS} batches per transaction`] = grouped.map((x) => ({
        eventsPerSecond: Math.round(x.eventsPerSecond),
        seconds: x.seconds,
      }));
    }

    // Leaf version 2 against version 1, same payloads, same run.
    const v2 = prepared.find((p) => p.c.label === '1 log')!;
    const v1 = prepared.find((p) => p.c.leafVersion === 1)!;
    figures.push(
      figure(
        engine.name,
        'leaf version 2 cost, batch ingest, 1 log',
        1 - best(v2.service).eventsPerSecond / best(v1.service).eventsPerSecond,
        'x',
        {
          baseline: { name: 'leaf version 1', value: best(v1.service).eventsPerSecond, unit: 'events/s' },
          target: { op: '<=', value: 0.1, text: '< 10 % (1 - v2/v1 events/s)' },
        },
      ),
    );
    const cpu2 = leastCpu(v2.service);
    const cpu1 = leastCpu(v1.service);
    if (cpu1 !== null && cpu2 !== null) {
      figures.push(
        figure(engine.name, 'leaf version 2 cost, server CPU per event, 1 log', cpu2 / cpu1 - 1, 'x', {
          note: `${Math.round(cpu2)} us (v2) against ${Math.round(cpu1)} us (v1); least of the rounds`,
        }),
      );
    }
    return { figures, details };
  },
};
