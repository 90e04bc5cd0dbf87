// RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) verification, with the edge cases of
// transparency-dev/merkle: index >= size and size1 = 0 are rejected, size1 = size2 needs an empty proof,
// and the proof length must be exactly what the sizes imply.
import { bitLen, onesCount, POW2, shiftRight, trailingZeros, xor } from '../bits.js';
import { equalBytes } from '../bytes.js';
import { HASH_SIZE, hashChildren } from '../rfc6962/hasher.js';

export class ProofError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProofError';
  }
}

function checkSize(name: string, x: number): void {
  if (!Number.isSafeInteger(x) || x < 0) throw new ProofError(`${name} must be a non-negative integer, got ${x}`);
}

function checkHashes(proof: readonly Uint8Array[]): void {
  for (const h of proof) {
    if (h.length !== HASH_SIZE) throw new ProofError(`proof hash has ${h.length} bytes, want ${HASH_SIZE}`);
  }
}

function expectRoot(calculated: Uint8Array, expected: Uint8Array): void {
  if (!equalBytes(calculated, expected)) throw new ProofError('calculated root does not match the expected root');
}

/** Splits the proof for `index` in a tree of `size` where its path leaves the right border: [inner, border] lengths. */
function decomposeInclusion(index: number, size: number): { inner: number; border: number } {
  const inner = bitLen(xor(index, size - 1));
  return { inner, border: onesCount(shiftRight(index, inner)) };
}

/** Hashes up along the path of `index` through inner nodes (siblings on either side). */
function chainInner(seed: Uint8Array, proof: readonly Uint8Array[], index: number): Uint8Array {
  for (let i = 0; i < proof.length; i++) {
    seed = shiftRight(index, i) % 2 === 0 ? hashChildren(seed, proof[i]!) : hashChildren(proof[i]!, seed);
  }
  return seed;
}

/** Like chainInner but keeps only left siblings: the same subtree as it was before the right ones existed. */
function chainInnerRight(seed: Uint8Array, proof: readonly Uint8Array[], index: number): Uint8Array {
  for (let i = 0; i < proof.length; i++) {
    if (shiftRight(index, i) % 2 === 1) seed = hashChildren(proof[i]!, seed);
  }
  return seed;
}

/** Along the right border every sibling is on the left. */
function chainBorderRight(seed: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  for (const h of proof) seed = hashChildren(h, seed);
  return seed;
}

/** The root implied by an inclusion proof of `leafHash` at `index` in a tree of `size`. Throws ProofError. */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkSize('index', index);
  checkSize('size', size);
  if (index >= size) throw new ProofError(`index is beyond size: ${index} >= ${size}`);
  if (leafHash.length !== HASH_SIZE) throw new ProofError(`leaf hash has ${leafHash.length} bytes, want ${HASH_SIZE}`);
  const { inner, border } = decomposeInclusion(index, size);
  if (proof.length !== inner + border) throw new ProofError(`wrong proof size ${proof.length}, want ${inner + border}`);
  checkHashes(proof);
  const res = chainInner(leafHash, proof.slice(0, inner), index);
  return chainBorderRight(res, proof.slice(inner));
}

export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  expectRoot(rootFromInclusionProof(leafHash, index, size, proof), root);
}

/** The root of size2 implied by a consistency proof from (size1, root1). Throws ProofError. */
export function rootFromConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
): Uint8Array {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size2 < size1) throw new ProofError(`size2 (${size2}) < size1 (${size1})`);
  if (size1 === 0) throw new ProofError('consistency proof from the empty tree is meaningless');
  if (size1 === size2) {
    if (proof.length > 0) throw new ProofError('size1 = size2, but the proof is not empty');
    return root1;
  }
  if (proof.length === 0) throw new ProofError('empty proof');
  checkHashes(proof);
  if (root1.length !== HASH_SIZE) throw new ProofError(`old root has ${root1.length} bytes, want ${HASH_SIZE}`);

  const { inner: forkLevel, border } = decomposeInclusion(size1 - 1, size2);
  // The proof starts at the largest perfect subtree ending at size1: the old root itself when size1 is a power of 2.
  const shift = trailingZeros(size1);
  const inner = forkLevel - shift;
  const seedGiven = size1 !== POW2[shift];
  const want = (seedGiven ? 1 : 0) + inner + border;
  if (proof.length !== want) throw new ProofError(`wrong proof size ${proof.length}, want ${want}`);
  const seed = seedGiven ? proof[0]! : root1;
  const path = seedGiven ? proof.slice(1) : proof;
  const mask = shiftRight(size1 - 1, shift);

  if (seedGiven) {
    const old = chainBorderRight(chainInnerRight(seed, path.slice(0, inner), mask), path.slice(inner));
    if (!equalBytes(old, root1)) throw new ProofError('proof does not match the old root');
  }
  return chainBorderRight(chainInner(seed, path.slice(0, inner), mask), path.slice(inner));
}

export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  expectRoot(rootFromConsistencyProof(size1, size2, proof, root1), root2);
}
