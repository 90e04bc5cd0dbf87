// C2SP tlog-cosignature (c2sp.org/tlog-cosignature), the Ed25519 type "cosignature/v1": a witness's note
// signature over "cosignature/v1\ntime <ts>\n" || checkpoint body, carried as
// base64(key id (4) || u64 big-endian timestamp || Ed25519 signature (64)), under a key id of its own
// (signature type 0x04), so a witness key never verifies as a plain note key and vice versa.
import type { KeyObject } from 'node:crypto';
import { fromBase64Strict, toBase64 } from '../base64.js';
import { equalBytes } from '../bytes.js';
import { ed25519Sign, sha256, utf8Decode, utf8Encode } from '../crypto/primitives.js';
import { toHex } from '../hex.js';
import { createVerifier, isValidKeyName, NoteError, rawPublicKey, type NoteVerifier } from '../note/signed-note.js';

/** The vkey signature type of Ed25519 cosignature/v1 keys. */
export const ALG_COSIGNATURE_V1 = 0x04;
const ED25519_KEY_SIZE = 32;
const ED25519_SIG_SIZE = 64;
const KEY_ID_SIZE = 4;
const TIMESTAMP_SIZE = 8;
/** tlog-cosignature: a timestamp never exceeds 2^63 - 1; ours are seconds, far below 2^53. */
const MAX_TIMESTAMP = Number.MAX_SAFE_INTEGER;
const SIG_PREFIX = '\u2014 ';

export class CosignatureError extends Error {
  override name = 'CosignatureError';
}

function checkName(name: string): void {
  if (!isValidKeyName(name)) throw new CosignatureError(`invalid key name ${JSON.stringify(name)}`);
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP) {
    throw new CosignatureError(`invalid cosignature timestamp ${timestamp}`);
  }
}

/** SHA-256(name || 0x0A || 0x04 || publicKey)[:4]. */
export function cosignatureKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  const nameBytes = utf8Encode(name);
  const input = new Uint8Array(nameBytes.length + 2 + publicKey.length);
  input.set(nameBytes, 0);
  input.set([0x0a, ALG_COSIGNATURE_V1], nameBytes.length);
  input.set(publicKey, nameBytes.length + 2);
  return sha256(input).slice(0, KEY_ID_SIZE);
}

/** The signed message: "cosignature/v1\ntime <timestamp>\n" followed by the whole checkpoint body. */
export function cosignatureMessage(checkpointBody: string, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  if (!checkpointBody.endsWith('\n')) throw new CosignatureError('checkpoint body must end in a newline');
  return utf8Encode(`cosignature/v1\ntime ${timestamp}\n${checkpointBody}`);
}

/** `<name>+<key id hex>+<base64(0x04 || publicKey)>`. */
export function witnessVerifierKeyString(name: string, publicKey: Uint8Array): string {
  checkName(name);
  if (publicKey.length !== ED25519_KEY_SIZE) throw new CosignatureError(`Ed25519 public key has ${publicKey.length} bytes`);
  const encoded = new Uint8Array(1 + ED25519_KEY_SIZE);
  encoded[0] = ALG_COSIGNATURE_V1;
  encoded.set(publicKey, 1);
  return `${name}+${toHex(cosignatureKeyId(name, publicKey))}+${toBase64(encoded)}`;
}

export interface Cosignature {
  name: string;
  keyId: Uint8Array;
  timestamp: number;
}

/**
 * A note verifier of cosignature/v1 signatures: openNote() checks a cosigned checkpoint with it next to
 * the log's verifiers (the message it verifies is the note text, the checkpoint body).
 */
export interface CosignatureVerifier extends NoteVerifier {
  /** The timestamp a well-formed cosignature carries (null when its length is wrong). */
  timestampOf(sig: Uint8Array): number | null;
}

export function createCosignatureVerifier(name: string, publicKey: Uint8Array): CosignatureVerifier {
  checkName(name);
  if (publicKey.length !== ED25519_KEY_SIZE) throw new CosignatureError(`Ed25519 public key has ${publicKey.length} bytes`);
  // The plain verifier supplies the key object; its key id (type 0x01) is replaced by the cosignature one.
  const plain = createVerifier(name, publicKey);
  const timestampOf = (sig: Uint8Array): number | null => {
    if (sig.length !== TIMESTAMP_SIZE + ED25519_SIG_SIZE) return null;
    const t = new DataView(sig.buffer, sig.byteOffset, TIMESTAMP_SIZE).getBigUint64(0);
    return t > BigInt(MAX_TIMESTAMP) ? null : Number(t);
  };
  return {
    name,
    keyId: cosignatureKeyId(name, publicKey),
    publicKey: new Uint8Array(publicKey),
    timestampOf,
    verify(msg, sig) {
      const timestamp = timestampOf(sig);
      if (timestamp === null) return false;
      const body = utf8Decode(msg);
      if (!body.endsWith('\n')) return false;
      return plain.verify(cosignatureMessage(body, timestamp), sig.subarray(TIMESTAMP_SIZE));
    },
  };
}

