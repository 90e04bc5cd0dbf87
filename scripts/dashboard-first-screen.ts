// `npm run bench:dashboard`: how soon the dashboard's first screen is usable against a server holding
// 1,000,000 events (issue 19's target: within 1 s on this machine). chainlog starts as users start it
// (as `npm start` runs it, built first by the npm script; SQLite on a fresh data directory, AUTH=on), is
// loaded through `logEvents` (batches of 500 from several clients: one big log and many small ones, so
// the overview lists many logs), then headless Chromium (bench/browser.ts) opens the dashboard:
// - first screen interactive: from the navigation's start to the dashboard's `chainlog:first-screen` mark
//   (the overview's table of logs drawn with their sizes and checkpoints), or to the end of the last long
//   task (> 50 ms, Long Tasks API) that started before the mark when that ends later (until then an input
//   waits); for a signed-in tab (the key already in its session storage), cold (a new browser context:
//   empty cache) and warm (reloaded: the hashed assets come from the cache); and from the sign-in form's
//   submit (`chainlog:sign-in`) to the mark in a new context;
// - the event screen: navigation start to `chainlog:event-verified` (the event, its inclusion proof, and
//   the verdict of the browser's verification drawn) for an event deep in the big log, cold and warm;
// - the server's side: each GraphQL operation these screens send, timed on its own.
// Medians (and the worst) of --runs page loads; the load average (`uptime`) is printed with them, since
// the machine is shared.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { z } from 'zod';
import { intOption, optionsOrExit, parseCliArgs } from '../src/cli/options.js';
import {
  EventDocument,
  InclusionProofDocument,
  InconsistenciesDocument,
  LogsDocument,
  ProbeDocument,
  ServerInfoDocument,
  WitnessesDocument,
} from '../src/dashboard/generated/graphql.js';
import { roundSummary, summarize } from '../src/simulator/stats.js';
import { findChromium, launch } from '../bench/browser.js';
import { repoRoot } from '../bench/engines.js';
import { benchEvents } from '../bench/events.js';
import { GraphQLClient } from '../bench/http.js';
import { streamBatches } from '../bench/ingest.js';
import { PUBLISH } from '../bench/queries.js';
import { startServer, type ServerHandle } from '../bench/server.js';

const HELP = `Usage: npm run bench:dashboard -- [options]
  --events N        events loaded (default 1000000): a tenth in the small logs, the rest in one big log
  --small-logs N    small logs (default 100)
  --clients N       concurrent logEvents clients while loading (default 4)
  --runs N          page loads per figure; the median and the worst are reported (default 7)
  --data-dir DIR    load into DIR and keep it; a DIR a previous run loaded is used again without loading
                    (default: a fresh directory under bench/tmp/, removed at the end)
  --out FILE        also write the figures as JSON to FILE
  -h, --help        show this help
`;

const optionsSchema = z
  .object({
    events: intOption('events', 1000, 10_000_000).default(1_000_000),
    'small-logs': intOption('small-logs', 1, 1000).default(100),
    clients: intOption('clients', 1, 32).default(4),
    runs: intOption('runs', 1, 100).default(7),
    'data-dir': z.string().min(1).optional(),
    out: z.string().min(1).optional(),
  })
  .strict();
type Options = z.output<typeof optionsSchema>;

const BIG_LOG = 'audit-ledger';
const smallLog = (i: number) => `shop-${String(i).padStart(3, '0')}`;
/** Written into the data directory once its load is complete: a later run with --data-dir reuses it. */
const LOADED = 'first-screen-load.json';
const DAY = 86_400_000;

interface Loaded {
  events: number;
  smallLogs: number;
  bigSize: number;
  adminKey: string;
  loadSeconds: number;
}

const log = (m: string) => process.stderr.write(`[dashboard-first-screen] ${m}\n`);

async function load(server: ServerHandle, o: Options, adminKey: string): Promise<Loaded> {
  const total = o.events;
  const small = o['small-logs'];
  // Every tenth event goes to a small log, in turn; timestamps spread evenly over the past 30 days.
  const tsEnd = Date.now() - DAY;
  const tsStart = tsEnd - 30 * DAY;
  const source = benchEvents({
    seed: 19,
    logs: [BIG_LOG],
    logOf: (n) => (n % 10 === 9 ? smallLog(Math.floor(n / 10) % small) : BIG_LOG),
    timestampOf: (n) => tsStart + Math.floor((n * (tsEnd - tsStart)) / total),
  });
  log(`loading ${total.toLocaleString('en-US')} events (${small} small logs), ${o.clients} clients, batches of 500`);
  const run = await streamBatches(
    server.url,
    source,
    total,
    500,
    o.clients,
    (sent, s) => log(`${sent.toLocaleString('en-US')} events in ${s.toFixed(0)} s (${Math.round(sent / s)}/s)`),
    adminKey,
  );
  const client = new GraphQLClient(server.url, { maxSockets: 1, apiKey: adminKey });
  try {
    await client.request(PUBLISH);
    const head = await client.request<{ log: { size: number; latestCheckpoint: { treeSize: number } | null } }>(
      'query ($app: String!) { log(sourceAppId: $app) { size latestCheckpoint { treeSize } } }',
      { app: BIG_LOG },
    );
    if (head.log.latestCheckpoint?.treeSize !== head.log.size) {
      throw new Error(`the big log's checkpoint covers ${head.log.latestCheckpoint?.treeSize} of ${head.log.size} events`);
    }
    log(
      `loaded in ${run.seconds.toFixed(0)} s (${Math.round(run.eventsPerSecond)}/s); ${BIG_LOG} checkpointed at ${head.log.size}`,
    );
    return { events: total, smallLogs: small, bigSize: head.log.size, adminKey, loadSeconds: run.seconds };
  } finally {
    client.close();
  }
}

