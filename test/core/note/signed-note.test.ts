import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../src/core/hex.js';
import {
  createSigner,
  keyId,
  NoteError,
  openNote,
  parseVerifierKey,
  rawPublicKey,
  signNote,
  verifierKeyString,
} from '../../../src/core/note/signed-note.js';
import type { NoteVerifier } from '../../../src/core/note/signed-note.js';
import { parseGoSignerKey, privateKeyFromSeed } from '../note-keys.js';
import v from '../vectors/signed-notes.json' with { type: 'json' };

const peter = () => parseVerifierKey(v.peterNeumann.verifierKey);
const enoch = () => parseVerifierKey(v.enochRoot.verifierKey);

describe('verifier keys (Go sumdb/note vectors)', () => {
  it('parses the PeterNeumann key with its name and id', () => {
    const p = peter();
    expect(p.name).toBe('PeterNeumann');
    expect(toHex(p.keyId)).toBe(v.peterNeumann.keyIdHex);
    expect(toHex(enoch().keyId)).toBe(v.enochRoot.keyIdHex);
  });

  it('round-trips through verifierKeyString and keyId', () => {
    const { name, key } = parseGoSignerKey(v.peterNeumann.signerKey);
    const pub = rawPublicKey(key);
    expect(toHex(keyId(name, pub))).toBe(v.peterNeumann.keyIdHex);
    expect(verifierKeyString(name, pub)).toBe(v.peterNeumann.verifierKey);
  });

  it('rejects every substring and every one-character change (as Go TestNewVerifier does)', () => {
    const key = v.peterNeumann.verifierKey;
    const accepted: string[] = [];
    const tryKey = (k: string) => {
      try {
        parseVerifierKey(k);
        accepted.push(k);
      } catch (e) {
        expect(e).toBeInstanceOf(NoteError);
      }
    };
    for (let i = 0; i <= key.length; i++)
      for (let j = i + 1; j <= key.length; j++) if (i !== 0 || j !== key.length) tryKey(key.slice(i, j));
    for (let i = 0; i < key.length; i++) tryKey(key.slice(0, i) + String.fromCharCode(key.charCodeAt(i) + 1) + key.slice(i + 1));
    for (const bad of v.badVerifierKeys) tryKey(bad);
    expect(accepted).toEqual([]);
  });

  it('rejects names with plus, spaces, control or invisible characters', () => {
    const pub = new Uint8Array(32).fill(7);
    for (const name of ['', 'a+b', 'a b', 'a\tb', 'a\nb', 'a\u00a0b', 'a\u2028b', 'a\u0000b', 'a\u200bb', '\ud800']) {
      expect(() => verifierKeyString(name, pub), JSON.stringify(name)).toThrow(NoteError);
    }
    expect(parseVerifierKey(verifierKeyString('exämple.com/log-1', pub)).name).toBe('exämple.com/log-1');
  });
});

describe('openNote', () => {
  it('verifies the Go package doc note and the C2SP example', () => {
    const n = openNote(v.peterNeumann.note, [peter()]);
    expect(n.text).toBe(v.peterNeumann.text);
    expect(n.signatures.map((s) => [s.name, toHex(s.keyId)])).toEqual([['PeterNeumann', 'c74f20a3']]);
    const c = openNote(v.c2spExample.note, [parseVerifierKey(v.c2spExample.verifierKey)]);
    expect(c.text).toBe('This is an example message.\n');
  });

  it('ignores unknown keys but needs one known signature', () => {
    const one = openNote(v.enochRoot.doublySignedNote, [peter()]);
    expect(one.signatures.map((s) => s.name)).toEqual(['PeterNeumann']);
    expect(one.unverifiedSignatures.map((s) => s.name)).toEqual(['EnochRoot']);
    const both = openNote(v.enochRoot.doublySignedNote, [peter(), enoch()]);
    expect(both.signatures.map((s) => s.name)).toEqual(['PeterNeumann', 'EnochRoot']);
    expect(() => openNote(v.enochRoot.doublySignedNote, [])).toThrow(/no verifiable signatures/);
    expect(() => openNote(v.peterNeumann.note, [enoch()])).toThrow(NoteError);
  });

  it('rejects a signature by a known key that does not verify', () => {
    expect(() => openNote(v.invalidSignatureNote, [peter()])).toThrow(/invalid signature/);
  });

  it('rejects the malformed notes of Go TestOpen', () => {
    for (const bad of v.malformedNotes) expect(() => openNote(bad, [peter()]), JSON.stringify(bad)).toThrow(/malformed/);
    // Go's "\xff" case: a JS string is not UTF-8 only when it holds a lone surrogate.
    expect(() => openNote(`\ud800${v.peterNeumann.note}`, [peter()])).toThrow(/malformed/);
    expect(() => openNote(v.peterNeumann.text + '\n' + v.peterNeumann.signatureLine.repeat(101), [peter()])).toThrow(/too many/);
  });

  it('rejects ambiguous verifiers', () => {
    expect(() => openNote(v.peterNeumann.note, [peter(), peter()])).toThrow(/ambiguous/);
  });

  it('fails on any change to the text, name, key id or signature', () => {
    const note = v.peterNeumann.note;
    const accepted: number[] = [];
    // Change each character of the note in turn, the em dash and separators included.
    for (let i = 0; i < note.length; i++) {
      const c = note.charCodeAt(i);
      const changed = note.slice(0, i) + String.fromCharCode(c === 0x0a ? 0x20 : c ^ 1) + note.slice(i + 1);
      try {
        openNote(changed, [peter()]);
        accepted.push(i);
      } catch (e) {
        expect(e).toBeInstanceOf(NoteError);
      }
    }
    expect(accepted).toEqual([]);
  });
});

describe('signNote', () => {
  it('reproduces Go’s signature byte for byte (Ed25519 is deterministic)', () => {
    const { name, key } = parseGoSignerKey(v.peterNeumann.signerKey);
    const signer = createSigner(name, key);
    expect(toHex(signer.keyId)).toBe(v.peterNeumann.keyIdHex);
    expect(signNote(v.peterNeumann.text, [signer])).toBe(v.peterNeumann.note);
  });

  it('round-trips with several signers and a multi-paragraph text', () => {
    const a = createSigner('a.example/log', generateKeyPairSync('ed25519').privateKey);
    const bKey = privateKeyFromSeed(new Uint8Array(32).fill(9));
    const b = createSigner('b.example/witness', bKey);
    const text = 'first paragraph\n\nsecond, with ünïcødé — and an em dash\n';
    const note = signNote(text, [a, b]);
    const verifierB: NoteVerifier = parseVerifierKey(verifierKeyString(b.name, rawPublicKey(bKey)));
    const opened = openNote(note, [verifierB]);
    expect(opened.text).toBe(text);
    expect(opened.signatures.map((s) => s.name)).toEqual(['b.example/witness']);
  });

  it('refuses text it could not open again', () => {
    const s = createSigner('x', generateKeyPairSync('ed25519').privateKey);
    expect(() => signNote('no newline', [s])).toThrow(NoteError);
    expect(() => signNote('tab\there\n', [s])).toThrow(NoteError);
    expect(() => signNote('ok\n', [])).toThrow(NoteError);
    expect(() => createSigner('bad name', generateKeyPairSync('ed25519').privateKey)).toThrow(NoteError);
    expect(() => createSigner('x', generateKeyPairSync('ed25519').publicKey)).toThrow(NoteError);
    expect(() => createSigner('x', generateKeyPairSync('x25519').privateKey)).toThrow(NoteError);
  });
});
