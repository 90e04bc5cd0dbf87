// A Jepsen-style run of three chainlog processes on one MongoDB database (the FerretDB test server):
// each process runs with its own clock skew (up to ±10 s, TEST_CLOCK_OFFSET_MS), a nemesis pauses
// processes (SIGSTOP/SIGCONT) for longer than the lease TTL and SIGKILLs them mid-batch, restarting
// them with a new skew; clients append batches with idempotency keys to one hot log and to many logs,
// routed (a log's writes to one process) and unrouted, and retry on any error or timeout with the
// same keys, possibly on another process; subscribers on every process resume with `after` when
// their process dies. At the end:
// - every acknowledged event is stored exactly once, as acknowledged;
// - every log is gapless and linked, and verifyLog finds nothing wrong;
// - every subscriber received every event of its filter exactly once, each log in order;
// - nothing of a request that was definitively rejected was written, and nothing unknown was.
// A seeded PRNG drives the workload and the nemesis: a failure prints its seed. JEPSEN_SEED=<n>
// replays one; seeds that failed once are kept in KEPT_SEEDS and run (shorter) on every run.
import { mkdtempSync, rmSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import { MongoClient } from 'mongodb';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { createRng, type Rng } from '../../src/simulator/prng.js';
import { collectionNames as C } from '../../src/storage/mongodb/documents.js';
import { freshDbName, startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';

/** Seeds kept as regression cases (each found an acknowledged event lost or replaced). */
const KEPT_SEEDS: number[] = [1796123421];
const SEED = process.env.JEPSEN_SEED ? Number(process.env.JEPSEN_SEED) : randomInt(2 ** 31);
const DURATION_MS = Number(process.env.JEPSEN_DURATION_MS ?? 60_000);
const PROCESSES = 3;
const WORKERS = 6;
const LOGS = ['hot', ...Array.from({ length: 8 }, (_, i) => `log-${i}`)];
const LEASE_TTL_MS = 500;
const MAX_SKEW_MS = 10_000;
const REQUEST_TIMEOUT_MS = 5_000;
/** After the nemesis stops: how long clients may still retry, and subscribers catch up. */
const SETTLE_MS = 90_000;
/** A run acknowledges more operations than this, or it has shown nothing (see `working`). */
const MIN_ACKED = 50;
const ADMIN_KEY = 'clk_jepsen-admin-key-for-tests-only-0123456789';

let mongo: MongoTestServer;
let keyFile: string;
const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-jepsen-key-'));
beforeAll(async () => {
  mongo = await startMongoTestServer();
  keyFile = loadSigningKey({ dataDir: keyDir }).source;
}, 180_000);
afterAll(async () => {
  await mongo?.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

interface Input {
  sourceAppId: string;
  eventType: string;
  timestamp: string;
  payload: Record<string, unknown>;
  idempotencyKey: string;
}
interface Acked {
  id: string;
  sourceAppId: string;
  seq: number;
  hash: string;
}
type Outcome = { kind: 'acked'; events: Acked[] } | { kind: 'rejected'; code: string } | { kind: 'unknown'; last: string };

/** One of the processes: its current run (a new one, on a new port and skew, after each kill). */
class Slot {
  proc: ServiceProcess | null = null;
  paused = false;
  skew = 0;
  private upWaiters: Array<() => void> = [];
  readonly dataDir: string;
  constructor(
    readonly index: number,
    private readonly env: Record<string, string>,
  ) {
    this.dataDir = mkdtempSync(join(tmpdir(), `chainlog-jepsen-${index}-`));
  }
  get up(): boolean {
    return this.proc !== null;
  }
  get url(): string | null {
    return this.proc?.url ?? null;
  }
  async start(skew: number): Promise<void> {
    this.skew = skew;
    const proc = new ServiceProcess(await freePort(), this.dataDir, { ...this.env, TEST_CLOCK_OFFSET_MS: String(skew) });
    await proc.start(120_000);
    this.proc = proc;
    for (const w of this.upWaiters.splice(0)) w();
  }
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    this.paused = false;
    await proc?.kill();
  }
  pause(): void {
    this.proc?.signal('SIGSTOP');
    this.paused = true;
  }
  resume(): void {
    this.proc?.signal('SIGCONT');
    this.paused = false;
  }
  /** Resolves once the slot runs (at once if it does). */
  whenUp(): Promise<void> {
    return this.up ? Promise.resolve() : new Promise((r) => this.upWaiters.push(r));
  }
  async stop(): Promise<void> {
    this.resume();
    await this.proc?.stop();
    this.proc = null;
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, timeoutMs = REQUEST_TIMEOUT_MS) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ADMIN_KEY },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  try {
    return JSON.parse(text) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  } catch {
    throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
}

const LOG_EVENTS = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { id sourceAppId seq hash } }`;
/** Refusals that are final: the request is wrong, not the moment. Anything else is retried. */
const FINAL = new Set(['BAD_USER_INPUT', 'PAYLOAD_TOO_LARGE']);

/** A subscriber pinned to one slot: resubscribes with `after` (its last event) whenever its stream ends. */
class Subscriber {
  readonly received: string[] = [];
  reconnects = 0;
  private client: Client | null = null;
  private stopped = false;
  private done: Promise<void>;
  constructor(
    readonly slot: Slot,
    readonly filter: { sourceAppIds?: string[] },
    private last: string,
  ) {
    this.done = this.run();
  }
  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.slot.whenUp();
      if (this.stopped) return;
      const url = this.slot.url;
      if (!url) continue;
      await new Promise<void>((resolve) => {
        const client = createClient({
          url: url.replace('http', 'ws') + '/graphql',
          webSocketImpl: WebSocket,
          retryAttempts: 0,
          connectionParams: { 'x-api-key': ADMIN_KEY },
          on: { closed: () => resolve() },
        });
        this.client = client;
        client.subscribe<{ eventLogged: { id: string } }>(
          {
            query: `subscription ($f: EventFilter, $a: ID) { eventLogged(filter: $f, after: $a) { id } }`,
            variables: { f: this.filter, a: this.last },
          },
          {
            next: (v) => {
              if (!v.data) return;
              this.received.push(v.data.eventLogged.id);
              this.last = v.data.eventLogged.id;
            },
            error: () => resolve(),
            complete: () => resolve(),
          },
        );
      });
      await this.client?.dispose();
      this.client = null;
      this.reconnects++;
      // A process that is going down refuses connections until it is marked down: do not spin on it.
      if (!this.stopped) await new Promise((r) => setTimeout(r, 100));
    }
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.dispose();
    await this.done;
  }
}

async function run(seed: number, durationMs: number): Promise<void> {
  const rng: Rng = createRng(seed);
  const dbName = freshDbName();
  const env = {
    MONGODB_URI: mongo.uri,
    MONGODB_DB: dbName,
    LEASE_TTL_MS: String(LEASE_TTL_MS),
    CHECKPOINT_INTERVAL_MS: '300',
    SIGNING_KEY_FILE: keyFile,
    AUTH: 'on',
    ADMIN_API_KEY: ADMIN_KEY,
    LOG_LEVEL: 'warn',
  };
  const slots = Array.from({ length: PROCESSES }, (_, i) => new Slot(i, env));
  const history: string[] = [];
  const note = (what: string) => history.push(`${new Date().toISOString().slice(11, 23)} ${what}`);
  const skew = () => rng.int(-MAX_SKEW_MS, MAX_SKEW_MS);
  const subscribers: Subscriber[] = [];
  const mongoClient = new MongoClient(mongo.uri);
  try {
    for (const slot of slots) {
      await slot.start(skew());
      note(`P${slot.index} up, skew ${slot.skew} ms`);
    }
    // Subscribers replay everything after a first event, so none can miss the workload's start.
    const genesis = await gql<{ logEvents: Acked[] }>(slots[0]!.url!, LOG_EVENTS, {
      inputs: [
        {
          sourceAppId: 'genesis',
          eventType: 'run.started',
          timestamp: new Date().toISOString(),
          payload: { seed },
          idempotencyKey: 'genesis',
        },
      ],
    });
    expect(genesis.errors).toBeUndefined();
    for (const slot of slots) {
      subscribers.push(new Subscriber(slot, {}, 'genesis/0'), new Subscriber(slot, { sourceAppIds: ['hot'] }, 'genesis/0'));
    }

    const stopAt = Date.now() + durationMs;
    // A loaded machine makes fewer operations in the same time: the clients go on, past stopAt and calm,
    // until the run has acknowledged more than MIN_ACKED of them (within another durationMs).
    const workUntil = stopAt + durationMs;
    let ackedOps = 0;
    const working = () => Date.now() < stopAt || (ackedOps <= MIN_ACKED && Date.now() < workUntil);
    const giveUpAt = workUntil + SETTLE_MS;
    const outcomes = new Map<string, { inputs: Input[]; outcome: Outcome; attempts: number }>();
    /** Why attempts failed, for the summary. */
    const failures = new Map<string, number>();
    const failed = (why: string) => failures.set(why, (failures.get(why) ?? 0) + 1);

    // Clients.
    const worker = async (w: number) => {
      const wr = createRng(seed * 31 + w);
      for (let op = 0; working(); op++) {
        const logs = [wr.chance(0.4) ? 'hot' : wr.pick(LOGS.slice(1))];
        if (wr.chance(0.2)) logs.push(wr.pick(LOGS.filter((l) => l !== logs[0])));
        const routed = wr.chance(0.5);
        const owner = LOGS.indexOf(logs[0]!) % PROCESSES;
        const timestamp = new Date().toISOString();
        const inputs: Input[] = [];
        for (const log of logs) {
          for (let k = wr.int(1, 5); k > 0; k--) {
            const n = inputs.length;
            inputs.push({
              sourceAppId: log,
              eventType: 'jepsen.op',
              timestamp,
              payload: { w, op, n },
              idempotencyKey: `w${w}-o${op}-${n}`,
            });
          }
        }
        const opId = `w${w}-o${op}`;
        let outcome: Outcome = { kind: 'unknown', last: 'never sent' };
        let sawUnknown = false;
        let attempts = 0;
        while (Date.now() < giveUpAt) {
          const slot = slots[routed && attempts < 2 ? owner : wr.int(0, PROCESSES - 1)]!;
          attempts++;
          const url = slot.url;
          if (!url) {
            // Retry pacing of the client: the process it picked is being restarted.
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          try {
            const res = await gql<{ logEvents: Acked[] }>(url, LOG_EVENTS, { inputs });
            if (res.data?.logEvents) {
              outcome = { kind: 'acked', events: res.data.logEvents };
              ackedOps++;
              break;
            }
            const code = res.errors?.[0]?.extensions?.code ?? 'NONE';
            if (FINAL.has(code)) {
              outcome = sawUnknown ? { kind: 'unknown', last: code } : { kind: 'rejected', code };
              break;
            }
            // CONFLICT (contention), a lost turn, a storage error: the same keys again.
            outcome = { kind: 'unknown', last: `${code}: ${res.errors?.[0]?.message}` };
            sawUnknown ||= code !== 'CONFLICT';
            failed(`${code}: ${String(res.errors?.[0]?.message).replace(/\d+/g, 'N').slice(0, 80)}`);
          } catch (err) {
            outcome = { kind: 'unknown', last: String(err) };
            sawUnknown = true;
            failed((err as Error).name);
          }
          // The client's random backoff before it sends the same keys again (part of the workload).
          await new Promise((r) => setTimeout(r, wr.int(20, 200)));
        }
        outcomes.set(opId, { inputs, outcome, attempts });
      }
    };

    // The nemesis.
    const nemesis = async () => {
      while (Date.now() < stopAt) {
        // The nemesis strikes at seeded random times: the schedule is what the test varies.
        await new Promise((r) => setTimeout(r, rng.int(700, 2000)));
        const healthy = slots.filter((s) => s.up && !s.paused);
        if (healthy.length < 2) continue;
        const slot = rng.pick(healthy);
        const roll = rng.next();
        if (roll < 0.45) {
          const ms = rng.int(LEASE_TTL_MS + 100, 5 * LEASE_TTL_MS);
          note(`P${slot.index} paused for ${ms} ms`);
          slot.pause();
          setTimeout(() => {
            if (slot.paused) {
              slot.resume();
              note(`P${slot.index} resumed`);
            }
          }, ms);
        } else if (roll < 0.7 && slots.every((s) => s.up)) {
          note(`P${slot.index} SIGKILL`);
          await slot.kill();
          const next = skew();
          // A seeded random downtime before the process comes back.
          void new Promise((r) => setTimeout(r, rng.int(200, 1500)))
            .then(() => slot.start(next))
            .then(() => note(`P${slot.index} up again, skew ${next} ms`));
        }
      }
    };

    await Promise.all([nemesis(), ...Array.from({ length: WORKERS }, (_, w) => worker(w))]);
    // Heal: every process running, none paused.
    for (const slot of slots) if (slot.paused) slot.resume();
    for (const slot of slots) await slot.whenUp();
    note('healed');

    // --- the checks ------------------------------------------------------------------------
    const context = () => `seed ${seed} (JEPSEN_SEED=${seed} to replay)\n${history.join('\n')}`;
    const db = mongoClient.db(dbName);
    type Doc = { sourceAppId: string; seq: number; hash: string; prevHash: string; idempotencySlot: string | number };
    const stored = await db
      .collection<Doc>(C.events)
      .find({}, { projection: { _id: 0, sourceAppId: 1, seq: 1, hash: 1, prevHash: 1, idempotencySlot: 1 } })
      .toArray();
    const byKey = new Map<string, Doc[]>();
    for (const d of stored) {
      const k = `${d.sourceAppId}\u0000${String(d.idempotencySlot)}`;
      byKey.set(k, [...(byKey.get(k) ?? []), d]);
    }
    const counts = { acked: 0, rejected: 0, unknown: 0, unknownWritten: 0 };
    for (const [opId, { inputs, outcome }] of outcomes) {
      const found = inputs.map((i) => byKey.get(`${i.sourceAppId}\u0000${i.idempotencyKey}`) ?? []);
      for (const f of found) expect(f.length, `${opId}: stored at most once. ${context()}`).toBeLessThanOrEqual(1);
      if (outcome.kind === 'acked') {
        counts.acked++;
        // Every acknowledged event is stored, exactly once, as acknowledged.
        outcome.events.forEach((e, i) => {
          expect(
            found[i]!.map((d) => `${d.sourceAppId}/${d.seq}:${d.hash}`),
            `${opId}[${i}] acknowledged. ${context()}`,
          ).toEqual([`${e.id}:${e.hash}`]);
        });
      } else if (outcome.kind === 'rejected') {
        counts.rejected++;
        expect(found.flat(), `${opId} was rejected (${outcome.code}). ${context()}`).toEqual([]);
      } else {
        counts.unknown++;
        // All or nothing, whatever the client could not learn.
        const written = found.filter((f) => f.length === 1).length;
        expect([0, inputs.length], `${opId}: all or nothing. ${context()}`).toContain(written);
        if (written > 0) counts.unknownWritten++;
      }
    }
    // Nothing was written that no client sent.
    const sentKeys = new Set(
      [...outcomes.values()].flatMap((o) => o.inputs.map((i) => `${i.sourceAppId}\u0000${i.idempotencyKey}`)),
    );
    sentKeys.add('genesis\u0000genesis');
    expect(
      stored.filter((d) => !sentKeys.has(`${d.sourceAppId}\u0000${String(d.idempotencySlot)}`)),
      context(),
    ).toEqual([]);
    // Every log gapless and linked.
    const logsSeen = [...new Set(stored.map((d) => d.sourceAppId))].sort();
    for (const log of logsSeen) {
      const chain = stored.filter((d) => d.sourceAppId === log).sort((a, b) => a.seq - b.seq);
      expect(
        chain.map((d) => d.seq),
        `${log} gapless. ${context()}`,
      ).toEqual([...chain.keys()]);
      chain.forEach((d, i) => expect(d.prevHash, `${log}/${i} linked`).toBe(i === 0 ? '0'.repeat(64) : chain[i - 1]!.hash));
    }
    // The commit numbers have no gap.
    const gs = (
      await db
        .collection<{ _id: number }>(C.batches)
        .find({}, { projection: { _id: 1 } })
        .toArray()
    )
      .map((b) => b._id)
      .sort((a, b) => a - b);
    expect(gs, context()).toEqual(gs.map((_, i) => i + 1));
    // verifyLog on every log, after a publish.
    const url = slots[0]!.url!;
    const published = await gql(url, `mutation { publishCheckpoints { treeSize } }`, {}, 60_000);
    expect(published.errors, context()).toBeUndefined();
    for (const log of logsSeen) {
      const report = await gql<{ verifyLog: { ok: boolean; eventsChecked: number; problems: unknown[] } }>(
        slots[rng.int(0, PROCESSES - 1)]!.url!,
        `query ($l: String!) { verifyLog(sourceAppId: $l) { ok eventsChecked problems { kind seq message } } }`,
        { l: log },
        60_000,
      );
      expect(
        report.data?.verifyLog,
        `${log}: ${JSON.stringify(report.errors ?? report.data?.verifyLog.problems.slice(0, 3))} ${context()}`,
      ).toMatchObject({
        ok: true,
        eventsChecked: stored.filter((d) => d.sourceAppId === log).length,
      });
    }
    // Every subscriber: every event of its filter after genesis, exactly once, each log in seq order.
    const expectedFor = (s: Subscriber) =>
      stored
        .filter((d) => d.sourceAppId !== 'genesis' && (!s.filter.sourceAppIds || s.filter.sourceAppIds.includes(d.sourceAppId)))
        .map((d) => `${d.sourceAppId}/${d.seq}`)
        .sort();
    const deadline = Date.now() + 60_000;
    for (const s of subscribers) {
      const want = expectedFor(s).length;
      while (new Set(s.received).size < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
    for (const s of subscribers) {
      const label = `subscriber on P${s.slot.index} ${JSON.stringify(s.filter)} (${s.reconnects} reconnects)`;
      const dupes = s.received.filter((id, i) => s.received.indexOf(id) !== i);
      expect(dupes, `${label}: duplicates. ${context()}`).toEqual([]);
      expect([...s.received].sort(), `${label}: every event. ${context()}`).toEqual(expectedFor(s));
      for (const log of LOGS) {
        const seqs = s.received.filter((id) => id.startsWith(`${log}/`)).map((id) => Number(id.slice(log.length + 1)));
        expect(seqs, `${label}: ${log} in order. ${context()}`).toEqual([...seqs].sort((a, b) => a - b));
      }
    }
    console.log(
      `jepsen seed ${seed}: ${counts.acked} acknowledged, ${counts.rejected} rejected, ${counts.unknown} unknown (${counts.unknownWritten} written), ` +
        `${stored.length} events in ${logsSeen.length} logs, ${gs.length} batches, ` +
        `${history.filter((h) => h.includes('paused')).length} pauses, ${history.filter((h) => h.includes('SIGKILL')).length} kills, ` +
        `${subscribers.reduce((n, s) => n + s.reconnects, 0)} subscriber reconnects; failed attempts: ${JSON.stringify(Object.fromEntries(failures))}`,
    );
    expect(counts.acked, context()).toBeGreaterThan(MIN_ACKED);
  } catch (err) {
    console.error(`jepsen run failed: seed ${seed} (JEPSEN_SEED=${seed} to replay)\n${history.join('\n')}`);
    throw err;
  } finally {
    await Promise.all(subscribers.map((s) => s.stop()));
    await Promise.all(slots.map((s) => s.stop()));
    await mongoClient
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongoClient.close();
  }
}

describe(`${PROCESSES} processes on one database under skew, pauses and kills`, () => {
  it(
    `keep every acknowledged event exactly once, every log a verified chain, every subscriber complete (seed ${SEED})`,
    async () => {
      await run(SEED, DURATION_MS);
    },
    2 * DURATION_MS + SETTLE_MS + 240_000,
  );

  for (const seed of KEPT_SEEDS) {
    it(
      `regression seed ${seed}`,
      async () => {
        await run(seed, 30_000);
      },
      2 * 30_000 + SETTLE_MS + 240_000,
    );
  }
});
