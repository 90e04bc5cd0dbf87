// Test oracle: RFC 9162 §2.1 MTH, PATH and PROOF written straight from the RFC's recursive definitions.
import { createHash } from 'node:crypto';
import type { NodeId } from '../../src/core/compact/node.js';

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  // A plain Uint8Array, as the code under test returns (a Buffer is not deep-equal to one).
  return new Uint8Array(h.digest());
}

export function naiveLeafHash(data: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0), data);
}

function naiveChildren(l: Uint8Array, r: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(1), l, r);
}

/** Largest power of two strictly less than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** A tree over fixed leaf hashes, with memoised MTH of any [lo, hi). */
export class NaiveTree {
  private readonly memo = new Map<string, Uint8Array>();
  constructor(readonly leaves: readonly Uint8Array[]) {}

  /** MTH(D[lo:hi]). */
  mth(lo: number, hi: number): Uint8Array {
    const key = `${lo}:${hi}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const n = hi - lo;
    let h: Uint8Array;
    if (n === 0) h = sha256();
    else if (n === 1) h = this.leaves[lo]!;
    else {
      const k = split(n);
      h = naiveChildren(this.mth(lo, lo + k), this.mth(lo + k, hi));
    }
    this.memo.set(key, h);
    return h;
  }

  root(size: number): Uint8Array {
    return this.mth(0, size);
  }

  /** Hash of a perfect node, straight from its leaves. */
  node(id: NodeId): Uint8Array {
    const w = 2 ** id.level;
    return this.mth(id.index * w, (id.index + 1) * w);
  }

  /** PATH(m, D[lo:hi]): the inclusion proof of leaf lo+m. */
  path(m: number, lo: number, hi: number): Uint8Array[] {
    const n = hi - lo;
    if (n <= 1) return [];
    const k = split(n);
    return m < k ? [...this.path(m, lo, lo + k), this.mth(lo + k, hi)] : [...this.path(m - k, lo + k, hi), this.mth(lo, lo + k)];
  }

  /** PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true). */
  consistency(m: number, n: number): Uint8Array[] {
    return this.subproof(m, 0, n, true);
  }

  private subproof(m: number, lo: number, hi: number, b: boolean): Uint8Array[] {
    const n = hi - lo;
    if (m === n) return b ? [] : [this.mth(lo, hi)];
    const k = split(n);
    return m <= k
      ? [...this.subproof(m, lo, lo + k, b), this.mth(lo + k, hi)]
      : [...this.subproof(m - k, lo + k, hi, false), this.mth(lo, lo + k)];
  }
}

/** Leaf hashes of distinct inputs: leaf i's data is the 4 bytes of i. */
export function testLeaves(n: number, offset = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const data = new Uint8Array(4);
    new DataView(data.buffer).setUint32(0, i + offset);
    return naiveLeafHash(data);
  });
}

export function hexes(hs: readonly Uint8Array[]): string[] {
  return hs.map((h) => Buffer.from(h).toString('hex'));
}
