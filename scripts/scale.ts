// `npm run scale`: horizontal scaling, demonstrated. Starts K chainlog processes on one MongoDB
// database behind a small load balancer on loopback, and measures batch ingest through the balancer
// with 1 process and with K (same clients, same events), checking that every acknowledged event is
// stored exactly once. Each batch writes to one log and names it in the x-chainlog-log header, so
// the balancer sends a log's appends to one process (as the compose file's nginx does): processes
// then hold the leases of their own logs and do not wait for each other.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { z } from 'zod';
import { intOption, optionsOrExit, parseCliArgs } from '../src/cli/options.js';
import { loadSigningKey } from '../src/log/signing-key.js';
import { createGenerator } from '../src/simulator/generator.js';
import { startTestMongo } from './mongo-test-server/start.js';
import { mongodbUriOption, startApiProcesses, stopApiProcesses } from './scale/api-processes.js';
import { ROUTE_HEADER, startLoadBalancer } from './scale/load-balancer.js';

const HELP = `Usage: npm run scale -- [options]
  --processes K           API processes in the scaled run (default 3)
  --events N              events to ingest in each run (default 20000)
  --batch B               events per logEvents call (default 500)
  --clients C             concurrent clients in both runs (default 4 per process of the scaled run)
  --logs L                logs written to, one per batch (default 4 per process of the scaled run)
  --mongodb-uri URI       MongoDB to use (default: MONGODB_URI, else a FerretDB test server started here)
  --json                  print the result as JSON
  -h, --help              show this help
`;

const optionsSchema = z
  .object({
    processes: intOption('processes', 2, 16).default(3),
    events: intOption('events', 100, 10_000_000).default(20_000),
    batch: intOption('batch', 1, 1000).default(500),
    clients: intOption('clients', 1, 256).optional(),
    logs: intOption('logs', 1, 1000).optional(),
    'mongodb-uri': mongodbUriOption,
    json: z.boolean().default(false),
  })
  .strict();
type ScaleOptions = z.output<typeof optionsSchema>;

const LOG_EVENTS = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }`;

/** Ingests `events` events through `url` with `clients` concurrent clients, batch i to log i % logs; events/s. */
async function ingest(url: string, events: number, batch: number, clients: number, logs: number, seed: number): Promise<number> {
  const logOf = (n: number) => `scale-${Math.floor(n / batch) % logs}`;
  const generator = createGenerator({ seed, apps: 1, sourceAppIdOf: logOf });
  const bodies: Array<{ log: string; body: string }> = [];
  for (let sent = 0; sent < events; sent += batch) {
    const log = logOf(sent);
    const inputs = Array.from({ length: Math.min(batch, events - sent) }, () => generator.next().input);
    bodies.push({ log, body: JSON.stringify({ query: LOG_EVENTS, variables: { inputs } }) });
  }
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < bodies.length) {
        const { log, body } = bodies[next++]!;
        const res = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [ROUTE_HEADER]: log },
          body,
        });
        const json = (await res.json()) as { errors?: unknown[] };
        if (res.status !== 200 || json.errors) throw new Error(`ingest failed: ${res.status} ${JSON.stringify(json.errors)}`);
      }
    }),
  );
  return events / ((performance.now() - t0) / 1000);
}

async function storedEvents(url: string): Promise<number> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ logs(first: 500) { edges { node { size } } } }' }),
  });
  const json = (await res.json()) as { data: { logs: { edges: Array<{ node: { size: number } }> } } };
  return json.data.logs.edges.reduce((sum, e) => sum + e.node.size, 0);
}

/** How often a log's sequencer lease changed hands: 0 means no process ever waited for another. */
async function leaseHandoffs(mongoUri: string, dbName: string): Promise<number> {
  const client = new MongoClient(mongoUri);
  try {
    const leases = await client
      .db(dbName)
      .collection<{ name: string; fence: number }>('leases')
      .find({ name: /^log:/ })
      .toArray();
    const newest = new Map<string, number>();
    for (const l of leases) newest.set(l.name, Math.max(newest.get(l.name) ?? 0, l.fence));
    return [...newest.values()].reduce((sum, fence) => sum + fence - 1, 0);
  } finally {
    await client.close();
  }
}

async function run(processes: number, o: ScaleOptions, mongoUri: string, keyFile: string, clients: number, logs: number) {
  const env = { MONGODB_URI: mongoUri, MONGODB_DB: `scale_${processes}_${Date.now().toString(36)}`, SIGNING_KEY_FILE: keyFile };
  const apis = await startApiProcesses(processes, env);
  try {
    process.stderr.write(`${processes} process(es) ready; ingesting ${o.events} events\n`);
    const lb = await startLoadBalancer(apis.map((a) => a.url));
    try {
      const eventsPerSecond = await ingest(lb.url, o.events, o.batch, clients, logs, processes);
      const stored = await storedEvents(lb.url);
      if (stored !== o.events) throw new Error(`${o.events} events acknowledged but ${stored} stored`);
      const handoffs = await leaseHandoffs(mongoUri, env.MONGODB_DB);
      return { processes, clients, logs, events: o.events, eventsPerSecond: Math.round(eventsPerSecond), stored, handoffs };
    } finally {
      await lb.close();
    }
  } finally {
    await stopApiProcesses(apis);
  }
}

async function main(): Promise<number> {
  const o = optionsOrExit(
    'scale',
    HELP,
    parseCliArgs(
      { schema: optionsSchema, booleans: ['json'], env: { 'mongodb-uri': 'MONGODB_URI' } },
      process.argv.slice(2),
      process.env,
      (v) => v,
    ),
  );
  const clients = o.clients ?? 4 * o.processes;
  const logs = o.logs ?? 4 * o.processes;

  let mongoUri = o['mongodb-uri'];
  process.stderr.write(mongoUri ? `using ${mongoUri}\n` : 'starting a MongoDB test server (FerretDB)\n');
  let stopMongo = async (): Promise<void> => {};
  if (!mongoUri) {
    const server = await startTestMongo();
    mongoUri = server.uri;
    stopMongo = () => server.stop();
  }
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-scale-key-'));
  const keyFile = loadSigningKey({ dataDir: keyDir }).source;
  try {
    const one = await run(1, o, mongoUri, keyFile, clients, logs);
    const many = await run(o.processes, o, mongoUri, keyFile, clients, logs);
    const result = {
      mongoUri: mongoUri.replace(/\/\/[^@/]*@/, '//***@'),
      one,
      many,
      speedup: +(many.eventsPerSecond / one.eventsPerSecond).toFixed(2),
    };
    if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      process.stdout.write(
        `batch ingest through a loopback load balancer routing by log, ${o.events} events in batches of ${o.batch} to ${logs} logs, ${clients} clients\n` +
          `  1 process:   ${one.eventsPerSecond} events/s\n` +
          `  ${o.processes} processes: ${many.eventsPerSecond} events/s  (x${result.speedup}), log leases changed hands ${many.handoffs} times\n` +
          `  every acknowledged event stored exactly once in both runs\n`,
      );
    }
    return 0;
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
    await stopMongo();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  const cause = (err as Error).cause as Error | undefined; // fetch's own message hides what failed
  process.stderr.write(`scale: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}\n`);
  return 1;
});
