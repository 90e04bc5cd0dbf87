// Builds the inconsistency-evidence vectors (test/core/vectors/inconsistency-evidence.json) from a
// fixed key and two fixed histories of one origin. Ed25519 signatures are deterministic, so the
// vectors are the same on every run; evidence.test.ts checks the file against this.
//   npx tsx test/core/inconsistency/vectors.ts > test/core/vectors/inconsistency-evidence.json
import { toBase64 } from '../../../src/core/base64.js';
import { signCheckpoint } from '../../../src/core/checkpoint.js';
import type { Evidence } from '../../../src/core/inconsistency/evidence.js';
import { EVIDENCE_FORMAT } from '../../../src/core/inconsistency/evidence.js';
import { createSigner, verifierKeyString, rawPublicKey } from '../../../src/core/note/signed-note.js';
import { NaiveTree, testLeaves } from '../naive-tree.js';
import { privateKeyFromSeed } from '../note-keys.js';

export const ORIGIN = 'example.com/forked';
const key = privateKeyFromSeed(new Uint8Array(32).fill(7));
const otherKey = privateKeyFromSeed(new Uint8Array(32).fill(8));
export const VKEY = verifierKeyString(ORIGIN, rawPublicKey(key));
const signer = createSigner(ORIGIN, key);
const otherSigner = createSigner(ORIGIN, otherKey);

/** History A: leaves 0..; history B: the same first 5 leaves, then others. */
export const treeA = new NaiveTree(testLeaves(16));
export const treeB = new NaiveTree([...testLeaves(5), ...testLeaves(11, 1000)]);

export const note = (tree: NaiveTree, size: number, s = signer) =>
  signCheckpoint({ origin: ORIGIN, size, rootHash: tree.root(size) }, s);
const b64s = (hs: Uint8Array[]) => hs.map(toBase64);
const base = { format: EVIDENCE_FORMAT, origin: ORIGIN } as const;

export interface Vector {
  name: string;
  evidence: unknown;
  /** proves: the verdict; unreadable: verifyEvidence throws EvidenceFormatError. */
  expect: 'proves' | 'does-not-prove' | 'unreadable';
}

