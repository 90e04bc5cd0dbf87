// What a mirror found that its primary cannot have done honestly, with what anyone needs to check it
// offline: the primary's signed notes involved and the proofs on both sides.
import type { Logger } from 'pino';
import {
  classifyCheckpoints,
  classifyLeaves,
  EVIDENCE_FORMAT,
  fromHex,
  historyBackwards,
  openCheckpoint,
  parseVerifierKey,
  type Evidence,
  type NoteVerifier,
  type Observation,
  type SignedCheckpoint,
} from '../core/index.js';
import type { InconsistencyReporter } from '../inconsistency/reporter.js';
import type { PrimaryEvent, PrimaryInclusionProof } from './primary-client.js';

export type MirrorInconsistencyKind =
  /** An event the mirror copied (covered by a checkpoint it accepted) is now served differently. */
  | 'EVENT_CHANGED'
  /** A signed checkpoint's root differs from the root of the mirror's own tree of the events served for it. */
  | 'ROOT_MISMATCH'
  /** The primary's latest checkpoint is smaller than one the mirror accepted, or as large with another root. */
  | 'HISTORY_BACKWARDS'
  /** The primary serves an event under a checkpoint whose link (prevHash) or leaf hash does not follow from its fields. */
  | 'BAD_EVENT'
  /**
   * The primary serves a version 2 event without its payload, and its erasures log, verified up to the
   * size it had when the mirror saw the event so, does not list it: deleted outside the erasure path.
   */
  | 'UNRECORDED_ERASURE';

/** An event as this mirror stored it, with its inclusion proof from the mirror's own tree. */
export interface CopiedEventEvidence {
  /** The event in the API's JSON form (times as the leaf's ISO text). */
  event: PrimaryEvent;
  /** RFC 9162 inclusion proof of `event.hash` at leaf `event.seq` in the tree of `acceptedNote`'s size. */
  proof: { leafIndex: number; treeSize: number; rootHash: string; hashes: string[] };
}

/**
 * The input of reportInconsistency: complete for evidence. Every note is the primary's signed note
 * text, verifiable with the primary's key under `origin` as key name (`verifierKey`).
 */
export interface MirrorInconsistency {
  kind: MirrorInconsistencyKind;
  sourceAppId: string;
  /** The log's origin (the checkpoints' first line and their key name). */
  origin: string;
  /** The primary (FOLLOW_URL). */
  primaryUrl: string;
  /** The verifier key of the log's checkpoints: the pinned primary key under `origin` as name. */
  verifierKey: string;
  /** Epoch ms, by this server's clock. */
  detectedAt: number;
  /** One line for people. */
  message: string;
  /** The lowest log position concerned, when one is (EVENT_CHANGED, BAD_EVENT, UNRECORDED_ERASURE). */
  seq: number | null;
  /** The latest checkpoint this mirror accepted (verified against its own tree), or null before the first. */
  acceptedNote: string | null;
  /**
   * The primary's signed note that contradicts `acceptedNote` or the mirror's tree (ROOT_MISMATCH,
   * HISTORY_BACKWARDS, BAD_EVENT); null for EVENT_CHANGED, where the notes agree but an event does not.
   */
  conflictingNote: string | null;
  /** ROOT_MISMATCH: the root of the mirror's own tree at the conflicting note's size. */
  ownRootHash: string | null;
  /**
   * EVENT_CHANGED and UNRECORDED_ERASURE: the event as copied, proven in the mirror's tree under
   * `acceptedNote` (UNRECORDED_ERASURE of an event not copied yet: null).
   */
  copied: CopiedEventEvidence | null;
  /**
   * EVENT_CHANGED, BAD_EVENT and UNRECORDED_ERASURE: the event as the primary serves it now, and its inclusion proof as the
   * primary gives it under the accepted size (null where the primary refused or failed to give one).
   */
  served: { event: PrimaryEvent | null; proof: PrimaryInclusionProof | null; error: string | null } | null;
}

/** The unproven observation each kind of report records when its notes and proofs prove no fork. */
const OBSERVATION_OF: Record<MirrorInconsistencyKind, Observation> = {
  EVENT_CHANGED: 'event-changed',
  ROOT_MISMATCH: 'root-mismatch',
  HISTORY_BACKWARDS: 'history-backwards',
  BAD_EVENT: 'bad-event',
  UNRECORDED_ERASURE: 'unrecorded-erasure',
};

/**
 * The one place a mirror's inconsistency goes. Called once per inconsistency, after the log stopped
 * being followed. Writes the error-level log line that carries the whole report (`mirrorInconsistency`)
 * and records it with the strongest evidence the report supports (evidenceOf) in the inconsistency
 * store, when the server keeps one.
 */
export async function reportInconsistency(
  report: MirrorInconsistency,
  context: { logger: Logger; inconsistencies: InconsistencyReporter | null },
): Promise<void> {
  context.logger.error(
    { mirrorInconsistency: report },
    `mirror: primary ${report.primaryUrl} is inconsistent for log "${report.sourceAppId}" (${report.kind}): ${report.message}; stopped following it`,
  );
  if (!context.inconsistencies) return;
  const trusted = parseVerifierKey(report.verifierKey);
  const evidence = evidenceOf(report, trusted);
  if (evidence) await context.inconsistencies.report({ evidence, detectedBy: 'mirror', source: report.primaryUrl, trusted });
}

/**
 * The evidence a report carries: a proven fork where its signed notes and proofs show one (two roots
 * of one size, a prefix the larger tree contradicts, two leaves proven at one index), otherwise an
 * unproven observation with the notes involved; null when the report has no signed note at all.
 */
export function evidenceOf(report: MirrorInconsistency, trusted: NoteVerifier): Evidence | null {
  const signed = (note: string | null): SignedCheckpoint | null => {
    if (note === null) return null;
    try {
      return { note, checkpoint: openCheckpoint(note, trusted, report.origin) };
    } catch {
      return null; // not signed by the pinned key: no evidence against the log
    }
  };
  const accepted = signed(report.acceptedNote);
  const conflicting = signed(report.conflictingNote);
  if (accepted && conflicting) {
    // Without a consistency proof (the mirror asks for none), two notes prove a fork only at one size
    // or as an empty tree with a root. Of two sizes, they say a proof was unavailable, which is not
    // what the mirror saw (the primary going back, a root its own tree does not give, an event that
    // does not follow): the report's own observation is.
    const proven = classifyCheckpoints(accepted, conflicting);
    if (proven && proven.kind !== 'unproven') return proven;
    if (report.kind === 'HISTORY_BACKWARDS') return historyBackwards(accepted, conflicting, report.primaryUrl);
  }
  const copied = report.copied;
  const served = report.served;
  if (accepted && copied && served?.event && served.proof) {
    const servedNote = signed(served.proof.checkpoint.note);
    if (servedNote) {
      const proven = classifyLeaves(
        copied.event.seq,
        { ...accepted, leafHash: fromHex(copied.event.hash), proof: copied.proof.hashes.map(fromHex) },
        { ...servedNote, leafHash: fromHex(served.proof.leafHash), proof: served.proof.hashes.map(fromHex) },
      );
      if (proven) return proven;
    }
  }
  const notes = [accepted, conflicting].filter((n): n is SignedCheckpoint => n !== null).map((n) => n.note);
  if (notes.length === 0) return null;
  return {
    format: EVIDENCE_FORMAT,
    origin: report.origin,
    kind: 'unproven',
    observation: OBSERVATION_OF[report.kind],
    notes,
    detail: `mirror of ${report.primaryUrl}: ${report.kind}: ${report.message}`,
  };
}
