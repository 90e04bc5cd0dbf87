// RFC 9162 §2.1.1 hashing (same as RFC 6962): domain-separated SHA-256 for leaves and interior nodes.
import { hash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

// One reused input buffer for interior nodes: hashing is synchronous, so it is never shared mid-use.
const childrenInput = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);
childrenInput[0] = NODE_PREFIX;

/**
 * SHA-256 of `data` as bytes. Tree work hashes one node per leaf, and a 'buffer' digest allocates a
 * new backing store per call: so the digest comes as a 'binary' (latin1: one char per byte) string,
 * copied into a small, heap-allocated array.
 */
function sha256(data: Uint8Array): Uint8Array {
  const digest = hash('sha256', data, 'binary');
  const out = new Uint8Array(HASH_SIZE);
  for (let i = 0; i < HASH_SIZE; i++) out[i] = digest.charCodeAt(i);
  return out;
}

/** SHA-256(0x00 || data). */
export function hashLeaf(data: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + data.length);
  input[0] = LEAF_PREFIX;
  input.set(data, 1);
  return sha256(input);
}

/** Reused by hashLeafTextAround (hashing is synchronous), grown to the largest leaf seen. */
let leafInput = Buffer.allocUnsafe(16 * 1024);

/**
 * SHA-256(0x00 || UTF-8 of before + payload + after) in lowercase hex, without making that string:
 * the three are written as UTF-8 into one reused buffer. A store's writer hashes every event it
 * appends, and a leaf-sized string per event would keep its heap busy. For core/leaf.ts: callers
 * hash events through its entry points.
 */
export function hashLeafTextAround(before: string, payload: string, after: string): string {
  // A UTF-16 code unit takes at most 3 bytes of UTF-8.
  const most = 1 + 3 * (before.length + payload.length + after.length);
  if (leafInput.length < most) leafInput = Buffer.allocUnsafe(Math.max(most, 2 * leafInput.length));
  leafInput[0] = LEAF_PREFIX;
  let n = 1;
  n += leafInput.write(before, n, 'utf8');
  n += leafInput.write(payload, n, 'utf8');
  n += leafInput.write(after, n, 'utf8');
  return hash('sha256', leafInput.subarray(0, n), 'hex');
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
