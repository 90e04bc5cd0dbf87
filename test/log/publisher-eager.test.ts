// Eager publishing (CHECKPOINT_MIN_GAP_MS), on both engines: a commit gets a checkpoint without waiting
// for the interval, two checkpoints of a log are never closer than the min gap however hard it is
// written to, a storage failure during an eager publish is retried (on the interval) without losing or
// duplicating a checkpoint, and witness submissions are coalesced (one in flight per witness and log,
// the newest next). Sharing a MongoDB database: another process's commit wakes the lease holder, and a
// holder that loses the lease mid-publish stores nothing twice and stops publishing at its next renewal.
// Every checkpoint here comes from an eager cycle: the interval is long except where a retry needs it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { logVerifiers, openCheckpoint } from '../../src/core/checkpoint.js';
import { parseVerifierKey } from '../../src/core/note/signed-note.js';
import { ChainlogService } from '../../src/log/chainlog-service.js';
import { EAGER_DUTY_FACTOR } from '../../src/log/publisher.js';
import type { CheckpointUpdate } from '../../src/log/service.js';
import type { LogStorage, StoredCheckpoint } from '../../src/storage/types.js';
import { Witnessing } from '../../src/witnessing/witnessing.js';
import type { StorageHarness } from '../storage/contract.js';
import type { MongoHarness } from '../storage/harnesses.js';
import { withFaults } from '../support/faulty-storage.js';
import { HostileWitness } from '../support/hostile-witness.js';
import { event } from '../support/pipeline.js';
import { until } from '../support/wait.js';
import { aroundCheckpointWrites, ORIGIN, publishingService, slowCheckpoints } from '../support/publishing.js';
import { useEngines } from './engines.js';

const engines = useEngines('chainlog-publisher-eager-');
/** Long enough that no checkpoint in these tests comes from the interval, unless a test sets it shorter. */
const NO_INTERVAL_MS = 600_000;

let keyDir: string;
beforeAll(() => {
  keyDir = mkdtempSync(join(tmpdir(), 'chainlog-eager-key-'));
});
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

interface Started {
  service: ChainlogService;
  /** Every checkpoint the service delivered (not the cosigned deliveries). */
  delivered: CheckpointUpdate[];
}

