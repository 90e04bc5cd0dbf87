// The sequencer under injected storage faults, on both engines: random mixes of requests (with and
// without idempotency keys, repeated keys, expectedPrevHash, several logs) arrive together while the
// storage fails (lost turns, position conflicts, transient errors) or is slow, and afterwards:
// - every acknowledged request's events are stored exactly once, as acknowledged;
// - nothing of a rejected request is stored;
// - every log is gapless, without duplicate positions, linked, and its leaf hashes are right;
// - a retry with the same idempotency keys after a rejection stores the events once.
// A failing run prints its seed and inputs: add them to `examples` below so they stay tested.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventLeafHash, ZERO_HASH_HEX } from '../../src/core/leaf.js';
import { LogLeaseGate, soleWriter, type CommitGate } from '../../src/log/commit-gate.js';
import { Sequencer } from '../../src/log/sequencer.js';
import type { AppendRequest } from '../../src/log/service.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import type { LogStorage, StoredEvent } from '../../src/storage/types.js';
import { withFaults, type FaultKind } from '../support/faulty-storage.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { mongoHarness } from '../storage/harnesses.js';

const APPS = ['a', 'b', 'c'] as const;
const KEYS = ['k0', 'k1', 'k2', 'k3'] as const;
const TIMESTAMP = Date.UTC(2026, 0, 1);

interface RequestSpec {
  app: (typeof APPS)[number];
  key: (typeof KEYS)[number] | null;
  /** Two contents per key: the same key with the other content is a conflict. */
  variant: 0 | 1;
  /** expectedPrevHash: none, the head as read before the wave, or a hash no log has. */
  expect: 'none' | 'head' | 'wrong';
}
type JobSpec = RequestSpec[];
/** Jobs of a wave are queued in the same tick; a wave starts when the one before it has settled. */
interface Scenario {
  seed: number;
  failRate: number;
  kinds: Array<Exclude<FaultKind, 'delay'>>;
  /** Methods that fail; default all. */
  methods?: Array<keyof LogStorage>;
  /** Failures at most: a run always ends, even when every lost turn queues its jobs again. */
  maxFaults: number;
  waves: JobSpec[][];
}

const requestArb: fc.Arbitrary<RequestSpec> = fc.record({
  app: fc.constantFrom(...APPS),
  key: fc.option(fc.constantFrom(...KEYS), { freq: 2 }),
  variant: fc.constantFrom<0 | 1>(0, 0, 0, 1),
  expect: fc.constantFrom<RequestSpec['expect']>('none', 'none', 'none', 'none', 'head', 'wrong'),
});
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  failRate: fc.constantFrom(0.1, 0.25, 0.5),
  kinds: fc.subarray(['turnLost', 'conflict', 'transient'] as Array<Exclude<FaultKind, 'delay'>>, { minLength: 1 }),
  maxFaults: fc.constant(40),
  waves: fc.array(fc.array(fc.array(requestArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }), {
    minLength: 1,
    maxLength: 4,
  }),
});

/** The run the failure-paths issue reported: a key written by one job and waited for by the next, then a failed append. */
const reported = (kinds: Scenario['kinds']): Scenario => ({
  seed: 1,
  failRate: 1,
  kinds,
  methods: ['appendEvents'],
  maxFaults: 1,
  waves: [
    [
      [{ app: 'a', key: 'k0', variant: 0, expect: 'none' }],
      [
        { app: 'a', key: 'k0', variant: 0, expect: 'none' },
        { app: 'a', key: null, variant: 0, expect: 'none' },
      ],
    ],
  ],
});
const examples: Array<[Scenario]> = [[reported(['turnLost'])], [reported(['conflict'])], [reported(['transient'])]];

interface Engine {
  name: string;
  /** A fresh, empty store and the gate its sequencer commits through. */
  open(): Promise<{ storage: LogStorage; gate: CommitGate; close: () => Promise<void> }>;
  runs: number;
}

let unique = 0;
function toRequest(spec: RequestSpec, heads: Map<string, string>): AppendRequest {
  const expectedPrevHash =
    spec.expect === 'head' ? (heads.get(spec.app) ?? ZERO_HASH_HEX) : spec.expect === 'wrong' ? 'f'.repeat(64) : null;
  if (spec.key === null) {
    return { sourceAppId: spec.app, eventType: 'free', timestamp: TIMESTAMP, payload: { id: `u${++unique}` }, expectedPrevHash };
  }
  return {
    sourceAppId: spec.app,
    eventType: 'keyed',
    timestamp: TIMESTAMP,
    payload: { key: spec.key, variant: spec.variant },
    idempotencyKey: spec.key,
    expectedPrevHash,
  };
}

type Outcome = { requests: AppendRequest[]; acked: StoredEvent[] | null; error?: unknown };

