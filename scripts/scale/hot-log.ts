// `npm run scale:hot-log`: the contended case of the scaling demo. K chainlog processes on one MongoDB
// database; W writers append batches of B events with idempotency keys to one log, each request to
// the next process in turn (unrouted, so every process contends for the log), retrying failures with
// the same keys, for S seconds; then an `events` read of that log must answer on every process.
// Every request is bounded: one that gets no answer within --request-timeout is reported, with
// which process and what it was, and the run fails. Every acknowledged event must be stored once.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { intOption, optionsOrExit, parseCliArgs } from '../../src/cli/options.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { startTestMongo } from '../mongo-test-server/start.js';
import { mongodbUriOption, startApiProcesses, stopApiProcesses, type ApiProcess } from './api-processes.js';

const HELP = `Usage: npm run scale:hot-log -- [options]
  --processes K           API processes (default 3)
  --writers W             concurrent writers (default 16)
  --batch B               events per request (default 20)
  --seconds S             how long the writers write (default 120)
  --forwarding on|off     processes hand appends to the log's lease holder (ADVERTISE_URL; default on)
  --request-timeout MS    a request unanswered after this long is a hang (default 60000)
  --mongodb-uri URI       MongoDB to use (default: MONGODB_URI, else a FerretDB test server started here)
  -h, --help              show this help
`;

const optionsSchema = z
  .object({
    processes: intOption('processes', 2, 8).default(3),
    writers: intOption('writers', 1, 64).default(16),
    batch: intOption('batch', 1, 1000).default(20),
    seconds: intOption('seconds', 1, 3600).default(120),
    forwarding: z.enum(['on', 'off'], { error: '--forwarding must be on or off' }).default('on'),
    'request-timeout': intOption('request-timeout', 1000, 600_000).default(60_000),
    'mongodb-uri': mongodbUriOption,
  })
  .strict();