describe.each(engines)('eager publishing: $name', (engine) => {
  let harness: StorageHarness;
  const running: Array<{ service: ChainlogService; storage: LogStorage }> = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  async function start(
    storage: LogStorage,
    opts: { minGapMs: number; intervalMs?: number; now?: () => number },
  ): Promise<Started> {
    const service = await publishingService(storage, { keyDir, intervalMs: opts.intervalMs ?? NO_INTERVAL_MS, ...opts });
    const delivered: CheckpointUpdate[] = [];
    service.onCheckpoint((u) => {
      if (!u.cosigned) delivered.push(u);
    });
    running.push({ service, storage });
    await service.start();
    return { service, delivered };
  }

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    for (const { service, storage } of running.splice(0).reverse()) {
      await service.stop().catch(() => undefined);
      await storage.close().catch(() => undefined);
    }
    await harness?.cleanup();
  });

  const sizes = (cps: ReadonlyArray<StoredCheckpoint>) => cps.map((c) => c.treeSize);
  const deliveredSizes = (d: readonly CheckpointUpdate[], app: string) =>
    d.filter((u) => u.checkpoint.sourceAppId === app).map((u) => u.checkpoint.treeSize);

  it('publishes a commit without waiting for the interval, and keeps the min gap under a burst', async () => {
    const GAP = 300;
    harness = engine.harness();
    const { service, delivered } = await start(harness.storage, { minGapMs: GAP });
    let appended = 0;
    let appends = 0;
    // Appends one after another, as fast as they commit, until several checkpoints were published meanwhile.
    while (deliveredSizes(delivered, 'burst').length < 4 && appends < 100_000) {
      await service.append([event('burst'), event('burst')]);
      appended += 2;
      appends++;
    }
    await until('a checkpoint covering every event', () => deliveredSizes(delivered, 'burst').at(-1) === appended);
    const stored = await service.listCheckpoints('burst', null, 1000, 'asc');
    expect(sizes(stored)).toEqual(deliveredSizes(delivered, 'burst'));
    for (let i = 1; i < stored.length; i++) {
      expect(stored[i]!.treeSize).toBeGreaterThan(stored[i - 1]!.treeSize);
      // publishedAt is the publisher's clock, the one the gap is kept by.
      expect(stored[i]!.publishedAt - stored[i - 1]!.publishedAt).toBeGreaterThanOrEqual(GAP);
    }
    // Coalesced: many commits per checkpoint, never one signature per commit.
    expect(stored.length).toBeLessThan(appends);
  });

  it('rests EAGER_DUTY_FACTOR times a cycle after it, however many commits arrive meanwhile', async () => {
    // Storing a checkpoint takes SLOW_MS here, so each cycle takes at least that long.
    const SLOW_MS = 150;
    harness = engine.harness();
    const slow = slowCheckpoints(harness.storage, SLOW_MS);
    const { service, delivered } = await start(slow, { minGapMs: 20 });
    let appends = 0;
    // Commits keep arriving during every cycle: none of them may start the next cycle before the rest.
    while (deliveredSizes(delivered, 'duty').length < 4 && appends < 100_000) {
      await service.append([event('duty')]);
      appends++;
    }
    const stored = await service.listCheckpoints('duty', null, 1000, 'asc');
    expect(stored.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < stored.length; i++) {
      // Signed (publishedAt) before a store of SLOW_MS, and the next cycle rests 3 times the whole cycle.
      expect(stored[i]!.publishedAt - stored[i - 1]!.publishedAt).toBeGreaterThanOrEqual(SLOW_MS + EAGER_DUTY_FACTOR * SLOW_MS);
    }
  });

  it('publishes a growing log each interval however long the duty bound makes eager cycles wait', async () => {
    const SLOW_MS = 400;
    const INTERVAL_MS = 300;
    harness = engine.harness();
    const slow = slowCheckpoints(harness.storage, SLOW_MS);
    const { service, delivered } = await start(slow, { minGapMs: 20, intervalMs: INTERVAL_MS });
    let appends = 0;
    while (deliveredSizes(delivered, 'floor').length < 5 && appends < 100_000) {
      await service.append([event('floor')]);
      appends++;
    }
    const at = (await service.listCheckpoints('floor', null, 1000, 'asc')).map((c) => c.publishedAt);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // Eager cycles alone are each a store and a rest of 3 stores apart; the interval cycle comes sooner.
    expect(Math.min(...gaps)).toBeLessThan(SLOW_MS + EAGER_DUTY_FACTOR * SLOW_MS);
  });

  it('retries on the interval a log whose checkpoint could not be stored, and publishes it once', async () => {
    harness = engine.harness();
    // The publish's one write: the integration that carries the checkpoint.
    const faulty = withFaults(harness.storage, {
      seed: 5,
      failRate: 1,
      methods: ['integrate', 'putCheckpoint'],
      when: (m, args) => m === 'putCheckpoint' || args[4] !== undefined,
      maxFaults: 1,
    });
    faulty.enabled = false;
    const { service, delivered } = await start(faulty.storage, { minGapMs: 50, intervalMs: 300 });
    faulty.enabled = true;
    await service.append([event('f'), event('f'), event('f')]);
    await until('the checkpoint published on a retry', () => deliveredSizes(delivered, 'f').length > 0);
    expect(faulty.injected).toEqual([{ method: 'integrate', kind: 'transient' }]);
    expect(sizes(await service.listCheckpoints('f', null, 100, 'asc'))).toEqual([3]);
    expect(deliveredSizes(delivered, 'f')).toEqual([3]);
  });

  it('delivers once, on the retry, a checkpoint that was stored although storing it answered with an error', async () => {
    harness = engine.harness();
    let failAfterWrite = false;
    const lossy = aroundCheckpointWrites(harness.storage, async (write) => {
      await write();
      // The write happened; its answer is lost on the way (a dropped connection after the commit).
      if (failAfterWrite) {
        failAfterWrite = false;
        throw new Error('injected: connection lost after the write');
      }
    });
    const { service, delivered } = await start(lossy, { minGapMs: 50, intervalMs: 300 });
    failAfterWrite = true;
    await service.append([event('u'), event('u'), event('u')]);
    await until('the stored checkpoint delivered', () => deliveredSizes(delivered, 'u').length > 0);
    expect(failAfterWrite).toBe(false);
    const stored = await service.listCheckpoints('u', null, 100, 'asc');
    expect(sizes(stored)).toEqual([3]);
    expect(delivered.filter((u) => u.checkpoint.sourceAppId === 'u').map((u) => u.checkpoint.note)).toEqual([stored[0]!.note]);
    // Nothing more to publish: the next interval cycles deliver nothing again.
    await service.append([event('other')]);
    await until('the other log published', () => deliveredSizes(delivered, 'other').length > 0);
    expect(deliveredSizes(delivered, 'u')).toEqual([3]);
  });

  it('submits to a witness one request at a time per log, the newest checkpoint next', async () => {
    harness = engine.harness();
    const { service, delivered } = await start(harness.storage, { minGapMs: 50 });
    const witness = new HostileWitness('gate.test/w');
    await witness.start();
    cleanups.push(() => witness.stop());
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-eager-policy-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const policyFile = join(dir, 'policy');
    writeFileSync(policyFile, `witness w ${witness.vkey} ${witness.url}\nquorum w\n`);
    const witnessing = new Witnessing({
      service,
      storage: harness.storage,
      policyFile,
      requestTimeoutMs: 60_000,
      maxBackoffMs: 1000,
      minSubmitGapMs: 20,
      logger: pino({ level: 'silent' }),
    });
    cleanups.push(() => witnessing.stop());
    witness.mode = { kind: 'gate' };
    await service.append([event('w'), event('w')]);
    await until('the first submission', () => witness.requests.length === 1);
    // Three more checkpoints while the first request is in flight: none is sent meanwhile.
    for (let size = 3; size <= 5; size++) {
      await service.append([event('w')]);
      await until(`checkpoint ${size}`, () => deliveredSizes(delivered, 'w').at(-1) === size);
    }
    expect(witness.requests.length).toBe(1);
    witness.openGate();
    await until('the second submission', () => witness.requests.length === 2);
    const second = witness.requests[1]!;
    expect(second.note.split('\n')[1]).toBe('5'); // the newest, not the next
    expect(second.oldSize).toBe(2);
    witness.mode = { kind: 'cosign' };
    witness.openGate();
    await until('checkpoint 5 witnessed', async () => {
      const cp = await service.getCheckpoint('w');
      return cp !== null && cp.treeSize === 5 && witnessing.inspect(cp).witnessed;
    });
    expect(witness.requests.length).toBe(2);
    expect(witness.maxInFlight).toBe(1);
  });
});

