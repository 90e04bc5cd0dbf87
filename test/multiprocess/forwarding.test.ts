// Two API processes on one MongoDB database (FerretDB here) with ADVERTISE_URL and PROCESS_SECRET: an
// append to a log whose lease the other process holds is handed to it, and the failure paths of that
// hand-off: the holder is slow but alive (its database write held at a TCP gate: it keeps giving signs
// of life, and the forward is waited for past the silence limit; it keeps its lease through the long
// commit, so a third process forwards to it too instead of taking the lease), the holder stalls (SIGSTOP: no sign
// of life within FORWARD_SILENCE_MS, 503 with Retry-After, UNAVAILABLE; the retry is stored once), the
// holder dies mid-forward (the request is appended here, stored once by its idempotency keys), and the
// holder's address refuses connections (appended here). Forwarding exists only where processes share a
// database: the SQLite engine is one process and has no leases.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, type Collection } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { metric } from '../support/metrics.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { commandMarker } from '../support/tcp-cutter.js';
import { startTcpGate, type TcpGate } from '../support/tcp-gate.js';
import { until } from '../support/wait.js';

const SECRET = 'forwarding-test-secret-0123456789abcdef';
const LOG_EVENTS = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq sourceAppId } }`;

let mongo: Awaited<ReturnType<typeof startMongoTestServer>>;
let client: MongoClient;
/** The lease documents, as stored. */
let leases: Collection<{ name: string; fence: number; expiresAt: number }>;
let a: ServiceProcess;
let b: ServiceProcess;
/** A third process with a true clock: it takes a lease it sees expired, instead of forwarding. */
let c: ServiceProcess;
/** In front of the database, for A only: A's writes can be held there. */
let aDb: TcpGate;
const dirs: string[] = [];
/** B's limit on silence from the holder, and its total limit, far above it. */
const SILENCE_MS = 1500;
const TOTAL_MS = 30_000;

const svc = (p: ServiceProcess) => ({ url: p.url, authHeaders: () => ({}) });
const forwards = (p: ServiceProcess, outcome: string) => metric(svc(p), 'chainlog_append_forwards', { outcome });

/** One timestamp for every event: a retry must carry the same content as the first try. */
const TIMESTAMP = new Date().toISOString();

function input(log: string, key: string) {
  return { sourceAppId: log, eventType: 'fwd.test', timestamp: TIMESTAMP, payload: { key }, idempotencyKey: key };
}

async function gql(p: ServiceProcess, inputs: unknown[]) {
  const res = await fetch(`${p.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: LOG_EVENTS, variables: { inputs } }),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as {
      data?: { logEvents: Array<{ seq: number }> } | null;
      errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
    },
  };
}

async function size(p: ServiceProcess, log: string): Promise<number> {
  const res = await fetch(`${p.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `query { log(sourceAppId: "${log}") { size } }` }),
  });
  return ((await res.json()) as { data: { log: { size: number } | null } }).data.log?.size ?? 0;
}

beforeAll(async () => {
  mongo = await startMongoTestServer();
  const dbName = freshDbName();
  client = new MongoClient(mongo.uri);
  leases = client.db(dbName).collection('leases');
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-fwd-key-'));
  dirs.push(keyDir);
  const keyFile = loadSigningKey({ dataDir: keyDir }).source;
  const base = {
    MONGODB_URI: mongo.uri,
    MONGODB_DB: dbName,
    SIGNING_KEY_FILE: keyFile,
    AUTH: 'off',
    LEASE_TTL_MS: '2000',
    CHECKPOINT_INTERVAL_MS: '500',
    PROCESS_SECRET: SECRET,
  };
  const [pa, pb, pc] = [await freePort(), await freePort(), await freePort()];
  aDb = await startTcpGate(Number(new URL(mongo.uri).port), new URL(mongo.uri).hostname);
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'chainlog-fwd-'));
    dirs.push(d);
    return d;
  };
  a = new ServiceProcess(pa, dir(), {
    ...base,
    MONGODB_URI: `mongodb://127.0.0.1:${aDb.port}/`,
    ADVERTISE_URL: `http://127.0.0.1:${pa}`,
  });
  // B's clock runs a minute behind: A's leases stay valid by B's clock while A is stopped, so B keeps
  // forwarding to A (the stalled and dead holder cases) instead of taking the lease when it expires.
  b = new ServiceProcess(pb, dir(), {
    ...base,
    ADVERTISE_URL: `http://127.0.0.1:${pb}`,
    FORWARD_SILENCE_MS: String(SILENCE_MS),
    FORWARD_TIMEOUT_MS: String(TOTAL_MS),
    TEST_CLOCK_OFFSET_MS: '-60000',
  });
  c = new ServiceProcess(pc, dir(), { ...base, ADVERTISE_URL: `http://127.0.0.1:${pc}` });
  await a.start();
  await b.start();
  await c.start();
}, 180_000);

