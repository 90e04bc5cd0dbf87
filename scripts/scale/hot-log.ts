// `npm run scale:hot-log`: the contended case of the scaling demo. K chainlog processes on one MongoDB
// database; W writers append batches of B events with idempotency keys to one log, each request to
// the next process in turn (unrouted, so every process contends for the log), retrying failures with
// the same keys, for S seconds; then an `events` read of that log must answer on every process.
// Every request is bounded: one that gets no answer within --request-timeout is reported, with
// which process and what it was, and the run fails. Every acknowledged event must be stored once.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { ensureServerBinary } from '../mongo-test-server/binary.js';
import { startServerProcess, stopServerProcess } from '../mongo-test-server/server-process.js';

const HELP = `Usage: npm run scale:hot-log -- [options]
  --processes K           API processes (default 3)
  --writers W             concurrent writers (default 16)
  --batch B               events per request (default 20)
  --seconds S             how long the writers write (default 120)
  --request-timeout MS    a request unanswered after this long is a hang (default 60000)
  --mongodb-uri URI       MongoDB to use (default: MONGODB_URI, else a FerretDB test server started here)
`;

const optionsSchema = z.object({
  processes: z.coerce.number().int().min(2).max(8),
  writers: z.coerce.number().int().min(1).max(64),
  batch: z.coerce.number().int().min(1).max(1000),
  seconds: z.coerce.number().int().min(1).max(3600),
  'request-timeout': z.coerce.number().int().min(1000).max(600_000),
  'mongodb-uri': z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb://').optional(),
});

const ROOT = resolve(import.meta.dirname, '../..');
const HOT = 'hot';
const LOG_EVENTS = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }`;
const READ = `query ($f: EventFilter) { events(filter: $f, first: 50) { edges { node { seq } } } }`;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => res(port));
    });
  });
}

interface Api {
  index: number;
  url: string;
  child: ChildProcess;
  dataDir: string;
}

async function startApi(index: number, env: Record<string, string>): Promise<Api> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-hot-api-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', AUTH: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) process.stderr.write(`[P${index}] ${line}\n`);
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while ((await fetch(`${url}/healthz`).then((r) => r.status, () => 0)) !== 200) {
    if (child.exitCode !== null) throw new Error(`chainlog exited with ${child.exitCode} before it was ready`);
    if (Date.now() > deadline) throw new Error('chainlog was not ready within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { index, url, child, dataDir };
}

async function stopApi(api: Api): Promise<void> {
  if (api.child.exitCode === null) {
    const exited = new Promise((r) => api.child.once('exit', r));
    api.child.kill('SIGTERM');
    await exited;
  }
  rmSync(api.dataDir, { recursive: true, force: true });
}

interface Answer {
  data?: Record<string, unknown>;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

class Hang extends Error {}

async function gql(api: Api, query: string, variables: Record<string, unknown>, timeoutMs: number, what: string): Promise<Answer> {
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
  const { values } = parseArgs({
    options: {
      processes: { type: 'string', default: '3' },
      writers: { type: 'string', default: '16' },
      batch: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '120' },
      'request-timeout': { type: 'string', default: '60000' },
      'mongodb-uri': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const parsed = optionsSchema.safeParse(values);
  if (!parsed.success) {
    for (const i of parsed.error.issues) process.stderr.write(`--${i.path.join('.')}: ${i.message}\n`);
    process.stderr.write(HELP);
    return 2;
  }
  const o = parsed.data;
  const timeout = o['request-timeout'];

  let mongoUri = o['mongodb-uri'] ?? process.env.MONGODB_URI;
  let stopMongo = async () => undefined;
  if (!mongoUri) {
    const binary = await ensureServerBinary((line) => process.stderr.write(`${line}\n`));
    const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-hot-mongo-'));
    const server = await startServerProcess({ binary, listen: '127.0.0.1:0', dataDir, inheritStderr: true });
    mongoUri = server.uri;
    process.stderr.write(`FerretDB test server pid ${server.child.pid} at ${mongoUri}\n`);
    stopMongo = async () => {
      await stopServerProcess(server);
      rmSync(dataDir, { recursive: true, force: true });
    };
  }
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-hot-key-'));
  const keyFile = loadSigningKey({ dataDir: keyDir }).source;
  const env = { MONGODB_URI: mongoUri, MONGODB_DB: `hot_${Date.now().toString(36)}`, SIGNING_KEY_FILE: keyFile };
  const apis: Api[] = [];
  const hangs: string[] = [];
  try {
    for (let i = 0; i < o.processes; i++) apis.push(await startApi(i, env));
    process.stderr.write(`${o.processes} processes ready (pids ${apis.map((a) => a.child.pid).join(', ')}); ${o.writers} writers for ${o.seconds} s\n`);
    const stopAt = Date.now() + o.seconds * 1000;
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
              const res = await gql(api, LOG_EVENTS, { inputs }, timeout, `w${w} op ${op} attempt ${attempt} (logEvents of ${o.batch})`);
              durations.push(performance.now() - sent);
              const seqs = (res.data?.logEvents as Array<{ seq: number }> | undefined)?.map((e) => e.seq);
              if (seqs) {
                seqs.forEach((seq, n) => acked.set(`w${w}-o${op}-${n}`, seq));
                break;
              }
              const code = res.errors?.[0]?.extensions?.code ?? 'NONE';
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
    process.stderr.write(
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
    await Promise.all(apis.map(stopApi));
    rmSync(keyDir, { recursive: true, force: true });
    await stopMongo();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  const cause = (err as Error).cause as Error | undefined;
  process.stderr.write(`scale:hot-log: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}\n`);
  return 1;
});
