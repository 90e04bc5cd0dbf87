// Step 1 of an audit: the checkpoint, opened only with the verifier key the auditor trusts.
import {
  CheckpointError,
  NoteError,
  logVerifiers,
  openCheckpoint,
  parseCheckpoint,
  type Checkpoint,
  type NoteVerifier,
} from '../core/index.js';
import { finding, type Finding } from './findings.js';

export type CheckpointCheck = { checkpoint: Checkpoint; finding: null } | { checkpoint: null; finding: Finding };

/** Size named by an unverified note, only to say which checkpoint failed. */
function claimedSize(note: string): number | null {
  try {
    return parseCheckpoint(note.slice(0, note.indexOf('\n\n') + 1)).size;
  } catch {
    return null;
  }
}

export function checkCheckpointNote(note: string, verifier: NoteVerifier, expectedOrigin: string): CheckpointCheck {
  let checkpoint: Checkpoint;
  try {
    // Signed under the log's origin as key name, or (earlier checkpoints) under the pinned key's own name.
    checkpoint = openCheckpoint(note, logVerifiers(verifier, expectedOrigin));
  } catch (err) {
    const size = claimedSize(note);
    const at = size === null ? '' : ` of size ${size}`;
    if (err instanceof NoteError) {
      return {
        checkpoint: null,
        finding: finding(
          'BAD_SIGNATURE',
          size,
          `checkpoint${at} is not signed by the trusted key ${verifier.name}: ${err.message}`,
        ),
      };
    }
    if (err instanceof CheckpointError) {
      return { checkpoint: null, finding: finding('BAD_CHECKPOINT', size, `checkpoint${at} is malformed: ${err.message}`) };
    }
    throw err;
  }
  if (checkpoint.origin !== expectedOrigin) {
    const msg = `checkpoint of size ${checkpoint.size} has origin ${JSON.stringify(checkpoint.origin)}, want ${JSON.stringify(expectedOrigin)}`;
    return { checkpoint: null, finding: finding('WRONG_ORIGIN', checkpoint.size, msg) };
  }
  return { checkpoint, finding: null };
}
