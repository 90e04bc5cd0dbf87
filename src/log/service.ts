// What the API (GraphQL, REST, subscriptions) needs from the log: the pipeline's public face.
import type {
  CommittedPage,
  EventFilter,
  EventId,
  EventPage,
  EventQuery,
  JsonObject,
  JsonValue,
  LogHead,
  MalformedCommitted,
  StoredCheckpoint,
  StoredEvent,
} from '../storage/types.js';
import type { TileSource } from './tiles.js';

/** A listener of commits: the events in pos order, and those read back malformed (LogService.onCommitted). */
export type CommittedListener = (events: StoredEvent[], malformed?: readonly MalformedCommitted[]) => void;

/** A listener of erasures: the events whose payloads were erased (LogService.onErased). */
export type ErasedListener = (ids: readonly EventId[], erasedAt: number, reason: string) => void;

/** One event to append, already validated by the API (zod) and with timestamp in epoch ms. */
export interface AppendRequest {
  sourceAppId: string;
  eventType: string;
  timestamp: number;
  payload: JsonObject;
  /** canonicalJson(payload), if the caller has made it (validation does). */
  payloadText?: string;
  idempotencyKey?: string | null;
  /** If given, must equal the log's head hash at sequencing time, else CONFLICT and nothing written. */
  expectedPrevHash?: string | null;
}

export interface InclusionProofResult {
  sourceAppId: string;
  leafIndex: number;
  treeSize: number;
  leafHash: string;
  rootHash: string;
  hashes: string[];
  checkpoint: StoredCheckpoint;
}

export interface ConsistencyProofResult {
  sourceAppId: string;
  fromSize: number;
  toSize: number;
  fromRoot: string;
  toRoot: string;
  hashes: string[];
}

export interface RangeProofResult {
  sourceAppId: string;
  start: number;
  end: number;
  treeSize: number;
  rootHash: string;
  /** Compact range of [0, start), left to right. */
  leftHashes: string[];
  /** Compact range of [end, treeSize), left to right. */
  rightHashes: string[];
  events: StoredEvent[];
  /**
   * By position, the stored JSON text of each event's payload (null once erased), as
   * LogStorage.getEventRangeWithText hands it over; absent where the events were not read that way.
   */
  payloadTexts?: Array<string | null>;
  checkpoint: StoredCheckpoint;
  /**
   * With `nodes` asked for: the stored tree nodes of level >= 1 that the range's leaves complete
   * (core's completedNodes(start, end)), one run per level from level 1 up, each hash lowercase hex.
   * An auditor that recomputes them from the leaves checks the nodes every proof is made of.
   */
  nodes?: TreeNodeRun[];
}

/** Stored tree nodes of one level: indexes [index, index + hashes.length); null where a node is not stored. */
export interface TreeNodeRun {
  level: number;
  index: number;
  hashes: Array<string | null>;
}

export interface RangeProofOptions {
  /** Add the stored nodes the range completes (RangeProofResult.nodes). Default false. */
  nodes?: boolean;
}

export type VerificationProblemKind =
  | 'BROKEN_LINK'
  | 'LEAF_HASH_MISMATCH'
  | 'GAP'
  | 'DUPLICATE_POSITION'
  | 'TREE_NODE_MISMATCH'
  | 'ROOT_MISMATCH'
  | 'BAD_SIGNATURE'
  | 'BAD_CHECKPOINT'
  /** A stored event breaks the storage contract (a field of the wrong type or form); its leaf is unknown. */
  | 'MALFORMED_EVENT'
  /** An event is stored at or past the log's committed size, where no commit puts one (embedded engines). */
  | 'EVENT_PAST_HEAD'
  /** A version 2 event's payload and salt do not give its payloadHash: altered. */
  | 'PAYLOAD_MISMATCH'
  /** A version 2 event has no payload, and the erasures log does not list it: deleted outside the erasure path. */
  | 'UNRECORDED_ERASURE';

export interface VerificationProblem {
  kind: VerificationProblemKind;
  /** The log position the problem was found at (for checkpoints: their tree size). */
  seq: number;
  message: string;
}

