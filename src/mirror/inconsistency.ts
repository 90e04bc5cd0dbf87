// What a mirror found that its primary cannot have done honestly, with what anyone needs to check it
// offline: the primary's signed notes involved and the proofs on both sides.
import type { Logger } from 'pino';
import type { LogStorage } from '../storage/types.js';
import type { PrimaryEvent, PrimaryInclusionProof } from './primary-client.js';

export type MirrorInconsistencyKind =
  /** An event the mirror copied (covered by a checkpoint it accepted) is now served differently. */
  | 'EVENT_CHANGED'
  /** A signed checkpoint's root differs from the root of the mirror's own tree of the events served for it. */
  | 'ROOT_MISMATCH'
  /** The primary's latest checkpoint is smaller than one the mirror accepted, or as large with another root. */
  | 'HISTORY_BACKWARDS'
  /** The primary serves an event under a checkpoint whose link (prevHash) or leaf hash does not follow from its fields. */
  | 'BAD_EVENT';

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
  /** The lowest log position concerned, when one is (EVENT_CHANGED, BAD_EVENT). */
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
  /** EVENT_CHANGED: the event as copied, proven in the mirror's tree under `acceptedNote`. */
  copied: CopiedEventEvidence | null;
  /**
   * EVENT_CHANGED and BAD_EVENT: the event as the primary serves it now, and its inclusion proof as the
   * primary gives it under the accepted size (null where the primary refused or failed to give one).
   */
  served: { event: PrimaryEvent | null; proof: PrimaryInclusionProof | null; error: string | null } | null;
}

/**
 * The one place a mirror's inconsistency goes. Called once per inconsistency, after the log stopped
 * being followed. Writes the error-level log line that carries the whole report (`inconsistency`).
 * This is where recording it with its evidence (the inconsistency store) plugs in.
 */
export async function reportInconsistency(
  report: MirrorInconsistency,
  context: { storage: LogStorage; logger: Logger },
): Promise<void> {
  context.logger.error(
    { mirrorInconsistency: report },
    `mirror: primary ${report.primaryUrl} is inconsistent for log "${report.sourceAppId}" (${report.kind}): ${report.message}; stopped following it`,
  );
}
