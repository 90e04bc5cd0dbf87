// A MongoDB that stops answering: the service, started as users start it with a short MONGODB_TIMEOUT_MS,
// answers UNAVAILABLE within a bound instead of waiting forever, and serves again, exactly once per
// idempotency key, when the database answers again. The database is the FerretDB test server, stalled
// with SIGSTOP (a stalled server or a partition that does not reset the connection look the same to
// the driver); a start against a port that accepts connections and never answers fails with a message
// naming the database.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoStorage } from '../../../src/storage/mongodb/mongo-storage.js';
import { AppendConflictError, AppendOutcomeUnknownError, StorageUnavailableError } from '../../../src/storage/types.js';
import { newEvents } from '../event-fixtures.js';
import { freshDbName, stallProcess, startMongoTestServer, type MongoTestServer } from '../../support/mongo-test-server.js';
import { freePort, ServiceProcess } from '../../support/service-process.js';
import { startService, type GraphqlResponse, type RunningService } from '../../support/service.js';
import { until } from '../../support/wait.js';

const TIMEOUT_MS = 1500;
/**
 * How long a call may take against a stalled database: each attempt waits at most the limit for
 * each of its steps, a retryable operation is attempted twice, and an append in doubt races a void
 * batch up to five times. Far below "forever", far above what the steps add up to.
 */
const ANSWER_BOUND_MS = 40 * TIMEOUT_MS;

const LOG_EVENTS = `mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { id seq replayed } }`;
const EVENTS = `query($app: String!) { events(filter: { sourceAppIds: [$app] }, first: 50) { edges { node { id seq } } } }`;
const VERIFY = `query($app: String!) { verifyLog(sourceAppId: $app) { ok eventsChecked problems { kind message } } }`;

const input = (sourceAppId: string, i: number) => ({
  sourceAppId,
  eventType: 'order.created',
  timestamp: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(),
  payload: { i },
  idempotencyKey: `order-${i}`,
});

/** Runs `request`, and how long it took to answer. */
async function timed<T>(request: () => Promise<T>): Promise<{ res: T; ms: number }> {
  const started = Date.now();
  const res = await request();
  return { res, ms: Date.now() - started };
}

/** A GraphQL answer (HTTP 200: the operation ran) whose one error is UNAVAILABLE. */
function expectUnavailable(res: GraphqlResponse, ms: number): void {
  expect(ms, `answered after ${ms} ms`).toBeLessThan(ANSWER_BOUND_MS);
  expect(res.errors).toHaveLength(1);
  expect(res.errors![0]!.extensions).toMatchObject({ code: 'UNAVAILABLE', retryAfterMs: 1000 });
  expect(['storageUnavailable', 'outcomeUnknown']).toContain(res.errors![0]!.extensions!.rule);
  expect(res.errors![0]!.message).toMatch(/MongoDB database did not answer|may or may not have committed/);
}

