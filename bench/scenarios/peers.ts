// 12. The peers in the same run (`npm run bench -- --peers`): Tessera's POSIX conformance log
// (bench/peers/tessera.ts) beside chainlog, driven by the same load client (bench/peers/drive.ts) one
// after the other on this machine: single-entry POSTs of the same JSON events from 64 and from 512
// keep-alive clients, and proof-ready latency on a sample, from submission to the first polled checkpoint
// that covers the entry.
import { join } from 'node:path';
import { benchEvents } from '../events.js';
import { repoRoot } from '../engines.js';
import { drive, type DriveRun, type Target } from '../peers/drive.js';
import { NODE_FLOOR_SETTINGS, startNodeFloor } from '../peers/node-floor.js';
import { installTessera, startTessera, TESSERA_MODULE, TESSERA_SETTINGS, TESSERA_VERSION } from '../peers/tessera.js';
import { LOG_EVENT } from '../queries.js';
import { figure, type Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { startServer, withServer } from '../server.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';

const LEVELS = [
  { clients: 64, target: 3 },
  { clients: 512, target: 1 },
] as const;
const APP = 'peers';
/** Issue 22's bound on the proof-ready p95 of each chainlog path. */
const PROOF_READY_P95_MS = 250;
type Peer = 'tessera' | 'floor' | 'rest' | 'restMinimal' | 'logEvent' | 'restBaseline' | 'logEventBaseline';
/** The runs that are not chainlog's: the peer, and the Node floor (bench/peers/node-floor-server.mjs). */
type Other = 'tessera' | 'floor';
const isChainlog = (p: Peer): p is Exclude<Peer, Other> => p !== 'tessera' && p !== 'floor';
const PEER_NAMES: Record<Peer, string> = {
  tessera: 'Tessera POSIX POST /add',
  floor: 'node:http floor (parses, answers, stores nothing)',
  rest: 'chainlog POST /v1/events',
  restMinimal: 'chainlog POST /v1/events, Prefer: return=minimal',
  logEvent: 'chainlog logEvent',
  restBaseline: 'chainlog POST /v1/events (baseline build)',
  logEventBaseline: 'chainlog logEvent (baseline build)',
};
/**
 * BENCH_BASELINE_ENTRY: another build's entry point (e.g. `dist-before/main.js`, a copy of dist/ made
 * before a change, beside dist/ so that its relative paths hold), after the node flags that build's
 * `npm start` passes, if any (e.g. `--max-semi-space-size=32 dist-before/main.js`): its POST /v1/events
 * and logEvent are driven too, in the same rounds, as the before of a before-and-after in one run.
 */
const BASELINE_ENTRY = process.env.BENCH_BASELINE_ENTRY;
/**
 * BENCH_S12_SERVER_ENV: settings for the build under test only, as space-separated NAME=value pairs
 * (e.g. `CHECKPOINT_MIN_GAP_MS=50`), the baseline build keeping the defaults: with BENCH_BASELINE_ENTRY
 * naming a copy of the same build, a setting's before-and-after in one run.
 */
const SERVER_ENV: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_S12_SERVER_ENV ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`BENCH_S12_SERVER_ENV: ${pair} is not NAME=value`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
);

/** Figure names of chainlog's paths. */
const PEER_LABELS: Record<Exclude<Peer, Other>, string> = {
  rest: 'POST /v1/events',
  restMinimal: 'POST /v1/events return=minimal',
  logEvent: 'logEvent',
  restBaseline: 'baseline build POST /v1/events',
  logEventBaseline: 'baseline build logEvent',
};

const COUNTERS =
  /^(?:chainlog_group_commits\{count="(commits|events)"\}|nodejs_gc_duration_seconds_sum\{kind="([a-z]+)"\}) (\S+)$/gm;

/** A chainlog server's own counters, read from its /metrics before and after each run. */
export interface ServerCounters {
  /** Group commits of the writer, and the events they wrote (chainlog_group_commits, src/app.ts). */
  commits: number;
  events: number;
  /** Seconds of the main thread's garbage-collection pauses, every kind (prom-client's nodejs_gc_duration_seconds). */
  gcSeconds: number;
}

/** ServerCounters from /metrics text; null without the commit counters (a build that has none). */
export function serverCountersOf(text: string): ServerCounters | null {
  let commits: number | undefined;
  let events: number | undefined;
  let gcSeconds = 0;
  for (const m of text.matchAll(COUNTERS)) {
    const value = Number(m[3]);
    if (m[1] === 'commits') commits = value;
    else if (m[1] === 'events') events = value;
    else gcSeconds += value;
  }
  return commits !== undefined && events !== undefined ? { commits, events, gcSeconds } : null;
}

