// Standard base64 (RFC 4648 §4), strict: padding required, no other characters, canonical trailing bits.
// Buffer's decoder is lenient (skips junk, accepts url-safe), which would make signed text malleable.

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** Returns null when `s` is not canonical standard base64. */
export function fromBase64Strict(s: string): Uint8Array | null {
  if (!B64_RE.test(s)) return null;
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') !== s) return null; // non-zero trailing bits
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