afterAll(async () => {
  await c?.stop();
  await b?.stop();
  await a?.kill();
  await aDb?.close();
  await client?.close();
  await mongo?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('appends handed to the holder of the log lease (MongoDB, two processes)', () => {
  it('forward, slow holder, stall (503 + Retry-After), holder dies mid-forward, holder unreachable: every event stored once', async () => {
    // A takes the leases of both logs.
    for (const log of ['hot', 'cold']) {
      const r = await gql(a, [input(log, `${log}-1`)]);
      expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
    }
    // Through B: handed to A.
    const forwarded = await gql(b, [input('hot', 'hot-2')]);
    expect(forwarded.body.errors, JSON.stringify(forwarded.body.errors)).toBeUndefined();
    expect(forwarded.body.data!.logEvents[0]!.seq).toBe(1);
    expect(await forwards(b, 'forwarded')).toBe(1);

    // A's database write is slow (held at the gate): A keeps giving signs of life, and B waits past
    // its silence limit (six signs, a quarter of it apart), then the forward succeeds.
    const slowWrite = aDb.hold(commandMarker('insert', 'batch_bodies')[0]!);
    const slowStart = Date.now();
    const slow = gql(b, [input('hot', 'hot-slow')]);
    await until("A's write to be held", () => slowWrite.held === 1);
    // A's commit outlasts the lease term it began with: A renews its lease while it commits, so C (a
    // true clock) still finds it live and forwards to A instead of taking the lease and writing beside A.
    const lease = (await leases.find({ name: 'log:hot' }, { sort: { fence: -1 }, limit: 1 }).next())!;
    await until('the lease term A began its commit with to be over', () => Date.now() > lease.expiresAt + 200);
    const viaC = gql(c, [input('hot', 'hot-c')]);
    await until('C to forward to A', async () => (await forwards(c, 'in_flight')) === 1);
    await until('B to hear six signs of life from A', async () => (await metric(svc(b), 'chainlog_append_forward_signs')) >= 6, {
      timeoutMs: 30_000,
    });
    slowWrite.release();
    const slowAnswer = await slow;
    expect(slowAnswer.body.errors, JSON.stringify(slowAnswer.body.errors)).toBeUndefined();
    expect(slowAnswer.body.data!.logEvents[0]!.seq).toBe(2);
    const cAnswer = await viaC;
    expect(cAnswer.body.errors, JSON.stringify(cAnswer.body.errors)).toBeUndefined();
    expect(cAnswer.body.data!.logEvents[0]!.seq).toBe(3);
    expect(await forwards(c, 'forwarded')).toBe(1);
    expect((await leases.find({ name: 'log:hot' }, { sort: { fence: -1 }, limit: 1 }).next())!.fence).toBe(lease.fence);
    expect(Date.now() - slowStart).toBeGreaterThan(SILENCE_MS);
    expect(await forwards(b, 'forwarded')).toBe(2);
    expect(await forwards(b, 'silent')).toBe(0);

    // A stalls: no sign of life from it within B's silence limit, a retryable UNAVAILABLE with Retry-After.
    a.signal('SIGSTOP');
    const stallStart = Date.now();
    const rest = await fetch(`${b.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input('hot', 'hot-3')),
    });
    expect(rest.status).toBe(503);
    expect(Number(rest.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await rest.json()) as { errors: unknown[] }).errors[0]).toMatchObject({
      code: 'UNAVAILABLE',
      rule: 'outcomeUnknown',
    });
    const stalled = await gql(b, [input('hot', 'hot-3')]);
    expect(stalled.body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', rule: 'outcomeUnknown' });
    expect(stalled.body.errors?.[0]?.extensions?.retryAfterMs).toEqual(expect.any(Number));
    expect(Number(stalled.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(await forwards(b, 'silent')).toBe(2);
    expect(await forwards(b, 'timeout')).toBe(0);
    // Given up on for silence, far within the total limit.
    expect(Date.now() - stallStart).toBeLessThan(TOTAL_MS);

    // A thaws (and may append what it had received): the retry through B is stored once.
    a.signal('SIGCONT');
    const thawed = await gql(b, [input('hot', 'hot-3')]);
    expect(thawed.body.errors, JSON.stringify(thawed.body.errors)).toBeUndefined();
    expect(thawed.body.data!.logEvents[0]!.seq).toBe(4);
    expect(await forwards(b, 'forwarded')).toBe(3);
    a.signal('SIGSTOP');

    // The holder dies while a forward waits for it: B appends the request itself (its keys make that safe).
    const pending = gql(b, [input('hot', 'hot-4'), input('hot', 'hot-4b')]);
    await until('the forward to be in flight', async () => (await forwards(b, 'in_flight')) === 1);
    await a.kill();
    const afterDeath = await pending;
    expect(afterDeath.body.errors, JSON.stringify(afterDeath.body.errors)).toBeUndefined();
    expect(await forwards(b, 'lost')).toBe(1);

    // A's address now refuses connections: B appends to the log A held itself.
    const refused = await gql(b, [input('cold', 'cold-2')]);
    expect(refused.body.errors, JSON.stringify(refused.body.errors)).toBeUndefined();
    expect(refused.body.data!.logEvents[0]!.seq).toBe(1);
    expect(await forwards(b, 'unreachable')).toBe(1);

    // The request that timed out, retried with its key: stored once, whichever way the first try went.
    const retried = await gql(b, [input('hot', 'hot-3')]);
    expect(retried.body.errors, JSON.stringify(retried.body.errors)).toBeUndefined();
    const again = await gql(b, [input('hot', 'hot-4'), input('hot', 'hot-4b')]);
    expect(again.body.errors, JSON.stringify(again.body.errors)).toBeUndefined();
    expect(await size(b, 'hot')).toBe(7);
    expect(await size(b, 'cold')).toBe(2);
  }, 180_000);

  it('refuses a forward without the shared secret, before reading its body', async () => {
    const res = await fetch(`${b.url}/internal/v1/append`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer not-the-secret' },
      body: JSON.stringify({ requests: [input('hot', 'x')] }),
    });
    expect(res.status).toBe(401);
    expect(await size(b, 'hot')).toBe(7);
  });
});
