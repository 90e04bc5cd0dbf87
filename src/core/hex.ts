// Hex is how hashes travel in the API and the leaf (spec/log-format.md): always lowercase out.

const HEX_RE = /^[0-9a-fA-F]*$/;

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Decodes hex (either case). Throws on odd length or any non-hex character; Buffer alone would silently truncate. */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new TypeError(`hex string has odd length ${s.length}`);
  if (!HEX_RE.test(s)) throw new TypeError('hex string has a non-hex character');
  return new Uint8Array(Buffer.from(s, 'hex'));
}