async function runScenario(engine: Engine, scenario: Scenario): Promise<void> {
  const { storage: target, gate, close } = await engine.open();
  const faulty = withFaults(target, {
    seed: scenario.seed,
    failRate: scenario.failRate,
    delayRate: 0.3,
    appendFaults: scenario.kinds,
    methods: scenario.methods,
    maxFaults: scenario.maxFaults,
  });
  // A sequencer over the faulty store fails at will; it must still never break a promise it made.
  const sequencer = new Sequencer(faulty.storage, () => undefined, Date.now, gate);
  const outcomes: Outcome[] = [];
  try {
    for (const wave of scenario.waves) {
      const heads = await headsOf(target);
      const jobs = wave.map((specs) => specs.map((s) => toRequest(s, heads)));
      outcomes.push(
        ...(await Promise.all(
          jobs.map((requests) =>
            sequencer.append(requests).then(
              (acked): Outcome => ({ requests, acked }),
              (error: unknown): Outcome => ({ requests, acked: null, error }),
            ),
          ),
        )),
      );
    }
    faulty.enabled = false;
    const context = `injected: ${JSON.stringify(faulty.injected)}`;
    await checkStore(target, outcomes, context);

    // Retry, without faults, every rejected request whose events all carry keys: each stores once.
    const retried = outcomes.filter((o) => o.acked === null && o.requests.every((r) => r.idempotencyKey));
    const again = await Promise.all(
      retried.map((o) =>
        sequencer.append(o.requests).then(
          (acked): Outcome => ({ requests: o.requests, acked }),
          (error: unknown): Outcome => ({ requests: o.requests, acked: null, error }),
        ),
      ),
    );
    for (const o of again) {
      // Without faults, only a real conflict refuses a retry: other content under the key, or a stale expectedPrevHash.
      if (o.acked === null) expect((o.error as { code?: string }).code, context).toBe('CONFLICT');
    }
    await checkStore(target, [...outcomes, ...again], context);
  } finally {
    faulty.enabled = false;
    await close();
  }
}

async function headsOf(storage: LogStorage): Promise<Map<string, string>> {
  const heads = new Map<string, string>();
  for (const h of await storage.listLogHeads(null, 100)) heads.set(h.sourceAppId, h.headHash);
  return heads;
}

async function checkStore(storage: LogStorage, outcomes: Outcome[], context: string): Promise<void> {
  const stored: StoredEvent[] = [];
  for (const app of APPS) {
    const head = await storage.getLogHead(app);
    const events = head ? await storage.getEventRange(app, 0, head.size + 10, head.size + 10) : [];
    // Gapless, one event per position, linked, each leaf hash what its fields give.
    events.forEach((e, i) => {
      expect(e.seq, `${app} position ${i}; ${context}`).toBe(i);
      expect(e.prevHash, `${app} link at ${i}; ${context}`).toBe(i === 0 ? ZERO_HASH_HEX : events[i - 1]!.hash);
      expect(e.hash, `${app} leaf at ${i}; ${context}`).toBe(eventLeafHash(e));
    });
    expect(events.length, `${app} head size; ${context}`).toBe(head?.size ?? 0);
    stored.push(...events);
  }
  const at = (e: { sourceAppId: string; seq: number }) => `${e.sourceAppId}/${e.seq}`;
  const byPosition = new Map(stored.map((e) => [at(e), e]));
  const acknowledged = new Set<string>();
  for (const o of outcomes) {
    if (o.acked === null) continue;
    expect(o.acked, context).toHaveLength(o.requests.length);
    o.acked.forEach((e, i) => {
      const r = o.requests[i]!;
      // What was acknowledged is stored, at the position acknowledged, with the content sent.
      expect(byPosition.get(at(e)), `acknowledged ${at(e)} is stored; ${context}`).toEqual(e);
      expect({ app: e.sourceAppId, type: e.eventType, payload: e.payload, key: e.idempotencyKey }, context).toEqual({
        app: r.sourceAppId,
        type: r.eventType,
        payload: r.payload,
        key: r.idempotencyKey ?? null,
      });
      acknowledged.add(at(e));
    });
  }
  // Nothing is stored that no acknowledgement returned: so nothing of a rejected request, and nothing twice.
  for (const e of stored) expect(acknowledged.has(at(e)), `stored ${at(e)} was acknowledged; ${context}`).toBe(true);
  const keys = stored.filter((e) => e.idempotencyKey).map((e) => `${e.sourceAppId}/${e.idempotencyKey}`);
  expect(new Set(keys).size, `each idempotency key stored once; ${context}`).toBe(keys.length);
  const free = stored.filter((e) => !e.idempotencyKey).map((e) => e.payload!.id as string);
  expect(new Set(free).size, `each unkeyed event stored once; ${context}`).toBe(free.length);
}

function sqliteEngine(name: string, ordered: boolean, runs: number): Engine {
  return {
    name,
    runs,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'chainlog-faults-'));
      const real = new SqliteStorage({ path: join(dir, 'log.db') });
      await real.init();
      // Without ordered appends the sequencer commits one group at a time (the path MongoDB takes).
      const storage = ordered ? real : (Object.create(real, { orderedAppends: { value: false } }) as SqliteStorage);
      return {
        storage,
        gate: soleWriter,
        async close() {
          await real.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

let mongo: MongoTestServer | undefined;
beforeAll(async () => {
  mongo = await startMongoTestServer();
});
afterAll(async () => {
  await mongo?.stop();
});

const mongoEngine: Engine = {
  name: 'mongodb (one process, lease turns)',
  runs: 15,
  async open() {
    const harness = mongoHarness(mongo!);
    const storage = harness.storage;
    await storage.init();
    const gate = new LogLeaseGate(storage.coordination!, 'faults-test', 5000, 15_000);
    return {
      storage,
      gate,
      async close() {
        await gate.close().catch(() => undefined);
        await storage.close();
        await harness.cleanup();
      },
    };
  },
};

const engines = [
  sqliteEngine('sqlite (pipelined)', true, 40),
  sqliteEngine('sqlite (one group at a time)', false, 40),
  mongoEngine,
];

describe.each(engines)('sequencer under storage faults: $name', (engine) => {
  it('acknowledges only what it stored once, stores nothing it rejected, and keeps every log a chain', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, (scenario) => runScenario(engine, scenario)),
      { numRuns: engine.runs, examples },
    );
  }, 240_000);
});