describe.skipIf(process.env.MONGODB_TEST_URI)('a MongoDB that stops answering (SIGSTOP of the test server)', () => {
  let server: MongoTestServer;
  let svc: RunningService;
  beforeAll(async () => {
    server = await startMongoTestServer();
    svc = await startService({
      env: { MONGODB_URI: server.uri, MONGODB_DB: server.dbName, MONGODB_TIMEOUT_MS: String(TIMEOUT_MS) },
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await server?.stop();
  });

  it('answers appends and reads UNAVAILABLE within a bound, then serves again; the retried append is stored once', async () => {
    const app = 'stall';
    const first = await svc.gql(LOG_EVENTS, { inputs: [input(app, 0), input(app, 1)] });
    expect(first.errors).toBeUndefined();

    const pid = server.pid!;
    const batch = [input(app, 2), input(app, 3), input(app, 4)];
    await stallProcess(pid);
    try {
      const [append, read, restAppend] = await Promise.all([
        timed(() => svc.gql(LOG_EVENTS, { inputs: batch })),
        timed(() => svc.gql(EVENTS, { app })),
        // The same append over REST, where the answer's status says it: 503.
        timed(async () => {
          const res = await fetch(`${svc.url}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...svc.authHeaders() },
            body: JSON.stringify(batch),
          });
          return { status: res.status, body: (await res.json()) as { errors: Array<{ code: string; rule: string }> } };
        }),
      ]);
      expectUnavailable(append.res, append.ms);
      expectUnavailable(read.res, read.ms);
      expect(restAppend.ms).toBeLessThan(ANSWER_BOUND_MS);
      expect(restAppend.res.status).toBe(503);
      expect(restAppend.res.body.errors[0]).toMatchObject({ code: 'UNAVAILABLE' });
      expect(['storageUnavailable', 'outcomeUnknown']).toContain(restAppend.res.body.errors[0]!.rule);
      // Never an internal error, whichever the step that ran out of time.
      expect(svc.output()).not.toMatch(/INTERNAL_SERVER_ERROR|unexpected error/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    // Served again once the database answers: the retry with the same keys is stored exactly once.
    const retried = await until(
      'the append to succeed again',
      async () => {
        const res = await svc.gql(LOG_EVENTS, { inputs: batch });
        return res.errors ? null : res;
      },
      { timeoutMs: ANSWER_BOUND_MS, intervalMs: 200 },
    );
    expect(retried.data.logEvents.map((e: { seq: number }) => e.seq)).toEqual([2, 3, 4]);
    const again = await svc.gql(LOG_EVENTS, { inputs: batch });
    expect(again.data.logEvents).toEqual(batch.map((_, i) => ({ id: `${app}/${i + 2}`, seq: i + 2, replayed: true })));

    const events = await svc.gql(EVENTS, { app });
    expect(events.errors).toBeUndefined();
    expect(events.data.events.edges.map((e: { node: { seq: number } }) => e.node.seq).sort()).toEqual([0, 1, 2, 3, 4]);
    const verified = await svc.gql(VERIFY, { app });
    expect(verified.data.verifyLog).toEqual({ ok: true, eventsChecked: 5, problems: [] });
  });

  // Where the database stops answering during an append: before the claim's insert (its outcome is
  // unknown), or after a claim that found g taken, before reading whose batch holds it (ours, if the
  // driver's retry of an insert that had landed is what found it taken).
  const stallPoints = {
    'at the claim': (pid: number, stall: { armed: boolean }) => ({
      beforeClaim: async () => {
        if (!stall.armed) return;
        stall.armed = false;
        await stallProcess(pid);
      },
    }),
    'before reading who holds a taken claim': (pid: number, stall: { armed: boolean }) => ({
      claimInsert: async (insert: () => Promise<void>) => {
        await insert();
        if (!stall.armed) return;
        stall.armed = false;
        try {
          await insert(); // what the driver's retry of a landed insert meets: a duplicate key
        } finally {
          await stallProcess(pid);
        }
      },
    }),
  };

  it.each(Object.keys(stallPoints) as Array<keyof typeof stallPoints>)(
    'an append that meets the stall %s is in doubt (AppendOutcomeUnknownError), a read unavailable; once it answers, the append is there once',
    async (point) => {
      const pid = server.pid!;
      const stall = { armed: false };
      const storage = new MongoStorage({
        uri: server.uri,
        dbName: `${server.dbName}_engine_${point.length}`,
        timeoutMs: 500,
        hooks: stallPoints[point](pid, stall),
      });
      await storage.init();
      try {
        await storage.appendEvents(newEvents('engine', 0, 2));
        const batch = newEvents('engine', 2, 3);
        stall.armed = true;
        try {
          const append = await timed(() =>
            storage.appendEvents(batch).then(
              () => null,
              (err: unknown) => err,
            ),
          );
          expect(append.ms).toBeLessThan(ANSWER_BOUND_MS);
          expect(append.res).toBeInstanceOf(AppendOutcomeUnknownError);
          expect((append.res as Error).message).toMatch(/may or may not have committed.*retry it with the same idempotency keys/);
          const read = await timed(() =>
            storage.getEventRange('engine', 0, 5, 10).then(
              () => null,
              (err: unknown) => err,
            ),
          );
          expect(read.ms).toBeLessThan(ANSWER_BOUND_MS);
          expect(read.res).toBeInstanceOf(StorageUnavailableError);
        } finally {
          process.kill(pid, 'SIGCONT');
        }
        await until(
          'the database to answer again',
          () =>
            storage.lastPos().then(
              () => true,
              () => false,
            ),
          { timeoutMs: ANSWER_BOUND_MS, intervalMs: 100 },
        );
        // The claim sent into the stall may have landed: the retry either appends or finds the positions taken.
        await storage.appendEvents(batch).catch((err: unknown) => {
          if (!(err instanceof AppendConflictError)) throw err;
        });
        const stored = await storage.getEventRange('engine', 0, 10, 10);
        expect(stored.map((e) => [e.seq, e.hash])).toEqual([...newEvents('engine', 0, 2), ...batch].map((e) => [e.seq, e.hash]));
        expect((await storage.getLogHead('engine'))?.size).toBe(5);
      } finally {
        await storage.close();
      }
    },
  );
});

describe('a MongoDB that never answers at start', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  let uri: string;
  beforeAll(async () => {
    // Accepts connections and never says a word: what a stalled server or a black-holed route looks like.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    uri = `mongodb://127.0.0.1:${address.port}/`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('fails the start within a bound, naming the database', async () => {
    const dbName = freshDbName();
    const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-stall-'));
    const proc = new ServiceProcess(await freePort(), dataDir, {
      MONGODB_URI: uri,
      MONGODB_DB: dbName,
      MONGODB_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    const started = Date.now();
    const failure = await proc.start(ANSWER_BOUND_MS).then(
      () => null,
      (err: unknown) => err,
    );
    const ms = Date.now() - started;
    try {
      expect(failure, 'the service started against a database that never answers').toBeInstanceOf(Error);
      expect((failure as Error).message).toMatch(/exited \(1\) before it was ready/);
      expect(ms).toBeLessThan(ANSWER_BOUND_MS);
      expect(proc.output()).toContain(`cannot reach the MongoDB database ${dbName} at ${uri}`);
      expect(proc.output()).toContain(`no answer within ${TIMEOUT_MS} ms`);
    } finally {
      await proc.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
