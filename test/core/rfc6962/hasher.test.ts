import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../src/core/hex.js';
import { emptyRoot, HASH_SIZE, hashChildren, hashLeaf, hashLeafTextAround } from '../../../src/core/rfc6962/hasher.js';
import tree from '../vectors/rfc6962-tree.json' with { type: 'json' };

describe('RFC 6962 hasher against transparency-dev/merkle testonly vectors', () => {
  it('hashes the example leaves', () => {
    tree.leafInputs.forEach((input, i) => {
      expect(toHex(hashLeaf(fromHex(input)))).toBe(tree.nodeHashes[0]![i]);
    });
  });

  it('hashes every interior node of the example tree', () => {
    for (let level = 1; level < tree.nodeHashes.length; level++) {
      tree.nodeHashes[level]!.forEach((want, i) => {
        const l = fromHex(tree.nodeHashes[level - 1]![2 * i]!);
        const r = fromHex(tree.nodeHashes[level - 1]![2 * i + 1]!);
        expect(toHex(hashChildren(l, r))).toBe(want);
      });
    }
  });

  it('has the empty root and size', () => {
    expect(toHex(emptyRoot())).toBe(tree.emptyRoot);
    expect(HASH_SIZE).toBe(32);
  });

  it('separates leaves from nodes and orders children', () => {
    const a = hashLeaf(Uint8Array.of(1));
    const b = hashLeaf(Uint8Array.of(2));
    expect(toHex(hashChildren(a, b))).not.toBe(toHex(hashChildren(b, a)));
    const concat = new Uint8Array([...a, ...b]);
    expect(toHex(hashLeaf(concat))).not.toBe(toHex(hashChildren(a, b)));
  });

  it('returns fresh results though it reuses its input buffer', () => {
    const a = hashLeaf(Uint8Array.of(1));
    const first = hashChildren(a, a);
    const copy = toHex(first);
    hashChildren(first, first);
    expect(toHex(first)).toBe(copy);
  });

  it('rejects children of the wrong size', () => {
    expect(() => hashChildren(new Uint8Array(31), new Uint8Array(32))).toThrow(RangeError);
  });
});

describe('hashLeafTextAround', () => {
  it('is SHA-256(0x00 || UTF-8 of the three texts joined), whatever their size and characters', () => {
    const reference = (text: string) =>
      createHash('sha256').update(Uint8Array.of(0)).update(Buffer.from(text, 'utf8')).digest('hex');
    const text = fc.string({ unit: 'binary', maxLength: 200 });
    fc.assert(
      fc.property(text, text, text, fc.integer({ min: 0, max: 3 }), (before, payload, after, grow) => {
        // Now and then a payload past the buffer's first size (16 KiB), to make it grow.
        const big = grow === 0 ? payload.repeat(1 + Math.floor(40_000 / (payload.length + 1))) : payload;
        expect(hashLeafTextAround(before, big, after)).toBe(reference(before + big + after));
        expect(hashLeafTextAround(before, big, after)).toBe(toHex(hashLeaf(Buffer.from(before + big + after, 'utf8'))));
      }),
      { numRuns: 500 },
    );
  });
});
