import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../../src/core/hex.js';
import { leafHashHex } from '../../../src/core/leaf.js';

const leafHash = (f: Parameters<typeof leafHashHex>[0]) => fromHex(leafHashHex(f));
import type { LeafFields } from '../../../src/core/leaf.js';
import { CompactRange } from '../../../src/core/compact/range.js';
import {
  ProofError,
  rootFromConsistencyProof,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/core/proof/verify.js';
import { NaiveTree, testLeaves } from '../naive-tree.js';
import consistencyProbes from '../vectors/consistency-probes.json' with { type: 'json' };
import inclusionProbes from '../vectors/inclusion-probes.json' with { type: 'json' };

function outcome(f: () => void): 'ok' | 'error' {
  try {
    f();
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(ProofError);
    return 'error';
  }
}

describe('transparency-dev/merkle golden probes', () => {
  it.each(inclusionProbes.probes.map((p) => [p.source, p] as const))('inclusion %s', (_, p) => {
    const got = outcome(() =>
      verifyInclusion(fromHex(p.leafHash), p.leafIndex, p.treeSize, p.proof.map(fromHex), fromHex(p.root)),
    );
    expect(got, p.desc).toBe(p.wantErr ? 'error' : 'ok');
  });

  it.each(consistencyProbes.probes.map((p) => [p.source, p] as const))('consistency %s', (_, p) => {
    const got = outcome(() => verifyConsistency(p.size1, p.size2, p.proof.map(fromHex), fromHex(p.root1), fromHex(p.root2)));
    expect(got, p.desc).toBe(p.wantErr ? 'error' : 'ok');
  });

  it('cover both outcomes', () => {
    expect(inclusionProbes.probes.filter((p) => !p.wantErr).length).toBeGreaterThan(0);
    expect(consistencyProbes.probes.filter((p) => p.wantErr).length).toBeGreaterThan(50);
  });
});

describe('edge cases (RFC 9162 / transparency-dev semantics)', () => {
  const leaves = testLeaves(8);
  const tree = new NaiveTree(leaves);

  it('rejects index >= size and the empty tree', () => {
    expect(() => rootFromInclusionProof(leaves[0]!, 1, 1, [])).toThrow(ProofError);
    expect(() => rootFromInclusionProof(leaves[0]!, 0, 0, [])).toThrow(ProofError);
  });

  it('rejects proofs of the wrong length either way', () => {
    const proof = tree.path(2, 0, 7);
    expect(() => verifyInclusion(leaves[2]!, 2, 7, proof.slice(1), tree.root(7))).toThrow(/wrong proof size/);
    expect(() => verifyInclusion(leaves[2]!, 2, 7, [...proof, proof[0]!], tree.root(7))).toThrow(/wrong proof size/);
    const c = tree.consistency(3, 7);
    expect(() => verifyConsistency(3, 7, c.slice(0, -1), tree.root(3), tree.root(7))).toThrow(/wrong proof size/);
  });

  it('size1 = size2 needs an empty proof and equal roots', () => {
    verifyConsistency(5, 5, [], tree.root(5), tree.root(5));
    expect(() => verifyConsistency(5, 5, [tree.root(5)], tree.root(5), tree.root(5))).toThrow(ProofError);
    expect(() => verifyConsistency(5, 5, [], tree.root(5), tree.root(4))).toThrow(ProofError);
  });

  it('size1 = 0 is rejected, as is size1 > size2', () => {
    expect(() => verifyConsistency(0, 0, [], tree.root(0), tree.root(0))).toThrow(ProofError);
    expect(() => verifyConsistency(0, 3, [], tree.root(0), tree.root(3))).toThrow(ProofError);
    expect(() => verifyConsistency(4, 3, [], tree.root(4), tree.root(3))).toThrow(ProofError);
  });

  it('a consistency proof that fits the new root but not the old one fails', () => {
    const proof = tree.consistency(3, 7);
    expect(rootFromConsistencyProof(3, 7, proof, tree.root(3))).toEqual(tree.root(7));
    expect(() => rootFromConsistencyProof(3, 7, proof, tree.root(2))).toThrow(/old root/);
  });
});

// Property tests over a fixed tree; any one changed input must make verification fail.
const MAX = 130;
const leaves = testLeaves(MAX);
const tree = new NaiveTree(leaves);
const indexInSize = fc
  .integer({ min: 1, max: MAX })
  .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 })));

function flipByte(proof: Uint8Array[], at: number, byte: number, bit: number): Uint8Array[] {
  return proof.map((h, i) => {
    if (i !== at) return h;
    const copy = new Uint8Array(h);
    copy[byte] = copy[byte]! ^ (1 << bit);
    return copy;
  });
}