describe('eager publishing on one MongoDB database shared by two processes', () => {
  const mongo = engines.find((e) => e.name === 'mongodb')!;
  let harness: StorageHarness;
  const running: Array<{ service: ChainlogService; storage: LogStorage }> = [];

  async function start(storage: LogStorage, opts: { intervalMs: number; now?: () => number }): Promise<Started> {
    const service = await publishingService(storage, { keyDir, minGapMs: 50, ...opts });
    const delivered: CheckpointUpdate[] = [];
    service.onCheckpoint((u) => delivered.push(u));
    running.push({ service, storage });
    await service.start();
    return { service, delivered };
  }

  afterEach(async () => {
    for (const { service, storage } of running.splice(0).reverse()) {
      await service.stop().catch(() => undefined);
      await storage.close().catch(() => undefined);
    }
    await harness?.cleanup();
  });

  it("another process's commit wakes the lease holder, which publishes it without waiting for its interval", async () => {
    harness = mongo.harness();
    const holder = await start(await harness.reopen(), { intervalMs: NO_INTERVAL_MS });
    const other = await start(await harness.reopen(), { intervalMs: NO_INTERVAL_MS });
    expect(holder.service.publishes).toBe(true);
    expect(other.service.publishes).toBe(false);
    await other.service.append([event('x'), event('x')]);
    await until(
      'the holder published the other process’s commit',
      async () => (await holder.service.getCheckpoint('x'))?.treeSize === 2,
    );
    expect(holder.delivered.map((u) => u.checkpoint.treeSize)).toEqual([2]);
    expect(other.delivered).toEqual([]);
  });

  it('a holder that loses the lease mid-publish stores nothing twice and stops publishing at its next renewal', async () => {
    harness = mongo.harness();
    const raw = await harness.reopen();
    let takeOver: (() => Promise<void>) | null = null;
    const racing = aroundCheckpointWrites(raw, async (write) => {
      const run = takeOver;
      takeOver = null;
      await run?.();
      await write();
    });
    // The old holder renews on its 300 ms interval; the new one's clock runs a minute ahead, so the old lease looks expired to it.
    const old = await start(racing, { intervalMs: 300 });
    let successor: Started | null = null;
    takeOver = async () => {
      const ahead = () => Date.now() + 60_000;
      successor = await start(await (harness as MongoHarness).reopenWithClock(ahead), { intervalMs: 300, now: ahead });
    };
    await old.service.append([event('m'), event('m'), event('m')]);
    await until('the successor took the lease mid-publish', () => successor?.service.publishes === true);
    await until('the old holder saw it lost the lease', () => !old.service.publishes);
    const oldDelivered = old.delivered.length;
    // Commits through the old holder are now published by the successor.
    await old.service.append([event('m'), event('m')]);
    const next = successor as unknown as Started;
    await until('the successor published every event', async () => (await next.service.getCheckpoint('m'))?.treeSize === 5);
    expect(old.delivered.length).toBe(oldDelivered);
    const stored = await next.service.listCheckpoints('m', null, 100, 'asc');
    expect(stored.at(-1)!.treeSize).toBe(5);
    const verifiers = logVerifiers(parseVerifierKey(next.service.info.verifierKey), `${ORIGIN}/m`);
    for (let i = 0; i < stored.length; i++) {
      if (i > 0) expect(stored[i]!.treeSize).toBeGreaterThan(stored[i - 1]!.treeSize);
      expect(openCheckpoint(stored[i]!.note, verifiers).size).toBe(stored[i]!.treeSize);
    }
  });
});
