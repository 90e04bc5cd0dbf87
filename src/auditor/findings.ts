// What an audit can find wrong. `seq` names the log position (for checkpoints: their tree size).

export type FindingKind =
  /** The checkpoint note is not signed by the trusted key, or is not a note at all. */
  | 'BAD_SIGNATURE'
  /** The signed body is not a valid checkpoint, or the served fields contradict it. */
  | 'BAD_CHECKPOINT'
  | 'WRONG_ORIGIN'
  /** The new checkpoint is smaller than the one trusted before. */
  | 'ROLLBACK'
  /** Same size as the trusted checkpoint, different root. */
  | 'FORK'
  | 'BAD_CONSISTENCY_PROOF'
  /** An event's fields cannot be encoded as a leaf (bad time format, wrong types). */
  | 'BAD_EVENT'
  /** An event's fields do not hash to the leaf the signed tree holds (or the served hash is not its leaf hash). */
  | 'LEAF_HASH_MISMATCH'
  | 'BROKEN_LINK'
  /** The server returned an event at the wrong position or of another log. */
  | 'WRONG_POSITION'
  | 'BAD_RANGE_PROOF'
  | 'BAD_INCLUSION_PROOF'
  /**
   * A tree node the service stores (and builds every proof from) is not the hash of the events under it, or
   * is not stored: the log is intact, but the proofs that carry the node fail.
   */
  | 'BAD_TREE_NODE'
  /** The server says an event it stores is malformed (MALFORMED_EVENT): it cannot serve it, so it cannot be proven. */
  | 'MALFORMED_EVENT'
  /** The server would not answer a proof query the audit needs. */
  | 'PROOF_UNAVAILABLE'
  | 'MALFORMED_RESPONSE'
  /** --policy: a cosignature line by a policy witness's key that is malformed or does not verify. */
  | 'BAD_COSIGNATURE'
  /** --policy: the policy witnesses that cosigned the checkpoint do not make up its quorum. */
  | 'NO_QUORUM'
  /** --max-age: the newest cosignature by a policy witness is older than allowed (or there is none). */
  | 'STALE_CHECKPOINT'
  /** A leaf version 2 event's payload and salt do not give its payloadHash: altered. */
  | 'PAYLOAD_MISMATCH'
  /** A leaf version 2 event is served without its payload, and the erasures log does not list it. */
  | 'UNRECORDED_ERASURE'
  /**
   * --key-reads-every-log: the server withheld erasure records from the key, as from a key limited to
   * some logs. Either the key is limited after all, or the server hides records to make erased payloads
   * unprovable (UNKNOWN) instead of unrecorded (UNRECORDED_ERASURE).
   */
  | 'WITHHELD_ERASURE_RECORDS';

export interface Finding {
  kind: FindingKind;
  seq: number | null;
  message: string;
}

export const finding = (kind: FindingKind, seq: number | null, message: string): Finding => ({ kind, seq, message });

/** Lowest position any finding names, or null. */
export function firstBadSeq(findings: readonly Finding[]): number | null {
  const seqs = findings.map((f) => f.seq).filter((s): s is number => s !== null);
  return seqs.length === 0 ? null : Math.min(...seqs);
}
