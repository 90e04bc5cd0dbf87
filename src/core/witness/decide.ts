// What a witness answers to an add-checkpoint request, given the checkpoint it cosigned last for the
// origin (c2sp.org/tlog-witness). The log signature is verified before (403 and 404 come first); this
// is every later check, in the spec's order. A 'cosign' decision holds only while the stored state is
// still `stored`: the caller persists it by compare-and-swap on that state.
import { equalBytes } from '../bytes.js';
import type { Checkpoint } from '../checkpoint.js';
import { ProofError, verifyConsistency } from '../proof/verify.js';
import { emptyRoot } from '../rfc6962/hasher.js';
import type { AddCheckpointRequest } from './add-checkpoint.js';

/** The latest checkpoint a witness cosigned for one origin. */
export interface WitnessedCheckpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** The signed note as the log submitted it (cosignatures may follow). */
  note: string;
}

/**
 * Why a checkpoint is refused with 422. 'proof' and 'same-size-root' contradict a checkpoint the
 * witness cosigned (evidence of a fork when the proof is right); 'empty-tree-root' is a signed size-0
 * checkpoint with another root; 'proof-not-empty' is a proof sent with old size 0.
 */
export type InconsistencyReason = 'proof' | 'same-size-root' | 'empty-tree-root' | 'proof-not-empty';

export type WitnessDecision =
  | { kind: 'cosign' }
  | { kind: 'bad-request'; message: string }
  | { kind: 'conflict'; size: number }
  | { kind: 'inconsistent'; reason: InconsistencyReason; message: string };

export function decideAddCheckpoint(
  stored: WitnessedCheckpoint | null,
  req: Pick<AddCheckpointRequest, 'oldSize' | 'proof'>,
  checkpoint: Checkpoint,
): WitnessDecision {
  if (stored !== null && stored.origin !== checkpoint.origin) throw new Error('stored state of another origin');
  if (req.oldSize > checkpoint.size) {
    return { kind: 'bad-request', message: `old size ${req.oldSize} is larger than the checkpoint's size ${checkpoint.size}` };
  }
  const latest = stored?.size ?? 0;
  if (req.oldSize !== latest) return { kind: 'conflict', size: latest };
  if (checkpoint.size === 0 && !equalBytes(checkpoint.rootHash, emptyRoot())) {
    return {
      kind: 'inconsistent',
      reason: 'empty-tree-root',
      message: 'a checkpoint of size 0 must have the root hash of the empty tree',
    };
  }
  if (req.oldSize === 0) {
    if (req.proof.length !== 0)
      return { kind: 'inconsistent', reason: 'proof-not-empty', message: 'old size 0 takes an empty consistency proof' };
    // A size-0 state holds the empty root only, which every tree is consistent with.
    return { kind: 'cosign' };
  }
  const prior = stored!;
  if (checkpoint.size === prior.size) {
    if (!equalBytes(checkpoint.rootHash, prior.rootHash)) {
      return {
        kind: 'inconsistent',
        reason: 'same-size-root',
        message: `the checkpoint of size ${prior.size} has another root hash than the one cosigned`,
      };
    }
    if (req.proof.length !== 0)
      return { kind: 'inconsistent', reason: 'proof', message: 'a consistency proof between equal sizes must be empty' };
    return { kind: 'cosign' };
  }
  try {
    verifyConsistency(prior.size, checkpoint.size, req.proof, prior.rootHash, checkpoint.rootHash);
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    return {
      kind: 'inconsistent',
      reason: 'proof',
      message: `the consistency proof from size ${prior.size} to ${checkpoint.size} does not verify: ${err.message}`,
    };
  }
  return { kind: 'cosign' };
}
