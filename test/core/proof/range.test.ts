import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bitLen } from '../../../src/core/bits.js';
import { coverage } from '../../../src/core/compact/node.js';
import { completedNodes } from '../../../src/core/compact/range.js';
import { ProofError } from '../../../src/core/proof/verify.js';
import { rangeProofNodes, verifyRange, verifyRangeHex } from '../../../src/core/proof/range.js';
import { toHex } from '../../../src/core/hex.js';
import { NaiveTree, testLeaves } from '../naive-tree.js';

const MAX = 140;
const leaves = testLeaves(MAX);
const tree = new NaiveTree(leaves);

function proofFor(start: number, end: number, size: number) {
  const { left, right } = rangeProofNodes(start, end, size);
  return { left: left.map((id) => tree.node(id)), right: right.map((id) => tree.node(id)), leafHashes: leaves.slice(start, end) };
}

describe('range proofs', () => {
  it('verify for every [start, end) of every size up to 24', () => {
    for (let size = 1; size <= 24; size++) {
      for (let start = 0; start < size; start++) {
        for (let end = start + 1; end <= size; end++) {
          const p = proofFor(start, end, size);
          verifyRange(start, end, size, p.leafHashes, p.left, p.right, tree.root(size));
        }
      }
    }
  });

  it('visit the leaves and exactly the nodes they complete, with their true hashes (NaiveTree)', () => {
    for (let size = 1; size <= 40; size++) {
      for (let start = 0; start < size; start += 3) {
        for (const end of [start + 1, Math.min(size, start + 9), size]) {
          const p = proofFor(start, end, size);
          const seen: string[] = [];
          const visit = (id: { level: number; index: number }, h: Uint8Array) => {
            expect(toHex(h)).toBe(toHex(tree.node(id)));
            if (id.level > 0) seen.push(`${id.level}/${id.index}`);
          };
          verifyRange(start, end, size, p.leafHashes, p.left, p.right, tree.root(size), visit);
          const want = completedNodes(start, end).flatMap(({ level, first, count }) =>
            Array.from({ length: count }, (_, i) => `${level}/${first + i}`),
          );
          expect(seen.sort(), `[${start}, ${end}) of ${size}`).toEqual(want.sort());
        }
      }
    }
  });

  it('verify as hex (verifyRangeHex) exactly when they verify as bytes', () => {
    for (let size = 1; size <= 24; size++) {
      for (let start = 0; start < size; start++) {
        for (let end = start + 1; end <= size; end++) {
          const p = proofFor(start, end, size);
          const hex = p.leafHashes.map(toHex);
          verifyRangeHex(start, end, size, hex, p.left, p.right, tree.root(size));
          // Either case, as fromHex reads hashes.
          verifyRangeHex(
            start,
            end,
            size,
            hex.map((h) => h.toUpperCase()),
            p.left,
            p.right,
            tree.root(size),
          );
          expect(() => verifyRangeHex(start, end, size, hex, p.left, p.right, tree.root(size + 1))).toThrow(ProofError);
        }
      }
    }
    const p = proofFor(3, 7, 10);
    const hex = p.leafHashes.map(toHex);
    const root = tree.root(10);
    for (const bad of ['zz'.repeat(32), 'ab'.repeat(31), `${'ab'.repeat(32)}0`, ''])
      expect(() => verifyRangeHex(3, 7, 10, [hex[0]!, bad, hex[2]!, hex[3]!], p.left, p.right, root), bad).toThrow(ProofError);
    // Two leaves whose characters together would be 128 hex characters are still two wrong leaves.
    const shifted = [hex[0]!, hex[1]!.slice(2), `${hex[1]!.slice(0, 2)}${hex[2]!}`, hex[3]!];
    expect(() => verifyRangeHex(3, 7, 10, shifted, p.left, p.right, root)).toThrow(ProofError);
    expect(() => verifyRangeHex(3, 7, 10, hex.slice(1), p.left, p.right, root)).toThrow(ProofError);
    expect(() => verifyRangeHex(3, 3, 10, [], p.left, p.right, root)).toThrow(ProofError);
  });

  it('use only stored (perfect, complete) nodes outside the range', () => {
    for (let size = 1; size <= 40; size++) {
      for (let start = 0; start < size; start++) {
        for (let end = start + 1; end <= size; end++) {
          const { left, right } = rangeProofNodes(start, end, size);
          const outside =
            left.every((id) => coverage(id).end <= start) &&
            right.every((id) => coverage(id).begin >= end && coverage(id).end <= size);
          if (!outside) throw new Error(`[${start}, ${end}) of ${size} uses a node it should not`);
        }
      }
    }
  });

  it('are O(log N) whatever the range length: at most 3·⌈log2 N⌉ hashes', () => {
    const over: string[] = [];
    for (let size = 2; size <= 100; size++) {
      const bound = 3 * bitLen(size - 1);
      for (let start = 0; start < size; start++) {
        for (let end = start + 1; end <= size; end++) {
          const { left, right } = rangeProofNodes(start, end, size);
          if (left.length + right.length > bound) over.push(`[${start}, ${end}) of ${size}`);
        }
      }
    }
    expect(over).toEqual([]);
    // 2·log2 N + 2 is not enough for compact ranges: this range of 127 needs 16 hashes.
    const { left, right } = rangeProofNodes(31, 33, 127);
    expect(left.length + right.length).toBe(16);
    const huge = rangeProofNodes(2 ** 40 + 3, 2 ** 51 - 5, 2 ** 53 - 1);
    expect(huge.left.length + huge.right.length).toBeLessThanOrEqual(3 * 53);
  });

  it('reject bad bounds and wrong counts', () => {
    const p = proofFor(3, 7, 10);
    const root = tree.root(10);
    expect(() => rangeProofNodes(3, 3, 10)).toThrow(RangeError);
    expect(() => rangeProofNodes(3, 11, 10)).toThrow(RangeError);
    expect(() => verifyRange(3, 3, 10, [], p.left, p.right, root)).toThrow(ProofError);
    expect(() => verifyRange(3, 7, 10, p.leafHashes.slice(1), p.left, p.right, root)).toThrow(ProofError);
    expect(() => verifyRange(3, 7, 10, p.leafHashes, p.left.slice(1), p.right, root)).toThrow(ProofError);
    expect(() => verifyRange(3, 7, 10, p.leafHashes, p.left, [...p.right, p.right[0]!], root)).toThrow(ProofError);
    expect(() => verifyRange(3, 7, 10, p.leafHashes, p.left, p.right, root.subarray(1))).toThrow(ProofError);
  });
});

