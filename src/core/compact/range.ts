// Compact ranges (transparency-dev/merkle docs/compact_ranges.md): the minimal list of perfect
// subtrees covering [begin, end), left to right. They merge with neighbours, which is how the tree
// is built incrementally and how range proofs are checked.
import { bitLen, onesCount, POW2, trailingZeros, xor } from '../bits.js';
import { emptyRoot, hashChildren } from '../rfc6962/hasher.js';
import type { NodeId } from './node.js';

export type NodeVisitor = (id: NodeId, hash: Uint8Array) => void;

function checkBounds(begin: number, end: number): void {
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
    throw new RangeError(`invalid range [${begin}, ${end})`);
  }
}

/**
 * Splits [begin, end) into its compact range as two bit masks (Go's compact.Decompose):
 * a 1 bit k in `left` is a node of size 2^k on the left part (read low to high bits, left to right),
 * a 1 bit k in `right` one on the right part (read high to low bits, left to right).
 */
export function decompose(begin: number, end: number): { left: number; right: number } {
  checkBounds(begin, end);
  if (begin === 0) return { left: 0, right: end };
  const beforeBegin = begin - 1;
  // Only levels strictly below where the paths to leaves begin-1 and end diverge belong to the range.
  const split = bitLen(xor(beforeBegin, end)) - 1;
  const below = POW2[split]!;
  return { left: below - 1 - (beforeBegin % below), right: end % below };
}

/** Node ids of the compact range of [begin, end), left to right. */
export function rangeNodes(begin: number, end: number): NodeId[] {
  let { left, right } = decompose(begin, end);
  const ids: NodeId[] = [];
  let pos = begin;
  while (left !== 0) {
    const level = trailingZeros(left);
    const width = POW2[level]!;
    ids.push({ level, index: pos / width });
    pos += width;
    left -= width;
  }
  while (right !== 0) {
    const level = bitLen(right) - 1;
    const width = POW2[level]!;
    ids.push({ level, index: pos / width });
    pos += width;
    right -= width;
  }
  return ids;
}

/** Consecutive nodes of one level: indexes [first, first + count). */
export interface NodeRun {
  level: number;
  first: number;
  count: number;
}

/**
 * The perfect subtrees of level >= 1 that leaves [begin, end) complete when appended to a tree of
 * `begin` leaves: those whose last leaf lies in [begin, end), one run per level from level 1 up (a
 * level with none has no run). They are the nodes CompactRange.append visits above level 0 while it
 * grows the range [0, begin) to [0, end); over consecutive ranges every perfect subtree of level >= 1
 * appears exactly once. About end - begin nodes in all, plus at most one per level.
 */
export function completedNodes(begin: number, end: number): NodeRun[] {
  checkBounds(begin, end);
  const runs: NodeRun[] = [];
  for (let level = 1; POW2[level]! <= end; level++) {
    const width = POW2[level]!;
    // Node i ends at leaf (i + 1) * width - 1: in [begin, end) for i from floor(begin / width) to floor(end / width) - 1.
    const first = Math.floor(begin / width);
    const count = Math.floor(end / width) - first;
    if (count > 0) runs.push({ level, first, count });
  }
  return runs;
}

/** Number of nodes in the compact range of [begin, end). */
export function rangeSize(begin: number, end: number): number {
  const { left, right } = decompose(begin, end);
  return onesCount(left) + onesCount(right);
}

export class CompactRange {
  private constructor(
    readonly begin: number,
    public end: number,
    /** Hashes of rangeNodes(begin, end), left to right. */
    public hashes: Uint8Array[],
  ) {}

  /** The empty range [begin, begin), ready to grow to the right. */
  static new(begin: number): CompactRange {
    checkBounds(begin, begin);
    return new CompactRange(begin, begin, []);
  }

  /** A range from stored node hashes; their count must match rangeSize(begin, end). */
  static from(begin: number, end: number, hashes: readonly Uint8Array[]): CompactRange {
    checkBounds(begin, end);
    const want = rangeSize(begin, end);
    if (hashes.length !== want) {
      throw new RangeError(`compact range [${begin}, ${end}) needs ${want} hashes, got ${hashes.length}`);
    }
    return new CompactRange(begin, end, [...hashes]);
  }

  /** Node ids matching `hashes`. */
  ids(): NodeId[] {
    return rangeNodes(this.begin, this.end);
  }

  /** Appends one leaf hash. `visit` sees the leaf (level 0) and every perfect node it completes. */
  append(leafHash: Uint8Array, visit?: NodeVisitor): void {
    let index = this.end;
    let level = 0;
    let seed = leafHash;
    visit?.({ level: 0, index }, seed);
    // While the seed is a right child whose left sibling lies inside the range, that sibling is our last hash.
    while (index % 2 === 1 && (index - 1) * POW2[level]! >= this.begin) {
      seed = hashChildren(this.popLast(), seed);
      index = (index - 1) / 2;
      level++;
      visit?.({ level, index }, seed);
    }
    this.hashes.push(seed);
    this.end++;
  }

  /** Merges `other` (which must start at this.end) in from the right. `visit` sees every new perfect node. */
  appendRange(other: CompactRange, visit?: NodeVisitor): void {
    if (other.begin !== this.end) {
      throw new RangeError(`ranges are not adjacent: other begins at ${other.begin}, this ends at ${this.end}`);
    }
    if (other.hashes.length === 0) return;
    const first = other.ids()[0]!;
    let { level, index } = first;
    let seed = other.hashes[0]!;
    let next = 1;
    // Grow the seed while its parent stays inside [this.begin, other.end); the sibling it needs is
    // then exactly the last node on the left or the next node on the right.
    for (;;) {
      const width = POW2[level]!;
      if (index % 2 === 1) {
        if ((index - 1) * width < this.begin) break;
        seed = hashChildren(this.popLast(), seed);
      } else {
        if ((index + 2) * width > other.end) break;
        const right = other.hashes[next++];
        if (right === undefined) throw new RangeError('corrupted compact range: missing right node');
        seed = hashChildren(seed, right);
      }
      index = Math.floor(index / 2);
      level++;
      visit?.({ level, index }, seed);
    }
    this.hashes.push(seed, ...other.hashes.slice(next));
    this.end = other.end;
  }

  /** The hashes folded right to left: the tree root when begin = 0; emptyRoot() for an empty range. */
  rootHash(): Uint8Array {
    const n = this.hashes.length;
    if (n === 0) return emptyRoot();
    let root = this.hashes[n - 1]!;
    for (let i = n - 2; i >= 0; i--) root = hashChildren(this.hashes[i]!, root);
    return root;
  }

  clone(): CompactRange {
    return new CompactRange(this.begin, this.end, [...this.hashes]);
  }

  private popLast(): Uint8Array {
    const h = this.hashes.pop();
    if (h === undefined) throw new RangeError('corrupted compact range: missing left node');
    return h;
  }
}
