// 11. Federation: (a) witnessed-checkpoint latency with two local chainlog witnesses (policy 2 of 2)
// beside the unwitnessed proof-ready latency of the same events, under steady ingest over 10 logs;
// (b) a mirror (FOLLOW_URL) started after its primary holds a backlog, catching up under live ingest:
// events verified and stored per second against the primary's ingest rates in the same run.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventGenerator } from '../../src/simulator/generator.js';
import { rawPublicKey, verifierKeyString } from '../../src/core/note/signed-note.js';
import { roundSummary, summarize, type Distribution } from '../../src/simulator/stats.js';
import { appNames, benchEvents, nextBatch } from '../events.js';
import { GraphQLClient, sleep } from '../http.js';
import { checkLogEventsResponse, logEventsBody, streamBatches } from '../ingest.js';
import { figure, type Figure } from '../report.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { startServer, type ServerHandle } from '../server.js';
import { sized } from '../sizes.js';
import type { EngineName } from '../options.js';
import { subscribe, wsClient } from '../ws.js';

const LOGS = 10;
const INTERVAL_MS = 1000;
const ORIGIN_PREFIX = 'bench.chainlog.local';
/** Issue 22's target for the witnessed latency (two local witnesses, eager publishing). */
export const WITNESSED_P95_TARGET_MS = 500;

export const SUB_ALL_CHECKPOINTS = `subscription { checkpointPublished { checkpoint { sourceAppId treeSize witnessed } } }`;
const MIRROR_STATUS = `{ serverInfo { mirror { eventsBehind eventsCopied lastSyncAt catchUpEventsPerSecond lastError } } }`;
const LOG_SIZES = `{ logs(first: 500) { nodes { sourceAppId size latestCheckpoint { treeSize } } } }`;

/** An acknowledged event: its log, its position, and when the acknowledgement arrived (epoch ms). */
export interface Ack {
  app: string;
  seq: number;
  at: number;
  ackMs: number;
}

/** A checkpointPublished delivery: the log, the tree size it covers, when it arrived (epoch ms). */
export interface Delivery {
  size: number;
  at: number;
}

/**
 * For each acknowledged event, the time from its acknowledgement to the first delivery (in arrival order)
 * of a checkpoint of its log that covers it (tree size > seq); events no delivery covers are counted.
 */
export function coverLatencies(acks: readonly Ack[], deliveries: ReadonlyMap<string, readonly Delivery[]>) {
  const latencies: number[] = [];
  let missing = 0;
  for (const a of acks) {
    const d = deliveries.get(a.app)?.find((x) => x.size > a.seq);
    if (d) latencies.push(d.at - a.at);
    else missing++;
  }
  return { latencies, missing };
}

export interface WitnessedMeasure {
  proofReady: Distribution;
  witnessed: Distribution;
  /** Witnessed minus proof-ready, per event: what the witnesses' round trip adds. */
  added: Distribution;
  ack: Distribution;
}

export interface MirrorMeasure {
  /** Events verified and stored per second while catching up (from the first copied event to holding every checkpointed one). */
  catchUpPerSecond: number;
  /** The primary's batch ingest of the backlog (logEvents, 500 per batch, 4 clients), events/s. */
  primaryBatchPerSecond: number;
  /** Over the live window after catching up: the mirror's copy rate and the primary's acknowledged ingest. */
  followPerSecond: number;
  primaryLivePerSecond: number;
  /** Over the live window: events the primary's checkpoints covered that the mirror had not yet stored. */
  lag: Distribution;
}

/** The scenario's figures, in report order (a test checks their shape). */
/** The figures of the parts that completed: a part that failed (null) contributes none. */
export function federationFigures(engine: EngineName, w: WitnessedMeasure | null, m: MirrorMeasure | null): Figure[] {
  return [...(w ? witnessedFigures(engine, w) : []), ...(m ? mirrorFigures(engine, m) : [])];
}

