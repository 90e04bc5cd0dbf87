// Where a server keeps the inconsistencies it detected (src/core/inconsistency/evidence.ts): as a
// witness refusing a fork, as a mirror whose copy no longer matches, or comparing views with peers.
// Records are written once, keyed by their evidence's content id, and never changed or deleted.

export const DETECTORS = ['witness', 'mirror', 'peer'] as const;
export type Detector = (typeof DETECTORS)[number];

export interface InconsistencyRecord {
  /** The evidence's content id (lowercase hex SHA-256 of its text): the same evidence is one record. */
  id: string;
  /** The evidence's kind (src/core/inconsistency/evidence.ts InconsistencyKind). */
  kind: string;
  /** True for the kinds that prove a fork; false for an unproven observation. */
  proven: boolean;
  origin: string;
  /** The source application when the origin is one of this server's logs (or a followed one); else null. */
  sourceAppId: string | null;
  detectedBy: Detector;
  /** Who saw it: the witness's name, the followed server's URL, the peer's URL. */
  source: string;
  /** Epoch milliseconds of the first detection. */
  detectedAt: number;
  /** The evidence document, as verify --evidence reads it. */
  evidence: string;
}

/** The position of a record in the newest-first order: (detectedAt desc, id desc). */
export interface InconsistencyKey {
  detectedAt: number;
  id: string;
}

export interface InconsistencyQuery {
  origin?: string;
  /** Records of these source applications only (null: any, including records of no application). */
  sourceAppIds?: readonly string[] | null;
  /** Records after this one in the newest-first order. */
  after?: InconsistencyKey;
  limit: number;
}

export interface InconsistencyStore {
  init(): Promise<void>;
  /** Adds the record unless one with its id exists (that one stays as it is). True when it was added. */
  record(r: InconsistencyRecord): Promise<boolean>;
  /** Newest first: detectedAt descending, then id descending. */
  list(q: InconsistencyQuery): Promise<InconsistencyRecord[]>;
}
