// Hex is how hashes travel in the API and the leaf (docs/log-format.md): always lowercase out.

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * Decodes hex (either case). Throws on odd length or any non-hex character. Buffer stops decoding at
 * the first character that is not hex, so a short result is exactly the sign of one.
 */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new TypeError(`hex string has odd length ${s.length}`);
  const bytes = Buffer.from(s, 'hex');
  if (bytes.length * 2 !== s.length) throw new TypeError('hex string has a non-hex character');
  return new Uint8Array(bytes);
}
