// Standard base64 (RFC 4648 §4), strict: padding required, no other characters, canonical trailing bits.
// Decoders are lenient (Buffer's skips junk, accepts url-safe), which would make signed text malleable.
import { base64Decode, base64Encode } from './crypto/primitives.js';

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBase64(b: Uint8Array): string {
  return base64Encode(b);
}

/** Returns null when `s` is not canonical standard base64. */
export function fromBase64Strict(s: string): Uint8Array | null {
  if (!B64_RE.test(s)) return null;
  const bytes = base64Decode(s);
  if (base64Encode(bytes) !== s) return null; // non-zero trailing bits
  return bytes;
}
