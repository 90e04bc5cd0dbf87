// The browser's primitives.ts (the dashboard's bundler substitutes it): the same exports on
// @noble/hashes, @noble/curves and the web platform. Verification only: signing stays on the server.
import type { KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

export type PrivateKey = KeyObject;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function sha256HexOfByteAndText(byte: number, a: string, b: string, c: string): string {
  const text = encoder.encode(a + b + c);
  const input = new Uint8Array(1 + text.length);
  input[0] = byte;
  input.set(text, 1);
  return hexEncode(nobleSha256(input));
}

export function sha256HexOfBytesAndText(prefix: Uint8Array, text: string): string {
  const encoded = encoder.encode(text);
  const input = new Uint8Array(prefix.length + encoded.length);
  input.set(prefix, 0);
  input.set(encoded, prefix.length);
  return hexEncode(nobleSha256(input));
}

export function sha256HexOfHexAndText(prefixHex: string, text: string): string {
  return sha256HexOfBytesAndText(hexDecode(prefixHex)!, text);
}

export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

export function utf8Decode(b: Uint8Array): string {
  return decoder.decode(b);
}

export function hexEncode(b: Uint8Array): string {
  let s = '';
  for (const byte of b) s += HEX[byte]!;
  return s;
}

export function hexDecode(s: string): Uint8Array | null {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function base64Encode(b: Uint8Array): string {
  let binary = '';
  for (const byte of b) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function base64Decode(s: string): Uint8Array {
  const binary = atob(s);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** RFC 8032 verification as Node's (OpenSSL's) is: no ZIP-215 leniency. */
export function ed25519Verifier(publicKey: Uint8Array): (msg: Uint8Array, sig: Uint8Array) => boolean {
  const key = new Uint8Array(publicKey);
  return (msg, sig) => {
    try {
      return ed25519.verify(sig, msg, key, { zip215: false });
    } catch {
      return false;
    }
  };
}

export function ed25519Sign(_privateKey: PrivateKey, _msg: Uint8Array): Uint8Array {
  throw new Error('signing is not available in the browser build of the core');
}

export function ed25519RawPublicKey(_key: KeyObject): Uint8Array | null {
  throw new Error('key objects are not available in the browser build of the core');
}