function witnessedFigures(engine: EngineName, w: WitnessedMeasure): Figure[] {
  return [
    figure(engine, 'proof-ready latency p50 (unwitnessed)', w.proofReady.p50, 'ms', {
      baseline: { name: 'logEvents ack p50', value: w.ack.p50, unit: 'ms' },
    }),
    figure(engine, 'proof-ready latency p95 (unwitnessed)', w.proofReady.p95, 'ms', {
      baseline: { name: 'logEvents ack p95', value: w.ack.p95, unit: 'ms' },
    }),
    figure(engine, 'witnessed latency p50 (2 of 2 local witnesses)', w.witnessed.p50, 'ms', {
      baseline: { name: 'proof-ready p50, same events', value: w.proofReady.p50, unit: 'ms' },
    }),
    figure(engine, 'witnessed latency p95 (2 of 2 local witnesses)', w.witnessed.p95, 'ms', {
      baseline: { name: 'proof-ready p95, same events', value: w.proofReady.p95, unit: 'ms' },
      target: {
        op: '<=',
        value: WITNESSED_P95_TARGET_MS,
        text: `<= ${WITNESSED_P95_TARGET_MS} ms (issue 22)`,
      },
    }),
    figure(engine, 'witnessing adds, p95 per event', w.added.p95, 'ms', {
      baseline: { name: 'p50', value: w.added.p50, unit: 'ms' },
    }),
  ];
}

function mirrorFigures(engine: EngineName, m: MirrorMeasure): Figure[] {
  return [
    figure(engine, 'mirror catch-up (events verified and stored/s)', m.catchUpPerSecond, 'events/s', {
      baseline: { name: 'primary batch ingest', value: m.primaryBatchPerSecond, unit: 'events/s' },
      note: `under live ingest of ${Math.round(m.primaryLivePerSecond)} events/s`,
    }),
    figure(engine, 'mirror follow rate after catching up', m.followPerSecond, 'events/s', {
      baseline: { name: 'primary live ingest', value: m.primaryLivePerSecond, unit: 'events/s' },
    }),
    figure(engine, 'mirror lag p95 while following', m.lag.p95, 'events', {
      baseline: {
        name: 'primary live ingest per checkpoint interval',
        value: (m.primaryLivePerSecond * INTERVAL_MS) / 1000,
        unit: 'events',
      },
    }),
  ];
}

/** Polls `probe` until it returns a value other than null/undefined/false, or throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/**
 * Steady ingest: `rate` events/s over the source's logs, in batches of `batch` sent one after another as
 * they fall due (one connection); every acknowledged event is recorded.
 */
export function steadyIngest(url: string, source: EventGenerator, rate: number, batch: number) {
  const http = new GraphQLClient(url, { maxSockets: 1 });
  const acks: Ack[] = [];
  let stopped = false;
  const t0 = performance.now();
  const done = (async () => {
    let sent = 0;
    try {
      while (!stopped) {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate) - sent;
        if (due < batch) {
          // Pacing the load to its rate (not waiting for a result): the next batch falls due then.
          await sleep(Math.max(1, ((sent + batch) / rate) * 1000 - (performance.now() - t0)));
          continue;
        }
        const inputs = nextBatch(source, batch);
        sent += batch;
        const t = performance.now();
        const res = await http.post(logEventsBody(inputs));
        const ackMs = performance.now() - t;
        checkLogEventsResponse(res.status, res.body, batch);
        const at = Date.now();
        const seqs = (JSON.parse(res.body) as { data: { logEvents: Array<{ seq: number }> } }).data.logEvents;
        inputs.forEach((input, i) => acks.push({ app: input.sourceAppId, seq: seqs[i]!.seq, at, ackMs }));
      }
    } finally {
      http.close();
    }
  })();
  done.catch(() => undefined); // awaited by stop()
  return {
    acks,
    async stop(): Promise<{ seconds: number }> {
      stopped = true;
      await done;
      return { seconds: (performance.now() - t0) / 1000 };
    },
    /** Rejects as soon as the ingest loop fails; resolves false once it is stopped. */
    failed: () => done.then(() => false),
  };
}

async function gql<T>(url: string, query: string): Promise<T> {
  const http = new GraphQLClient(url, { maxSockets: 1 });
  try {
    return await http.request<T>(query);
  } finally {
    http.close();
  }
}

