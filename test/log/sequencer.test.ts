// The sequencer's pipeline on an ordered engine (SQLite, writer thread): the next group is handed over
// before the previous one settles, and a failure is recovered from storage without losing an order.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { eventLeafHash, parseSalt, payloadCommitment, ZERO_HASH_HEX } from '../../src/core/leaf.js';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { soleWriter } from '../../src/log/commit-gate.js';
import { PIPELINE_DEPTH, Sequencer } from '../../src/log/sequencer.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import type { LogStorage, NewEvent, StoredEvent } from '../../src/storage/types.js';
import { event } from '../support/pipeline.js';
import { deferred, type Deferred } from '../support/wait.js';

let dir: string | undefined;
let storage: SqliteStorage | undefined;
afterEach(async () => {
  await storage?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  storage = dir = undefined;
});

async function openStorage(): Promise<SqliteStorage> {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-sequencer-'));
  storage = new SqliteStorage({ path: join(dir, 'chainlog.db') });
  await storage.init();
  return storage;
}

/** One signal per numbered occurrence, awaitable before or after it happens. */
function occurrences() {
  const signals: Array<Deferred<void>> = [];
  const signal = (n: number) => (signals[n] ??= deferred());
  return { happened: (n: number) => signal(n).resolve(), nth: (n: number) => signal(n).promise };
}

/**
 * The engine's appends, watched: how many overlapped, `began(n)` resolving once the n-th call has reached
 * the engine, and an optional fault or hold per call.
 */
function watch(
  s: LogStorage,
  behave: (call: number, write: () => Promise<StoredEvent[]>) => Promise<StoredEvent[]> = (_, w) => w(),
) {
  const original = s.appendEvents.bind(s);
  const began = occurrences();
  const seen = { calls: 0, inFlight: 0, most: 0, began: began.nth };
  s.appendEvents = async (events: NewEvent[]) => {
    const call = ++seen.calls;
    seen.inFlight++;
    seen.most = Math.max(seen.most, seen.inFlight);
    began.happened(call);
    try {
      return await behave(call, () => original(events));
    } finally {
      seen.inFlight--;
    }
  };
  return seen;
}

/** `done(n)` resolves once the n-th idempotency-key lookup has answered (a group has been looked up for planning). */
function watchLookups(s: LogStorage) {
  const original = s.findByIdempotencyKeys.bind(s);
  const answered = occurrences();
  let calls = 0;
  s.findByIdempotencyKeys = async (...args: Parameters<LogStorage['findByIdempotencyKeys']>) => {
    const call = ++calls;
    try {
      return await original(...args);
    } finally {
      answered.happened(call);
    }
  };
  return { done: answered.nth };
}

/**
 * A slow engine: each call settles `ms` after it is written. The latency is injected (it is the load the
 * pipeline is tested under), not a wait for something.
 */
const slowSettle = (ms: number) => async (_: number, write: () => Promise<StoredEvent[]>) => {
  const stored = await write();
  await sleep(ms);
  return stored;
};

/** The first call is written at once and settles only when `settle` resolves; the others pass. */
const holdFirst = (settle: Promise<void>) => async (call: number, write: () => Promise<StoredEvent[]>) => {
  const stored = await write();
  if (call === 1) await settle;
  return stored;
};

/** The first call fails ("disk full", nothing written) when `fail` resolves; the others pass. */
const failFirst = (fail: Promise<void>) => async (call: number, write: () => Promise<StoredEvent[]>) => {
  if (call === 1) {
    await fail;
    throw new Error('disk full');
  }
  return write();
};

/** Requests arrive `i` ms apart, so they form many groups rather than one batch (the load's arrival times). */
const spread = (i: number) => sleep(i);

function expectChain(events: StoredEvent[]): void {
  const sorted = [...events].sort((a, b) => a.seq - b.seq);
  sorted.forEach((e, i) => {
    expect(e.seq).toBe(i);
    expect(e.prevHash).toBe(i === 0 ? ZERO_HASH_HEX : sorted[i - 1]!.hash);
    expect(e.hash).toBe(eventLeafHash(e));
  });
}