export interface VerificationReport {
  sourceAppId: string;
  fromSeq: number;
  toSeq: number;
  eventsChecked: number;
  /** Events found erased and listed in the erasures log (an erasure, not a problem). */
  eventsErased: number;
  checkpointsChecked: number;
  ok: boolean;
  /** Lowest position of any problem, or null when ok. */
  firstBadSeq: number | null;
  problems: VerificationProblem[];
}

/** What eraseEvents selects: events by id, or the events of one log by filter or by a payload field. */
export type ErasureSelection =
  | { kind: 'ids'; ids: Array<{ sourceAppId: string; seq: number }> }
  | { kind: 'filter'; sourceAppId: string; from?: number; to?: number; eventTypes?: string[] }
  | { kind: 'payloadField'; sourceAppId: string; path: string[]; equals: JsonValue };

export interface EraseRequest {
  selection: ErasureSelection;
  reason: string;
  /** Who asked: the API key's id, or `retention`. */
  by: string;
}

export interface EraseResult {
  erased: number;
  /** The event id in the erasures log (`<ERASURES_LOG>/<seq>`) of the last of `recordIds`. */
  recordId: string;
  /**
   * Every record that lists an event this call erased, in order: records of earlier calls whose apply
   * failed and this call completed (it does not list their events again), then this call's own, unless
   * every event it selected was listed already.
   */
  recordIds: string[];
  /** True when the call stopped at its limit of events: call again to erase the rest. */
  more: boolean;
}

/** One erasure record and its inclusion proof in the erasures log (LogService.erasureRecordsOf). */
export interface ProvenErasureRecord {
  /** The record: an event of the erasures log. */
  event: StoredEvent;
  /** Its leaf's inclusion proof at the page's checkpoint, lowercase hex. */
  hashes: string[];
}

/** What one read of the erasures log found for one log (LogService.erasureRecordsOf). */
export interface ErasureRecordPage {
  /** The erasures log's checkpoint the proofs are against; null while it has none (and the page is empty). */
  checkpoint: StoredCheckpoint | null;
  /** Records in [from, next) that list events of the log and of readable logs only, in log order. */
  records: ProvenErasureRecord[];
  /** Positions in [from, next) of records that list events of the log and of a log the reader may not read. */
  withheld: number[];
  /** Where the next read starts; null once the checkpoint's size is reached. */
  next: number | null;
  /**
   * With `consistentWith`: the consistency proof from that size to the checkpoint's, lowercase hex; null
   * when it was not asked for or there is no checkpoint.
   */
  consistencyProof: string[] | null;
}

export interface CheckpointUpdate {
  checkpoint: StoredCheckpoint;
  /** The previous checkpoint of that log, or null for its first. */
  previous: StoredCheckpoint | null;
  /** RFC 9162 consistency proof from previous.treeSize to checkpoint.treeSize (empty if no previous). */
  consistencyHashes: string[];
  /**
   * Set on the second delivery of a checkpoint: its note now carries the cosignatures of the witness
   * policy's quorum (src/witnessing). The first delivery, at publishing, leaves it unset.
   */
  cosigned?: true;
}

export interface ServerInfo {
  version: string;
  keyName: string;
  verifierKey: string;
  originPrefix: string;
  checkpointIntervalMs: number;
  /** Set on a mirror (FOLLOW_URL): the primary's URL. A mirror writes nothing of its own (READ_ONLY_MIRROR). */
  mirrorOf?: string;
}

export interface LogService {
  readonly info: ServerInfo;
  /** The C2SP tlog-tiles of each log (src/log/tiles.ts). */
  readonly tiles: TileSource;
  /** The verifier key of one log's checkpoints: the server's key under the log's origin as key name. */
  verifierKeyOf(sourceAppId: string): string;

  /** Append atomically (all or nothing) and durably; resolves once committed. Throws LogError. */
  append(requests: AppendRequest[]): Promise<StoredEvent[]>;

