// `npm run scale:10m`: one SQLite server loaded to ten million events (issue 22, "Ten million events"),
// measured after every step (a million by default) so that a figure that drifts with size shows where:
// ingest rate of the step (logEvents, batches of 500, 4 clients), `events` page 1 and page 1000 p95
// (pages of 100, all fields, walked by cursor; a trivial query sampled in the same loop as baseline),
// inclusion proof p95 (HTTP round trip, and the log service's own call over a second store connection),
// server RSS (peak during the step and after it), bytes on disk per event beside the leaf's canonical
// size, and the time from a restart (SIGTERM) and from a SIGKILL to ready (/healthz 200, timed from the
// spawn; the same restart on the empty store is the baseline) beside the server's CPU time at ready,
// with every acknowledged event still there. At the end the auditor's command line (the built
// dist/cli/verify.js) audits the whole log: events verified per second, its peak RSS, and the CPU
// seconds of both processes (with --audit-baseline, another checkout's auditor first, as its baseline). Not part of CI's quick benchmark: loading ten million events takes hours.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { intOption, optionsOrExit, parseCliArgs } from '../../src/cli/options.js';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { formatTime, leafBytes } from '../../src/core/leaf.js';
import { mulberry32 } from '../../src/simulator/prng.js';
import { summarize, type Distribution } from '../../src/simulator/stats.js';
import { repoRoot, sqliteEngine, type Engine } from '../../bench/engines.js';
import { benchEvents } from '../../bench/events.js';
import { GraphQLClient } from '../../bench/http.js';
import { streamBatches } from '../../bench/ingest.js';
import { inclusionServerTime, openProofService, timeCalls, times } from '../../bench/proof-sampling.js';
import { EVENTS_PAGE, INCLUSION, PUBLISH, TRIVIAL } from '../../bench/queries.js';
import { cpuSecondsOf, rssOf, startServer, type ServerHandle } from '../../bench/server.js';

const HELP = `Usage: npm run scale:10m -- [options]
  --events N      events loaded into one log (default 10000000)
  --step S        measure after every S events (default 1000000)
  --samples K     samples of each query and proof per step (default 200)
  --clients C     concurrent logEvents clients (default 4)
  --no-audit      skip the auditor run at the end
  --audit-baseline DIR   also run the auditor of another checkout (its src/cli/verify.ts) right
                  before this one's, as a baseline in the same run
  --out DIR       where the JSON report goes (default bench/results)
  --data DIR      where the server's data directory is made (default the system's temp directory)
  --keep          keep the data directory
  -h, --help      show this help
`;

const optionsSchema = z
  .object({
    events: intOption('events', 1000, 100_000_000).default(10_000_000),
    step: intOption('step', 1000, 100_000_000).default(1_000_000),
    samples: intOption('samples', 10, 100_000).default(200),
    clients: intOption('clients', 1, 64).default(4),
    'no-audit': z.boolean().default(false),
    'audit-baseline': z.string().optional(),
    out: z.string().default(join(repoRoot, 'bench', 'results')),
    data: z.string().default(tmpdir()),
    keep: z.boolean().default(false),
  })
  .strict();

const LOG = 'ledger';
const BATCH = 500;
const PAGE = 100;
const DEEP_PAGE = 1000;
const DAY = 86_400_000;

const log = (msg: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
const mb = (bytes: number) => Math.round(bytes / 1048576);
const ms3 = (d: Distribution) => ({ p50: +d.p50.toFixed(3), p95: +d.p95.toFixed(3), p99: +d.p99.toFixed(3), n: d.n });

/** Peak of `sample()` while `fn` runs, sampled every 250 ms. */
async function peakDuring<T>(sample: () => number, fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = sample();
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, sample());
    } catch {
      // the process is gone
    }
  }, 250);
  try {
    const value = await fn();
    return { value, peak: Math.max(peak, sample()) };
  } finally {
    clearInterval(timer);
  }
}