describe('pipelined sequencing (ordered engine, sole writer)', () => {
  it('hands the next group to the engine before the previous one settles, and keeps one gapless chain', async () => {
    const s = await openStorage();
    const seen = watch(s, slowSettle(20));
    const seq = new Sequencer(s, () => undefined);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => spread(i).then(() => seq.append([event('a'), event('a')]))),
    );
    expect(seen.most).toBe(PIPELINE_DEPTH);
    expectChain(results.flat());
    expect((await s.getLogHead('a'))!.size).toBe(80);
  });

  it('holds one group at a time on an engine that does not promise ordered appends', async () => {
    const s = await openStorage();
    const unordered = Object.create(s, { orderedAppends: { value: false } }) as SqliteStorage;
    const seen = watch(unordered, slowSettle(20));
    const seq = new Sequencer(unordered, () => undefined);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => spread(i).then(() => seq.append([event('a')]))));
    expect(seen.most).toBe(1);
    expectChain(results.flat());
  });

  it('sequences a group again from storage when the group it was planned on fails', async () => {
    const s = await openStorage();
    const fail = deferred();
    const seen = watch(s, failFirst(fail.promise));
    const committed: StoredEvent[] = [];
    const seq = new Sequencer(s, (events) => committed.push(...events));
    const first = seq.append([event('a'), event('a')]);
    await seen.began(1); // the first group is in flight
    const second = seq.append([event('a')]);
    await seen.began(2); // the second, planned on the first group's heads, reached the engine before the first failed
    fail.resolve();
    await expect(first).rejects.toThrow('disk full');
    const [e] = await second;
    // Planned on the failed group's heads (seq 2), refused by the engine, then sequenced afresh.
    expect(seen.calls).toBe(3);
    expect(e!.seq).toBe(0);
    expect(e!.prevHash).toBe(ZERO_HASH_HEX);
    expect(committed.map((c) => c.seq)).toEqual([0]);
    expect((await s.getLogHead('a'))!.size).toBe(1);
  });

  it('sequences every group planned behind a failed one again, however deep the pipeline', async () => {
    const s = await openStorage();
    const fail = deferred();
    const seen = watch(s, failFirst(fail.promise));
    const committed: StoredEvent[] = [];
    const seq = new Sequencer(s, (events) => committed.push(...events));
    const first = seq.append([event('a'), event('a')]);
    await seen.began(1);
    const behind: Array<Promise<StoredEvent[]>> = [];
    for (let n = 2; n <= PIPELINE_DEPTH; n++) {
      behind.push(seq.append([event('a')]));
      await seen.began(n); // each planned on the heads of the groups before it, all in the engine
    }
    fail.resolve();
    await expect(first).rejects.toThrow('disk full');
    const events = (await Promise.all(behind)).flat();
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: PIPELINE_DEPTH - 1 }, (_, i) => i));
    expectChain(events);
    expect(committed.map((c) => c.seq)).toEqual(events.map((e) => e.seq));
    expect((await s.getLogHead('a'))!.size).toBe(PIPELINE_DEPTH - 1);
  });

  it('settles groups in order, each subscriber-visible commit after the one before', async () => {
    const s = await openStorage();
    watch(s, slowSettle(10));
    const order: number[] = [];
    const seq = new Sequencer(s, (events) => order.push(...events.map((e) => e.pos)));
    await Promise.all(Array.from({ length: 30 }, (_, i) => spread(i % 7).then(() => seq.append([event(`app${i % 3}`)]))));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order).toHaveLength(30);
  });

  it('makes a retry whose key is in flight wait for the first attempt, and return its event', async () => {
    const s = await openStorage();
    const write = deferred();
    const seen = watch(s, async (call, w) => {
      if (call === 1) await write.promise; // not in storage until the retry has been planned
      return w();
    });
    const lookups = watchLookups(s);
    const seq = new Sequencer(s, () => undefined);
    const req = event('a', { idempotencyKey: 'k-1' });
    const first = seq.append([req]);
    await seen.began(1); // the first attempt is in flight
    const retry = seq.append([req]);
    await lookups.done(2); // the retry looked for its key in storage, and did not find it
    write.resolve();
    const [x] = await first;
    const [y] = await retry;
    expect(y).toEqual(x);
    expect(seen.calls).toBe(1);
    expect((await s.getLogHead('a'))!.size).toBe(1);
  });

  it('writes a waiting retry itself when the first attempt fails', async () => {
    const s = await openStorage();
    const fail = deferred();
    const seen = watch(s, failFirst(fail.promise));
    const lookups = watchLookups(s);
    const seq = new Sequencer(s, () => undefined);
    const req = event('a', { idempotencyKey: 'k-2' });
    const first = seq.append([req]);
    await seen.began(1); // the first attempt is in flight
    const retry = seq.append([req]);
    await lookups.done(2); // the retry was planned while the first attempt was in flight: it waits
    fail.resolve();
    await expect(first).rejects.toThrow('disk full');
    const [y] = await retry;
    expect(y!.seq).toBe(0);
    expect(y!.idempotencyKey).toBe('k-2');
    expect(seen.calls).toBe(2); // the failed first attempt, then the retry's own write
  });

  it('hands the engine every event linked and hashed, a version 2 one with its salt and commitment', async () => {
    const s = await openStorage();
    const handed: NewEvent[] = [];
    watch(s, async (_, write) => write());
    const original = s.appendEvents.bind(s);
    s.appendEvents = async (events: NewEvent[]) => {
      handed.push(...events.map((e) => ({ ...e })));
      return original(events);
    };
    const seq = new Sequencer(
      s,
      () => undefined,
      Date.now,
      undefined,
      (app) => (app === 'b' ? 2 : 1),
    );
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => spread(i).then(() => seq.append([event('a'), event('b')]))),
    );
    expect(handed).toHaveLength(20);
    for (const e of handed) {
      expect(e.hash).toBe(eventLeafHash(e));
      if (e.sourceAppId === 'a') expect(e.payloadHash).toBeUndefined();
      else expect(e.payloadHash).toBe(payloadCommitment(parseSalt(e.payloadSalt!), canonicalJson(e.payload)));
    }
    expectChain(results.flat().filter((e) => e.sourceAppId === 'a'));
    expectChain(results.flat().filter((e) => e.sourceAppId === 'b'));
  });

  it.each([
    ['pipelined (sole writer)', undefined],
    ['in turns (a commit gate)', { ...soleWriter }],
  ])(
    'tells which logs it is writing: from the hand-over to the engine until the group settles, or fails (%s)',
    async (_, gate) => {
      const s = await openStorage();
      const settle = deferred();
      const fail = deferred();
      const seen = watch(s, async (call, write) => {
        if (call === 2) {
          await fail.promise;
          throw new Error('disk full');
        }
        const stored = await write();
        if (call === 1) await settle.promise;
        return stored;
      });
      const writingAt: boolean[] = [];
      const seq = new Sequencer(s, () => writingAt.push(seq.writing('a')), Date.now, gate);
      expect(seq.writing('a')).toBe(false);
      const first = seq.append([event('a'), event('b')]);
      await seen.began(1);
      // Stored, not settled: its events are not delivered yet.
      expect([seq.writing('a'), seq.writing('b'), seq.writing('c')]).toEqual([true, true, false]);
      settle.resolve();
      await first;
      // Settled before its events are delivered: a publisher they wake finds nothing in flight.
      expect(writingAt).toEqual([false]);
      expect([seq.writing('a'), seq.writing('b')]).toEqual([false, false]);

      const second = seq.append([event('c')]).catch((e: unknown) => e);
      await seen.began(2);
      expect(seq.writing('c')).toBe(true);
      fail.resolve();
      expect(await second).toMatchObject({ message: 'disk full' });
      expect(seq.writing('c')).toBe(false);
    },
  );

  it('checks expectedPrevHash against a head in flight, and against one earlier in the same batch', async () => {
    const s = await openStorage();
    const settle = deferred();
    const seen = watch(s, holdFirst(settle.promise));
    const now = 1_700_000_000_000;
    const seq = new Sequencer(
      s,
      () => undefined,
      () => now,
    );
    const e0 = event('a');
    const first = seq.append([e0, event('b')]);
    await seen.began(1); // the first group is in flight: a's head is not committed
    const hash0 = eventLeafHash({ ...e0, seq: 0, prevHash: ZERO_HASH_HEX, receivedAt: now });
    const e1 = event('a', { expectedPrevHash: hash0 });
    const hash1 = eventLeafHash({ ...e1, seq: 1, prevHash: hash0, receivedAt: now });
    // One batch: e1 on the in-flight head, e2 on e1 (earlier in the same batch), e3 wrong.
    const right = seq.append([e1, event('a', { expectedPrevHash: hash1 })]);
    const wrong = seq.append([event('a', { expectedPrevHash: ZERO_HASH_HEX })]).catch((e: unknown) => e);
    await seen.began(2); // planned on the in-flight head, while the first group is still in flight
    settle.resolve();
    const [a0] = await first;
    const [a1, a2] = await right;
    expect(await wrong).toMatchObject({ code: 'CONFLICT' });
    expect(a0!.hash).toBe(hash0);
    expect(a1!.hash).toBe(hash1);
    expect(a2!.prevHash).toBe(hash1);
    expectChain([a0!, a1!, a2!]);
    expect((await s.getLogHead('a'))!.headHash).toBe(a2!.hash);
  });
  it('on leaf version 2, names an in-flight head by the hash the engine stores (its commitment from the salt drawn here)', async () => {
    const s = await openStorage();
    const settle = deferred();
    const seen = watch(s, holdFirst(settle.promise));
    const seq = new Sequencer(
      s,
      () => undefined,
      Date.now,
      undefined,
      () => 2,
    );
    const e0 = event('a');
    const first = seq.append([e0]);
    await seen.began(1); // a's head is in flight, not committed
    // A wrong expectedPrevHash is refused, naming the head's hash.
    const wrong = (await seq.append([event('a', { expectedPrevHash: ZERO_HASH_HEX })]).catch((e: unknown) => e)) as Error;
    expect(wrong).toMatchObject({ code: 'CONFLICT' });
    const headHash = /\(([0-9a-f]{64})\)/.exec(wrong.message)![1];
    settle.resolve();
    const [a0] = await first;
    expect(a0!.payloadSalt).toMatch(/^[0-9a-f]{64}$/);
    expect(a0!.payloadHash).toBe(payloadCommitment(parseSalt(a0!.payloadSalt!), canonicalJson(e0.payload)));
    expect(a0!.hash).toBe(headHash);
    expect(await s.getEvent('a', 0)).toMatchObject({
      payloadSalt: a0!.payloadSalt,
      payloadHash: a0!.payloadHash,
      hash: headHash,
    });
    // And the next event goes on it.
    const [a1] = await seq.append([event('a', { expectedPrevHash: headHash })]);
    expectChain([a0!, a1!]);
  });
});
