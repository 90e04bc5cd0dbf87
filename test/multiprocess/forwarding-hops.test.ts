// Three API processes on one MongoDB database (FerretDB here) with ADVERTISE_URL and PROCESS_SECRET: a
// forward sent to a process that no longer holds the log's lease (the forwarding process trusts the
// holder it read until that lease expires) is answered with where the lease is now (HTTP 421), and the
// forward follows it there: the append is stored once, by the new holder. Forwarding exists only where
// processes share a database: the SQLite engine is one process and has no leases.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { metric } from '../support/metrics.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

const SECRET = 'forwarding-hops-secret-0123456789abcdef';
const LOG_EVENTS = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }`;
const TTL_MS = 2000;

let mongo: Awaited<ReturnType<typeof startMongoTestServer>>;
let client: MongoClient;
let dbName: string;
const procs: ServiceProcess[] = [];
const dirs: string[] = [];

const TIMESTAMP = new Date().toISOString();
const input = (key: string) => ({
  sourceAppId: 'hot',
  eventType: 'fwd.hop',
  timestamp: TIMESTAMP,
  payload: { key },
  idempotencyKey: key,
});
const svc = (p: ServiceProcess) => ({ url: p.url, authHeaders: () => ({}) });
const forwards = (p: ServiceProcess, outcome: string) => metric(svc(p), 'chainlog_append_forwards', { outcome });

async function append(p: ServiceProcess, key: string): Promise<number> {
  const res = await fetch(`${p.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: LOG_EVENTS, variables: { inputs: [input(key)] } }),
  });
  const body = (await res.json()) as { data?: { logEvents: Array<{ seq: number }> }; errors?: unknown[] };
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data!.logEvents[0]!.seq;
}

/** The newest fence of the hot log's lease, as stored. */
async function newestLease(): Promise<{ fence: number; owner: string; expiresAt: number; address?: string }> {
  const doc = await client
    .db(dbName)
    .collection<{ fence: number; owner: string; expiresAt: number; address?: string }>('leases')
    .find({ name: 'log:hot' }, { sort: { fence: -1 }, limit: 1 })
    .next();
  return doc!;
}

beforeAll(async () => {
  mongo = await startMongoTestServer();
  client = new MongoClient(mongo.uri);
  dbName = freshDbName();
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-hops-key-'));
  dirs.push(keyDir);
  const base = {
    MONGODB_URI: mongo.uri,
    MONGODB_DB: dbName,
    SIGNING_KEY_FILE: loadSigningKey({ dataDir: keyDir }).source,
    AUTH: 'off',
    LEASE_TTL_MS: String(TTL_MS),
    CHECKPOINT_INTERVAL_MS: '500',
    PROCESS_SECRET: SECRET,
  };
  // A keeps the true time. B's clock runs a minute ahead: A's lease is over by B's clock, so B takes
  // the log's lease while A still has it in hand. C's clock runs a minute behind, with long leases: the
  // holder it read (A) stays trusted, so C forwards to A after the lease moved.
  const clocks: Array<Record<string, string>> = [
    {},
    { TEST_CLOCK_OFFSET_MS: '60000' },
    { TEST_CLOCK_OFFSET_MS: '-60000', LEASE_TTL_MS: '60000' },
  ];
  for (const clock of clocks) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-hops-'));
    dirs.push(dir);
    const p = new ServiceProcess(port, dir, { ...base, ADVERTISE_URL: `http://127.0.0.1:${port}`, ...clock });
    procs.push(p);
    await p.start();
  }
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await client?.close();
  await mongo?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a forward that reaches a former holder (MongoDB, three processes)', () => {
  it('is answered with where the lease is now, and follows it there: stored once, by the new holder', async () => {
    const [a, b, c] = procs as [ServiceProcess, ServiceProcess, ServiceProcess];
    expect(await append(a, 'hop-1')).toBe(0); // A takes the lease
    expect((await newestLease()).address).toBe(a.url);
    expect(await append(c, 'hop-2')).toBe(1); // C reads that A holds it and forwards there
    expect(await forwards(c, 'forwarded')).toBe(1);

    // B sees A's lease as expired (its clock) and takes the next fence itself.
    expect(await append(b, 'hop-3')).toBe(2);
    const moved = await newestLease();
    expect(moved.address).toBe(b.url);
    expect(await forwards(b, 'forwarded')).toBe(0);

    // Once A's own lease is due for renewal by A's clock, A's next turn reads the lease and finds B's.
    const held = (await client
      .db(dbName)
      .collection<{ expiresAt: number }>('leases')
      .findOne({ name: 'log:hot', fence: moved.fence - 1 }))!;
    await until("A's lease to be due for renewal", async () => held.expiresAt - Date.now() < TTL_MS / 2 - 200);

    // C still trusts A: its forward goes to A, which answers where the lease is (421), and C follows to B.
    expect(await append(c, 'hop-4')).toBe(3);
    expect(await forwards(c, 'followed')).toBe(1);
    expect(await forwards(c, 'forwarded')).toBe(2);
    expect(await newestLease()).toMatchObject({ fence: moved.fence, address: b.url });

    // Every event once, in order, whichever process is asked.
    const res = await fetch(`${a.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'query ($f: EventFilter) { events(filter: $f, first: 10) { edges { node { seq payload } } } }',
        variables: { f: { sourceAppIds: ['hot'] } },
      }),
    });
    const body = (await res.json()) as { data: { events: { edges: Array<{ node: { seq: number; payload: unknown } }> } } };
    expect(body.data.events.edges.map((e) => e.node).sort((x, y) => x.seq - y.seq)).toEqual(
      ['hop-1', 'hop-2', 'hop-3', 'hop-4'].map((key, seq) => ({ seq, payload: { key } })),
    );
  }, 180_000);
});
