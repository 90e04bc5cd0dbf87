// Range proofs: the events [start, end) are exactly the leaves at those indexes of the tree of size N.
// The verifier folds the compact range of [0, start), the leaves, and the compact range of [end, N)
// into the root, so the proof is O(log N) hashes whatever end - start.
import { equalBytes } from '../bytes.js';
import { CompactRange, rangeNodes, type NodeVisitor } from '../compact/range.js';
import type { NodeId } from '../compact/node.js';
import { hexDecode } from '../crypto/primitives.js';
import { HASH_SIZE } from '../rfc6962/hasher.js';
import { ProofError } from './verify.js';

function checkBounds(start: number, end: number, size: number): void {
  const ok = [start, end, size].every(Number.isSafeInteger) && start >= 0 && start < end && end <= size;
  if (!ok) throw new RangeError(`invalid range [${start}, ${end}) for tree size ${size}`);
}

/** Nodes to send with the leaves: left = compact range of [0, start), right = compact range of [end, size). */
export function rangeProofNodes(start: number, end: number, size: number): { left: NodeId[]; right: NodeId[] } {
  checkBounds(start, end, size);
  return { left: rangeNodes(0, start), right: rangeNodes(end, size) };
}

/**
 * Throws ProofError unless the leaves [start, end), with the compact ranges `left` of [0, start) and
 * `right` of [end, size), fold into `root`. `visit` sees each leaf and each node the leaves complete on
 * [0, start) (core's completedNodes(start, end) above the leaves), with the hash the fold computes: an
 * auditor compares them with a server's stored nodes. They are seen before the root is checked, so they
 * are the tree's only once verifyRange returns.
 */
export function verifyRange(
  start: number,
  end: number,
  size: number,
  leafHashes: readonly Uint8Array[],
  left: readonly Uint8Array[],
  right: readonly Uint8Array[],
  root: Uint8Array,
  visit?: NodeVisitor,
): void {
  try {
    checkBounds(start, end, size);
  } catch (e) {
    throw new ProofError((e as Error).message);
  }
  if (leafHashes.length !== end - start) {
    throw new ProofError(`got ${leafHashes.length} leaves for range [${start}, ${end})`);
  }
  for (const h of leafHashes) {
    if (h.length !== HASH_SIZE) throw new ProofError(`hash has ${h.length} bytes, want ${HASH_SIZE}`);
  }
  const { tree, tail } = outside(start, end, size, left, right, root);
  for (const h of leafHashes) tree.append(h, visit);
  tree.appendRange(tail);
  if (!equalBytes(tree.rootHash(), root)) throw new ProofError('calculated root does not match the expected root');
}

/** The compact ranges of [0, start) and [end, size) from the proof's nodes, every hash checked for its size. */
function outside(
  start: number,
  end: number,
  size: number,
  left: readonly Uint8Array[],
  right: readonly Uint8Array[],
  root: Uint8Array,
): { tree: CompactRange; tail: CompactRange } {
  for (const h of [...left, ...right]) {
    if (h.length !== HASH_SIZE) throw new ProofError(`hash has ${h.length} bytes, want ${HASH_SIZE}`);
  }
  if (root.length !== HASH_SIZE) throw new ProofError(`root has ${root.length} bytes, want ${HASH_SIZE}`);
  try {
    return { tree: CompactRange.from(0, start, left), tail: CompactRange.from(end, size, right) };
  } catch (e) {
    throw new ProofError((e as Error).message);
  }
}

/**
 * verifyRange with the leaf hashes as they travel, 64 hex characters each (either case, as fromHex reads
 * them): the same answer for the same hashes. All of them are decoded in one call, each leaf a view of
 * that one array (an auditor's page of 1,000 leaves: no decoding call and no array per leaf). Throws
 * ProofError as verifyRange does, and for a leaf hash that is not 64 hex characters.
 */
export function verifyRangeHex(
  start: number,
  end: number,
  size: number,
  leafHashes: readonly string[],
  left: readonly Uint8Array[],
  right: readonly Uint8Array[],
  root: Uint8Array,
  visit?: NodeVisitor,
): void {
  for (const h of leafHashes) {
    if (h.length !== 2 * HASH_SIZE) throw new ProofError(`leaf hash has ${h.length} hex characters, want ${2 * HASH_SIZE}`);
  }
  const bytes = hexDecode(leafHashes.join(''));
  if (bytes === null) throw new ProofError('a leaf hash has a character that is not hex');
  const leaves = new Array<Uint8Array>(leafHashes.length);
  for (let i = 0; i < leaves.length; i++) leaves[i] = bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  verifyRange(start, end, size, leaves, left, right, root, visit);
}
