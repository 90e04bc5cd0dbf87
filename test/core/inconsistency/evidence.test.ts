import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../src/core/checkpoint.js';
import {
  EvidenceFormatError,
  classifyCheckpoints,
  classifyLeaves,
  evidenceId,
  evidenceText,
  historyBackwards,
  parseEvidence,
  rootsFromConsistencyProof,
  verifyEvidence,
  type Evidence,
} from '../../../src/core/inconsistency/evidence.js';
import { createVerifier, parseVerifierKey } from '../../../src/core/note/signed-note.js';
import { ProofError } from '../../../src/core/proof/verify.js';
import { NaiveTree, testLeaves } from '../naive-tree.js';
import { VKEY, note, treeA, treeB, vectorsFile } from './vectors.js';

const FILE = new URL('../vectors/inconsistency-evidence.json', import.meta.url);
const file = JSON.parse(readFileSync(FILE, 'utf8')) as {
  vkey: string;
  vectors: Array<{ name: string; evidence: unknown; expect: 'proves' | 'does-not-prove' | 'unreadable' }>;
};
const trusted = parseVerifierKey(file.vkey);
const textOf = (e: unknown) => (typeof e === 'string' ? e : JSON.stringify(e));

describe('evidence vectors', () => {
  it('are the ones vectors.ts makes (deterministic, nothing edited by hand)', () => {
    expect(readFileSync(FILE, 'utf8')).toBe(vectorsFile());
    expect(file.vkey).toBe(VKEY);
  });

  it.each(file.vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    if (v.expect === 'unreadable') {
      expect(() => verifyEvidence(textOf(v.evidence), trusted)).toThrow(EvidenceFormatError);
      return;
    }
    const verdict = verifyEvidence(textOf(v.evidence), trusted);
    expect(verdict.proves, verdict.proves ? verdict.statement : verdict.reason).toBe(v.expect === 'proves');
  });

  it('prove nothing under another key', () => {
    const other = createVerifier('example.com/forked', new Uint8Array(32).fill(1));
    for (const v of file.vectors.filter((x) => x.expect === 'proves')) {
      expect(verifyEvidence(textOf(v.evidence), other).proves).toBe(false);
    }
  });
});

const opened = (n: string) => ({ note: n, checkpoint: openCheckpoint(n, trusted) });

describe('rootsFromConsistencyProof', () => {
  it('gives both roots of one history for every pair of sizes', () => {
    const t = new NaiveTree(testLeaves(20));
    for (let m = 1; m < 20; m++)
      for (let n = m + 1; n <= 20; n++) {
        const pow2 = (m & (m - 1)) === 0;
        const r = rootsFromConsistencyProof(m, n, t.consistency(m, n), pow2 ? t.root(m) : undefined);
        expect([r.prefix, r.root]).toEqual([t.root(m), t.root(n)]);
      }
  });
  it('refuses sizes and proofs that do not fit', () => {
    expect(() => rootsFromConsistencyProof(3, 3, [])).toThrow(ProofError);
    expect(() => rootsFromConsistencyProof(0, 3, [])).toThrow(ProofError);
    expect(() => rootsFromConsistencyProof(3, 5, [])).toThrow(/wrong proof size/);
    expect(() => rootsFromConsistencyProof(4, 5, treeA.consistency(4, 5))).toThrow(/needs the prefix root/);
  });
});