export function vectors(): Vector[] {
  const sameSize: Evidence = { ...base, kind: 'same-size-different-roots', notes: [note(treeA, 8), note(treeB, 8)] };
  // 6 (not a power of two): the proof carries the prefix's subtree itself.
  const prefix6: Evidence = {
    ...base,
    kind: 'inconsistent-prefix',
    smaller: note(treeA, 6),
    larger: note(treeB, 12),
    proof: b64s(treeB.consistency(6, 12)),
  };
  // 8 (a power of two): the larger tree's root at 8 is given as prefixRoot.
  const prefix8: Evidence = {
    ...base,
    kind: 'inconsistent-prefix',
    smaller: note(treeA, 8),
    larger: note(treeB, 13),
    proof: b64s(treeB.consistency(8, 13)),
    prefixRoot: toBase64(treeB.root(8)),
  };
  const leaves: Evidence = {
    ...base,
    kind: 'conflicting-leaves',
    index: 6,
    a: { note: note(treeA, 9), leafHash: toBase64(treeA.leaves[6]!), proof: b64s(treeA.path(6, 0, 9)) },
    b: { note: note(treeB, 11), leafHash: toBase64(treeB.leaves[6]!), proof: b64s(treeB.path(6, 0, 11)) },
  };
  const emptyTree: Evidence = {
    ...base,
    kind: 'invalid-empty-tree',
    note: signCheckpoint({ origin: ORIGIN, size: 0, rootHash: treeA.root(1) }, signer),
  };
  const unproven: Evidence = {
    ...base,
    kind: 'unproven',
    observation: 'consistency-proof-fails',
    notes: [note(treeA, 6), note(treeB, 12)],
    proof: b64s(treeA.consistency(6, 12)),
    detail: 'the proof served does not verify',
  };
  const swap = <T>(xs: T[], i: number, j: number) => xs.map((x, k) => (k === i ? xs[j]! : k === j ? xs[i]! : x));
  return [
    { name: 'same size, different roots', evidence: sameSize, expect: 'proves' },
    {
      name: 'same size, same roots',
      evidence: { ...sameSize, notes: [note(treeA, 8), note(treeA, 8)] },
      expect: 'does-not-prove',
    },
    {
      name: 'same size: sizes differ',
      evidence: { ...sameSize, notes: [note(treeA, 8), note(treeB, 9)] },
      expect: 'does-not-prove',
    },
    {
      name: 'same size: a note signed by another key',
      evidence: { ...sameSize, notes: [note(treeA, 8), note(treeB, 8, otherSigner)] },
      expect: 'does-not-prove',
    },
    { name: 'inconsistent prefix (6 to 12)', evidence: prefix6, expect: 'proves' },
    { name: 'inconsistent prefix (8 to 13, prefix root given)', evidence: prefix8, expect: 'proves' },
    {
      name: "prefix: the proof is of the smaller note's own history (consistent pair)",
      evidence: { ...prefix6, larger: note(treeA, 12), proof: b64s(treeA.consistency(6, 12)) },
      expect: 'does-not-prove',
    },
    {
      name: 'prefix: a proof that does not reconstruct the larger root (garbage)',
      evidence: { ...prefix6, proof: b64s(treeA.consistency(6, 12)) },
      expect: 'does-not-prove',
    },
    {
      name: 'prefix: proof hashes swapped',
      evidence: { ...prefix6, proof: swap(prefix6.proof, 0, 1) },
      expect: 'does-not-prove',
    },
    { name: 'prefix: proof too short', evidence: { ...prefix6, proof: prefix6.proof.slice(1) }, expect: 'does-not-prove' },
    {
      name: 'prefix: power-of-two size without prefixRoot',
      evidence: { ...prefix8, prefixRoot: undefined },
      expect: 'does-not-prove',
    },
    {
      name: "prefix: prefixRoot that is the smaller note's own root",
      evidence: { ...prefix8, prefixRoot: toBase64(treeA.root(8)) },
      expect: 'does-not-prove',
    },
    {
      name: 'prefix: prefixRoot with a size that is no power of two',
      evidence: { ...prefix6, prefixRoot: toBase64(treeB.root(6)) },
      expect: 'does-not-prove',
    },
    {
      name: 'prefix: notes in the wrong order',
      evidence: { ...prefix6, smaller: prefix6.larger, larger: prefix6.smaller },
      expect: 'does-not-prove',
    },
    { name: 'conflicting leaves at index 6', evidence: leaves, expect: 'proves' },
    {
      name: 'leaves: the same leaf twice',
      evidence: { ...leaves, b: { ...leaves.a, note: note(treeA, 11), proof: b64s(treeA.path(6, 0, 11)) } },
      expect: 'does-not-prove',
    },
    {
      name: 'leaves: an inclusion proof that does not verify',
      evidence: { ...leaves, b: { ...leaves.b, proof: leaves.a.proof.concat([]).slice(0, 4) } },
      expect: 'does-not-prove',
    },
    { name: 'leaves: wrong index', evidence: { ...leaves, index: 7 }, expect: 'does-not-prove' },
    {
      name: 'leaves: an inclusion proof one hash too long for its note',
      evidence: { ...leaves, b: { ...leaves.b, proof: [...leaves.b.proof, leaves.a.proof[0]!] } },
      expect: 'does-not-prove',
    },
    { name: 'size-0 checkpoint with a non-empty root', evidence: emptyTree, expect: 'proves' },
    {
      name: 'size-0 checkpoint with the empty root',
      evidence: { ...emptyTree, note: note(treeA, 0) },
      expect: 'does-not-prove',
    },
    { name: 'unproven observation', evidence: unproven, expect: 'does-not-prove' },
    { name: 'not JSON', evidence: '{"format":', expect: 'unreadable' },
    { name: 'another format', evidence: { ...sameSize, format: 'something/v2' }, expect: 'unreadable' },
    { name: 'unknown kind', evidence: { ...sameSize, kind: 'fork' }, expect: 'unreadable' },
    { name: 'a proof hash that is not 32 bytes', evidence: { ...prefix6, proof: ['AAAA'] }, expect: 'unreadable' },
    { name: 'a missing note', evidence: { ...base, kind: 'invalid-empty-tree' }, expect: 'unreadable' },
    {
      name: 'a leaf hash that is not 32 bytes',
      evidence: { ...leaves, a: { ...leaves.a, leafHash: 'AAAA' } },
      expect: 'unreadable',
    },
    { name: 'a negative leaf index', evidence: { ...leaves, index: -1 }, expect: 'unreadable' },
    {
      name: 'an observation with three notes',
      evidence: { ...unproven, notes: [note(treeA, 6), note(treeB, 12), note(treeB, 13)] },
      expect: 'unreadable',
    },
    {
      name: 'an observation the format does not name',
      evidence: { ...unproven, observation: 'looked-odd' },
      expect: 'unreadable',
    },
  ];
}

export function vectorsFile(): string {
  return `${JSON.stringify(
    {
      description:
        'chainlog inconsistency evidence (src/core/inconsistency/evidence.ts): each evidence with the verdict under vkey; made by test/core/inconsistency/vectors.ts',
      vkey: VKEY,
      vectors: vectors().map((v) => ({ ...v, evidence: JSON.parse(JSON.stringify(v.evidence)) as unknown })),
    },
    null,
    2,
  )}\n`;
}

if (process.argv[1]?.endsWith('vectors.ts')) process.stdout.write(vectorsFile());
