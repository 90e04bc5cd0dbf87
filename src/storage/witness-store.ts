// Where a witness keeps the latest checkpoint it cosigned for each log, and the evidence of the
// checkpoints it refused as inconsistent with one it cosigned (c2sp.org/tlog-witness).

/** The latest checkpoint a witness cosigned for one origin. */
export interface WitnessState {
  origin: string;
  size: number;
  /** Lowercase hex. */
  rootHash: string;
  /** The signed note as the log submitted it, with the witness's cosignature line appended. */
  note: string;
  /** Epoch milliseconds of the cosignature. */
  updatedAt: number;
}

/** A state as read: `revision` is the engine's token of that exact write, for compareAndSwap. */
export interface StoredWitnessState extends WitnessState {
  revision: string;
}

/** A submitted checkpoint that contradicts a cosigned one (or the empty tree): kept, never repaired. */
export interface WitnessEvidence {
  /** Derived from the content: recording the same evidence twice keeps one record. */
  id: string;
  origin: string;
  /** Which check failed (see src/core/witness/decide.ts InconsistencyReason). */
  reason: string;
  /** The note the witness had cosigned last, with its cosignature (null for a size-0 checkpoint with another root). */
  cosignedNote: string | null;
  /** The log-signed note that contradicts it. */
  submittedNote: string;
  oldSize: number;
  /** The consistency proof as sent, base64 hashes. */
  proof: string[];
  recordedAt: number;
}

export interface WitnessStore {
  init(): Promise<void>;
  latest(origin: string): Promise<StoredWitnessState | null>;
  /**
   * Atomically replaces the state of `next.origin` if it is still `expected`, the state as latest()
   * read it (null: the witness had no state for it), also against other processes sharing the
   * database. Returns false if another write came first; the state is then not `next`.
   */
  compareAndSwap(expected: StoredWitnessState | null, next: WitnessState): Promise<boolean>;
  recordEvidence(evidence: WitnessEvidence): Promise<void>;
  /** Evidence of one origin (every origin when omitted), oldest first. */
  listEvidence(origin?: string): Promise<WitnessEvidence[]>;
}
