// C2SP signed notes (c2sp.org/signed-note), Ed25519 only: the envelope of every checkpoint.
import type { KeyObject } from 'node:crypto';
import { fromBase64Strict, toBase64 } from '../base64.js';
import { equalBytes } from '../bytes.js';
import { ed25519RawPublicKey, ed25519Sign, ed25519Verifier, sha256, utf8Encode, type PrivateKey } from '../crypto/primitives.js';
import { toHex } from '../hex.js';

export const ALG_ED25519 = 0x01;
const ED25519_KEY_SIZE = 32;
const ED25519_SIG_SIZE = 64;
const KEY_ID_SIZE = 4;
/** C2SP asks verifiers to accept at least 16; Go's note package stops at 100. */
export const MAX_SIGNATURES = 100;
const SIG_PREFIX = '\u2014 ';

export class NoteError extends Error {
  /**
   * True when the note is well formed but carries no verified signature, or a known key's signature
   * fails (a C2SP witness answers 403 to those, 400 to a malformed note).
   */
  readonly unverified: boolean;
  constructor(message: string, opts: { unverified?: boolean } = {}) {
    super(message);
    this.unverified = opts.unverified ?? false;
    this.name = 'NoteError';
  }
}

export interface NoteSigner {
  name: string;
  keyId: Uint8Array;
  sign(msg: Uint8Array): Uint8Array;
}

export interface NoteVerifier {
  name: string;
  keyId: Uint8Array;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}

export interface NoteSignature {
  name: string;
  keyId: Uint8Array;
}

export interface OpenedNote {
  text: string;
  /** Signatures verified by a known verifier. */
  signatures: NoteSignature[];
  /** Signatures by keys not among the verifiers (C2SP: ignored). */
  unverifiedSignatures: NoteSignature[];
}

// Non-empty; no '+', no whitespace, no control/format characters, no lone surrogates (not UTF-8).
const NAME_RE = /^[^+\s\p{Cc}\p{Cf}\p{Cs}\p{Z}]+$/u;
// Note bytes must be UTF-8 with no ASCII control character but newline.
const BAD_NOTE_CHAR_RE = /[\x00-\x09\x0b-\x1f]|\p{Cs}/u;

export function isValidKeyName(name: string): boolean {
  return NAME_RE.test(name);
}

function checkName(name: string): void {
  if (!isValidKeyName(name)) throw new NoteError(`invalid key name ${JSON.stringify(name)}`);
}

function utf8(s: string): Uint8Array {
  return utf8Encode(s);
}

/** SHA-256(name || 0x0A || 0x01 || publicKey)[:4]. */
export function keyId(name: string, publicKey: Uint8Array): Uint8Array {
  const nameBytes = utf8(name);
  const input = new Uint8Array(nameBytes.length + 2 + publicKey.length);
  input.set(nameBytes, 0);
  input.set([0x0a, ALG_ED25519], nameBytes.length);
  input.set(publicKey, nameBytes.length + 2);
  return sha256(input).slice(0, KEY_ID_SIZE);
}

/** The raw 32-byte public key of an Ed25519 private or public KeyObject. */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const raw = ed25519RawPublicKey(key);
  if (raw === null) throw new NoteError(`key is ${key.asymmetricKeyType ?? key.type}, want ed25519`);
  return raw;
}

export function createSigner(name: string, privateKey: PrivateKey): NoteSigner {
  checkName(name);
  if (privateKey.type !== 'private') throw new NoteError('signer needs a private key');
  const id = keyId(name, rawPublicKey(privateKey));
  return { name, keyId: id, sign: (msg) => ed25519Sign(privateKey, msg) };
}

export function createVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  checkName(name);
  if (publicKey.length !== ED25519_KEY_SIZE) throw new NoteError(`Ed25519 public key has ${publicKey.length} bytes`);
  const verify = ed25519Verifier(publicKey);
  return {
    name,
    keyId: keyId(name, publicKey),
    publicKey: new Uint8Array(publicKey),
    verify: (msg, sig) => sig.length === ED25519_SIG_SIZE && verify(msg, sig),
  };
}

