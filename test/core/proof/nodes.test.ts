import { describe, expect, it } from 'vitest';
import { coverage } from '../../../src/core/compact/node.js';
import type { NodeId } from '../../../src/core/compact/node.js';
import { consistencyNodes, inclusionNodes, rehash } from '../../../src/core/proof/nodes.js';
import type { ProofNodes } from '../../../src/core/proof/nodes.js';
import { verifyConsistency, verifyInclusion } from '../../../src/core/proof/verify.js';
import { hexes, NaiveTree, testLeaves } from '../naive-tree.js';
import vectors from '../vectors/proof-nodes.json' with { type: 'json' };

const MAX = 70;
const leaves = testLeaves(MAX);
const tree = new NaiveTree(leaves);

/** What a server does: fetch each (perfect, stored) node, then rehash the ephemeral one. */
function buildProof(nodes: ProofNodes, size: number): Uint8Array[] {
  for (const id of nodes.ids) expectStorable(id, size);
  return rehash(
    nodes,
    nodes.ids.map((id) => tree.node(id)),
  );
}

function expectStorable(id: NodeId, size: number): void {
  const { end } = coverage(id);
  expect(end, `node ${id.level}/${id.index} is not a complete subtree of size ${size}`).toBeLessThanOrEqual(size);
}

describe('proof node ids match transparency-dev/merkle proof_test.go', () => {
  it('inclusion', () => {
    for (const c of vectors.inclusion) {
      if (c.wantErr) {
        expect(() => inclusionNodes(c.index, c.size), `${c.index}@${c.size}`).toThrow(RangeError);
        continue;
      }
      const got = inclusionNodes(c.index, c.size);
      expect({ ids: got.ids, begin: got.begin, end: got.end }, `${c.index}@${c.size}`).toEqual({
        ids: c.ids,
        begin: c.begin,
        end: c.end,
      });
    }
  });

  it('consistency', () => {
    for (const c of vectors.consistency) {
      if (c.wantErr) {
        expect(() => consistencyNodes(c.size1, c.size2), `${c.size1}->${c.size2}`).toThrow(RangeError);
        continue;
      }
      const got = consistencyNodes(c.size1, c.size2);
      expect({ ids: got.ids, begin: got.begin, end: got.end }, `${c.size1}->${c.size2}`).toEqual({
        ids: c.ids,
        begin: c.begin,
        end: c.end,
      });
    }
  });
});

describe('proofs built from stored nodes equal the RFC 9162 definitions', () => {
  it(`inclusion: every index of every size up to ${MAX}`, () => {
    for (let size = 1; size <= MAX; size++) {
      const root = tree.root(size);
      for (let index = 0; index < size; index++) {
        const nodes = inclusionNodes(index, size);
        const proof = buildProof(nodes, size);
        expect(hexes(proof), `PATH(${index}, D[${size}])`).toEqual(hexes(tree.path(index, 0, size)));
        verifyInclusion(leaves[index]!, index, size, proof, root);
        // The ephemeral node really is the hash its children fold into.
        if (nodes.begin < nodes.end) {
          const { begin, end } = coverage(nodes.ephem);
          expect(proof[nodes.begin]).toEqual(tree.mth(begin, Math.min(end, size)));
        }
      }
    }
  });

  it(`consistency: every pair of sizes up to ${MAX}`, () => {
    for (let size2 = 1; size2 <= MAX; size2++) {
      for (let size1 = 1; size1 <= size2; size1++) {
        const proof = buildProof(consistencyNodes(size1, size2), size2);
        expect(hexes(proof), `PROOF(${size1}, D[${size2}])`).toEqual(hexes(tree.consistency(size1, size2)));
        verifyConsistency(size1, size2, proof, tree.root(size1), tree.root(size2));
      }
    }
  });

  it('need O(log N) node lookups at any scale', () => {
    for (const [index, size] of [
      [0, 2 ** 40],
      [2 ** 39 + 12345, 2 ** 40 + 7],
      [2 ** 52 + 1, 2 ** 53 - 1],
    ] as const) {
      const nodes = inclusionNodes(index, size);
      expect(nodes.ids.length).toBeLessThanOrEqual(2 * 53);
      for (const id of nodes.ids) expect(coverage(id).end).toBeLessThanOrEqual(size);
    }
    const c = consistencyNodes(2 ** 45 - 3, 2 ** 52 + 99);
    for (const id of c.ids) expect(coverage(id).end).toBeLessThanOrEqual(2 ** 52 + 99);
  });

  it('rehash needs one hash per id and leaves its input alone', () => {
    const nodes = inclusionNodes(0, 7);
    expect(() => rehash(nodes, [])).toThrow(RangeError);
    const hashes = nodes.ids.map((id) => tree.node(id));
    const before = hexes(hashes);
    rehash(nodes, hashes);
    expect(hexes(hashes)).toEqual(before);
  });
});
