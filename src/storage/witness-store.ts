// Where a witness keeps the latest checkpoint it cosigned for each log (c2sp.org/tlog-witness). The
// checkpoints it refuses as inconsistent go to the inconsistency store (inconsistency-store.ts).

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

export interface WitnessStore {
  init(): Promise<void>;
  latest(origin: string): Promise<StoredWitnessState | null>;
  /**
   * Atomically replaces the state of `next.origin` if it is still `expected`, the state as latest()
   * read it (null: the witness had no state for it), also against other processes sharing the
   * database. Returns false if another write came first; the state is then not `next`.
   */
  compareAndSwap(expected: StoredWitnessState | null, next: WitnessState): Promise<boolean>;
  /**
   * The witness's verifier key as the store records it: `verifierKey` when none was recorded (it is
   * then, atomically, also across processes sharing the database), else the one recorded first. A
   * witness whose key differs from the answer must not cosign: another process cosigns as this witness.
   */
  claimVerifierKey(verifierKey: string): Promise<string>;
}