/** The server's counters from its /metrics (open with AUTH=off), or null where it cannot say. */
async function serverCounters(url: string): Promise<ServerCounters | null> {
  try {
    return serverCountersOf(await (await fetch(`${url}/metrics`)).text());
  } catch {
    return null;
  }
}

interface RunCounters {
  eventsPerCommit: number;
  gcMsPerEvent: number;
}

const SEQ = /"seq":(\d+)/;

export const peers: Scenario = {
  id: '12',
  title: 'Peers: single-entry ingest and proof-ready latency beside Tessera POSIX (64 and 512 clients)',
  measures:
    `Entries/s acknowledged, ack p50/p99 and proof-ready p50/p95 (submission -> a polled checkpoint covers the entry, ` +
    `one sampled entry per 20 ms, checkpoint polled every 10 ms) of single-entry HTTP POSTs of the same JSON events ` +
    `from 64 and 512 keep-alive clients, to ${TESSERA_MODULE}@${TESSERA_VERSION} (${TESSERA_SETTINGS}) and to chainlog ` +
    `(one log, CHECKPOINT_INTERVAL_MS=1000) over POST /v1/events and logEvent, and to a node:http server that only ` +
    `parses and answers (the floor of any Node service here); rounds alternate, best of each.`,
  async run(ctx) {
    const { engine, options } = ctx;
    const installed = await installTessera((m) => ctx.log(m));
    if ('unavailable' in installed) return { figures: [], details: {}, skipped: installed.unavailable };
    const seconds = options.quick ? 2 : 10;
    const rounds = options.quick ? 1 : 2;
    const source = benchEvents({ seed: 12, logs: [APP] });
    const eventJson = () => JSON.stringify(source.next().input);
    const runs: Record<Peer, Record<number, DriveRun[]>> = {
      tessera: {},
      floor: {},
      rest: {},
      restMinimal: {},
      logEvent: {},
      restBaseline: {},
      logEventBaseline: {},
    };
    /** Events per writer transaction and GC pause per event of each chainlog run (null where the build has no counters). */
    const counters: Record<Peer, Record<number, Array<RunCounters | null>>> = {
      tessera: {},
      floor: {},
      rest: {},
      restMinimal: {},
      logEvent: {},
      restBaseline: {},
      logEventBaseline: {},
    };
    const peersRun: Peer[] = BASELINE_ENTRY
      ? ['tessera', 'floor', 'restBaseline', 'rest', 'restMinimal', 'logEventBaseline', 'logEvent']
      : ['tessera', 'floor', 'rest', 'restMinimal', 'logEvent'];
    let n = 0;
    const tessera = await startTessera(installed.binary, join(repoRoot, 'bench', 'tmp', `tessera-${process.pid}-${engine.name}`));
    const floor = await startNodeFloor().catch(async (err: unknown) => {
      await tessera.stop();
      throw err;
    });
    try {
      const baseline = BASELINE_ENTRY
        ? await startServer({
            engine,
            label: 's12-baseline',
            env: { CHECKPOINT_INTERVAL_MS: '1000' },
            nodeArgs: BASELINE_ENTRY.split(/\s+/).filter(Boolean),
          })
        : null;
      try {
        await withServer({ engine, label: 's12', env: { CHECKPOINT_INTERVAL_MS: '1000', ...SERVER_ENV } }, async (server) => {
          const restTarget = (url: string): Target => ({
            postUrl: `${url}/v1/events`,
            contentType: 'application/json',
            body: eventJson,
            indexOf: (_s, b) => {
              const m = SEQ.exec(b);
              return m ? Number(m[1]) : undefined;
            },
            checkpointUrl: `${url}/tlog/${APP}/checkpoint`,
          });
          const logEventTarget = (url: string): Target => ({
            postUrl: `${url}/graphql`,
            contentType: 'application/json',
            body: () => JSON.stringify({ query: LOG_EVENT, variables: { input: source.next().input } }),
            indexOf: (_s, b) => {
              const m = b.includes('"errors"') ? null : SEQ.exec(b);
              return m ? Number(m[1]) : undefined;
            },
            checkpointUrl: `${url}/tlog/${APP}/checkpoint`,
          });
          const urls: Record<Peer, string> = {
            tessera: tessera.url,
            floor: floor.url,
            rest: server.url,
            restMinimal: server.url,
            logEvent: server.url,
            restBaseline: baseline?.url ?? '',
            logEventBaseline: baseline?.url ?? '',
          };
          const targets: Record<Peer, Target> = {
            tessera: {
              postUrl: `${tessera.url}/add`,
              contentType: 'application/octet-stream',
              body: eventJson,
              indexOf: (_s, b) => (/^\d+$/.test(b) ? Number(b) : undefined),
              checkpointUrl: `${tessera.url}/checkpoint`,
            },
            floor: { ...restTarget(floor.url), checkpointUrl: `${floor.url}/checkpoint` },
            rest: restTarget(server.url),
            // The same request asking for the acknowledgement alone (id, seq, receivedAt, hash), as
            // logEvent's selection and Tessera's index answer do, instead of the whole event echoed back.
            restMinimal: { ...restTarget(server.url), headers: { prefer: 'return=minimal' } },
            restBaseline: restTarget(baseline?.url ?? ''),
            logEvent: logEventTarget(server.url),
            logEventBaseline: logEventTarget(baseline?.url ?? ''),
          };
          const cpu: Record<Peer, () => number | null> = {
            tessera: () => tessera.cpuSeconds(),
            floor: () => floor.cpuSeconds(),
            rest: () => server.cpuSeconds(),
            restMinimal: () => server.cpuSeconds(),
            logEvent: () => server.cpuSeconds(),
            restBaseline: () => baseline?.cpuSeconds() ?? null,
            logEventBaseline: () => baseline?.cpuSeconds() ?? null,
          };
          // Warm-up: JIT, connections, the log's first rows; Tessera's first batches.
          for (const peer of peersRun)
            await drive(targets[peer], { clients: 64, seconds: options.quick ? 0.5 : 2, coverWaitMs: 0 });
          for (const { clients } of LEVELS) {
            for (let r = 0; r < rounds; r++) {
              for (const peer of peersRun) {
                ctx.log(`12: ${clients} clients, round ${r + 1}/${rounds}: ${PEER_NAMES[peer]} (${++n})`);
                const before = isChainlog(peer) ? await serverCounters(urls[peer]) : null;
                const run = await drive(targets[peer], { clients, seconds, cpuSeconds: cpu[peer] });
                const after = before && (await serverCounters(urls[peer]));
                (runs[peer][clients] ??= []).push(run);
                (counters[peer][clients] ??= []).push(
                  before && after && after.commits > before.commits
                    ? {
                        eventsPerCommit: (after.events - before.events) / (after.commits - before.commits),
                        gcMsPerEvent: ((after.gcSeconds - before.gcSeconds) * 1000) / (after.events - before.events),
                      }
                    : null,
                );
              }
            }
          }
        });
      } finally {
        await baseline?.stop();
      }
    } finally {
      await Promise.all([tessera.stop(), floor.stop()]);
    }
    for (const peer of Object.keys(runs) as Peer[])
      for (const list of Object.values(runs[peer]))
        for (const run of list) {
          if (run.errors > 0)
            throw new Error(`${PEER_NAMES[peer]}: ${run.errors} of ${run.requests} requests failed: ${run.firstError}`);
          if (run.uncovered > 0)
            throw new Error(`${PEER_NAMES[peer]}: ${run.uncovered} sampled entries never covered by a checkpoint`);
        }
    const best = (xs: DriveRun[]) => xs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    const figures: Figure[] = [];
    const details: Record<string, unknown> = {
      peer: `${TESSERA_MODULE}@${TESSERA_VERSION}`,
      peerSettings: TESSERA_SETTINGS,
      floor: NODE_FLOOR_SETTINGS,
      chainlogSettings: 'one log, CHECKPOINT_INTERVAL_MS=1000, AUTH=off',
      secondsPerRun: seconds,
      rounds,
    };
    for (const { clients, target } of LEVELS) {
      const t = best(runs.tessera[clients]!);
      const ts = summarize(t.ackMs);
      const tp = summarize(t.proofReadyMs);
      // What the machine gives: the peer's CPU per entry, and what one Node process answers doing no work.
      const f = best(runs.floor[clients]!);
      figures.push(
        figure(engine.name, `node:http floor @${clients} requests/s`, f.perSecond, 'requests/s', {
          baseline: { name: 'Tessera POST /add', value: t.perSecond, unit: 'entries/s' },
        }),
      );
      if (f.serverCpuMsPerEntry !== null && t.serverCpuMsPerEntry !== null)
        figures.push(
          figure(engine.name, `node:http floor @${clients} server CPU per request`, f.serverCpuMsPerEntry, 'ms', {
            baseline: { name: 'Tessera server CPU per entry', value: t.serverCpuMsPerEntry, unit: 'ms' },
          }),
        );
      for (const peer of peersRun.filter(isChainlog)) {
        const c = best(runs[peer][clients]!);
        const counted = counters[peer][clients]![runs[peer][clients]!.indexOf(c)];
        const cs = summarize(c.ackMs);
        const cp = summarize(c.proofReadyMs);
        const name = `${PEER_LABELS[peer]} @${clients}`;
        figures.push(
          figure(engine.name, `${name} single-entry ingest`, c.perSecond, 'events/s', {
            baseline: { name: 'Tessera POST /add', value: t.perSecond, unit: 'entries/s' },
          }),
          figure(engine.name, `${name} / Tessera`, c.perSecond / t.perSecond, 'x', {
            target: { op: '>=', value: target, text: `>= ${target}x Tessera's at ${clients} clients` },
          }),
          figure(engine.name, `${name} ack p50`, cs.p50, 'ms', {
            baseline: { name: 'Tessera ack p50', value: ts.p50, unit: 'ms' },
          }),
          figure(engine.name, `${name} ack p99`, cs.p99, 'ms', {
            baseline: { name: 'Tessera ack p99', value: ts.p99, unit: 'ms' },
          }),
          figure(engine.name, `${name} proof-ready p50`, cp.p50, 'ms', {
            baseline: { name: 'Tessera proof-ready p50', value: tp.p50, unit: 'ms' },
          }),
          // Issue 22: from submission to a checkpoint that covers it, within 250 ms and no later than Tessera's.
          figure(engine.name, `${name} proof-ready p95`, cp.p95, 'ms', {
            baseline: { name: 'Tessera proof-ready p95', value: tp.p95, unit: 'ms' },
            target: {
              op: '<=',
              value: Math.min(PROOF_READY_P95_MS, tp.p95),
              text: `<= ${PROOF_READY_P95_MS} ms and <= Tessera's (${tp.p95.toFixed(1)} ms) (issue 22)`,
            },
          }),
        );
        if (c.serverCpuMsPerEntry !== null)
          figures.push(
            figure(engine.name, `${name} server CPU per event`, c.serverCpuMsPerEntry, 'ms', {
              baseline: { name: 'load client CPU per event', value: c.clientCpuMsPerEntry, unit: 'ms' },
            }),
          );
        if (counted) {
          figures.push(figure(engine.name, `${name} events per writer transaction`, counted.eventsPerCommit, 'events'));
          // The collector's pauses on the main thread: at 512 clients, requests that outlive a scavenge
          // (docs/performance.md, "The young generation at 512 clients").
          figures.push(
            figure(engine.name, `${name} main-thread GC pauses per event`, counted.gcMsPerEvent, 'ms', {
              ...(c.serverCpuMsPerEntry !== null && {
                baseline: { name: 'server CPU per event', value: c.serverCpuMsPerEntry, unit: 'ms' },
              }),
            }),
          );
        }
        // Where proof-ready goes: the acknowledgement, then the wait for a checkpoint (the publisher's cadence).
        const fromAck = summarize(c.proofReadyFromAckMs);
        const gaps = summarize(c.checkpointGapsMs);
        figures.push(
          figure(engine.name, `${name} proof-ready p95 from the ack`, fromAck.p95, 'ms', {
            baseline: { name: 'ack p95', value: cs.p95, unit: 'ms' },
          }),
          figure(engine.name, `${name} checkpoint gap p50`, gaps.p50, 'ms', {
            baseline: { name: 'checkpoint gap p95', value: gaps.p95, unit: 'ms' },
          }),
        );
      }
      details[`clients${clients}`] = Object.fromEntries(
        peersRun.map((peer) => [
          peer,
          runs[peer][clients]!.map((r, i) => ({
            perSecond: Math.round(r.perSecond),
            requests: r.requests,
            serverCpuMsPerEntry: r.serverCpuMsPerEntry === null ? null : Number(r.serverCpuMsPerEntry.toFixed(3)),
            clientCpuMsPerEntry: Number(r.clientCpuMsPerEntry.toFixed(3)),
            eventsPerWriterTransaction: counters[peer][clients]![i]?.eventsPerCommit ?? null,
            gcMsPerEvent: counters[peer][clients]![i]?.gcMsPerEvent ?? null,
            ackMs: roundSummary(summarize(r.ackMs)),
            proofReadyMs: roundSummary(summarize(r.proofReadyMs)),
            proofReadyFromAckMs: roundSummary(summarize(r.proofReadyFromAckMs)),
            checkpointGapsMs: roundSummary(summarize(r.checkpointGapsMs)),
          })),
        ]),
      );
    }
    return { figures, details };
  },
};