const HOT = 'hot';
const LOG_EVENTS = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }`;
const READ = `query ($f: EventFilter) { events(filter: $f, first: 50) { edges { node { seq } } } }`;

interface Answer {
  data?: Record<string, unknown>;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

class Hang extends Error {}

async function gql(
  api: ApiProcess,
  query: string,
  variables: Record<string, unknown>,
  timeoutMs: number,
  what: string,
): Promise<Answer> {
  const started = Date.now();
  try {
    const res = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return (await res.json()) as Answer;
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') {
      throw new Hang(`P${api.index} gave no answer to ${what} within ${timeoutMs} ms (sent ${new Date(started).toISOString()})`);
    }
    throw err;
  }
}

async function main(): Promise<number> {
  const o = optionsOrExit(
    'scale:hot-log',
    HELP,
    parseCliArgs({ schema: optionsSchema, env: { 'mongodb-uri': 'MONGODB_URI' } }, process.argv.slice(2), process.env, (v) => v),
  );
  const timeout = o['request-timeout'];

  let mongoUri = o['mongodb-uri'];
  let stopMongo = async (): Promise<void> => {};
  if (!mongoUri) {
    const server = await startTestMongo(undefined, { inheritStderr: true });
    mongoUri = server.uri;
    process.stderr.write(`FerretDB test server pid ${server.pid} at ${mongoUri}\n`);
    stopMongo = () => server.stop();
  }
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-hot-key-'));
  const keyFile = loadSigningKey({ dataDir: keyDir }).source;
  const env = { MONGODB_URI: mongoUri, MONGODB_DB: `hot_${Date.now().toString(36)}`, SIGNING_KEY_FILE: keyFile };
  const apis: ApiProcess[] = [];
  const hangs: string[] = [];
  try {
    const processSecret = o.forwarding === 'on' ? randomBytes(24).toString('hex') : undefined;
    apis.push(...(await startApiProcesses(o.processes, env, { labelStderr: true, ...(processSecret && { processSecret }) })));
    process.stderr.write(
      `${o.processes} processes ready (pids ${apis.map((a) => a.child.pid).join(', ')}); ${o.writers} writers for ${o.seconds} s\n`,
    );
    const startedAt = Date.now();
    const stopAt = startedAt + o.seconds * 1000;
    let turn = 0;
    const acked = new Map<string, number>();
    const failures = new Map<string, number>();
    let requests = 0;
    const durations: number[] = [];
    await Promise.all(
      Array.from({ length: o.writers }, async (_, w) => {
        for (let op = 0; Date.now() < stopAt && hangs.length === 0; op++) {
          const timestamp = new Date().toISOString();
          const inputs = Array.from({ length: o.batch }, (_, n) => ({
            sourceAppId: HOT,
            eventType: 'hot.append',
            timestamp,
            payload: { w, op, n },
            idempotencyKey: `w${w}-o${op}-${n}`,
          }));
          // Retry with the same keys until acknowledged (a conflict or UNAVAILABLE is the moment, not the request).
          for (let attempt = 0; hangs.length === 0; attempt++) {
            const api = apis[turn++ % apis.length]!;
            requests++;
            const sent = performance.now();
            try {
              const res = await gql(
                api,
                LOG_EVENTS,
                { inputs },
                timeout,
                `w${w} op ${op} attempt ${attempt} (logEvents of ${o.batch})`,
              );
              durations.push(performance.now() - sent);
              const seqs = (res.data?.logEvents as Array<{ seq: number }> | undefined)?.map((e) => e.seq);
              if (seqs) {
                seqs.forEach((seq, n) => acked.set(`w${w}-o${op}-${n}`, seq));
                break;
              }
              const code = res.errors?.[0]?.extensions?.code ?? 'NONE';
              if (!failures.has(code)) process.stderr.write(`first ${code}: ${res.errors?.[0]?.message ?? ''}\n`);
              failures.set(code, (failures.get(code) ?? 0) + 1);
            } catch (err) {
              if (err instanceof Hang) {
                hangs.push(err.message);
                process.stderr.write(`HANG: ${err.message}\n`);
                return;
              }
              failures.set((err as Error).name, (failures.get((err as Error).name) ?? 0) + 1);
            }
            if (Date.now() > stopAt + 60_000) return;
          }
        }
      }),
    );
    durations.sort((a, b) => a - b);
    const at = (q: number) => Math.round(durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0);
    const seconds = (Date.now() - startedAt) / 1000;
    process.stderr.write(
      `${Math.round(acked.size / seconds)} events/s acknowledged over ${seconds.toFixed(1)} s (forwarding ${o.forwarding}); ` +
        `${requests} requests (answered in ms: median ${at(0.5)}, p99 ${at(0.99)}, max ${at(1)}), ${acked.size} events acknowledged, ` +
        `failures ${JSON.stringify(Object.fromEntries(failures))}\n`,
    );
    // Every process must answer a read of the log.
    for (const api of apis) {
      try {
        const res = await gql(api, READ, { f: { sourceAppIds: [HOT] } }, timeout, 'events of the hot log');
        if (res.errors) process.stderr.write(`P${api.index} read: ${JSON.stringify(res.errors)}\n`);
      } catch (err) {
        if (!(err instanceof Hang)) throw err;
        hangs.push(err.message);
        process.stderr.write(`HANG: ${err.message}\n`);
      }
    }
    if (hangs.length > 0) {
      // HOT_LOG_HOLD_MS: keep every process (and the test server) as it is for that long, to look at them.
      const hold = Number(process.env.HOT_LOG_HOLD_MS ?? 0);
      if (hold > 0) {
        process.stderr.write(`holding the processes for ${hold} ms (pids ${apis.map((a) => a.child.pid).join(', ')})\n`);
        await new Promise((r) => setTimeout(r, hold));
      }
      return 1;
    }
    const size = await gql(apis[0]!, `query { log(sourceAppId: "${HOT}") { size } }`, {}, timeout, 'log size');
    const stored = (size.data?.log as { size: number } | null)?.size ?? 0;
    process.stdout.write(`acknowledged ${acked.size} events, stored ${stored}\n`);
    if (new Set(acked.values()).size !== acked.size || stored !== acked.size) {
      process.stderr.write('acknowledged events and stored events differ\n');
      return 1;
    }
    return 0;
  } finally {
    await stopApiProcesses(apis);
    rmSync(keyDir, { recursive: true, force: true });
    await stopMongo();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  const cause = (err as Error).cause as Error | undefined;
  process.stderr.write(`scale:hot-log: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}\n`);
  return 1;
});