describe('inclusion proofs: any tampering fails (fast-check)', () => {
  it('flipping any bit of any proof hash', () => {
    fc.assert(
      fc.property(
        indexInSize,
        fc.nat(),
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 0, max: 7 }),
        ([size, index], at, byte, bit) => {
          const proof = tree.path(index, 0, size);
          fc.pre(proof.length > 0);
          const bad = flipByte(proof, at % proof.length, byte, bit);
          expect(() => verifyInclusion(leaves[index]!, index, size, bad, tree.root(size))).toThrow(ProofError);
        },
      ),
    );
  });

  it('another index', () => {
    fc.assert(
      fc.property(indexInSize, fc.integer({ min: 0, max: MAX }), ([size, index], other) => {
        fc.pre(other !== index);
        expect(() => verifyInclusion(leaves[index]!, other, size, tree.path(index, 0, size), tree.root(size))).toThrow(
          ProofError,
        );
      }),
    );
  });

  it('another size, checked against that size’s root', () => {
    fc.assert(
      fc.property(indexInSize, fc.integer({ min: 1, max: MAX }), ([size, index], other) => {
        fc.pre(other !== size);
        expect(() => verifyInclusion(leaves[index]!, index, other, tree.path(index, 0, size), tree.root(other))).toThrow(
          ProofError,
        );
      }),
    );
  });

  it('another root or another leaf', () => {
    fc.assert(
      fc.property(indexInSize, fc.integer({ min: 0, max: MAX - 1 }), ([size, index], other) => {
        fc.pre(other !== index);
        const proof = tree.path(index, 0, size);
        verifyInclusion(leaves[index]!, index, size, proof, tree.root(size));
        expect(() => verifyInclusion(leaves[other]!, index, size, proof, tree.root(size))).toThrow(ProofError);
        if (other + 1 !== size)
          expect(() => verifyInclusion(leaves[index]!, index, size, proof, tree.root(other + 1))).toThrow(ProofError);
      }),
    );
  });
});

describe('consistency proofs: any tampering fails (fast-check)', () => {
  const sizes = fc
    .integer({ min: 2, max: MAX })
    .chain((size2) => fc.tuple(fc.integer({ min: 1, max: size2 - 1 }), fc.constant(size2)));

  it('flipping any bit of any proof hash', () => {
    fc.assert(
      fc.property(sizes, fc.nat(), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 7 }), ([s1, s2], at, byte, bit) => {
        const proof = tree.consistency(s1, s2);
        verifyConsistency(s1, s2, proof, tree.root(s1), tree.root(s2));
        const bad = flipByte(proof, at % proof.length, byte, bit);
        expect(() => verifyConsistency(s1, s2, bad, tree.root(s1), tree.root(s2))).toThrow(ProofError);
      }),
    );
  });

  it('other sizes with their true roots', () => {
    fc.assert(
      fc.property(sizes, fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: MAX }), ([s1, s2], o1, o2) => {
        fc.pre(o1 <= o2 && (o1 !== s1 || o2 !== s2));
        const proof = tree.consistency(s1, s2);
        expect(() => verifyConsistency(o1, o2, proof, tree.root(o1), tree.root(o2))).toThrow(ProofError);
      }),
    );
  });
});

describe('changing any leaf field breaks inclusion (fast-check)', () => {
  const hexHash = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
  const time = fc.integer({ min: 0, max: 4102444800000 }).map((ms) => new Date(ms).toISOString());
  const payload = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) as fc.Arbitrary<
    LeafFields['payload']
  >;
  const fields: fc.Arbitrary<LeafFields> = fc.record({
    sourceAppId: fc.string({ minLength: 1 }),
    seq: fc.nat(),
    prevHash: hexHash,
    eventType: fc.string(),
    timestamp: time,
    receivedAt: time,
    payload,
  });
  const member = fc.constantFrom<keyof LeafFields>(
    'sourceAppId',
    'seq',
    'prevHash',
    'eventType',
    'timestamp',
    'receivedAt',
    'payload',
  );

  function mutate(f: LeafFields, key: keyof LeafFields, salt: number): LeafFields {
    switch (key) {
      case 'seq':
        return { ...f, seq: f.seq + 1 + salt };
      case 'prevHash':
        return { ...f, prevHash: (f.prevHash[0] === '0' ? '1' : '0') + f.prevHash.slice(1) };
      case 'timestamp':
      case 'receivedAt':
        return { ...f, [key]: new Date(Date.parse(f[key]) + 1 + salt).toISOString() };
      case 'payload':
        return { ...f, payload: { ...f.payload, [`k${salt}`]: f.payload[`k${salt}`] === 1 ? 2 : 1 } };
      default:
        return { ...f, [key]: `${f[key]}x` };
    }
  }

  it('every LeafFields member, payload included', () => {
    const size = 9;
    fc.assert(
      fc.property(fields, member, fc.nat({ max: 1000 }), fc.integer({ min: 0, max: size - 1 }), (f, key, salt, index) => {
        // Put the real leaf at `index` of a small tree, then present the changed leaf with the real proof.
        const hashes = testLeaves(size);
        hashes[index] = leafHash(f);
        const r = CompactRange.new(0);
        for (const h of hashes) r.append(h);
        const t = new NaiveTree(hashes);
        const proof = t.path(index, 0, size);
        verifyInclusion(leafHash(f), index, size, proof, r.rootHash());
        expect(() => verifyInclusion(leafHash(mutate(f, key, salt)), index, size, proof, r.rootHash())).toThrow(ProofError);
      }),
      { numRuns: 200 },
    );
  });
});
