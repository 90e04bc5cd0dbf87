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
