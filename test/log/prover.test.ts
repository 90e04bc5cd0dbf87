// The prover on its own, on both engines: every proof it reads from the stored tree verifies with the
// core's verifiers against roots built in memory, for sizes at and below the integrated size, and a
// proof the stored tree cannot give (beyond the integrated size) is an error, never a wrong proof.
import { afterEach, describe, expect, it } from 'vitest';
import { CompactRange, completedNodes } from '../../src/core/compact/range.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { verifyConsistency, verifyInclusion, ProofError } from '../../src/core/proof/verify.js';
import { verifyRange } from '../../src/core/proof/range.js';
import { emptyRoot } from '../../src/core/rfc6962/hasher.js';
import { Integrator } from '../../src/log/integrator.js';
import { Prover } from '../../src/log/prover.js';
import { MissingTreeNodeError, type LogStorage, type StoredEvent } from '../../src/storage/types.js';
import type { StorageHarness } from '../storage/contract.js';
import { appendChain, useEngines } from './engines.js';

const engines = useEngines('chainlog-prover-');
const SIZE = 45;

function rootOf(events: readonly StoredEvent[]): Uint8Array {
  const range = CompactRange.new(0);
  for (const e of events) range.append(fromHex(e.hash));
  return range.rootHash();
}

describe.each(engines)('prover: $name', (engine) => {
  let harness: StorageHarness;
  let storage: LogStorage;
  let events: StoredEvent[];
  let prover: Prover;

  async function integratedLog(): Promise<void> {
    harness = engine.harness();
    storage = harness.storage;
    await storage.init();
    events = [...(await appendChain(storage, 'a', 20)), ...(await appendChain(storage, 'a', SIZE - 20))];
    await new Integrator(storage).integrate('a');
    prover = new Prover(storage);
  }

  afterEach(async () => {
    await storage?.close().catch(() => undefined);
    await harness?.cleanup();
  });

  it('gives the root of every size up to the integrated one, and the empty root for 0', async () => {
    await integratedLog();
    expect(toHex(await prover.rootAt('a', 0))).toBe(toHex(emptyRoot()));
    for (let size = 1; size <= SIZE; size++)
      expect(toHex(await prover.rootAt('a', size)), `size ${size}`).toBe(toHex(rootOf(events.slice(0, size))));
  });

  it('gives inclusion proofs that verify, and that fail for another leaf', async () => {
    await integratedLog();
    for (const size of [1, 2, 7, 16, 31, SIZE]) {
      const root = rootOf(events.slice(0, size));
      for (let index = 0; index < size; index++) {
        const proof = await prover.inclusion('a', index, size);
        verifyInclusion(fromHex(events[index]!.hash), index, size, proof, root);
        const other = events[(index + 1) % size]!;
        if (size > 1) expect(() => verifyInclusion(fromHex(other.hash), index, size, proof, root)).toThrow(ProofError);
      }
    }
  });

  it('gives consistency proofs that verify between any two sizes', async () => {
    await integratedLog();
    for (const size2 of [1, 5, 16, 17, SIZE]) {
      for (let size1 = 1; size1 <= size2; size1++) {
        const proof = await prover.consistency('a', size1, size2);
        verifyConsistency(size1, size2, proof, rootOf(events.slice(0, size1)), rootOf(events.slice(0, size2)));
      }
    }
    expect(await prover.consistency('a', 0, SIZE)).toEqual([]);
    expect(await prover.consistency('a', SIZE, SIZE)).toEqual([]);
  });

  it('gives range proofs that verify with the range leaves', async () => {
    await integratedLog();
    for (const [start, end, size] of [
      [0, 1, 1],
      [0, SIZE, SIZE],
      [3, 17, SIZE],
      [16, 32, 40],
      [44, 45, SIZE],
    ] as const) {
      const { left, right } = await prover.range('a', start, end, size);
      const leaves = events.slice(start, end).map((e) => fromHex(e.hash));
      verifyRange(start, end, size, leaves, left, right, rootOf(events.slice(0, size)));
    }
  });

  it('refuses a size beyond the integrated tree instead of answering from missing nodes', async () => {
    await integratedLog();
    await appendChain(storage, 'a', 3); // stored, not integrated
    await expect(prover.rootAt('a', SIZE + 3)).rejects.toThrow();
    await expect(prover.inclusion('a', 0, SIZE + 3)).rejects.toThrow();
    await expect(prover.rootAt('unknown', 1)).rejects.toThrow();
  });

  it('serves the nodes a range completes, each the hash of its leaves', async () => {
    await integratedLog();
    const truth = new Map<string, string>();
    const tree = CompactRange.new(0);
    for (const e of events) tree.append(fromHex(e.hash), (id, h) => truth.set(`${id.level}/${id.index}`, toHex(h)));
    for (const [start, end] of [
      [0, SIZE],
      [3, 11],
      [31, 32],
      [32, 45],
      [44, 45],
    ] as const) {
      const runs = await prover.completed('a', start, end);
      expect(runs.map((r) => [r.level, r.index, r.hashes.length])).toEqual(
        completedNodes(start, end).map((r) => [r.level, r.first, r.count]),
      );
      for (const r of runs)
        r.hashes.forEach((h, i) =>
          expect(h, `[${start}, ${end}) node (${r.level}, ${r.index + i})`).toBe(truth.get(`${r.level}/${r.index + i}`)),
        );
    }
  });

  it('serves a node it does not store as null and the others as stored; an engine error is not a missing node', async () => {
    await integratedLog();
    // Events 45..49 are appended but not integrated: their nodes are not stored.
    await appendChain(storage, 'a', 5);
    const runs = await prover.completed('a', 40, 50);
    const byId = new Map<string, string | null>();
    for (const r of runs) r.hashes.forEach((h, i) => byId.set(`${r.level}/${r.index + i}`, h));
    // (1, 20), (1, 21) and (2, 10) end before 45 and are stored; the others end at 45 or after.
    for (const id of ['1/20', '1/21', '2/10']) expect(byId.get(id), id).toMatch(/^[0-9a-f]{64}$/);
    for (const id of ['1/22', '1/23', '1/24', '2/11', '3/5', '4/2']) expect(byId.get(id), id).toBeNull();
    expect(byId.size).toBe(9);
    await storage.close();
    const err = await prover.completed('a', 40, 45).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(MissingTreeNodeError);
  });
});
