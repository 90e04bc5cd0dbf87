import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64Strict, toBase64 } from '../../src/core/base64.js';
import { CheckpointError, formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from '../../src/core/checkpoint.js';
import {
  createSigner,
  NoteError,
  parseVerifierKey,
  rawPublicKey,
  signNote,
  verifierKeyString,
} from '../../src/core/note/signed-note.js';
import v from './vectors/signed-notes.json' with { type: 'json' };

const root = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
const keys = generateKeyPairSync('ed25519');
const signer = createSigner('log.example/chainlog', keys.privateKey);
const verifier = parseVerifierKey(verifierKeyString('log.example/chainlog', rawPublicKey(keys.publicKey)));

describe('checkpoint bodies (C2SP tlog-checkpoint)', () => {
  it('formats origin, decimal size and base64 root, each ending in a newline', () => {
    expect(formatCheckpoint({ origin: 'chainlog.example/app-1', size: 42, rootHash: root })).toBe(
      `chainlog.example/app-1\n42\n${toBase64(root)}\n`,
    );
  });

  it('parses the C2SP example and ignores extension lines', () => {
    const c = parseCheckpoint(v.c2spCheckpoint.body);
    expect(c.origin).toBe(v.c2spCheckpoint.origin);
    expect(c.size).toBe(v.c2spCheckpoint.size);
    expect(c.rootHash).toEqual(fromBase64Strict(v.c2spCheckpoint.rootHashBase64));
    expect(parseCheckpoint(`${v.c2spCheckpoint.body}ext one\next two\n`)).toEqual(c);
  });

  it('round-trips, including the empty tree and sizes past 2^32', () => {
    for (const size of [0, 1, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      const c = { origin: 'o', size, rootHash: root };
      expect(parseCheckpoint(formatCheckpoint(c))).toEqual(c);
    }
  });

  it('is strict', () => {
    const b64 = toBase64(root);
    const bad = [
      `o\n42\n${b64}`, // no final newline
      `o\n42\n`, // no root
      `\n42\n${b64}\n`, // empty origin
      `o\n042\n${b64}\n`, // leading zero
      `o\n+42\n${b64}\n`,
      `o\n4 2\n${b64}\n`,
      `o\n-1\n${b64}\n`,
      `o\n9007199254740992\n${b64}\n`, // beyond 2^53 - 1
      `o\n42\n${b64.slice(0, -4)}\n`, // short root
      `o\n42\n${b64.replace(/=$/, '')}\n`, // unpadded
      `o\n42\n${b64}\n\n`, // empty extension line
    ];
    for (const text of bad) expect(() => parseCheckpoint(text), JSON.stringify(text)).toThrow(CheckpointError);
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash: root })).toThrow(CheckpointError);
    expect(() => formatCheckpoint({ origin: 'o', size: -1, rootHash: root })).toThrow(CheckpointError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root.subarray(1) })).toThrow(CheckpointError);
  });
});

describe('signed checkpoints', () => {
  const checkpoint = { origin: 'chainlog.example/app-1', size: 1234, rootHash: root };

  it('sign then open', () => {
    const note = signCheckpoint(checkpoint, signer);
    expect(note.startsWith(formatCheckpoint(checkpoint) + '\n\u2014 log.example/chainlog ')).toBe(true);
    expect(openCheckpoint(note, verifier)).toEqual(checkpoint);
    expect(openCheckpoint(note, verifier, 'chainlog.example/app-1')).toEqual(checkpoint);
  });

  it('reject another origin, another key, or any edit', () => {
    const note = signCheckpoint(checkpoint, signer);
    expect(() => openCheckpoint(note, verifier, 'chainlog.example/app-2')).toThrow(CheckpointError);
    const other = generateKeyPairSync('ed25519');
    const stranger = parseVerifierKey(verifierKeyString('log.example/chainlog', rawPublicKey(other.publicKey)));
    expect(() => openCheckpoint(note, stranger)).toThrow(NoteError);
    expect(() => openCheckpoint(note.replace('\n1234\n', '\n1235\n'), verifier)).toThrow(NoteError);
    expect(() => openCheckpoint(note.replace('app-1', 'app-2'), verifier)).toThrow(NoteError);
    const rootLine = toBase64(root);
    const otherRoot = toBase64(root.map((b, i) => (i === 0 ? b ^ 1 : b)));
    expect(() => openCheckpoint(note.replace(rootLine, otherRoot), verifier)).toThrow(NoteError);
  });

  it('a valid signature over a bad body is still rejected', () => {
    const note = signNote('o\n01\nAAAA\n', [signer]);
    expect(() => openCheckpoint(note, verifier)).toThrow(CheckpointError);
  });
});
