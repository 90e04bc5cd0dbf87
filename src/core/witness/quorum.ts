// A cosigned checkpoint against a tlog-policy (c2sp.org/tlog-policy): which of the policy's witnesses
// cosigned it, and whether they make up the policy's quorum. The log side uses it to decide that a
// checkpoint is witnessed; the auditor uses it to refuse one that is not.
import { NoteError, openNote, type NoteVerifier } from '../note/signed-note.js';
import { verifyCosignatureLine, type Cosignature } from './cosignature.js';
import type { Policy } from './policy.js';

/** A verified cosignature of one of a policy's witnesses. */
export interface PolicyCosignature extends Cosignature {
  /** The witness's name in the policy (its `witness <name> ...` line). */
  witness: string;
}

export interface WitnessedNote {
  /** The checkpoint body: the note's text, ending in a newline. */
  body: string;
  /** One verified cosignature per policy witness that cosigned, in the policy's witness order. */
  cosignatures: PolicyCosignature[];
  /** Whether those witnesses satisfy the policy's quorum (`quorum none` always does). */
  quorum: boolean;
}

/**
 * Whether the witnesses named in `cosigned` (policy names) satisfy `policy.quorum`. A policy without a
 * quorum line has no quorum to meet: throws NoteError rather than guessing one.
 */
export function quorumSatisfied(policy: Policy, cosigned: ReadonlySet<string>): boolean {
  if (policy.quorum === null) throw new NoteError('the policy has no quorum line');
  const groups = new Map(policy.groups.map((g) => [g.name, g]));
  // parsePolicy only lets a group name members defined above it, so this recursion ends.
  const satisfied = (name: string): boolean => {
    if (name === 'none') return true;
    const group = groups.get(name);
    if (group === undefined) return cosigned.has(name);
    let count = 0;
    for (const member of group.members) if (satisfied(member)) count++;
    return count >= group.threshold;
  };
  return satisfied(policy.quorum);
}

/**
 * Opens a checkpoint note signed by the log (one of `logVerifiers`) and collects the cosignatures of
 * the policy's witnesses. Throws NoteError when the log's signature is missing or fails, and
 * CosignatureError when a line by a policy witness's key is malformed or its cosignature fails: a
 * note carrying a forged cosignature of a trusted witness is refused whole, as signed-note refuses a
 * failing signature of a known key. Cosignatures by keys outside the policy are ignored.
 */
export function verifyWitnessedNote(note: string, logVerifiers: readonly NoteVerifier[], policy: Policy): WitnessedNote {
  const opened = openNote(note, logVerifiers);
  const body = opened.text;
  const lines = note.slice(body.length + 1, -1).split('\n');
  const cosignatures: PolicyCosignature[] = [];
  for (const witness of policy.witnesses) {
    for (const line of lines) {
      const cosignature = verifyCosignatureLine(line, body, witness.verifier);
      if (cosignature !== null) {
        cosignatures.push({ ...cosignature, witness: witness.name });
        break;
      }
    }
  }
  const quorum = quorumSatisfied(policy, new Set(cosignatures.map((c) => c.witness)));
  return { body, cosignatures, quorum };
}