/** Page-side: long tasks (> 50 ms) from the start, read by `timings`. */
const LONG_TASKS = `
  globalThis.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) globalThis.__longTasks.push([e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
`;

interface PageTimes {
  /** ms from the navigation's start. */
  mark: number;
  /** `mark`, or the end of the last long task that started before it when later. */
  interactive: number;
  /** Long tasks before the mark: how many, and their total ms. */
  longTasks: number;
  longTaskMs: number;
  /** Where the time went (ms from the navigation's start; resource timing). */
  phases: {
    /** The page's HTML received. */
    html: number;
    /** The script received. */
    script: number;
    /** The first GraphQL request sent: the script has run. */
    firstQuery: number;
    /** The last GraphQL answer before the mark received. */
    lastAnswer: number;
  };
}

async function timings(page: Page, markName: string): Promise<PageTimes> {
  await page.waitForFunction((m) => performance.getEntriesByName(m).length > 0, markName, { timeout: 60_000 });
  // A long task is reported when it ends: wait for the one the mark is in (if any) to end.
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
  return page.evaluate((m) => {
    const mark = performance.getEntriesByName(m)[0]!.startTime;
    const tasks = ((globalThis as unknown as { __longTasks: [number, number][] }).__longTasks ?? []).filter(([s]) => s <= mark);
    const interactive = Math.max(mark, ...tasks.map(([s, d]) => s + d));
    type Timing = { name: string; startTime: number; responseEnd: number };
    const nav = performance.getEntries().find((e) => (e.entryType as string) === 'navigation') as unknown as Timing;
    const resources = performance.getEntriesByType('resource') as unknown as Timing[];
    const script = resources.find((r) => /\/assets\/app-[^/]+\.js$/.test(r.name));
    const queries = resources.filter((r) => r.name.endsWith('/graphql') && r.startTime <= mark);
    const phases = {
      html: nav.responseEnd,
      script: script?.responseEnd ?? 0,
      firstQuery: Math.min(...queries.map((r) => r.startTime)),
      lastAnswer: Math.max(...queries.map((r) => r.responseEnd)),
    };
    return { mark, interactive, longTasks: tasks.length, longTaskMs: tasks.reduce((n, [, d]) => n + d, 0), phases };
  }, markName);
}

async function signedInContext(browser: Browser, key: string): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // As a tab that signed in before: the key is in its session storage before the dashboard's script runs.
  await context.addInitScript({ content: `sessionStorage.setItem('chainlog.apiKey', ${JSON.stringify(key)});\n${LONG_TASKS}` });
  return context;
}

/** The overview is drawn with sizes and checkpoints, and its search box filters the rows as one types. */
async function checkOverview(page: Page): Promise<number> {
  const rows = page.locator('table.logs tbody tr');
  const first = await rows.first().locator('td').allTextContents();
  if (!/^\d+$/.test(first[0] ?? '') || !/^\d+$/.test(first[2] ?? '')) {
    throw new Error(`the overview's first row has no size and checkpoint: ${JSON.stringify(first)}`);
  }
  const t = performance.now();
  await page.locator('#log-search').fill(smallLog(1));
  // Every row shown is one whose name holds what was typed.
  await page.waitForFunction(
    `(() => {
      const shown = [...document.querySelectorAll('table.logs tbody tr')].map((r) => r.getAttribute('data-app'));
      return shown.length > 0 && shown.every((a) => a.includes(${JSON.stringify(smallLog(1))}));
    })()`,
    undefined,
    { timeout: 10_000 },
  );
  return performance.now() - t;
}

const med = (xs: number[]) => roundSummary(summarize(xs));

interface Figures {
  [name: string]: { median: number; max: number; unit: 'ms' };
}