describe('classifyCheckpoints', () => {
  it('returns null for consistent pairs', () => {
    expect(classifyCheckpoints(opened(note(treeA, 8)), opened(note(treeA, 8)))).toBeNull();
    expect(classifyCheckpoints(opened(note(treeA, 6)), opened(note(treeA, 12)), { proof: treeA.consistency(6, 12) })).toBeNull();
    expect(classifyCheckpoints(opened(note(treeA, 0)), opened(note(treeB, 12)))).toBeNull();
  });

  it('proves same size, different roots, whichever note comes first (one id)', () => {
    const x = classifyCheckpoints(opened(note(treeA, 8)), opened(note(treeB, 8)))!;
    const y = classifyCheckpoints(opened(note(treeB, 8)), opened(note(treeA, 8)))!;
    expect(x.kind).toBe('same-size-different-roots');
    expect(evidenceId(x)).toBe(evidenceId(y));
    expect(verifyEvidence(evidenceText(x), trusted).proves).toBe(true);
  });

  it("proves an inconsistent prefix from the forked log's own proof; power-of-two sizes need its prefix root", () => {
    const e = classifyCheckpoints(opened(note(treeB, 12)), opened(note(treeA, 6)), { proof: treeB.consistency(6, 12) })!;
    expect(e.kind).toBe('inconsistent-prefix');
    expect(verifyEvidence(evidenceText(e), trusted).proves).toBe(true);
    const withRoot = classifyCheckpoints(opened(note(treeA, 8)), opened(note(treeB, 13)), {
      proof: treeB.consistency(8, 13),
      prefixRoot: treeB.root(8),
    })!;
    expect(withRoot.kind).toBe('inconsistent-prefix');
    expect(verifyEvidence(evidenceText(withRoot), trusted).proves).toBe(true);
    const without = classifyCheckpoints(opened(note(treeA, 8)), opened(note(treeB, 13)), { proof: treeB.consistency(8, 13) })!;
    expect(without).toMatchObject({ kind: 'unproven', observation: 'consistency-proof-fails' });
  });

  it('records a proof that fails, or none, as unproven, never as a fork', () => {
    const garbage = classifyCheckpoints(opened(note(treeA, 6)), opened(note(treeB, 12)), { proof: treeA.consistency(6, 12) })!;
    expect(garbage).toMatchObject({ kind: 'unproven', observation: 'consistency-proof-fails' });
    expect(verifyEvidence(evidenceText(garbage), trusted)).toMatchObject({ proves: false });
    const none = classifyCheckpoints(opened(note(treeA, 6)), opened(note(treeB, 12)))!;
    expect(none).toMatchObject({ kind: 'unproven', observation: 'consistency-proof-unavailable' });
    const short = classifyCheckpoints(opened(note(treeA, 6)), opened(note(treeB, 12)), { proof: [] })!;
    expect(short.kind).toBe('unproven');
  });

  it('proves a signed size-0 checkpoint with another root', () => {
    const bad = (file.vectors.find((v) => v.name.startsWith('size-0 checkpoint with a non'))!.evidence as { note: string }).note;
    const e = classifyCheckpoints(opened(bad), opened(note(treeA, 3)))!;
    expect(e.kind).toBe('invalid-empty-tree');
  });
});

describe('classifyLeaves and historyBackwards', () => {
  const leaf = (t: NaiveTree, size: number, i: number) => ({
    ...opened(note(t, size)),
    leafHash: t.leaves[i]!,
    proof: t.path(i, 0, size),
  });
  it('proves two different leaves at one index; same leaf: null; a failing proof: unproven', () => {
    const e = classifyLeaves(6, leaf(treeA, 9, 6), leaf(treeB, 11, 6))!;
    expect(e.kind).toBe('conflicting-leaves');
    expect(verifyEvidence(evidenceText(e), trusted).proves).toBe(true);
    expect(classifyLeaves(2, leaf(treeA, 9, 2), leaf(treeB, 11, 2))).toBeNull();
    const failing = classifyLeaves(6, leaf(treeA, 9, 6), { ...leaf(treeB, 11, 6), proof: treeB.path(5, 0, 11) })!;
    expect(failing).toMatchObject({ kind: 'unproven', observation: 'inclusion-proof-fails' });
  });
  it('keeps history going backwards as an unproven observation', () => {
    const e = historyBackwards(opened(note(treeA, 9)), opened(note(treeA, 5)), 'http://primary');
    expect(e).toMatchObject({ kind: 'unproven', observation: 'history-backwards' });
    expect(verifyEvidence(evidenceText(e), trusted).proves).toBe(false);
  });
});

describe('parseEvidence', () => {
  it('names the field that is wrong', () => {
    const e = file.vectors[0]!.evidence as Evidence;
    expect(() => parseEvidence({ ...e, origin: '' })).toThrow(/^origin: must be a non-empty string/);
    expect(() => parseEvidence({ ...e, notes: ['x'] })).toThrow(/^notes: must be two signed notes/);
    expect(() => parseEvidence('[]')).toThrow(/^evidence: must be an object/);
    const vector = (name: string) => file.vectors.find((v) => v.name === name)!.evidence;
    expect(() => parseEvidence(vector('a leaf hash that is not 32 bytes'))).toThrow(
      /^a\.leafHash: must be a base64 32-byte hash/,
    );
    expect(() => parseEvidence(vector('a negative leaf index'))).toThrow(/^index: must be a non-negative integer/);
    expect(() => parseEvidence(vector('an observation with three notes'))).toThrow(/^notes: must be one or two signed notes/);
    expect(() => parseEvidence(vector('an observation the format does not name'))).toThrow(/^observation: must be one of /);
    const tooLong = verifyEvidence(textOf(vector('leaves: an inclusion proof one hash too long for its note')), trusted);
    expect(tooLong).toMatchObject({
      proves: false,
      reason: expect.stringMatching(/^b: the inclusion proof does not fit: wrong proof size/),
    });
    expect(evidenceId(parseEvidence(evidenceText(e)))).toMatch(/^[0-9a-f]{64}$/);
  });
});