type LogSizes = { logs: { nodes: Array<{ sourceAppId: string; size: number; latestCheckpoint: { treeSize: number } | null }> } };

/** Waits until every log of `url` has a checkpoint covering all its events; returns the total. */
async function allCheckpointed(url: string, timeoutMs: number): Promise<number> {
  return until(
    'the primary to checkpoint every event',
    timeoutMs,
    async () => {
      const d = await gql<LogSizes>(url, LOG_SIZES);
      return d.logs.nodes.every((l) => l.latestCheckpoint?.treeSize === l.size)
        ? d.logs.nodes.reduce((n, l) => n + l.size, 0)
        : null;
    },
    100,
  );
}

async function witnessedPart(ctx: ScenarioContext, dir: string) {
  const { engine } = ctx;
  const rate = sized(ctx, { quick: 200, full: 2000 });
  const seconds = sized(ctx, { quick: 10, full: 60 });
  const batch = Math.max(LOGS, Math.round(rate / 20));
  const apps = appNames('fed', LOGS);
  const logKey = generateKeyPairSync('ed25519').privateKey;
  const logPub = rawPublicKey(logKey);
  const vkeyOf = (app: string) => verifierKeyString(`${ORIGIN_PREFIX}/${app}`, logPub);
  const logsFile = join(dir, 'witnessed-logs');
  writeFileSync(logsFile, apps.map((a) => `log ${vkeyOf(a)}`).join('\n') + '\n');
  const keyFile = join(dir, 'log-key.pem');
  writeFileSync(keyFile, logKey.export({ type: 'pkcs8', format: 'pem' }));

  const servers: ServerHandle[] = [];
  try {
    const witnesses = await Promise.all(
      ['w1', 'w2'].map(async (name) => {
        const s = await startServer({
          engine,
          label: `s11-${name}`,
          env: { WITNESSED_LOGS_FILE: logsFile, WITNESS_NAME: `bench.witness/${name}` },
        });
        servers.push(s);
        const key = (await gql<{ serverInfo: { witnessVerifierKey: string } }>(s.url, '{ serverInfo { witnessVerifierKey } }'))
          .serverInfo.witnessVerifierKey;
        return { name, url: s.url, key };
      }),
    );
    const policyFile = join(dir, 'witness-policy');
    writeFileSync(
      policyFile,
      [...witnesses.map((w) => `witness ${w.name} ${w.key} ${w.url}/witness`), 'group both all w1 w2', 'quorum both', ''].join(
        '\n',
      ),
    );
    const primary = await startServer({
      engine,
      label: 's11-log',
      env: {
        CHECKPOINT_INTERVAL_MS: String(INTERVAL_MS),
        ORIGIN_PREFIX,
        SIGNING_KEY_FILE: keyFile,
        WITNESS_POLICY_FILE: policyFile,
      },
    });
    servers.push(primary);

    const published = new Map<string, Delivery[]>(apps.map((a) => [a, []]));
    const witnessed = new Map<string, Delivery[]>(apps.map((a) => [a, []]));
    const ws = wsClient(primary.wsUrl);
    const sub = subscribe<{ checkpointPublished: { checkpoint: { sourceAppId: string; treeSize: number; witnessed: boolean } } }>(
      ws,
      SUB_ALL_CHECKPOINTS,
      undefined,
      (d) => {
        const c = d.checkpointPublished.checkpoint;
        (c.witnessed ? witnessed : published).get(c.sourceAppId)?.push({ size: c.treeSize, at: Date.now() });
      },
    );
    const source = benchEvents({ seed: 11, logs: apps });
    try {
      // The subscription is live, and every log witnessed, once a witnessed delivery arrived for each log
      // (events keep coming meanwhile: a checkpoint published before the subscription was live is not delivered).
      const warm = new GraphQLClient(primary.url, { maxSockets: 1 });
      try {
        await until(
          'a witnessed checkpoint of every log',
          30_000,
          async () => {
            if ([...witnessed.values()].every((d) => d.length > 0)) return true;
            const r = await warm.post(logEventsBody(nextBatch(source, LOGS)));
            checkLogEventsResponse(r.status, r.body, LOGS);
            return false;
          },
          250,
        );
      } finally {
        warm.close();
      }
      ctx.log(`11: witnessed latency, ${rate} events/s over ${LOGS} logs for ${seconds} s`);
      const load = steadyIngest(primary.url, source, rate, batch);
      await Promise.race([sleep(seconds * 1000), load.failed()]);
      const { seconds: ran } = await load.stop();
      const acks = load.acks;
      const last = new Map<string, number>();
      for (const a of acks) last.set(a.app, Math.max(last.get(a.app) ?? -1, a.seq));
      const coveredBy = (m: Map<string, Delivery[]>) =>
        [...last].every(([app, seq]) => (m.get(app) ?? []).some((d) => d.size > seq));
      await until('a witnessed checkpoint covering the last event of every log', 60_000, () => coveredBy(witnessed), 20);
      const pr = coverLatencies(acks, published);
      const wi = coverLatencies(acks, witnessed);
      if (pr.missing > 0 || wi.missing > 0)
        throw new Error(
          `of ${acks.length} events, ${pr.missing} were never in a published and ${wi.missing} never in a witnessed checkpoint`,
        );
      const added = wi.latencies.map((w, i) => w - pr.latencies[i]!);
      const health = (await gql<{ witnesses: unknown[] }>(primary.url, '{ witnesses { name lastSuccessAt lastError lag } }'))
        .witnesses;
      return {
        measure: {
          proofReady: summarize(pr.latencies),
          witnessed: summarize(wi.latencies),
          added: summarize(added),
          ack: summarize(acks.map((a) => a.ackMs)),
        } satisfies WitnessedMeasure,
        details: {
          intervalMs: INTERVAL_MS,
          logs: LOGS,
          targetEventsPerSecond: rate,
          achievedEventsPerSecond: Math.round(acks.length / ran),
          batch,
          events: acks.length,
          checkpointsPublished: [...published.values()].reduce((n, d) => n + d.length, 0),
          checkpointsWitnessed: [...witnessed.values()].reduce((n, d) => n + d.length, 0),
          witnessHealth: health,
        },
      };
    } finally {
      sub.unsubscribe();
      await ws.dispose();
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function mirrorPart(ctx: ScenarioContext) {
  const { engine } = ctx;
  const backlog = sized(ctx, { quick: 10_000, full: 200_000 });
  const rate = sized(ctx, { quick: 500, full: 2000 });
  const liveSeconds = sized(ctx, { quick: 5, full: 30 });
  const apps = appNames('fed-m', LOGS);
  const primary = await startServer({ engine, label: 's11-primary', env: { CHECKPOINT_INTERVAL_MS: String(INTERVAL_MS) } });
  let mirror: ServerHandle | undefined;
  let poll: GraphQLClient | undefined;
  try {
    const source = benchEvents({ seed: 111, logs: apps });
    ctx.log(`11: mirror: a backlog of ${backlog} events, then live ingest at ${rate} events/s`);
    const load = await streamBatches(primary.url, source, backlog, 500, 4);
    await allCheckpointed(primary.url, 120_000);
    const verifierKey = (await gql<{ serverInfo: { verifierKey: string } }>(primary.url, '{ serverInfo { verifierKey } }'))
      .serverInfo.verifierKey;
    const live = steadyIngest(primary.url, source, rate, Math.max(LOGS, Math.round(rate / 20)));
    const liveFailed = live.failed();
    try {
      const atStart = backlog + live.acks.length;
      mirror = await startServer({
        engine,
        label: 's11-mirror',
        env: {
          CHECKPOINT_INTERVAL_MS: String(INTERVAL_MS),
          FOLLOW_URL: primary.url,
          FOLLOW_VERIFIER_KEY: verifierKey,
          // The bench's servers run with AUTH=off, so the primary lets every caller read; the mirror still needs a key to send.
          FOLLOW_API_KEY: 'clk_bench-auth-off-every-caller-may-read',
        },
      });
      const mirrorHttp = new GraphQLClient(mirror.url, { maxSockets: 1 });
      poll = mirrorHttp;
      type Status = {
        eventsBehind: number;
        eventsCopied: number;
        lastSyncAt: string | null;
        catchUpEventsPerSecond: number;
        lastError: string | null;
      };
      const status = async () => (await mirrorHttp.request<{ serverInfo: { mirror: Status } }>(MIRROR_STATUS)).serverInfo.mirror;
      const primaryHttp = new GraphQLClient(primary.url, { maxSockets: 1 });
      let reported = 0;
      /**
       * The mirror against the primary at one moment: the events the primary's latest checkpoints cover
       * (read first), then the events the mirror has verified and stored. The mirror's own eventsBehind
       * counts from the primary's sizes as its last sync saw them, so it reads 0 between syncs while
       * the primary has moved on; this lag does not.
       */
      const sample = async () => {
        const d = await primaryHttp.request<LogSizes>(LOG_SIZES);
        const checkpointed = d.logs.nodes.reduce((n, l) => n + (l.latestCheckpoint?.treeSize ?? 0), 0);
        const s = await status();
        reported = Math.max(reported, s.catchUpEventsPerSecond);
        return { ...s, checkpointed, lag: Math.max(0, checkpointed - s.eventsCopied), t: performance.now() };
      };
      const ready = performance.now();
      let first: { copied: number; t: number } | undefined;
      let caughtUp: Awaited<ReturnType<typeof sample>>;
      try {
        // Caught up: the mirror holds the backlog, and of the live events that came meanwhile it misses
        // no more than one checkpoint interval's worth of what the primary's checkpoints cover (a slow
        // store may never be seen exactly level while ingest goes on).
        caughtUp = await Promise.race([
          until(
            'the mirror to catch up with the primary',
            300_000,
            async () => {
              const x = await sample();
              if (x.eventsCopied > 0 && !first) first = { copied: x.eventsCopied, t: x.t };
              return x.eventsCopied >= atStart && x.lag <= (rate * INTERVAL_MS) / 1000 ? x : null;
            },
            50,
          ),
          liveFailed.then(() => {
            throw new Error('the live ingest stopped');
          }),
        ]);
      } finally {
        primaryHttp.close();
      }
      const catchUpPerSecond = (caughtUp.eventsCopied - first!.copied) / ((caughtUp.t - first!.t) / 1000);
      // Following: the mirror's copy rate and its lag while the primary keeps taking events.
      const lag: number[] = [];
      const behind: number[] = [];
      const w0 = { t: caughtUp.t, copied: caughtUp.eventsCopied, acked: live.acks.length };
      const wEnd = w0.t + liveSeconds * 1000;
      let wLast = w0;
      const followHttp = new GraphQLClient(primary.url, { maxSockets: 1 });
      try {
        while (performance.now() < wEnd) {
          const d = await followHttp.request<LogSizes>(LOG_SIZES);
          const checkpointed = d.logs.nodes.reduce((n, l) => n + (l.latestCheckpoint?.treeSize ?? 0), 0);
          const s = await status();
          reported = Math.max(reported, s.catchUpEventsPerSecond);
          lag.push(Math.max(0, checkpointed - s.eventsCopied));
          behind.push(s.eventsBehind);
          wLast = { t: performance.now(), copied: s.eventsCopied, acked: live.acks.length };
          await sleep(100);
        }
      } finally {
        followHttp.close();
      }
      const { seconds: liveRan } = await live.stop();
      const stoppedAt = performance.now();
      const total = backlog + live.acks.length;
      await allCheckpointed(primary.url, 60_000);
      const final = await until(
        'the mirror to copy every event',
        120_000,
        async () => {
          const s = await status();
          return s.eventsCopied >= total && s.eventsBehind === 0 ? s : null;
        },
        50,
      );
      const convergedMs = performance.now() - stoppedAt;
      const windowSeconds = (wLast.t - w0.t) / 1000;
      return {
        measure: {
          catchUpPerSecond,
          primaryBatchPerSecond: load.eventsPerSecond,
          followPerSecond: (wLast.copied - w0.copied) / windowSeconds,
          primaryLivePerSecond: (wLast.acked - w0.acked) / windowSeconds,
          lag: summarize(lag),
        } satisfies MirrorMeasure,
        details: {
          backlog,
          liveTargetEventsPerSecond: rate,
          liveAchievedEventsPerSecond: Math.round(live.acks.length / liveRan),
          eventsAtMirrorStart: atStart,
          catchUpSeconds: Number(((caughtUp.t - ready) / 1000).toFixed(2)),
          catchUpFromReadyPerSecond: Math.round(caughtUp.eventsCopied / ((caughtUp.t - ready) / 1000)),
          // The mirror's own figure (serverInfo.mirror.catchUpEventsPerSecond, its last sync that copied any): the highest seen.
          mirrorReportedCatchUpEventsPerSecondMax: reported,
          followWindowSeconds: Number(windowSeconds.toFixed(2)),
          lagEvents: roundSummary(summarize(lag)),
          mirrorEventsBehind: roundSummary(summarize(behind)),
          totalEvents: total,
          convergedAfterIngestStoppedMs: Math.round(convergedMs),
          mirrorFinal: final,
        },
      };
    } finally {
      await live.stop().catch(() => undefined);
    }
  } finally {
    poll?.close();
    await mirror?.stop();
    await primary.stop();
  }
}

/** Runs one part of the scenario; its failure is logged and returned, not thrown. */
async function settle<T>(ctx: ScenarioContext, part: string, run: () => Promise<T>): Promise<{ value: T } | { error: string }> {
  try {
    return { value: await run() };
  } catch (err) {
    ctx.log(`11: the ${part} part failed: ${(err as Error).stack ?? String(err)}`);
    return { error: `${part}: ${(err as Error).message}` };
  }
}

export const federation: Scenario = {
  id: '11',
  title: 'Federation: witnessed-checkpoint latency (2 of 2 local witnesses) and mirror catch-up',
  measures:
    'Under steady logEvents ingest over 10 logs (1 s checkpoint interval), for every event the time from its acknowledgement ' +
    'to the first checkpointPublished (graphql-ws) covering it, and to the first delivery of a checkpoint covering it with the ' +
    "quorum's cosignatures stored (witnessed: true), with two chainlog witnesses on this machine and policy 2 of 2. Then a mirror " +
    'started after its primary holds a backlog, under live ingest: events it verified and stored per second (serverInfo.mirror) ' +
    "against the primary's batch ingest of the backlog and its live ingest, and its lag behind the primary's checkpoints while following.",
  async run(ctx) {
    if (ctx.engine.slow) {
      return {
        figures: [],
        details: {},
        skipped:
          'the FerretDB test server publishes and copies too slowly for steady ingest with witnesses and a mirror on one ' +
          'machine (checkpoints fall seconds behind at 20 events/s); set MONGODB_URI for a real MongoDB',
      };
    }
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-bench-federation-'));
    try {
      // The two parts are independent: each is run, and one that fails leaves the other's figures.
      const w = await settle(ctx, 'witnessed latency', () => witnessedPart(ctx, dir));
      const m = await settle(ctx, 'mirror', () => mirrorPart(ctx));
      const failures = [w, m].flatMap((p) => ('error' in p ? [p.error] : []));
      return {
        figures: federationFigures(ctx.engine.name, 'value' in w ? w.value.measure : null, 'value' in m ? m.value.measure : null),
        details: {
          witnessed:
            'value' in w
              ? {
                  ...w.value.details,
                  proofReadyMs: roundSummary(w.value.measure.proofReady),
                  witnessedMs: roundSummary(w.value.measure.witnessed),
                  witnessingAddsMs: roundSummary(w.value.measure.added),
                  ackMs: roundSummary(w.value.measure.ack),
                }
              : { error: w.error },
          mirror:
            'value' in m
              ? {
                  ...m.value.details,
                  catchUpEventsPerSecond: Math.round(m.value.measure.catchUpPerSecond),
                  primaryBatchIngestEventsPerSecond: Math.round(m.value.measure.primaryBatchPerSecond),
                  followEventsPerSecond: Math.round(m.value.measure.followPerSecond),
                  primaryLiveEventsPerSecond: Math.round(m.value.measure.primaryLivePerSecond),
                }
              : { error: m.error },
        },
        ...(failures.length > 0 ? { failed: failures.join('; ') } : {}),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
