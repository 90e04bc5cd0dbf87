// The integrator on its own, on both engines: it folds stored events into the tree exactly as a tree
// built from their leaf hashes, resumes from what is stored, uses offered hashes instead of reading
// events back, leaves its cached tree as stored when a write fails, and turns damaged events into an
// IntegrityError.
import { afterEach, describe, expect, it } from 'vitest';
import { CompactRange } from '../../src/core/compact/range.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { Integrator, IntegrityError } from '../../src/log/integrator.js';
import { Prover } from '../../src/log/prover.js';
import type { LogStorage, StoredEvent } from '../../src/storage/types.js';
import type { TamperableHarness } from '../storage/harnesses.js';
import { InjectedFault, withFaults } from '../support/faulty-storage.js';
import { appendChain, chainedEvents, useEngines } from './engines.js';

const engines = useEngines('chainlog-integrator-');

/** The root of the tree over these leaf hashes, built in memory. */
function rootOf(events: readonly StoredEvent[]): string {
  const range = CompactRange.new(0);
  for (const e of events) range.append(fromHex(e.hash));
  return toHex(range.rootHash());
}

/** Counts the storage's event reads. */
function countingReads(storage: LogStorage): { reads: number } {
  const seen = { reads: 0 };
  const original = storage.getEventRange.bind(storage);
  storage.getEventRange = (...args) => {
    seen.reads++;
    return original(...args);
  };
  return seen;
}

/** What `fn` gives, and how many times it made `storage` read tree nodes. */
async function nodeReadsDuring<T>(storage: LogStorage, fn: () => Promise<T>): Promise<{ value: T; reads: number }> {
  let reads = 0;
  const getTreeNodes = storage.getTreeNodes.bind(storage);
  storage.getTreeNodes = (...args) => {
    reads++;
    return getTreeNodes(...args);
  };
  try {
    return { value: await fn(), reads };
  } finally {
    storage.getTreeNodes = getTreeNodes;
  }
}

