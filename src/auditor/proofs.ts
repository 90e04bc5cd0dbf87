// Inclusion spot checks and the consistency step from the last trusted checkpoint to the new one.
import { equalBytes, fromHex, ProofError, toHex, verifyConsistency, verifyInclusion } from '../core/index.js';
import { finding, type Finding } from './findings.js';

export interface TreeHead {
  treeSize: number;
  rootHash: Uint8Array;
}

const HASH_RE = /^[0-9a-f]{64}$/;
const malformed = (hashes: readonly string[]) => hashes.some((h) => !HASH_RE.test(h));

export function checkInclusion(seq: number, leafHash: string, head: TreeHead, proof: readonly string[]): Finding | null {
  if (malformed(proof)) return finding('MALFORMED_RESPONSE', seq, `inclusion proof of ${seq} holds a malformed hash`);
  try {
    verifyInclusion(fromHex(leafHash), seq, head.treeSize, proof.map(fromHex), head.rootHash);
    return null;
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    return finding(
      'BAD_INCLUSION_PROOF',
      seq,
      `inclusion proof of event ${seq} in tree size ${head.treeSize} fails: ${err.message}`,
    );
  }
}

/** What the consistency step needs: nothing, or a proof between the two sizes. */
export function consistencyNeed(trusted: TreeHead, latest: TreeHead): 'none' | 'proof' {
  return trusted.treeSize > 0 && latest.treeSize > trusted.treeSize ? 'proof' : 'none';
}

/** Null when `latest` extends `trusted`. `proof` is required when consistencyNeed says so. */
export function checkConsistency(trusted: TreeHead, latest: TreeHead, proof: readonly string[] | null): Finding | null {
  if (latest.treeSize < trusted.treeSize) {
    return finding(
      'ROLLBACK',
      latest.treeSize,
      `the log shrank: trusted checkpoint has size ${trusted.treeSize}, the new one ${latest.treeSize}`,
    );
  }
  if (latest.treeSize === trusted.treeSize) {
    return equalBytes(latest.rootHash, trusted.rootHash)
      ? null
      : finding(
          'FORK',
          latest.treeSize,
          `two signed roots for size ${latest.treeSize}: trusted ${toHex(trusted.rootHash)}, new ${toHex(latest.rootHash)}`,
        );
  }
  if (trusted.treeSize === 0) return null;
  if (proof === null)
    return finding('PROOF_UNAVAILABLE', trusted.treeSize, `no consistency proof from ${trusted.treeSize} to ${latest.treeSize}`);
  if (malformed(proof)) return finding('MALFORMED_RESPONSE', trusted.treeSize, 'consistency proof holds a malformed hash');
  try {
    verifyConsistency(trusted.treeSize, latest.treeSize, proof.map(fromHex), trusted.rootHash, latest.rootHash);
    return null;
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    return finding(
      'BAD_CONSISTENCY_PROOF',
      trusted.treeSize,
      `the new checkpoint (size ${latest.treeSize}) does not extend the trusted one (size ${trusted.treeSize}): ${err.message}`,
    );
  }
}
