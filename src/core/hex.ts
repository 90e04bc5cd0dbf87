// Hex is how hashes travel in the API and the leaf (docs/log-format.md): always lowercase out.
import { hexDecode, hexEncode } from './crypto/primitives.js';

export function toHex(b: Uint8Array): string {
  return hexEncode(b);
}

/** Decodes hex (either case). Throws on odd length or any non-hex character. */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new TypeError(`hex string has odd length ${s.length}`);
  const bytes = hexDecode(s);
  if (bytes === null) throw new TypeError('hex string has a non-hex character');
  return bytes;
}

/** 1 at the char codes of 0-9 and a-f. */
const LOWER_HEX = new Uint8Array(128);
for (const c of '0123456789abcdef') LOWER_HEX[c.charCodeAt(0)] = 1;

/**
 * Whether `s` is a string of exactly 64 lowercase hex characters (a hash or a salt as they travel):
 * the same answer as /^[0-9a-f]{64}$/.test(s) for a string, false for anything else. A loop over the
 * char codes: a stored row and a served event each have three or four of them, and the regular
 * expression's call cost more than the loop (docs/performance.md, session 31).
 */
export function isHex64(s: unknown): s is string {
  if (typeof s !== 'string' || s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || LOWER_HEX[c] === 0) return false;
  }
  return true;
}