/** Bytes of every file under `dir` (the database, its WAL and shared memory, the key). */
function bytesUnder(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const st = statSync(join(dir, name));
    if (st.isFile()) out[name] = st.size;
  }
  return out;
}

/**
 * Spawn-to-ready of a server on the store the last one left: the time startServer took (polls /healthz
 * every 100 ms), and the CPU time the new server had used when it answered (all its threads): on a
 * shared machine the wall time follows the load, the CPU time follows the work.
 */
async function restart(
  prev: ServerHandle,
  how: 'SIGTERM' | 'SIGKILL',
  engine: Engine,
): Promise<{ server: ServerHandle; readyMs: number; readyCpuMs: number | null; stopMs: number }> {
  const t0 = performance.now();
  if (how === 'SIGKILL') process.kill(prev.pid, 'SIGKILL');
  await prev.stop(); // SIGTERM and wait; after a SIGKILL, only the wait
  const stopMs = performance.now() - t0;
  const t1 = performance.now();
  const server = await startServer({ engine, label: 'ten-million', store: prev.store, startTimeoutMs: 600_000 });
  const readyMs = performance.now() - t1;
  const cpu = server.cpuSeconds();
  return { server, readyMs, readyCpuMs: cpu === null ? null : Math.round(cpu * 1000), stopMs };
}

async function sampleQueries(client: GraphQLClient, samples: number) {
  // Page DEEP_PAGE: walk there once by cursor, then ask for it again and again (as a client resuming there).
  let after: string | null = null;
  for (let p = 1; p < DEEP_PAGE; p++) {
    const r: { events: { pageInfo: { endCursor: string | null } } } = await client.request(EVENTS_PAGE, {
      first: PAGE,
      ...(after ? { after } : {}),
    });
    after = r.events.pageInfo.endCursor;
    if (!after) throw new Error(`the log ends before page ${DEEP_PAGE}`);
  }
  const page1: number[] = [];
  const deep: number[] = [];
  const trivial: number[] = [];
  const time = async (xs: number[], query: string, variables?: Record<string, unknown>) => {
    const t = performance.now();
    await client.request(query, variables);
    xs.push(performance.now() - t);
  };
  for (let i = 0; i < samples; i++) {
    await time(page1, EVENTS_PAGE, { first: PAGE });
    await time(deep, EVENTS_PAGE, { first: PAGE, after });
    await time(trivial, TRIVIAL);
  }
  return { page1: summarize(page1), deep: summarize(deep), trivial: summarize(trivial) };
}