  getEvent(sourceAppId: string, seq: number): Promise<StoredEvent | null>;
  /** A filtered keyset page; short with `resumeAfter` when the read examined its budget of rows (LogStorage.queryEvents). */
  queryEvents(query: EventQuery): Promise<EventPage>;
  /** Events matching filter committed after `afterPos`, in commit order, and how far the read got (LogStorage.readCommitted). */
  readCommitted(afterPos: number, filter: EventFilter, limit: number): Promise<CommittedPage>;
  getLogHead(sourceAppId: string): Promise<LogHead | null>;
  listLogHeads(afterSourceAppId: string | null, limit: number): Promise<LogHead[]>;

  getCheckpoint(sourceAppId: string, treeSize?: number): Promise<StoredCheckpoint | null>;
  /** The latest checkpoint of each log, in the order asked, null for a log with none (LogStorage.getLatestCheckpoints). */
  getLatestCheckpoints(sourceAppIds: readonly string[]): Promise<Array<StoredCheckpoint | null>>;
  listCheckpoints(
    sourceAppId: string,
    afterTreeSize: number | null,
    limit: number,
    direction: 'asc' | 'desc',
  ): Promise<StoredCheckpoint[]>;
  /** Proofs default to the latest checkpoint's size and accept any size up to it. Throw LogError. */
  inclusionProof(sourceAppId: string, seq: number, treeSize?: number): Promise<InclusionProofResult>;
  consistencyProof(sourceAppId: string, fromSize: number, toSize: number): Promise<ConsistencyProofResult>;
  rangeProof(
    sourceAppId: string,
    start: number,
    end: number,
    treeSize?: number,
    options?: RangeProofOptions,
  ): Promise<RangeProofResult>;
  /** RangeProofResult.nodes of a range proof already made (its end at most its tree size). */
  rangeProofNodes(proof: RangeProofResult): Promise<TreeNodeRun[]>;
  verifyLog(sourceAppId: string, fromSeq?: number, toSeq?: number): Promise<VerificationReport>;

  /** The leaf version of a log (that of its first event); null if it has no events. */
  leafVersionOf(sourceAppId: string): Promise<1 | 2 | null>;
  /** Erase payloads of version 2 events and record the erasure in the erasures log. Throws LogError. */
  eraseEvents(request: EraseRequest): Promise<EraseResult>;
  /**
   * The records of the erasures log at positions from <= seq < next (one read of Erasures.listing: at most
   * ERASURE_RECORDS_PER_READ records, below the checkpoint of size treeSize, the latest when omitted) that list events of `sourceAppId`, each proven in
   * the erasures log. A record that also lists an event of a log `mayRead` refuses is withheld: only its
   * position is given. With `consistentWith` (a size the reader trusts, at most the checkpoint's), the page
   * carries the consistency proof from it to the checkpoint. Throws LogError (treeSize without a checkpoint,
   * consistentWith past it).
   */
  erasureRecordsOf(
    sourceAppId: string,
    from: number,
    treeSize: number | undefined,
    mayRead: (sourceAppId: string) => boolean,
    consistentWith?: number,
  ): Promise<ErasureRecordPage>;
  /** Called after each erasure is applied, so that holders of events (subscription buffers) drop the payloads. */
  onErased(listener: ErasedListener): () => void;

  /** Integrate and publish now for every log that grew; returns the new checkpoints. */
  publishCheckpoints(): Promise<StoredCheckpoint[]>;

  /**
   * Called after each commit with the committed events in pos order, and the committed events
   * that were found malformed when read back (processes sharing a database read every commit from
   * storage). Returns an unsubscribe function.
   */
  onCommitted(listener: CommittedListener): () => void;
  onCheckpoint(listener: (update: CheckpointUpdate) => void): () => void;
  /** Why the log is quarantined (no checkpoint is published for it), or null; absent where nothing quarantines. */
  quarantineOf?(sourceAppId: string): string | null;
  /** Delivers a published checkpoint again to onCheckpoint listeners, now in its cosigned form (`cosigned` set). */
  deliverCosigned(update: CheckpointUpdate): void;
}