describe('range proofs: any tampering fails (fast-check)', () => {
  const range = fc
    .integer({ min: 1, max: MAX })
    .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 })))
    .chain(([size, start]) => fc.tuple(fc.constant(size), fc.constant(start), fc.integer({ min: start + 1, max: size })));
  const flip = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 7 }));

  function flipped(hs: Uint8Array[], [at, byte, bit]: [number, number, number]): Uint8Array[] {
    const i = at % hs.length;
    return hs.map((h, j) => (j === i ? h.map((b, k) => (k === byte ? b ^ (1 << bit) : b)) : h));
  }

  it('flipping any bit of a left, right or leaf hash', () => {
    fc.assert(
      fc.property(range, flip, fc.constantFrom('left', 'right', 'leafHashes'), ([size, start, end], f, part) => {
        const p = proofFor(start, end, size);
        fc.pre(p[part].length > 0);
        const bad = { ...p, [part]: flipped(p[part], f) };
        expect(() => verifyRange(start, end, size, bad.leafHashes, bad.left, bad.right, tree.root(size))).toThrow(ProofError);
        expect(() => verifyRangeHex(start, end, size, bad.leafHashes.map(toHex), bad.left, bad.right, tree.root(size))).toThrow(
          ProofError,
        );
      }),
    );
  });

  it('swapping two leaves', () => {
    fc.assert(
      fc.property(range, fc.nat(), fc.nat(), ([size, start, end], a, b) => {
        const n = end - start;
        const i = a % n;
        const j = b % n;
        fc.pre(i !== j);
        const p = proofFor(start, end, size);
        const swapped = [...p.leafHashes];
        [swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!];
        expect(() => verifyRange(start, end, size, swapped, p.left, p.right, tree.root(size))).toThrow(ProofError);
      }),
    );
  });

  it('claiming the leaves sit elsewhere, or in a tree of another size', () => {
    fc.assert(
      fc.property(
        range,
        fc.integer({ min: 1, max: MAX }),
        fc.integer({ min: -3, max: 3 }),
        ([size, start, end], otherSize, shift) => {
          const p = proofFor(start, end, size);
          const s2 = start + shift;
          if (shift !== 0 && s2 >= 0 && end + shift <= size) {
            expect(() => verifyRange(s2, end + shift, size, p.leafHashes, p.left, p.right, tree.root(size))).toThrow(ProofError);
          }
          if (otherSize !== size && end <= otherSize) {
            expect(() => verifyRange(start, end, otherSize, p.leafHashes, p.left, p.right, tree.root(otherSize))).toThrow(
              ProofError,
            );
          }
        },
      ),
    );
  });
});