/** `<name>+<key id hex>+<base64(0x01 || publicKey)>`, as Go's note.NewVerifier accepts. */
export function verifierKeyString(name: string, publicKey: Uint8Array): string {
  checkName(name);
  if (publicKey.length !== ED25519_KEY_SIZE) throw new NoteError(`Ed25519 public key has ${publicKey.length} bytes`);
  const encoded = new Uint8Array(1 + ED25519_KEY_SIZE);
  encoded[0] = ALG_ED25519;
  encoded.set(publicKey, 1);
  return `${name}+${toHex(keyId(name, publicKey))}+${toBase64(encoded)}`;
}

/** Parses a verifier key string; throws NoteError on any deviation (name, hex id, base64, algorithm, length, id). */
export function parseVerifierKey(s: string): NoteVerifier {
  const plus1 = s.indexOf('+');
  const plus2 = plus1 < 0 ? -1 : s.indexOf('+', plus1 + 1);
  if (plus2 < 0) throw new NoteError('malformed verifier key');
  const name = s.slice(0, plus1);
  const idHex = s.slice(plus1 + 1, plus2);
  const key = fromBase64Strict(s.slice(plus2 + 1)); // base64 itself may contain '+'
  checkName(name);
  if (!/^[0-9a-f]{8}$/.test(idHex) || key === null) throw new NoteError('malformed verifier key');
  if (key[0] !== ALG_ED25519) throw new NoteError(`unknown verifier algorithm ${key[0]}`);
  if (key.length !== 1 + ED25519_KEY_SIZE) throw new NoteError('malformed verifier key: wrong key length');
  const verifier = createVerifier(name, key.subarray(1));
  if (toHex(verifier.keyId) !== idHex) throw new NoteError('verifier key id does not match the key');
  return verifier;
}

/** Signs `text` (which must end in "\n") with every signer, giving the signed note. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  if (!text.endsWith('\n')) throw new NoteError('note text must end in a newline');
  if (BAD_NOTE_CHAR_RE.test(text)) throw new NoteError('note text has a control character or invalid UTF-8');
  if (signers.length === 0) throw new NoteError('a note needs at least one signer');
  const msg = utf8(text);
  let lines = '';
  for (const s of signers) {
    checkName(s.name);
    if (s.keyId.length !== KEY_ID_SIZE) throw new NoteError('signer key id must be 4 bytes');
    const sig = s.sign(msg);
    const blob = new Uint8Array(KEY_ID_SIZE + sig.length);
    blob.set(s.keyId, 0);
    blob.set(sig, KEY_ID_SIZE);
    lines += `${SIG_PREFIX}${s.name} ${toBase64(blob)}\n`;
  }
  return `${text}\n${lines}`;
}

/**
 * Parses a signed note and checks its signatures against `verifiers`. Signatures by unknown keys are
 * ignored; a known key whose signature fails, a malformed note, or no verified signature throws NoteError.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  if (BAD_NOTE_CHAR_RE.test(note)) throw new NoteError('malformed note: control character or invalid UTF-8');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('malformed note: no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) throw new NoteError('malformed note: bad signature block');

  const msg = utf8(text);
  const signatures: NoteSignature[] = [];
  const unverifiedSignatures: NoteSignature[] = [];
  const seen = new Set<string>();
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError('malformed note: too many signatures');
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteError('malformed note: bad signature line');
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const blob = space < 0 ? null : fromBase64Strict(rest.slice(space + 1));
    if (!isValidKeyName(name) || blob === null || blob.length <= KEY_ID_SIZE) {
      throw new NoteError('malformed note: bad signature line');
    }
    const id = blob.subarray(0, KEY_ID_SIZE);
    const sig = blob.subarray(KEY_ID_SIZE);
    const matches = verifiers.filter((v) => v.name === name && equalBytes(v.keyId, id));
    if (matches.length > 1) throw new NoteError(`ambiguous key ${name}+${toHex(id)}`);
    const verifier = matches[0];
    const key = `${name}+${toHex(id)}`;
    if (verifier === undefined) {
      unverifiedSignatures.push({ name, keyId: new Uint8Array(id) });
      continue;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    if (!verifier.verify(msg, sig)) throw new NoteError(`invalid signature for key ${key}`, { unverified: true });
    signatures.push({ name, keyId: new Uint8Array(id) });
  }
  if (signatures.length === 0) throw new NoteError('note has no verifiable signatures', { unverified: true });
  return { text, signatures, unverifiedSignatures };
}