async function measureBrowser(browser: Browser, url: string, key: string, deepSeq: number, runs: number) {
  const series: Record<string, number[]> = {};
  const add = (name: string, v: number) => (series[name] ??= []).push(v);
  const eventUrl = `${url}/dashboard/#/event/${BIG_LOG}/${deepSeq}`;
  for (let i = 0; i < runs; i++) {
    // A signed-in tab opened cold, then reloaded warm.
    const context = await signedInContext(browser, key);
    try {
      const page = await context.newPage();
      await page.goto(`${url}/dashboard/`);
      const cold = await timings(page, 'chainlog:first-screen');
      add('overview cold: first-screen mark', cold.mark);
      add('overview cold: interactive', cold.interactive);
      add('overview cold: long tasks before it (ms)', cold.longTaskMs);
      add('overview cold: HTML received', cold.phases.html);
      add('overview cold: script received', cold.phases.script);
      add('overview cold: first query sent', cold.phases.firstQuery);
      add('overview cold: last answer received', cold.phases.lastAnswer);
      add('overview: search filters the rows (round trip from the driver)', await checkOverview(page));
      await page.reload();
      const warm = await timings(page, 'chainlog:first-screen');
      add('overview warm: first-screen mark', warm.mark);
      add('overview warm: interactive', warm.interactive);
      add('overview warm: first query sent', warm.phases.firstQuery);
      add('overview warm: last answer received', warm.phases.lastAnswer);
      // The event screen, warm (assets cached), by a full navigation.
      await page.goto('about:blank');
      await page.goto(eventUrl);
      const ev = await timings(page, 'chainlog:event-verified');
      await expectVerified(page);
      add('event warm: verified', ev.interactive);
    } finally {
      await context.close();
    }
    // The event screen in a new context (cold).
    const eventContext = await signedInContext(browser, key);
    try {
      const page = await eventContext.newPage();
      await page.goto(eventUrl);
      const ev = await timings(page, 'chainlog:event-verified');
      await expectVerified(page);
      add('event cold: verified', ev.interactive);
      add('event cold: first query sent', ev.phases.firstQuery);
      add('event cold: last answer received', ev.phases.lastAnswer);
    } finally {
      await eventContext.close();
    }
    // Signing in: a new context, the form filled and submitted; submit → first screen.
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      await fresh.addInitScript({ content: LONG_TASKS });
      const page = await fresh.newPage();
      await page.goto(`${url}/dashboard/`);
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const t = await timings(page, 'chainlog:first-screen');
      const signIn = await page.evaluate(() => performance.getEntriesByName('chainlog:sign-in')[0]!.startTime);
      add('sign-in submit → interactive', t.interactive - signIn);
    } finally {
      await fresh.close();
    }
    log(`browser run ${i + 1}/${runs}: overview cold ${Math.round(series['overview cold: interactive']!.at(-1)!)} ms`);
  }
  const figures: Figures = {};
  for (const [name, xs] of Object.entries(series)) {
    figures[name] = { median: Math.round(med(xs).p50), max: Math.round(Math.max(...xs)), unit: 'ms' };
  }
  return figures;
}

async function expectVerified(page: Page): Promise<void> {
  const verdict = await page.locator('[data-verdict]').getAttribute('data-verdict');
  if (verdict !== 'verified') throw new Error(`the event's verdict is ${verdict}, not verified`);
}

/** Each operation the two screens send, timed alone with the dashboard's key (as the page sends it). */
async function measureServer(url: string, key: string, deepSeq: number, runs: number): Promise<Figures> {
  const client = new GraphQLClient(url, { maxSockets: 1, apiKey: key });
  const ops: [string, string, Record<string, unknown>][] = [
    ['Probe', ProbeDocument.toString(), {}],
    ['ServerInfo', ServerInfoDocument.toString(), {}],
    ['Logs (first 25)', LogsDocument.toString(), { first: 25, after: null }],
    ['Witnesses', WitnessesDocument.toString(), {}],
    ['Inconsistencies (first 100)', InconsistenciesDocument.toString(), { first: 100 }],
    ['Event (deep in the big log)', EventDocument.toString(), { id: `${BIG_LOG}/${deepSeq}` }],
    ['InclusionProof (deep in the big log)', InclusionProofDocument.toString(), { sourceAppId: BIG_LOG, seq: deepSeq }],
  ];
  const figures: Figures = {};
  try {
    for (const [name, query, variables] of ops) {
      const xs: number[] = [];
      for (let i = 0; i < Math.max(runs, 20); i++) {
        const t = performance.now();
        await client.request(query, variables);
        xs.push(performance.now() - t);
      }
      figures[`server: ${name}`] = {
        median: Number(med(xs).p50.toFixed(1)),
        max: Number(Math.max(...xs).toFixed(1)),
        unit: 'ms',
      };
    }
  } finally {
    client.close();
  }
  return figures;
}

