import { describe, expect, it } from 'vitest';
import { createSigner, createVerifier, rawPublicKey, signNote } from '../../../src/core/note/signed-note.js';
import {
  CosignatureError,
  createCosigner,
  parsePolicy,
  quorumSatisfied,
  verifyWitnessedNote,
} from '../../../src/core/witness/index.js';
import { privateKeyFromSeed } from '../note-keys.js';

const seed = (n: number) => new Uint8Array(32).fill(n);
const logKey = privateKeyFromSeed(seed(1));
const origin = 'example.com/log';
const logSigner = createSigner(origin, logKey);
const logVerifier = createVerifier(origin, rawPublicKey(logKey));
const witnesses = [2, 3, 4].map((n) => createCosigner(`w${n}.example`, privateKeyFromSeed(seed(n))));
const [w2, w3, w4] = witnesses as [(typeof witnesses)[0], (typeof witnesses)[0], (typeof witnesses)[0]];
const body = `${origin}\n7\n${Buffer.alloc(32, 9).toString('base64')}\n`;
const logNote = signNote(body, [logSigner]);

function policy(quorum: string): ReturnType<typeof parsePolicy> {
  return parsePolicy(
    [
      `witness a ${w2.verifierKey} https://a.example/`,
      `witness b ${w3.verifierKey}`,
      `witness c ${w4.verifierKey}`,
      'group two-of-three 2 a b c',
      'group all-of-ab all a b',
      'group nested any all-of-ab c',
      `quorum ${quorum}`,
    ].join('\n'),
  );
}

describe('quorumSatisfied', () => {
  it('evaluates witnesses, k-of-n, all, any and nested groups', () => {
    expect(quorumSatisfied(policy('a'), new Set(['a']))).toBe(true);
    expect(quorumSatisfied(policy('a'), new Set(['b']))).toBe(false);
    expect(quorumSatisfied(policy('two-of-three'), new Set(['a']))).toBe(false);
    expect(quorumSatisfied(policy('two-of-three'), new Set(['a', 'c']))).toBe(true);
    expect(quorumSatisfied(policy('all-of-ab'), new Set(['a', 'c']))).toBe(false);
    expect(quorumSatisfied(policy('nested'), new Set(['c']))).toBe(true);
    expect(quorumSatisfied(policy('nested'), new Set(['a']))).toBe(false);
    expect(quorumSatisfied(policy('nested'), new Set(['a', 'b']))).toBe(true);
    expect(quorumSatisfied(policy('none'), new Set())).toBe(true);
  });

  it('refuses to guess a quorum the policy does not state', () => {
    expect(() => quorumSatisfied(parsePolicy(`witness a ${w2.verifierKey}\n`), new Set(['a']))).toThrow(/no quorum line/);
  });
});

describe('verifyWitnessedNote', () => {
  it('collects the cosignatures of policy witnesses and ignores other keys', () => {
    const stranger = createCosigner('stranger.example', privateKeyFromSeed(seed(5)));
    const note = logNote + w3.cosign(body, 1700000001) + stranger.cosign(body, 1700000002) + w2.cosign(body, 1700000003);
    const got = verifyWitnessedNote(note, [logVerifier], policy('two-of-three'));
    expect(got.body).toBe(body);
    expect(got.cosignatures.map((c) => [c.witness, c.name, c.timestamp])).toEqual([
      ['a', 'w2.example', 1700000003],
      ['b', 'w3.example', 1700000001],
    ]);
    expect(got.quorum).toBe(true);
  });

  it('reports a missing quorum without failing', () => {
    const got = verifyWitnessedNote(logNote + w4.cosign(body, 1700000001), [logVerifier], policy('two-of-three'));
    expect(got.cosignatures.map((c) => c.witness)).toEqual(['c']);
    expect(got.quorum).toBe(false);
  });

  it('refuses a note whose log signature is missing', () => {
    const unsignedByLog = `${body}\n${w2.cosign(body, 1700000001)}`;
    expect(() => verifyWitnessedNote(unsignedByLog, [logVerifier], policy('a'))).toThrow();
  });

  it('refuses a forged cosignature of a policy witness', () => {
    // A cosignature over another body, relabelled: the key id matches, the signature does not.
    const other = `${origin}\n8\n${Buffer.alloc(32, 8).toString('base64')}\n`;
    expect(() => verifyWitnessedNote(logNote + w2.cosign(other, 1700000001), [logVerifier], policy('a'))).toThrow(
      CosignatureError,
    );
  });
});
