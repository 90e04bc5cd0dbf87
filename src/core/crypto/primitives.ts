// The byte and crypto primitives of the core, on Node's crypto and Buffer: SHA-256, Ed25519, UTF-8,
// hex and base64. The dashboard's bundler puts primitives.browser.ts (the same exports on
// @noble/hashes, @noble/curves and the web platform) in this module's place, so the core's
// verification runs unchanged in a browser while the server keeps Node's faster native code.
import { createPublicKey, hash, sign, verify, type KeyObject } from 'node:crypto';

/** Only Node signs: the browser build verifies. */
export type PrivateKey = KeyObject;

const HASH_SIZE = 32;
// DER SubjectPublicKeyInfo header for a raw Ed25519 key (RFC 8410).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * SHA-256 of `data`. Tree work hashes one node per leaf, and a 'buffer' digest allocates a new
 * backing store per call: so the digest comes as a 'binary' (latin1: one char per byte) string,
 * copied into a small, heap-allocated array.
 */
export function sha256(data: Uint8Array): Uint8Array {
  const digest = hash('sha256', data, 'binary');
  const out = new Uint8Array(HASH_SIZE);
  for (let i = 0; i < HASH_SIZE; i++) out[i] = digest.charCodeAt(i);
  return out;
}

/** Reused by the text hashes below (hashing is synchronous), grown to the largest input seen. */
let textInput = Buffer.allocUnsafe(16 * 1024);

/**
 * SHA-256(byte || UTF-8 of a + b + c) in lowercase hex, without a Buffer of that text: a byte under 0x80
 * is its own UTF-8 character, so the input is one string that crypto.hash encodes as UTF-8 itself (one
 * native call per leaf, ~0.4 µs less than writing the three into a buffer first, session 30; the
 * sequencer hashes every event it appends, and an auditor every event it reads). Other bytes (none in the
 * tree's domain separation) go through the reused buffer.
 */
export function sha256HexOfByteAndText(byte: number, a: string, b: string, c: string): string {
  if (byte < 0x80) return hash('sha256', String.fromCharCode(byte) + a + b + c, 'hex');
  // A UTF-16 code unit takes at most 3 bytes of UTF-8.
  const most = 1 + 3 * (a.length + b.length + c.length);
  if (textInput.length < most) textInput = Buffer.allocUnsafe(Math.max(most, 2 * textInput.length));
  textInput[0] = byte;
  let n = 1;
  n += textInput.write(a, n, 'utf8');
  n += textInput.write(b, n, 'utf8');
  n += textInput.write(c, n, 'utf8');
  return hash('sha256', textInput.subarray(0, n), 'hex');
}

/**
 * SHA-256(prefix || UTF-8 of text) in lowercase hex, through the same reused buffer (a version 2
 * leaf's payload commitment: the salt, then the payload's canonical text).
 */
export function sha256HexOfBytesAndText(prefix: Uint8Array, text: string): string {
  const most = prefix.length + 3 * text.length;
  if (textInput.length < most) textInput = Buffer.allocUnsafe(Math.max(most, 2 * textInput.length));
  textInput.set(prefix, 0);
  const n = prefix.length + textInput.write(text, prefix.length, 'utf8');
  return hash('sha256', textInput.subarray(0, n), 'hex');
}

/**
 * SHA-256(bytes of `prefixHex` || UTF-8 of text) in lowercase hex: sha256HexOfBytesAndText with the prefix
 * given as hex the caller has checked (even length, hex digits), written straight into the reused buffer
 * (an auditor checks a version 2 payload commitment per event: no salt array per event).
 */
export function sha256HexOfHexAndText(prefixHex: string, text: string): string {
  const most = (prefixHex.length >> 1) + 3 * text.length;
  if (textInput.length < most) textInput = Buffer.allocUnsafe(Math.max(most, 2 * textInput.length));
  const p = textInput.write(prefixHex, 0, 'hex');
  const n = p + textInput.write(text, p, 'utf8');
  return hash('sha256', textInput.subarray(0, n), 'hex');
}

export function utf8Encode(s: string): Uint8Array {
  const b = Buffer.from(s, 'utf8');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function utf8Decode(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

export function hexEncode(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Decodes even-length hex of either case; null on any non-hex character. */
export function hexDecode(s: string): Uint8Array | null {
  // Buffer stops at the first character that is not hex: a short result is exactly the sign of one.
  const bytes = Buffer.from(s, 'hex');
  return bytes.length * 2 === s.length ? new Uint8Array(bytes) : null;
}

export function base64Encode(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** Decodes text the caller has checked to be standard, padded base64. */
export function base64Decode(s: string): Uint8Array {
  const bytes = Buffer.from(s, 'base64');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A verifier of Ed25519 signatures (RFC 8032) by the raw 32-byte `publicKey`. */
export function ed25519Verifier(publicKey: Uint8Array): (msg: Uint8Array, sig: Uint8Array) => boolean {
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return (msg, sig) => verify(null, msg, key, sig);
}

export function ed25519Sign(privateKey: PrivateKey, msg: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, msg, privateKey));
}

/** The raw 32-byte public key of an Ed25519 private or public key; null when the key is not Ed25519. */
export function ed25519RawPublicKey(key: KeyObject): Uint8Array | null {
  if (key.asymmetricKeyType !== 'ed25519') return null;
  // createPublicKey derives from private KeyObjects only; a public one is exported as is.
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const der = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(ED25519_SPKI_PREFIX.length));
}