describe.each(engines)('integrator: $name', (engine) => {
  let harness: TamperableHarness;
  const open: LogStorage[] = [];

  async function store(): Promise<LogStorage> {
    harness = engine.harness();
    await harness.storage.init();
    open.push(harness.storage);
    return harness.storage;
  }

  async function reopen(): Promise<LogStorage> {
    const s = await harness.reopen();
    await s.init();
    open.push(s);
    return s;
  }

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => undefined);
    await harness?.cleanup();
  });

  it('gives the root of the tree over the leaf hashes, stores its nodes and raises the integrated size', async () => {
    const storage = await store();
    const events = [...(await appendChain(storage, 'a', 37)), ...(await appendChain(storage, 'a', 64))];
    const integrator = new Integrator(storage);
    const tree = await integrator.integrate('a');
    expect(tree.size).toBe(101);
    expect(toHex(tree.root)).toBe(rootOf(events));
    expect((await storage.getLogHead('a'))?.integratedSize).toBe(101);
    // The stored nodes give every prefix's root, as the prover reads them.
    const prover = new Prover(storage);
    for (const size of [1, 2, 37, 64, 100, 101])
      expect(toHex(await prover.rootAt('a', size))).toBe(rootOf(events.slice(0, size)));
  });

  it('gives the empty tree for a log without events', async () => {
    const storage = await store();
    const tree = await new Integrator(storage).integrate('nothing');
    expect(tree.size).toBe(0);
    expect(toHex(tree.root)).toBe(rootOf([]));
  });

  it('resumes from the stored tree in a new process, reading only the events after it', async () => {
    const storage = await store();
    const first = await appendChain(storage, 'a', 21);
    await new Integrator(storage).integrate('a');
    const more = await appendChain(storage, 'a', 12);
    await storage.close();

    const again = await reopen();
    const seen = countingReads(again);
    const tree = await new Integrator(again).integrate('a');
    expect(tree.size).toBe(33);
    expect(toHex(tree.root)).toBe(rootOf([...first, ...more]));
    expect(seen.reads).toBe(1);
  });

  it('integrates offered events without reading them back, and reads what was not offered', async () => {
    const storage = await store();
    const integrator = new Integrator(storage);
    const seen = countingReads(storage);
    const offered = await appendChain(storage, 'a', 10);
    integrator.offer(offered);
    expect((await integrator.integrate('a')).size).toBe(10);
    expect(seen.reads).toBe(0);

    // Appended by someone else (not offered): read back and checked.
    const other = await appendChain(storage, 'a', 5);
    const tree = await integrator.integrate('a');
    expect(tree.size).toBe(15);
    expect(toHex(tree.root)).toBe(rootOf([...offered, ...other]));
    expect(seen.reads).toBe(1);
  });

  it('stops short of events this process is still writing, sealing what it integrated, and integrates them once offered', async () => {
    const storage = await store();
    let writing = false;
    const integrator = new Integrator(storage, (app) => app === 'a' && writing);
    const seen = countingReads(storage);
    const first = await appendChain(storage, 'a', 10);
    integrator.offer(first);
    // Stored (as a MongoDB batch is by its claim) while its append has not settled: not offered yet.
    writing = true;
    const second = await appendChain(storage, 'a', 6);
    const sealedAt: number[] = [];
    const tree = await integrator.integrate('a', (t) => {
      sealedAt.push(t.size);
      return null;
    });
    expect(tree).toMatchObject({ size: 10, awaitsOffer: true });
    expect(toHex(tree.root)).toBe(rootOf(first));
    expect(sealedAt).toEqual([10]);
    expect((await storage.getLogHead('a'))?.integratedSize).toBe(10);
    // Nothing new offered yet: nothing integrated, nothing read.
    expect(await integrator.integrate('a')).toMatchObject({ size: 10, awaitsOffer: true });
    expect(seen.reads).toBe(0);

    writing = false;
    integrator.offer(second);
    const after = await integrator.integrate('a');
    expect(after).toMatchObject({ size: 16, awaitsOffer: false });
    expect(toHex(after.root)).toBe(rootOf([...first, ...second]));
    expect(seen.reads).toBe(0);
  });

  it('while writing a log, still reads back the events before what it was offered (written elsewhere)', async () => {
    const storage = await store();
    const integrator = new Integrator(storage, () => true);
    const seen = countingReads(storage);
    const other = await appendChain(storage, 'a', 7);
    const own = await appendChain(storage, 'a', 3);
    integrator.offer(own);
    const tree = await integrator.integrate('a');
    expect(tree).toMatchObject({ size: 10, awaitsOffer: false });
    expect(toHex(tree.root)).toBe(rootOf([...other, ...own]));
    expect(seen.reads).toBe(1);
  });

  it('does not take an offered hash that is not one: it reads those events back and integrates what storage holds', async () => {
    const storage = await store();
    const integrator = new Integrator(storage);
    const seen = countingReads(storage);
    // An offered event's hash, damaged: not hex, or not 32 bytes.
    for (const [log, damage] of [
      ['a', () => 'zz'.repeat(32)],
      ['b', (hash: string) => hash.slice(2)],
    ] as const) {
      const events = await appendChain(storage, log, 6);
      const reads = seen.reads;
      integrator.offer(events.map((e, i) => (i === 2 ? { ...e, hash: damage(e.hash) } : e)));
      const tree = await integrator.integrate(log);
      expect(tree).toMatchObject({ size: 6, awaitsOffer: false });
      expect(toHex(tree.root)).toBe(rootOf(events));
      // What was offered before the damaged hash went with it: the events are read from the log's start.
      expect(seen.reads).toBe(reads + 1);
    }
  });

  it('without a writing callback, reads back every event it was not offered', async () => {
    const storage = await store();
    const integrator = new Integrator(storage);
    const seen = countingReads(storage);
    await appendChain(storage, 'a', 4);
    expect(await integrator.integrate('a')).toMatchObject({ size: 4, awaitsOffer: false });
    expect(seen.reads).toBe(1);
  });

  it('hands over the nodes it had in hand: a consistency proof from its start reads nothing, and equals the stored one', async () => {
    const storage = await store();
    const integrator = new Integrator(storage);
    const prover = new Prover(storage);
    for (const [before, added] of [
      [5, 3],
      [8, 9],
      [17, 1],
      [18, 46],
    ] as const) {
      integrator.offer(await appendChain(storage, 'a', before === 5 ? 5 : 0));
      if (before === 5) await integrator.integrate('a');
      integrator.offer(await appendChain(storage, 'a', added));
      const tree = await integrator.integrate('a', () => null);
      expect(tree.size).toBe(before + added);
      const { value: fromHand, reads } = await nodeReadsDuring(storage, () =>
        prover.consistency('a', before, tree.size, tree.known),
      );
      expect(reads).toBe(0);
      expect(fromHand.map(toHex)).toEqual((await prover.consistency('a', before, tree.size)).map(toHex));
      // From an earlier size, what is not in hand is read.
      const older = await prover.consistency('a', 3, tree.size, tree.known);
      expect(older.map(toHex)).toEqual((await prover.consistency('a', 3, tree.size)).map(toHex));
    }
    // Without a seal (nothing to prove, as in a recovery) none is kept.
    integrator.offer(await appendChain(storage, 'a', 3));
    const unsealed = await integrator.integrate('a');
    expect(unsealed.size).toBe(67);
    expect(unsealed.known({ level: 0, index: 66 })).toBeUndefined();
    expect(unsealed.known({ level: 0, index: 0 })).toBeUndefined();
  });

  it('keeps only the nodes a proof from its start can use: across tree shapes the proof reads nothing, and other leaves are not held', async () => {
    const storage = await store();
    const integrator = new Integrator(storage);
    const prover = new Prover(storage);
    let size = 0;
    for (const added of [1, 2, 1, 3, 4, 1, 7, 9, 2, 16, 5, 31, 1, 64, 33]) {
      integrator.offer(await appendChain(storage, 'a', added));
      const tree = await integrator.integrate('a', () => null);
      expect(tree.size).toBe(size + added);
      const { value: fromHand, reads } = await nodeReadsDuring(storage, () =>
        prover.consistency('a', size, tree.size, tree.known),
      );
      expect(reads, `proof ${size} -> ${tree.size}`).toBe(0);
      expect(fromHand.map(toHex)).toEqual((await prover.consistency('a', size, tree.size)).map(toHex));
      if (added >= 31) {
        // A leaf away from both borders (the first added one's right neighbour's neighbour) is not kept.
        expect(tree.known({ level: 0, index: size + 2 })).toBeUndefined();
        expect(tree.known({ level: 0, index: tree.size - 1 })).toBeDefined();
      }
      size = tree.size;
    }
  });

  it("holds a recovery's nodes for the log's next integration: the publish's proof from where the recovery began reads nothing", async () => {
    const storage = await store();
    await appendChain(storage, 'a', 6);
    await new Integrator(storage).integrate('a');
    await appendChain(storage, 'a', 11);
    // A new process: the recovery integrates 6..17 holding its nodes; the publish adds 2 more.
    const again = await reopen();
    const integrator = new Integrator(again);
    const prover = new Prover(again);
    expect((await integrator.integrate('a', undefined, undefined, { hold: true })).size).toBe(17);
    await appendChain(again, 'a', 2);
    const tree = await integrator.integrate('a', () => null);
    expect(tree.size).toBe(19);
    const { value: fromHand, reads } = await nodeReadsDuring(again, () => prover.consistency('a', 6, 19, tree.known));
    expect(reads).toBe(0);
    expect(fromHand.map(toHex)).toEqual((await prover.consistency('a', 6, 19)).map(toHex));
    // Taken once: the next integration holds nothing of it.
    expect((await integrator.integrate('a', () => null)).known({ level: 0, index: 7 })).toBeUndefined();
  });

  it('holds nodes within its budget across logs, and drops what the tree no longer ends at', async () => {
    const storage = await store();
    const integrator = new Integrator(storage, undefined, { heldLeaves: 10 });
    for (const log of ['a', 'b', 'c']) await appendChain(storage, log, 4);
    // a and b (8 leaves) are held; c would pass 10.
    for (const log of ['a', 'b', 'c']) await integrator.integrate(log, undefined, undefined, { hold: true });
    const knownLeaf = async (log: string, index: number) =>
      (await integrator.integrate(log, () => null)).known({ level: 0, index });
    expect(await knownLeaf('a', 3)).toBeDefined();
    expect(await knownLeaf('c', 3)).toBeUndefined();
    // Taking a's freed its share: c is held now. b's tree grew elsewhere: its held nodes are dropped.
    await appendChain(storage, 'c', 1);
    await integrator.integrate('c', undefined, undefined, { hold: true });
    expect(await knownLeaf('c', 4)).toBeDefined();
    await appendChain(storage, 'b', 1);
    await new Integrator(storage).integrate('b');
    expect(await knownLeaf('b', 3)).toBeUndefined();
  });

  it('an integration with hold whose write fails holds nothing and gives its reservation back', async () => {
    const storage = await store();
    await appendChain(storage, 'a', 4);
    await appendChain(storage, 'b', 8);
    const faulty = withFaults(storage, { seed: 4, failRate: 1, methods: ['integrate'], maxFaults: 1 });
    const integrator = new Integrator(faulty.storage, undefined, { heldLeaves: 10 });
    await expect(integrator.integrate('a', undefined, undefined, { hold: true })).rejects.toThrow(InjectedFault);
    // Had a's 4 leaves stayed reserved, b's 8 would pass 10 and not be held.
    await integrator.integrate('b', undefined, undefined, { hold: true });
    expect((await integrator.integrate('b', () => null)).known({ level: 0, index: 7 })).toBeDefined();
    expect((await integrator.integrate('a')).size).toBe(4);
  });

  it('after a failed node write, leaves its tree as stored and integrates on the next call', async () => {
    const storage = await store();
    const events = await appendChain(storage, 'a', 9);
    const faulty = withFaults(storage, { seed: 3, failRate: 1, methods: ['integrate'], maxFaults: 1 });
    const integrator = new Integrator(faulty.storage);
    integrator.offer(events.slice(0, 4));
    await expect(integrator.integrate('a')).rejects.toThrow(InjectedFault);
    expect((await storage.getLogHead('a'))?.integratedSize).toBe(0);
    const tree = await integrator.integrate('a');
    expect(tree.size).toBe(9);
    expect(toHex(tree.root)).toBe(rootOf(events));
  });

  it('throws IntegrityError at the event whose stored hash is not its leaf hash', async () => {
    const storage = await store();
    await storage.appendEvents(
      chainedEvents('a', 6, 0, undefined, (e) => {
        if (e.seq === 4) e.hash = 'ab'.repeat(32);
      }),
    );
    const err = await new Integrator(storage).integrate('a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err).toMatchObject({ sourceAppId: 'a', seq: 4 });
    expect((err as Error).message).toMatch(/stored hash does not match/);
    expect((await storage.getLogHead('a'))?.integratedSize).toBe(0);
  });

  it('throws IntegrityError at the event that does not link to the one before it', async () => {
    const storage = await store();
    await appendChain(storage, 'a', 5);
    // Damaged in the store (which refuses an append that does not link): the leaf hash is right for
    // its fields; only its prevHash names another event.
    expect(await storage.getEvent('a', 3)).not.toBeNull();
    const relinked = chainedEvents('a', 1, 3, 'cd'.repeat(32))[0]!;
    await harness.relinkEvent('a', 3, relinked.prevHash, relinked.hash);
    const err = await new Integrator(storage).integrate('a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err).toMatchObject({ sourceAppId: 'a', seq: 3 });
    expect((err as Error).message).toMatch(/prevHash does not link/);
  });

  it('reads ahead the trees and first events of many logs together; their integrations read nothing more and give the same trees', async () => {
    const storage = await store();
    const logs = ['l0', 'l1', 'l2', 'l3'];
    const before = new Map<string, StoredEvent[]>();
    for (const log of logs) before.set(log, await appendChain(storage, log, 5));
    await Promise.all(logs.map((log) => new Integrator(storage).integrate(log)));
    for (const log of logs) before.get(log)!.push(...(await appendChain(storage, log, 7)));

    const again = await reopen();
    const seen = countingReads(again);
    const heads = await again.listLogHeads(null, 10);
    const integrator = new Integrator(again);
    expect(await integrator.readAhead(heads, 1_000)).toBe(logs.length);
    expect(seen.reads).toBe(logs.length);
    for (const head of heads) {
      const tree = await integrator.integrate(head.sourceAppId, undefined, head);
      expect(tree.size).toBe(12);
      expect(toHex(tree.root)).toBe(rootOf(before.get(head.sourceAppId)!));
    }
    expect(seen.reads).toBe(logs.length);
  });

  it('reads ahead for the logs whose first chunks fit the budget, the first always', async () => {
    const storage = await store();
    for (const log of ['a', 'b', 'c']) await appendChain(storage, log, 4);
    const heads = await storage.listLogHeads(null, 10);
    expect(await new Integrator(storage).readAhead(heads, 8)).toBe(2);
    expect(await new Integrator(storage).readAhead(heads, 1)).toBe(1);
    expect(await new Integrator(storage).readAhead(heads.slice(2), 0)).toBe(1);
  });

  it('checks the events it read ahead as those it reads: a damaged one is an IntegrityError at integration', async () => {
    const storage = await store();
    await storage.appendEvents(
      chainedEvents('a', 6, 0, undefined, (e) => {
        if (e.seq === 4) e.hash = 'ab'.repeat(32);
      }),
    );
    const integrator = new Integrator(storage);
    const heads = await storage.listLogHeads(null, 10);
    expect(await integrator.readAhead(heads, 100)).toBe(1);
    const err = await integrator.integrate('a', undefined, heads[0]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err).toMatchObject({ sourceAppId: 'a', seq: 4 });
  });

  it('a read ahead that fails, or no longer starts where the tree ends, leaves the integration to read its own', async () => {
    const storage = await store();
    const a = await appendChain(storage, 'a', 6);
    const b = await appendChain(storage, 'b', 3);
    const faulty = withFaults(storage, { seed: 6, failRate: 1, methods: ['getEventRange'] });
    const integrator = new Integrator(faulty.storage);
    const heads = await storage.listLogHeads(null, 10);
    expect(await integrator.readAhead(heads, 100)).toBe(2);
    expect(faulty.injected.length).toBe(2);
    faulty.enabled = false;
    const seen = countingReads(storage);
    expect(toHex((await integrator.integrate('a', undefined, heads[0])).root)).toBe(rootOf(a));
    expect(seen.reads).toBe(1);

    // Read ahead from b's integrated size 0; meanwhile another process integrated b and it grew.
    const stale = new Integrator(storage);
    const [, headB] = await storage.listLogHeads(null, 10);
    await stale.readAhead([headB!], 100);
    await new Integrator(storage).integrate('b');
    const more = await appendChain(storage, 'b', 2);
    const reads = seen.reads;
    const tree = await stale.integrate('b');
    expect(tree.size).toBe(5);
    expect(toHex(tree.root)).toBe(rootOf([...b, ...more]));
    expect(seen.reads).toBe(reads + 1);
  });

  it('passes a storage failure on as it is (transient, not an IntegrityError)', async () => {
    const storage = await store();
    await appendChain(storage, 'a', 3);
    const faulty = withFaults(storage, { seed: 5, failRate: 1, methods: ['getEventRange'] });
    const err = await new Integrator(faulty.storage).integrate('a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InjectedFault);
    expect(err).not.toBeInstanceOf(IntegrityError);
  });
});
