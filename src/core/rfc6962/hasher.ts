// RFC 9162 §2.1.1 hashing (same as RFC 6962): domain-separated SHA-256 for leaves and interior nodes.
import { sha256, sha256HexOfByteAndText } from '../crypto/primitives.js';

export const HASH_SIZE = 32;

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

// One reused input buffer for interior nodes: hashing is synchronous, so it is never shared mid-use.
const childrenInput = new Uint8Array(1 + 2 * HASH_SIZE);
childrenInput[0] = NODE_PREFIX;

/** SHA-256(0x00 || data). */
export function hashLeaf(data: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + data.length);
  input[0] = LEAF_PREFIX;
  input.set(data, 1);
  return sha256(input);
}

/**
 * SHA-256(0x00 || UTF-8 of before + payload + after) in lowercase hex, without making that string:
 * on Node the three are written as UTF-8 into one reused buffer. The sequencer hashes every event
 * it appends, and a leaf-sized string per event would keep its heap busy. For core/leaf.ts: callers
 * hash events through its entry points.
 */
export function hashLeafTextAround(before: string, payload: string, after: string): string {
  return sha256HexOfByteAndText(LEAF_PREFIX, before, payload, after);
}

/** SHA-256(0x01 || left || right). Both must be HASH_SIZE bytes. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new RangeError(`child hashes must be ${HASH_SIZE} bytes, got ${left.length} and ${right.length}`);
  }
  childrenInput.set(left, 1);
  childrenInput.set(right, 1 + HASH_SIZE);
  return sha256(childrenInput);
}

/** Root of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}