/** Parses a witness vkey (signature type 0x04); throws CosignatureError on any deviation. */
export function parseWitnessVerifierKey(s: string): CosignatureVerifier {
  const plus1 = s.indexOf('+');
  const plus2 = plus1 < 0 ? -1 : s.indexOf('+', plus1 + 1);
  if (plus2 < 0) throw new CosignatureError('malformed witness verifier key');
  const name = s.slice(0, plus1);
  const idHex = s.slice(plus1 + 1, plus2);
  const key = fromBase64Strict(s.slice(plus2 + 1));
  checkName(name);
  if (!/^[0-9a-f]{8}$/.test(idHex) || key === null) throw new CosignatureError('malformed witness verifier key');
  if (key[0] !== ALG_COSIGNATURE_V1)
    throw new CosignatureError(`witness verifier key has signature type ${key[0]}, want ${ALG_COSIGNATURE_V1} (cosignature/v1)`);
  if (key.length !== 1 + ED25519_KEY_SIZE) throw new CosignatureError('malformed witness verifier key: wrong key length');
  const verifier = createCosignatureVerifier(name, key.subarray(1));
  if (toHex(verifier.keyId) !== idHex) throw new CosignatureError('witness verifier key id does not match the key');
  return verifier;
}

export interface Cosigner {
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
  verifierKey: string;
  /** The note signature line (with its newline) cosigning `checkpointBody` at `timestamp` (POSIX seconds, > 0). */
  cosign(checkpointBody: string, timestamp: number): string;
}

export function createCosigner(name: string, privateKey: KeyObject): Cosigner {
  checkName(name);
  if (privateKey.type !== 'private') throw new NoteError('a cosigner needs a private key');
  const publicKey = rawPublicKey(privateKey);
  const keyId = cosignatureKeyId(name, publicKey);
  return {
    name,
    keyId,
    publicKey,
    verifierKey: witnessVerifierKeyString(name, publicKey),
    cosign(checkpointBody, timestamp) {
      // tlog-witness: the cosignature MUST NOT omit the timestamp.
      if (timestamp === 0) throw new CosignatureError('a witness cosignature needs a non-zero timestamp');
      const signature = ed25519Sign(privateKey, cosignatureMessage(checkpointBody, timestamp));
      const blob = Buffer.alloc(KEY_ID_SIZE + TIMESTAMP_SIZE + ED25519_SIG_SIZE);
      blob.set(keyId, 0);
      blob.writeBigUInt64BE(BigInt(timestamp), KEY_ID_SIZE);
      blob.set(signature, KEY_ID_SIZE + TIMESTAMP_SIZE);
      return `${SIG_PREFIX}${name} ${blob.toString('base64')}\n`;
    },
  };
}

/**
 * Verifies one cosignature line over `checkpointBody` by `verifier`; returns what it states, or null
 * when the line is by another key. Throws CosignatureError when it is the verifier's but malformed or
 * invalid.
 */
export function verifyCosignatureLine(line: string, checkpointBody: string, verifier: CosignatureVerifier): Cosignature | null {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  if (!text.startsWith(SIG_PREFIX)) throw new CosignatureError('not a note signature line');
  const rest = text.slice(SIG_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = space < 0 ? rest : rest.slice(0, space);
  const blob = space < 0 ? null : fromBase64Strict(rest.slice(space + 1));
  if (blob === null || blob.length <= KEY_ID_SIZE) throw new CosignatureError('malformed note signature line');
  const id = blob.subarray(0, KEY_ID_SIZE);
  if (name !== verifier.name || !equalBytes(id, verifier.keyId)) return null;
  const sig = blob.subarray(KEY_ID_SIZE);
  const timestamp = verifier.timestampOf(sig);
  if (timestamp === null) throw new CosignatureError('cosignature has the wrong length');
  if (!verifier.verify(utf8Encode(checkpointBody), sig)) throw new CosignatureError(`invalid cosignature by ${name}`);
  return { name, keyId: new Uint8Array(id), timestamp };
}
