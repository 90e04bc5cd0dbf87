// A mirror's report becomes evidence: a proven fork where its notes and proofs show one, otherwise an
// unproven observation that names what the mirror saw (each report kind its own), never another kind's.
import { describe, expect, it } from 'vitest';
import { parseEvidence, verifyEvidence } from '../../src/core/inconsistency/evidence.js';
import { createSigner, parseVerifierKey } from '../../src/core/index.js';
import { evidenceOf, type MirrorInconsistency, type MirrorInconsistencyKind } from '../../src/mirror/inconsistency.js';
import { note, ORIGIN, treeA, treeB, VKEY } from '../core/inconsistency/vectors.js';
import { privateKeyFromSeed } from '../core/note-keys.js';

const trusted = parseVerifierKey(VKEY);

function report(kind: MirrorInconsistencyKind, acceptedNote: string | null, conflictingNote: string | null): MirrorInconsistency {
  return {
    kind,
    sourceAppId: 'forked',
    origin: ORIGIN,
    primaryUrl: 'http://primary.example',
    verifierKey: VKEY,
    detectedAt: 0,
    message: 'what the mirror saw',
    seq: null,
    acceptedNote,
    conflictingNote,
    ownRootHash: null,
    copied: null,
    served: null,
  };
}

describe('evidenceOf', () => {
  it.each([
    ['EVENT_CHANGED', 'event-changed'],
    ['ROOT_MISMATCH', 'root-mismatch'],
    ['HISTORY_BACKWARDS', 'history-backwards'],
    ['BAD_EVENT', 'bad-event'],
    ['UNRECORDED_ERASURE', 'unrecorded-erasure'],
  ] as const)('records %s between notes of two sizes as the observation %s', (kind, observation) => {
    // Notes of one history at two sizes prove nothing by themselves (the primary going back: the later smaller).
    const notes = kind === 'HISTORY_BACKWARDS' ? [note(treeA, 9), note(treeA, 6)] : [note(treeA, 6), note(treeA, 9)];
    const evidence = evidenceOf(report(kind, notes[0]!, notes[1]!), trusted)!;
    expect(evidence).toMatchObject({ kind: 'unproven', observation, notes });
    expect(evidence).toMatchObject({
      detail:
        kind === 'HISTORY_BACKWARDS'
          ? 'http://primary.example served size 6 after size 9'
          : `mirror of http://primary.example: ${kind}: what the mirror saw`,
    });
    // The evidence reads back, and says it proves no fork.
    const text = JSON.stringify(evidence);
    expect(parseEvidence(text)).toEqual(evidence);
    expect(verifyEvidence(text, trusted).proves).toBe(false);
  });

  it('records notes of one size with two roots as the fork they prove, whatever the kind', () => {
    for (const kind of ['ROOT_MISMATCH', 'BAD_EVENT'] as const) {
      expect(evidenceOf(report(kind, note(treeA, 8), note(treeB, 8)), trusted)).toMatchObject({
        kind: 'same-size-different-roots',
      });
    }
  });

  it('records one note alone, and nothing without a note signed by the pinned key', () => {
    expect(evidenceOf(report('UNRECORDED_ERASURE', note(treeA, 6), null), trusted)).toMatchObject({
      kind: 'unproven',
      observation: 'unrecorded-erasure',
      notes: [note(treeA, 6)],
    });
    expect(evidenceOf(report('ROOT_MISMATCH', null, null), trusted)).toBeNull();
    const stranger = createSigner(ORIGIN, privateKeyFromSeed(new Uint8Array(32).fill(9)));
    expect(evidenceOf(report('ROOT_MISMATCH', note(treeA, 6, stranger), note(treeB, 9, stranger)), trusted)).toBeNull();
  });
});