async function main(): Promise<void> {
  const o = optionsOrExit(
    'bench:dashboard',
    HELP,
    parseCliArgs({ schema: optionsSchema }, process.argv.slice(2), process.env, (v) => v),
  );
  const chromium = findChromium();
  if (!chromium) throw new Error("no Chromium binary: install Debian's `chromium` package or set CHROMIUM_PATH");
  if (!existsSync(join(repoRoot, 'dist/main.js')) || !existsSync(join(repoRoot, 'dist/dashboard/index.html'))) {
    throw new Error('chainlog is not built: run `npm run build` (`npm run bench:dashboard` builds first)');
  }
  const keep = o['data-dir'] !== undefined;
  let dataDir: string;
  if (o['data-dir'] !== undefined) {
    dataDir = o['data-dir'];
    mkdirSync(dataDir, { recursive: true });
  } else {
    mkdirSync(join(repoRoot, 'bench/tmp'), { recursive: true });
    dataDir = mkdtempSync(join(repoRoot, 'bench/tmp/dashboard-first-screen-'));
  }
  const marker = join(dataDir, LOADED);
  const previous = existsSync(marker) ? (JSON.parse(readFileSync(marker, 'utf8')) as Loaded) : null;
  if (previous && (previous.events !== o.events || previous.smallLogs !== o['small-logs'])) {
    throw new Error(
      `${dataDir} holds ${previous.events} events in ${previous.smallLogs} small logs, not the ${o.events} in ${o['small-logs']} asked for`,
    );
  }
  const adminKey = previous?.adminKey ?? `clk_first-screen-${randomBytes(16).toString('hex')}`;
  const server = await startServer({
    label: 'dashboard-first-screen',
    store: { env: { DATA_DIR: dataDir }, dataDir, dispose: async () => undefined },
    env: { AUTH: 'on', ADMIN_API_KEY: adminKey },
  });
  let browser: Browser | null = null;
  try {
    let loaded = previous;
    if (!loaded) {
      loaded = await load(server, o, adminKey);
      writeFileSync(marker, `${JSON.stringify(loaded, null, 2)}\n`, { mode: 0o600 });
    } else {
      log(`using the ${loaded.events.toLocaleString('en-US')} events already loaded in ${dataDir}`);
      // A server started on a loaded store answers once it has integrated what it holds: publish so the
      // big log's checkpoint covers it all, as after the load.
      const admin = new GraphQLClient(server.url, { maxSockets: 1, apiKey: adminKey });
      await admin.request(PUBLISH).finally(() => admin.close());
    }
    // The dashboard signs in with an AUDITOR key: it may read every log and ask for proofs.
    const admin = new GraphQLClient(server.url, { maxSockets: 1, apiKey: adminKey });
    const { createApiKey } = await admin
      .request<{ createApiKey: { secret: string } }>('mutation { createApiKey(role: AUDITOR) { secret } }')
      .finally(() => admin.close());
    const key = createApiKey.secret;
    const deepSeq = Math.floor(loaded.bigSize / 3);
    const uptimeBefore = execFileSync('uptime', { encoding: 'utf8' }).trim();
    log(`load: ${uptimeBefore}`);
    const server1 = await measureServer(server.url, key, deepSeq, o.runs);
    browser = await launch(chromium);
    // One page load first, not measured: Chromium's own start-up (its first process, its caches).
    {
      const ctx = await signedInContext(browser, key);
      const page = await ctx.newPage();
      await page.goto(`${server.url}/dashboard/`);
      await timings(page, 'chainlog:first-screen');
      await ctx.close();
    }
    const pages = await measureBrowser(browser, server.url, key, deepSeq, o.runs);
    const uptimeAfter = execFileSync('uptime', { encoding: 'utf8' }).trim();
    const report = {
      at: new Date().toISOString(),
      events: loaded.events,
      logs: 1 + loaded.smallLogs,
      bigLog: { name: BIG_LOG, size: loaded.bigSize, eventShown: deepSeq },
      loadSeconds: Math.round(loaded.loadSeconds),
      runs: o.runs,
      uptime: { before: uptimeBefore, after: uptimeAfter },
      figures: { ...pages, ...server1 },
    };
    const width = Math.max(...Object.keys(report.figures).map((k) => k.length));
    const lines = [
      `Dashboard first screen: ${report.events.toLocaleString('en-US')} events in ${report.logs} logs ` +
        `(${BIG_LOG}: ${report.bigLog.size.toLocaleString('en-US')}), median and worst of ${o.runs}`,
      `load before: ${uptimeBefore}`,
      `load after:  ${uptimeAfter}`,
      ...Object.entries(report.figures).map(
        ([k, f]) => `  ${k.padEnd(width)}  ${String(f.median).padStart(7)} ms  (worst ${f.max} ms)`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (o.out) writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await browser?.close();
    await server.stop();
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