async function main(): Promise<number> {
  const o = optionsOrExit(
    'scale:10m',
    HELP,
    parseCliArgs({ schema: optionsSchema, booleans: ['no-audit', 'keep'] }, process.argv.slice(2), process.env, (v) => v),
  );
  const engine = sqliteEngine(o.data, o.keep);
  const store = await engine.freshStore('ten-million');
  const started = new Date();
  const uptime = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  log(`loading ${o.events} events into "${LOG}" in steps of ${o.step} (data ${store.dataDir}; load ${uptime()})`);
  const tsEnd = Date.now() - DAY;
  const tsStart = tsEnd - 30 * DAY;
  const source = benchEvents({
    seed: 10,
    logs: [LOG],
    timestampOf: (n) => tsStart + Math.floor((n * (tsEnd - tsStart)) / o.events),
  });
  let server = await startServer({ engine, label: 'ten-million', store, startTimeoutMs: 600_000 });
  // Baseline of the restart figures, same run: spawn-to-ready of the server on its empty store.
  const empty = await restart(server, 'SIGTERM', engine);
  server = empty.server;
  log(`restart to ready on the empty store: ${Math.round(empty.readyMs)} ms (server CPU ${empty.readyCpuMs} ms)`);
  const proofService = await openProofService(server.env, 'scale');
  const { service, storage } = proofService;
  const rand = mulberry32(22);
  const steps: Array<Record<string, unknown>> = [];
  let audit: Record<string, unknown> | null = null;
  try {
    for (let loaded = 0; loaded < o.events;) {
      const count = Math.min(o.step, o.events - loaded);
      const srv = server;
      const { value: ingest, peak: ingestPeakRss } = await peakDuring(
        () => srv.rssBytes(),
        () => streamBatches(srv.url, source, count, BATCH, o.clients),
      );
      loaded += count;
      const client = new GraphQLClient(server.url, { maxSockets: 1 });
      let step: Record<string, unknown>;
      try {
        await client.request(PUBLISH);
        const cp = await service.getCheckpoint(LOG);
        if (cp?.treeSize !== loaded) throw new Error(`checkpoint covers ${cp?.treeSize} of ${loaded} events`);
        log(`${loaded}: ingest ${Math.round(ingest.eventsPerSecond)} events/s; sampling (load ${uptime()})`);
        const { value: q, peak: queryPeakRss } = await peakDuring(
          () => srv.rssBytes(),
          () => sampleQueries(client, o.samples),
        );
        const incHttp = await timeCalls(times(o.samples), () =>
          client.request(INCLUSION, { app: LOG, seq: Math.floor(rand() * loaded), size: loaded }),
        );
        const incServer = await inclusionServerTime(service, {
          app: LOG,
          size: loaded,
          treeSize: loaded,
          rand,
          more: times(o.samples),
        });
        const rssAfter = server.rssBytes();
        // Disk: every file of the data directory, after a checkpoint (the WAL as it stands).
        const files = bytesUnder(store.dataDir);
        const disk = Object.values(files).reduce((a, b) => a + b, 0);
        const start = Math.floor(rand() * Math.max(1, loaded - 1000));
        const sample = await storage.getEventRange(LOG, start, start + 1000, 1000);
        const leafSize =
          sample.reduce(
            (sum, e) =>
              sum + leafBytes({ ...e, timestamp: formatTime(e.timestamp), receivedAt: formatTime(e.receivedAt) }).length,
            0,
          ) / sample.length;
        const payloadSize = sample.reduce((sum, e) => sum + Buffer.byteLength(canonicalJson(e.payload!)), 0) / sample.length;
        client.close();
        // Restarts: SIGTERM, then SIGKILL; each must come back with every acknowledged event.
        const term = await restart(server, 'SIGTERM', engine);
        server = term.server;
        const kill = await restart(server, 'SIGKILL', engine);
        server = kill.server;
        const after = new GraphQLClient(server.url, { maxSockets: 1 });
        const head = await after.request<{ log: { size: number } }>('query ($a: String!) { log(sourceAppId: $a) { size } }', {
          a: LOG,
        });
        after.close();
        if (head.log.size !== loaded) throw new Error(`after the SIGKILL the log holds ${head.log.size} of ${loaded} events`);
        step = {
          events: loaded,
          ingestEventsPerSecond: Math.round(ingest.eventsPerSecond),
          ingestSeconds: +ingest.seconds.toFixed(1),
          queryPage1Ms: ms3(q.page1),
          queryPage1000Ms: ms3(q.deep),
          page1000OverPage1P95: +(q.deep.p95 / q.page1.p95).toFixed(2),
          trivialMs: ms3(q.trivial),
          inclusionHttpMs: ms3(summarize(incHttp)),
          inclusionServerMs: ms3(incServer),
          rssMB: { ingestPeak: mb(ingestPeakRss), queryPeak: mb(queryPeakRss), after: mb(rssAfter) },
          diskBytesPerEvent: Math.round(disk / loaded),
          diskFilesMB: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, +(v / 1048576).toFixed(1)])),
          leafCanonicalBytes: Math.round(leafSize),
          payloadCanonicalBytes: Math.round(payloadSize),
          restartReadyMs: Math.round(term.readyMs),
          sigkillReadyMs: Math.round(kill.readyMs),
          restartReadyCpuMs: term.readyCpuMs,
          sigkillReadyCpuMs: kill.readyCpuMs,
          stopMs: Math.round(term.stopMs),
          loadAverage: uptime(),
        };
      } finally {
        client.close();
      }
      steps.push(step);
      log(JSON.stringify(step));
    }
    if (!o['no-audit']) {
      const baseline = o['audit-baseline'] ? await runAuditor(server, o.events, o['audit-baseline']) : null;
      audit = { ...(await runAuditor(server, o.events, repoRoot)), ...(baseline ? { baseline } : {}) };
    }
  } finally {
    await proofService.close();
    await server.stop();
    if (!o.keep) rmSync(store.dataDir, { recursive: true, force: true });
  }
  const first = steps[0]!;
  const last = steps.at(-1)!;
  const report = {
    scenario: 'scale:10m',
    startedAt: started.toISOString(),
    events: o.events,
    step: o.step,
    samples: o.samples,
    clients: o.clients,
    engine: 'sqlite',
    emptyStoreRestartReadyMs: Math.round(empty.readyMs),
    emptyStoreRestartReadyCpuMs: empty.readyCpuMs,
    steps,
    lastStepIngestOverFirst: +((last.ingestEventsPerSecond as number) / (first.ingestEventsPerSecond as number)).toFixed(3),
    audit,
  };
  mkdirSync(o.out, { recursive: true });
  const path = join(o.out, `scale-10m-${started.toISOString().replace(/:/g, '-').slice(0, 19)}Z.json`);
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${summary(report)}\nreport: ${path}\n`);
  return 0;
}

/**
 * The auditor's command line over the whole log as `npm run verify` runs it (tsx, the sources of the
 * checkout `root`): elapsed time from the spawn, events/s and its peak RSS (VmHWM).
 */
async function runAuditor(server: ServerHandle, events: number, root: string): Promise<Record<string, unknown>> {
  const client = new GraphQLClient(server.url, { maxSockets: 1 });
  const { log: l } = await client.request<{ log: { verifierKey: string } }>(
    'query ($a: String!) { log(sourceAppId: $a) { verifierKey } }',
    { a: LOG },
  );
  client.close();
  const stateDir = join(tmpdir(), `chainlog-10m-audit-${process.pid}`);
  mkdirSync(stateDir, { recursive: true });
  log(`auditing ${events} events with the auditor's command line`);
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      'dist/cli/verify.js',
      '--url',
      server.url,
      '--app',
      LOG,
      '--key',
      l.verifierKey,
      '--state',
      join(stateDir, 's.json'),
      '--json',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  let hwm = 0;
  let serverPeak = 0;
  // CPU seconds of both sides (the auditor's as last read, at most 100 ms before it exits): on a shared
  // machine events per CPU second say what the code costs, events per second what the machine gave.
  const serverCpu0 = server.cpuSeconds() ?? 0;
  let auditorCpu = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
      auditorCpu = cpuSecondsOf(child.pid!) ?? auditorCpu;
      serverPeak = Math.max(serverPeak, rssOf(server.pid));
    } catch {
      // exited
    }
  }, 100);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearInterval(poll);
  const seconds = (performance.now() - t0) / 1000;
  const serverCpu = (server.cpuSeconds() ?? serverCpu0) - serverCpu0;
  rmSync(stateDir, { recursive: true, force: true });
  const verdict = (JSON.parse(out || '{}') as { verdict?: string }).verdict ?? `exit ${code}`;
  return {
    events,
    seconds: +seconds.toFixed(1),
    eventsPerSecond: Math.round(events / seconds),
    verdict,
    auditorPeakRssMB: mb(hwm),
    serverPeakRssMB: mb(serverPeak),
    auditorCpuSeconds: +auditorCpu.toFixed(2),
    serverCpuSeconds: +serverCpu.toFixed(2),
    eventsPerCpuSecond: Math.round(events / Math.max(0.01, auditorCpu + serverCpu)),
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
}

