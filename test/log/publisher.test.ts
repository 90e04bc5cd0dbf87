// The publisher on its own, on both engines: it signs a checkpoint of each log that grew (under the
// log's origin, over the integrated root), hands each to delivery with the consistency proof from the
// previous one, quarantines a log whose stored data fails a check, keeps a log the storage cannot serve
// for the next cycle, recovers at start, publishes on its interval and, sharing a database, holds the
// publisher lease.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { logVerifiers, openCheckpoint, signCheckpoint } from '../../src/core/checkpoint.js';
import { CompactRange } from '../../src/core/compact/range.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { createSigner, parseVerifierKey, verifierKeyString } from '../../src/core/note/signed-note.js';
import { verifyConsistency, verifyInclusion } from '../../src/core/proof/verify.js';
import { Integrator } from '../../src/log/integrator.js';
import { Prover } from '../../src/log/prover.js';
import { CYCLE_PAGE, Publisher, PUBLISHER_LEASE } from '../../src/log/publisher.js';
import type { CheckpointUpdate } from '../../src/log/service.js';
import { loadSigningKey, type SigningKey } from '../../src/log/signing-key.js';
import type { LogStorage, StoredEvent } from '../../src/storage/types.js';
import type { TamperableHarness } from '../storage/harnesses.js';
import { InjectedFault, withFaults } from '../support/faulty-storage.js';
import { appendChain, chainedEvents, useEngines } from './engines.js';

const engines = useEngines('chainlog-publisher-unit-');
const KEY_NAME = 'test.chainlog';
const originOf = (app: string) => `${KEY_NAME}/${app}`;

function rootOf(events: readonly StoredEvent[]): Uint8Array {
  const range = CompactRange.new(0);
  for (const e of events) range.append(fromHex(e.hash));
  return range.rootHash();
}

/**
 * `storage`, telling `onCall` each call's method and arguments first; a promise `onCall` returns
 * answers the call instead (an injected failure), otherwise the call goes to the storage.
 */
function watched(storage: LogStorage, onCall: (method: string, args: unknown[]) => Promise<never> | void): LogStorage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => onCall(String(prop), args) ?? (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
}

let keyDir: string;
let otherKeyDir: string;
let key: SigningKey;
beforeAll(() => {
  keyDir = mkdtempSync(join(tmpdir(), 'chainlog-publisher-key-'));
  otherKeyDir = mkdtempSync(join(tmpdir(), 'chainlog-publisher-other-key-'));
  key = loadSigningKey({ dataDir: keyDir });
});
afterAll(() => {
  rmSync(keyDir, { recursive: true, force: true });
  rmSync(otherKeyDir, { recursive: true, force: true });
});