function summary(r: {
  steps: Array<Record<string, unknown>>;
  lastStepIngestOverFirst: number;
  audit: Record<string, unknown> | null;
}) {
  const mark = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const lines = [
    'events     ingest/s  page1 p95  page1000 p95  ratio  incl p95 http/server  RSS MB peak/after  disk B/ev  leaf B  restart ms (CPU)  SIGKILL ms (CPU)',
  ];
  for (const s of r.steps) {
    const p1 = (s.queryPage1Ms as { p95: number }).p95;
    const pd = (s.queryPage1000Ms as { p95: number }).p95;
    const ih = (s.inclusionHttpMs as { p95: number }).p95;
    const is = (s.inclusionServerMs as { p95: number }).p95;
    const rss = s.rssMB as { ingestPeak: number; queryPeak: number; after: number };
    lines.push(
      [
        String(s.events).padEnd(10),
        String(s.ingestEventsPerSecond).padStart(8),
        p1.toFixed(2).padStart(10),
        pd.toFixed(2).padStart(13),
        String(s.page1000OverPage1P95).padStart(6),
        `${ih.toFixed(2)}/${is.toFixed(2)}`.padStart(22),
        `${Math.max(rss.ingestPeak, rss.queryPeak)}/${rss.after}`.padStart(19),
        String(s.diskBytesPerEvent).padStart(10),
        String(s.leafCanonicalBytes).padStart(7),
        `${String(s.restartReadyMs)} (${String(s.restartReadyCpuMs)})`.padStart(17),
        `${String(s.sigkillReadyMs)} (${String(s.sigkillReadyCpuMs)})`.padStart(17),
      ].join(' '),
    );
  }
  const last = r.steps.at(-1)!;
  const lastP95 = (k: string) => (last[k] as { p95: number }).p95;
  const peakRss = Math.max(...r.steps.map((s) => Math.max(...Object.values(s.rssMB as Record<string, number>))));
  lines.push(
    `targets at ${String(last.events)}: ingest last/first ${r.lastStepIngestOverFirst} (>= 0.85) ${mark(r.lastStepIngestOverFirst >= 0.85)}; ` +
      `query p95 ${lastP95('queryPage1000Ms').toFixed(2)} ms (<= 15) ${mark(Math.max(lastP95('queryPage1Ms'), lastP95('queryPage1000Ms')) <= 15)}; ` +
      `page1000/page1 ${String(last.page1000OverPage1P95)} (<= 2) ${mark((last.page1000OverPage1P95 as number) <= 2)}; ` +
      // The proof target is the server's work (as scenario 5 judges it); the HTTP round trip is printed beside
      // the trivial query of the same loop, which carries the same transport cost.
      `inclusion p95 ${lastP95('inclusionServerMs').toFixed(2)} ms (<= 2) ${mark(lastP95('inclusionServerMs') <= 2)}, ` +
      `over HTTP ${lastP95('inclusionHttpMs').toFixed(2)} ms beside the trivial query's ${lastP95('trivialMs').toFixed(2)}; ` +
      `peak RSS ${peakRss} MB (<= 400) ${mark(peakRss <= 400)}; ` +
      `ready ${String(last.restartReadyMs)}/${String(last.sigkillReadyMs)} ms (<= 5000) ${mark(Math.max(last.restartReadyMs as number, last.sigkillReadyMs as number) <= 5000)}`,
  );
  if (r.audit) {
    lines.push(
      `auditor (npm run verify): ${String(r.audit.events)} events in ${String(r.audit.seconds)} s, ${String(r.audit.eventsPerSecond)} events/s ` +
        `(>= 100000 ${mark((r.audit.eventsPerSecond as number) >= 100_000)}), peak RSS ${String(r.audit.auditorPeakRssMB)} MB, verdict ${String(r.audit.verdict)}; ` +
        `CPU s auditor ${String(r.audit.auditorCpuSeconds)} + server ${String(r.audit.serverCpuSeconds)} (${String(r.audit.eventsPerCpuSecond)} events per CPU second)` +
        (r.audit.baseline ? `; baseline ${JSON.stringify(r.audit.baseline)}` : ''),
    );
  }
  return lines.join('\n');
}

process.exitCode = await main().catch((err: unknown) => {
  const cause = (err as Error).cause as Error | undefined;
  process.stderr.write(`scale:10m: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}\n`);
  return 1;
});