describe.each(engines)('publisher: $name', (engine) => {
  let harness: TamperableHarness;
  const storages: LogStorage[] = [];
  const publishers: Publisher[] = [];

  async function store(): Promise<LogStorage> {
    harness = engine.harness();
    await harness.storage.init();
    storages.push(harness.storage);
    return harness.storage;
  }

  /** Another storage on the database of store()'s, as a second process opens it. */
  async function another(): Promise<LogStorage> {
    const s = await harness.reopen();
    await s.init();
    storages.push(s);
    return s;
  }

  /** A prepared publisher over `storage`, and every update it delivered. */
  async function publisher(
    storage: LogStorage,
    opts: {
      key?: SigningKey;
      intervalMs?: number;
      minGapMs?: number;
      owner?: string;
      writing?: (app: string) => boolean;
      recoverReadAheadEvents?: number;
    } = {},
  ) {
    const signing = opts.key ?? key;
    const verifierKey = verifierKeyString(KEY_NAME, signing.publicKey);
    const delivered: CheckpointUpdate[] = [];
    const p = new Publisher({
      storage,
      prover: new Prover(storage),
      key: signing,
      verifier: parseVerifierKey(verifierKey),
      originOf,
      checkpointIntervalMs: opts.intervalMs ?? 60_000,
      leaseTtlMs: 5000,
      owner: opts.owner ?? 'test-publisher',
      logger: pino({ level: 'silent' }),
      now: Date.now,
      onPublished: (u) => delivered.push(u),
      ...(opts.minGapMs !== undefined && { minGapMs: opts.minGapMs }),
      ...(opts.recoverReadAheadEvents !== undefined && { recoverReadAheadEvents: opts.recoverReadAheadEvents }),
      ...(opts.writing && { writing: opts.writing }),
    });
    publishers.push(p);
    await p.prepare(verifierKey);
    return { publisher: p, delivered };
  }

  afterEach(async () => {
    for (const p of publishers.splice(0)) await p.stop().catch(() => undefined);
    for (const s of storages.splice(0)) await s.close().catch(() => undefined);
    await harness?.cleanup();
  });

  it('signs a checkpoint of each log that grew, under its origin, and delivers it with the consistency proof', async () => {
    const storage = await store();
    const { publisher: p, delivered } = await publisher(storage);
    const a = await appendChain(storage, 'a', 5);
    const b = await appendChain(storage, 'b', 3);
    p.offer([...a, ...b]);
    const first = await p.publishNow();
    expect(first.map((c) => [c.sourceAppId, c.treeSize]).sort()).toEqual([
      ['a', 5],
      ['b', 3],
    ]);
    const verifier = parseVerifierKey(verifierKeyString(KEY_NAME, key.publicKey));
    for (const [app, events] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const cp = (await storage.getCheckpoint(app))!;
      expect(cp.rootHash).toBe(toHex(rootOf(events)));
      const signed = openCheckpoint(cp.note, logVerifiers(verifier, originOf(app)));
      expect(signed).toMatchObject({ origin: originOf(app), size: events.length });
      expect(toHex(signed.rootHash)).toBe(cp.rootHash);
    }
    expect(delivered.map((u) => [u.checkpoint.sourceAppId, u.previous, u.consistencyHashes])).toEqual(
      expect.arrayContaining([
        ['a', null, []],
        ['b', null, []],
      ]),
    );

    const more = await appendChain(storage, 'a', 4);
    p.offer(more);
    expect((await p.publishNow()).map((c) => [c.sourceAppId, c.treeSize])).toEqual([['a', 9]]);
    const update = delivered.at(-1)!;
    expect(update.previous?.treeSize).toBe(5);
    verifyConsistency(5, 9, update.consistencyHashes.map(fromHex), rootOf(a), rootOf([...a, ...more]));
  });

  it('integrates again from a stored integrated size lowered under it, and goes on consistent with its last checkpoint', async () => {
    const storage = await store();
    const { publisher: p, delivered } = await publisher(storage);
    const first = await appendChain(storage, 'a', 8);
    p.grew(first);
    expect((await p.publishNow()).map((c) => c.treeSize)).toEqual([8]);
    // As two raises of the size at once can leave it where the server does not apply them atomically
    // (MongoDB's test server): lower than the tree and the checkpoint stored, which stay.
    await harness.lowerIntegrated('a', 5);
    expect((await storage.getLogHead('a'))?.integratedSize).toBe(5);
    // Meanwhile the stored tree still proves the latest checkpoint's events.
    const proof = await new Prover(storage).inclusion('a', 7, 8);
    verifyInclusion(fromHex(first[7]!.hash), 7, 8, proof, rootOf(first));
    const more = await appendChain(storage, 'a', 4);
    p.grew(more);
    expect((await p.publishNow()).map((c) => c.treeSize)).toEqual([12]);
    const update = delivered.at(-1)!;
    expect(update.previous?.treeSize).toBe(8);
    verifyConsistency(8, 12, update.consistencyHashes.map(fromHex), rootOf(first), rootOf([...first, ...more]));
    expect((await storage.getCheckpoint('a'))?.rootHash).toBe(toHex(rootOf([...first, ...more])));
    expect((await storage.getLogHead('a'))?.integratedSize).toBe(12);
  });

  it('publishes from the latest checkpoint stored when another publisher stored one after its own', async () => {
    const storage = await store();
    const { publisher: a, delivered } = await publisher(storage, { owner: 'a' });
    const { publisher: b, delivered: deliveredByB } = await publisher(storage, { owner: 'b' });
    const first = await appendChain(storage, 'log', 5);
    a.grew(first);
    expect((await a.publishNow()).map((c) => c.treeSize)).toEqual([5]);
    const second = await appendChain(storage, 'log', 3);
    b.grew(second);
    expect((await b.publishNow()).map((c) => c.treeSize)).toEqual([8]);
    // b kept nothing of the log, and found a tree stored: it read the latest checkpoint.
    expect(deliveredByB.at(-1)!.previous?.treeSize).toBe(5);
    // a kept its own checkpoint of 5 as the latest; the tree it finds stored is larger.
    const third = await appendChain(storage, 'log', 2);
    a.grew(third);
    expect((await a.publishNow()).map((c) => c.treeSize)).toEqual([10]);
    const update = delivered.at(-1)!;
    expect(update.previous?.treeSize).toBe(8);
    verifyConsistency(
      8,
      10,
      update.consistencyHashes.map(fromHex),
      rootOf([...first, ...second]),
      rootOf([...first, ...second, ...third]),
    );
    expect((await storage.getCheckpoint('log'))?.rootHash).toBe(toHex(rootOf([...first, ...second, ...third])));
    // Its own checkpoint is the latest again: the next publish goes on from it.
    const fourth = await appendChain(storage, 'log', 1);
    a.grew(fourth);
    expect((await a.publishNow()).map((c) => c.treeSize)).toEqual([11]);
    expect(delivered.at(-1)!.previous?.treeSize).toBe(10);
  });

  it("keeps at most the storage's writeConcurrency logs in flight in one cycle", async () => {
    const real = await store();
    let inFlight = 0;
    let most = 0;
    // The real engine, reporting a write concurrency of 2 and counting the writes in flight at once (an
    // integration carries its log's checkpoint; putCheckpoint stores one on its own).
    const storage = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'writeConcurrency') return 2;
        if (prop === 'putCheckpoint' || prop === 'integrate') {
          const write = (Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>).bind(target);
          return async (...args: unknown[]) => {
            most = Math.max(most, ++inFlight);
            try {
              // A few turns of the event loop: room for the other logs' workers to overlap, if there are any.
              for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
              return await write(...args);
            } finally {
              inFlight--;
            }
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { publisher: p } = await publisher(storage);
    const logs = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const log of logs) p.offer(await appendChain(real, log, 2));
    expect((await p.publishNow()).map((c) => c.sourceAppId).sort()).toEqual(logs);
    expect(most).toBe(2);
  });

  it("reads the heads of a cycle's logs a page at a time, and publishes every log of every page", async () => {
    const real = await store();
    let reading = 0;
    let most = 0;
    const storage = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'getLogHead') {
          return async (app: string) => {
            most = Math.max(most, ++reading);
            try {
              return await target.getLogHead(app);
            } finally {
              reading--;
            }
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { publisher: p } = await publisher(storage);
    // Publishing once first takes the publisher lease and recovers (nothing yet) where processes share a
    // database: the cycle below only publishes.
    expect(await p.publishNow()).toEqual([]);
    const logs = Array.from({ length: CYCLE_PAGE + 20 }, (_, i) => `log-${String(i).padStart(4, '0')}`);
    p.offer(await real.appendEvents(logs.flatMap((log) => chainedEvents(log, 1))));
    const published = await p.publishNow();
    expect(published.map((c) => c.sourceAppId).sort()).toEqual(logs);
    // The first page's heads asked for together (one read on MongoDB), never more than a page.
    expect(most).toBe(CYCLE_PAGE);
    expect((await real.getCheckpoint(logs.at(-1)!))?.treeSize).toBe(1);
  });

  it('publishes nothing, and delivers nothing, when no log grew', async () => {
    const storage = await store();
    const { publisher: p, delivered } = await publisher(storage);
    p.offer(await appendChain(storage, 'a', 2));
    await p.publishNow();
    expect(await p.publishNow()).toEqual([]);
    expect(delivered).toHaveLength(1);
  });

  it('reads back and publishes what another process committed (grew, not offered)', async () => {
    const storage = await store();
    const { publisher: p } = await publisher(storage);
    const events = await appendChain(storage, 'a', 7);
    p.grew(events);
    expect((await p.publishNow()).map((c) => c.treeSize)).toEqual([7]);
    expect((await storage.getCheckpoint('a'))?.rootHash).toBe(toHex(rootOf(events)));
  });

  it('publishes a log up to what was offered while this process is still writing it, and the rest once offered', async () => {
    const storage = await store();
    let writing = false;
    const { publisher: p, delivered } = await publisher(storage, { writing: () => writing });
    await p.publishNow(); // sharing a database: the publisher lease, and the recovery that comes with it
    const offered = await appendChain(storage, 'a', 5);
    p.offer(offered);
    // Stored before its append settled (a MongoDB batch is committed by its claim): not offered yet.
    writing = true;
    const rest = await appendChain(storage, 'a', 3);
    expect((await p.publishNow()).map((c) => c.treeSize)).toEqual([5]);
    expect((await storage.getCheckpoint('a'))?.rootHash).toBe(toHex(rootOf(offered)));
    writing = false;
    p.offer(rest);
    expect((await p.publishNow()).map((c) => c.treeSize)).toEqual([8]);
    const update = delivered.at(-1)!;
    verifyConsistency(5, 8, update.consistencyHashes.map(fromHex), rootOf(offered), rootOf([...offered, ...rest]));
  });

  it('publishes on its interval what it stopped short of when the append it waited for never offers it', async () => {
    const storage = await store();
    let writing = true;
    const { publisher: p, delivered } = await publisher(storage, { intervalMs: 20, writing: () => writing });
    await p.publishNow(); // sharing a database: the publisher lease, and the recovery that comes with it
    await p.start();
    const offered = await appendChain(storage, 'a', 5);
    const rest = await appendChain(storage, 'a', 3);
    p.offer(offered);
    await vi.waitFor(() => expect(delivered.map((u) => u.checkpoint.treeSize)).toEqual([5]), { timeout: 20_000, interval: 10 });
    // The append settles without offering its events (it failed after they were stored): nothing says
    // the log grew, but it was left dirty.
    writing = false;
    await vi.waitFor(() => expect(delivered.map((u) => u.checkpoint.treeSize)).toEqual([5, 8]), {
      timeout: 20_000,
      interval: 10,
    });
    expect((await storage.getCheckpoint('a'))?.rootHash).toBe(toHex(rootOf([...offered, ...rest])));
  });

  it('quarantines a log whose stored events fail a check, and keeps publishing the others', async () => {
    const storage = await store();
    const { publisher: p } = await publisher(storage);
    const bad = await storage.appendEvents(
      chainedEvents('bad', 4, 0, undefined, (e) => {
        if (e.seq === 2) e.hash = 'ab'.repeat(32);
      }),
    );
    const good = await appendChain(storage, 'good', 2);
    p.grew([...bad, ...good]);
    expect((await p.publishNow()).map((c) => c.sourceAppId)).toEqual(['good']);
    expect(p.quarantineOf('bad')).toMatch(/seq 2: stored hash does not match/);
    expect(p.quarantineOf('good')).toBeNull();

    // Quarantined until restart: it grows, and still gets no checkpoint.
    p.grew([...(await storage.appendEvents(chainedEvents('bad', 1, 4, bad.at(-1)!.hash)))]);
    p.grew(await appendChain(storage, 'good', 1));
    expect((await p.publishNow()).map((c) => c.sourceAppId)).toEqual(['good']);
    expect(await storage.getCheckpoint('bad')).toBeNull();
  });

  it('keeps a log the storage cannot serve for the next cycle, names it, and publishes the others', async () => {
    const storage = await store();
    const faulty = withFaults(storage, {
      seed: 2,
      failRate: 1,
      // b's checkpoint write: the integration that carries it, or putCheckpoint where the tree was
      // integrated before (on MongoDB, by the recovery a demand cycle starts with).
      methods: ['integrate', 'putCheckpoint'],
      when: (m, args) =>
        m === 'putCheckpoint'
          ? (args[0] as { sourceAppId: string }).sourceAppId === 'b'
          : args[0] === 'b' && args[4] !== undefined,
    });
    faulty.enabled = false;
    const { publisher: p } = await publisher(faulty.storage);
    p.offer([...(await appendChain(storage, 'a', 2)), ...(await appendChain(storage, 'b', 3))]);
    faulty.enabled = true;
    const err = await p.publishNow().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no checkpoint published for "b"/);
    expect((err as Error).cause).toBeInstanceOf(InjectedFault);
    expect((await storage.getCheckpoint('a'))?.treeSize).toBe(2);
    expect(p.quarantineOf('b')).toBeNull();

    faulty.enabled = false;
    expect((await p.publishNow()).map((c) => [c.sourceAppId, c.treeSize])).toEqual([['b', 3]]);
  });

  it('at start, recovers every log and quarantines one whose latest checkpoint another key signed', async () => {
    const storage = await store();
    const a = await appendChain(storage, 'a', 3);
    const b = await appendChain(storage, 'b', 3);
    const otherKey = loadSigningKey({ dataDir: otherKeyDir });
    const note = signCheckpoint(
      { origin: originOf('b'), size: 3, rootHash: rootOf(b) },
      createSigner(originOf('b'), otherKey.privateKey),
    );
    await storage.putCheckpoint({ sourceAppId: 'b', treeSize: 3, rootHash: toHex(rootOf(b)), note, publishedAt: Date.now() });

    const { publisher: p } = await publisher(storage);
    // Embedded engines recover in prepare; sharing a database, the lease holder recovers in its first cycle.
    const published = await p.publishNow();
    expect(published.map((c) => [c.sourceAppId, c.treeSize])).toEqual([['a', 3]]);
    expect((await storage.getCheckpoint('a'))?.rootHash).toBe(toHex(rootOf(a)));
    expect(p.quarantineOf('b')).toMatch(/latest checkpoint \(size 3\): signature/);
  });

  it('recovers a page of logs with one read of their latest checkpoints, each log alone where that read fails, with the same outcome', async () => {
    const storage = await store();
    const logs = ['l0', 'l1', 'l2', 'l3', 'l4', 'l5'];
    const { publisher: first } = await publisher(storage, { owner: 'first' });
    first.offer(await storage.appendEvents(logs.flatMap((log) => chainedEvents(log, 3))));
    expect(await first.publishNow()).toHaveLength(logs.length);
    await first.stop();
    // l2 grew unpublished (integrated at recovery); l4's latest checkpoint is signed with another key.
    await appendChain(storage, 'l2', 2);
    await appendChain(storage, 'l4', 1);
    await new Integrator(storage).integrate('l4');
    const l4 = await storage.getEventRange('l4', 0, 4, 4);
    const note = signCheckpoint(
      { origin: originOf('l4'), size: 4, rootHash: rootOf(l4) },
      createSigner(originOf('l4'), loadSigningKey({ dataDir: otherKeyDir }).privateKey),
    );
    await storage.putCheckpoint({ sourceAppId: 'l4', treeSize: 4, rootHash: toHex(rootOf(l4)), note, publishedAt: Date.now() });

    for (const together of [true, false]) {
      const calls: string[] = [];
      const counted = watched(storage, (method) => {
        if (method === 'getLatestCheckpoints' || method === 'getCheckpoint') calls.push(method);
        if (method === 'getLatestCheckpoints' && !together)
          return Promise.reject(new InjectedFault('the read of many logs fails'));
      });
      const { publisher: p } = await publisher(counted, { owner: `recovering-${together}` });
      const published = await p.publishNow();
      // The read of the page (then, it failing, one read per log); l2, grown, is published the first
      // time round, and its publish reads its latest checkpoint.
      expect(calls.filter((c) => c === 'getLatestCheckpoints')).toHaveLength(1);
      expect(calls.filter((c) => c === 'getCheckpoint').length).toBe(together ? 1 : logs.length);
      expect(p.quarantineOf('l4')).toMatch(/latest checkpoint \(size 4\)/);
      expect(logs.filter((log) => p.quarantineOf(log) === null)).toEqual(['l0', 'l1', 'l2', 'l3', 'l5']);
      if (together) expect(published.map((c) => [c.sourceAppId, c.treeSize])).toEqual([['l2', 5]]);
      else expect(published).toEqual([]);
      await p.stop();
    }
  });

  it('recovers the logs behind in waves: the events of a wave read together, then its logs integrated', async () => {
    const storage = await store();
    const logs = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
    const events = new Map<string, StoredEvent[]>();
    for (const log of logs) events.set(log, await appendChain(storage, log, 3));
    const calls: Array<[string, string]> = [];
    const counted = watched(storage, (method, args) => {
      if (method === 'getEventRange' || method === 'integrate')
        calls.push([method === 'integrate' ? 'write' : 'read', String(args[0])]);
    });
    // A budget of 7 events: waves of two logs of 3 events, the last log alone.
    const { publisher: p } = await publisher(counted, { recoverReadAheadEvents: 7 });
    const published = await p.publishNow();
    const runs: Array<[string, string[]]> = [];
    for (const [kind, app] of calls) {
      const last = runs.at(-1);
      if (last && last[0] === kind) last[1].push(app);
      else runs.push([kind, [app]]);
    }
    expect(runs.slice(0, 8).map(([kind, apps]) => [kind, apps.toSorted()])).toEqual([
      ['read', ['w0', 'w1']],
      ['write', ['w0', 'w1']],
      ['read', ['w2', 'w3']],
      ['write', ['w2', 'w3']],
      ['read', ['w4', 'w5']],
      ['write', ['w4', 'w5']],
      ['read', ['w6']],
      ['write', ['w6']],
    ]);
    // Read once each: the integrations took what was read ahead.
    expect(calls.filter(([kind]) => kind === 'read')).toHaveLength(logs.length);
    expect(published.map((c) => [c.sourceAppId, c.treeSize]).sort()).toEqual(logs.map((log) => [log, 3]));
    for (const log of logs) expect((await storage.getCheckpoint(log))?.rootHash).toBe(toHex(rootOf(events.get(log)!)));
  });

  it('checks and publishes the logs a recovery integrated from the nodes it held: one tree read per log', async () => {
    const storage = await store();
    const logs = ['h0', 'h1', 'h2', 'h3'];
    const { publisher: first } = await publisher(storage, { owner: 'first' });
    first.offer(await storage.appendEvents(logs.flatMap((log) => chainedEvents(log, 3))));
    expect(await first.publishNow()).toHaveLength(logs.length);
    await first.stop();
    const events = new Map<string, StoredEvent[]>();
    for (const log of logs)
      events.set(log, [...(await storage.getEventRange(log, 0, 3, 3)), ...(await appendChain(storage, log, 6))]);

    const nodeReads: string[] = [];
    const counted = watched(storage, (method, args) => {
      if (method === 'getTreeNodes') nodeReads.push(String(args[0]));
    });
    const { publisher: p, delivered } = await publisher(counted, { owner: 'second' });
    const published = await p.publishNow();
    expect(published.map((c) => [c.sourceAppId, c.treeSize]).sort()).toEqual(logs.map((log) => [log, 9]));
    // Each tree loaded once (its compact range and last leaf); the check of the latest checkpoint (size
    // 3) and the consistency proof from it came from the nodes the recovery held.
    expect(nodeReads.toSorted()).toEqual(logs);
    for (const update of delivered) {
      const all = events.get(update.checkpoint.sourceAppId)!;
      verifyConsistency(3, 9, update.consistencyHashes.map(fromHex), rootOf(all.slice(0, 3)), rootOf(all));
    }
  });

  it('publishes on its interval once started', async () => {
    const storage = await store();
    const { publisher: p, delivered } = await publisher(storage, { intervalMs: 20 });
    await p.start();
    p.offer(await appendChain(storage, 'a', 4));
    await vi.waitFor(() => expect(delivered).not.toHaveLength(0), { timeout: 20_000, interval: 10 });
    expect(delivered.map((u) => [u.checkpoint.sourceAppId, u.checkpoint.treeSize])).toEqual([['a', 4]]);
  });

  it('at stop, publishes what grew since its last checkpoint, whatever the min gap', async () => {
    const storage = await store();
    const { publisher: p, delivered } = await publisher(storage, { minGapMs: 600_000 });
    await p.start();
    p.offer(await appendChain(storage, 'a', 2));
    await vi.waitFor(() => expect(delivered).toHaveLength(1), { timeout: 20_000, interval: 10 });
    // Within the min gap of a's checkpoint: not due for ten minutes.
    p.offer(await appendChain(storage, 'a', 3));
    expect((await storage.getCheckpoint('a'))?.treeSize).toBe(2);
    await p.stop();
    expect((await storage.getCheckpoint('a'))?.treeSize).toBe(5);
    expect(delivered.map((u) => [u.checkpoint.sourceAppId, u.checkpoint.treeSize])).toEqual([
      ['a', 2],
      ['a', 5],
    ]);
  });

  it('at stop, a last publish that fails leaves the events to the next start, which publishes them', async () => {
    const storage = await store();
    const faulty = withFaults(storage, { seed: 3, failRate: 1, methods: ['integrate', 'putCheckpoint'] });
    faulty.enabled = false;
    const { publisher: p } = await publisher(faulty.storage);
    await p.start();
    p.offer(await appendChain(storage, 'a', 4));
    faulty.enabled = true;
    await p.stop();
    expect(faulty.injected.length).toBeGreaterThan(0);
    expect(await storage.getCheckpoint('a')).toBeNull();

    const { publisher: next, delivered } = await publisher(storage, { owner: 'next' });
    await next.start();
    expect(delivered.map((u) => [u.checkpoint.sourceAppId, u.checkpoint.treeSize])).toEqual([['a', 4]]);
  });

  it("at stop, a publisher never started (a mirror's) publishes nothing", async () => {
    const storage = await store();
    const { publisher: p } = await publisher(storage);
    p.offer(await appendChain(storage, 'a', 2));
    await p.stop();
    expect(await storage.getCheckpoint('a')).toBeNull();
  });

  it.runIf(engine.name === 'mongodb')(
    'sharing a database, only the lease holder publishes at stop: not a process without it, nor one that lost it',
    async () => {
      const storage = await store();
      const { publisher: holder } = await publisher(storage, { owner: 'holder' });
      await holder.start();
      const second = await another();
      const { publisher: other } = await publisher(second, { owner: 'other' });
      await other.start();
      expect(other.publishes).toBe(false);
      const events = await appendChain(storage, 'a', 3);
      other.grew(events);
      await other.stop();
      expect(await storage.getCheckpoint('a')).toBeNull();

      // The holder learns at stop that its lease is gone (its renewal is refused): it leaves the log to
      // whoever holds the lease now.
      const third = await another();
      const leases = third.coordination!.leases;
      const lost = new Proxy(third, {
        get(target, prop, receiver) {
          if (prop !== 'coordination') return Reflect.get(target, prop, receiver);
          const renew = () => Promise.resolve(false);
          return {
            ...target.coordination!,
            leases: new Proxy(leases, { get: (l, k, r) => (k === 'renew' ? renew : Reflect.get(l, k, r)) }),
          };
        },
      });
      await holder.stop();
      const { publisher: losing } = await publisher(lost, { owner: 'losing' });
      // Taking the lease, it recovers every log: a's 3 events are published then.
      await losing.start();
      expect(losing.publishes).toBe(true);
      expect(await storage.getCheckpoint('a')).toMatchObject({ treeSize: 3 });
      losing.grew(await appendChain(storage, 'a', 1));
      await losing.stop();
      expect(await storage.getCheckpoint('a')).toMatchObject({ treeSize: 3 });
    },
  );

  it.runIf(engine.name === 'mongodb')(
    'sharing a database, holds the publisher lease while it runs and gives it up at stop',
    async () => {
      const storage = await store();
      const { publisher: p } = await publisher(storage, { owner: 'holder' });
      await p.start();
      const leases = storage.coordination!.leases;
      expect(await leases.tryAcquire(PUBLISHER_LEASE, 'someone-else', 5000)).toBeNull();
      await p.stop();
      expect(await leases.tryAcquire(PUBLISHER_LEASE, 'someone-else', 5000)).toMatchObject({ owner: 'someone-else' });
    },
  );

  it.runIf(engine.name === 'mongodb')(
    'sharing a database, refuses to start with a key other than the one its checkpoints are signed with',
    async () => {
      const storage = await store();
      await publisher(storage);
      const second = await another();
      await expect(publisher(second, { key: loadSigningKey({ dataDir: otherKeyDir }) })).rejects.toThrow(
        /checkpoints are signed with .*same SIGNING_KEY_FILE/,
      );
    },
  );
});
