// The one narrow interface every storage engine implements (SQLite, MongoDB).
// Engines store and index. They never sign, never choose an event's seq and never compute tree nodes:
// that is the log pipeline's job: events reach an engine linked and hashed, and it stores them as
// given. Every engine must pass test/storage/contract.ts.

import type { JsonObject } from '../core/json.js';
import type { NodeId } from '../core/compact/node.js';

// Defined by the core (which imports nothing outside itself); the storage contract speaks of them too.
export type { JsonObject, JsonValue } from '../core/json.js';
export type { NodeId } from '../core/compact/node.js';

/** An event as the log stores it. Field names follow the leaf (docs/log-format.md). */
export interface StoredEvent {
  sourceAppId: string;
  seq: number;
  eventType: string;
  /** Event time, epoch milliseconds (the leaf's `timestamp` is its ISO form). */
  timestamp: number;
  /** Acceptance time, epoch milliseconds. */
  receivedAt: number;
  /** The payload; null once erased (leaf version 2 only). */
  payload: JsonObject | null;
  /**
   * Leaf version 2: the leaf's payloadHash (lowercase hex, 64 chars), which makes the event a
   * version 2 leaf; null or absent for version 1.
   */
  payloadHash?: string | null;
  /** Leaf version 2 until erased: the 32-byte salt of payloadHash, lowercase hex; null otherwise. */
  payloadSalt?: string | null;
  /** When the payload was erased, epoch ms; null or absent while it exists. */
  erasedAt?: number | null;
  /** Why it was erased (the erasure's reason); null or absent while it exists. */
  erasureReason?: string | null;
  /** Lowercase hex, 64 chars. */
  prevHash: string;
  /** Leaf hash, lowercase hex, 64 chars. */
  hash: string;
  idempotencyKey: string | null;
  /**
   * Commit position: assigned by the engine at append, unique and increasing in commit order across
   * all logs of one store, but not dense (an engine may leave gaps between appends). Readers of
   * committed events (readCommitted, lastPos) never see a position below which an event may still
   * commit, so a reader that has passed a pos never misses an event below it. Subscriptions replay
   * by it; keyset pagination breaks ties with it.
   */
  pos: number;
}

/**
 * Bytes one event counts for in an engine's append budget (LogStorage.maxAppendBytes): its UTF-8
 * text fields plus a fixed allowance for the rest of its stored form.
 */
export function appendBytes(e: {
  sourceAppId: string;
  eventType: string;
  idempotencyKey?: string | null;
  payloadText: string;
}): number {
  return (
    APPEND_EVENT_OVERHEAD_BYTES +
    Buffer.byteLength(e.payloadText) +
    Buffer.byteLength(e.sourceAppId) +
    Buffer.byteLength(e.eventType) +
    (e.idempotencyKey ? Buffer.byteLength(e.idempotencyKey) : 0)
  );
}
/** Hashes, numbers and field names of one stored event, with room to spare. */
const APPEND_EVENT_OVERHEAD_BYTES = 512;

/** An event ready to be appended: everything but the engine-assigned `pos`. */
export type NewEvent = Omit<StoredEvent, 'pos'> & {
  /**
   * The payload's RFC 8785 text, exactly as its leaf holds it, when the sequencer has it: engines store
   * this rather than serialize the payload a second time.
   */
  payloadText?: string;
};

/**
 * Decode a readCommitted page's rows in order: a row that breaks the contract fails the read, or
 * with options.reportMalformed is reported with its pos, so that a follower can go past it.
 */
export function decodeCommitted<R extends { pos: number }>(
  rows: readonly R[],
  decode: (row: R) => StoredEvent,
  options: ReadCommittedOptions,
): { events: StoredEvent[]; malformed: MalformedCommitted[] } {
  const events: StoredEvent[] = [];
  const malformed: MalformedCommitted[] = [];
  for (const row of rows) {
    try {
      events.push(decode(row));
    } catch (err) {
      if (!(options.reportMalformed && err instanceof MalformedEventError)) throw err;
      malformed.push({ pos: row.pos, error: err });
    }
  }
  return { events, malformed };
}

/** The stored form of an appended event (without what only the append needed). */
export function storedEvent(e: NewEvent, pos: number): StoredEvent {
  return {
    sourceAppId: e.sourceAppId,
    seq: e.seq,
    eventType: e.eventType,
    timestamp: e.timestamp,
    receivedAt: e.receivedAt,
    payload: e.payload,
    ...(e.payloadHash
      ? {
          payloadHash: e.payloadHash,
          payloadSalt: e.payloadSalt ?? null,
          erasedAt: e.erasedAt ?? null,
          erasureReason: e.erasureReason ?? null,
        }
      : {}),
    prevHash: e.prevHash,
    hash: e.hash,
    idempotencyKey: e.idempotencyKey,
    pos,
  };
}

/** One event to erase, by its position. */
export interface EventId {
  sourceAppId: string;
  seq: number;
}

/** The head of a log as derived from its events. */
export interface LogHead {
  sourceAppId: string;
  /** Number of events (= next seq). */
  size: number;
  /** Leaf hash of event size-1, or 64 zeros for an empty log. */
  headHash: string;
  /** Number of leaves whose tree nodes are stored (<= size). */
  integratedSize: number;
  /** receivedAt of the first event, epoch ms. */
  createdAt: number;
}

export interface TreeNode extends NodeId {
  /** 32 bytes. */
  hash: Uint8Array;
}

export interface StoredCheckpoint {
  sourceAppId: string;
  treeSize: number;
  /** Lowercase hex. */
  rootHash: string;
  /** The full signed note text. */
  note: string;
  /** Epoch milliseconds. */
  publishedAt: number;
}

export interface EventFilter {
  sourceAppIds?: string[];
  eventTypes?: string[];
  /** Inclusive lower bound on timestamp, epoch ms. */
  from?: number;
  /** Exclusive upper bound on timestamp, epoch ms. */
  to?: number;
}

/** Keyset position in (timestamp, pos) order. */
export interface EventKey {
  timestamp: number;
  pos: number;
}

export interface EventQuery {
  filter: EventFilter;
  /** Direction of the scan in (timestamp, pos) order. */
  direction: 'asc' | 'desc';
  /** Return only events strictly beyond this key in the scan's direction. */
  after?: EventKey;
  limit: number;
}

/** What queryEvents found. */
export interface EventPage {
  /** Matches in scan order, at most the query's limit. */
  events: StoredEvent[];
  /**
   * Set when the read stopped at its budget of examined rows with fewer than `limit` matches: every
   * match between the query's start and this key is in `events`, and the scan continues with
   * `after: resumeAfter`. The key is that of the last row examined, which need not match the filter.
   */
  resumeAfter?: EventKey;
}

/** A stored event that breaks the storage contract, found at commit position `pos`. */
export interface MalformedCommitted {
  pos: number;
  error: MalformedEventError;
}

export interface ReadCommittedOptions {
  /**
   * Report stored events that break the contract in CommittedPage.malformed instead of failing the
   * read with MalformedEventError, so that a follower of every log can go past one damaged event.
   */
  reportMalformed?: boolean;
}

/** What readCommitted found. */
export interface CommittedPage {
  /** Committed matches in pos order, at most the read's limit. */
  events: StoredEvent[];
  /**
   * Every committed match with afterPos < pos <= through is in `events` (through >= the last event's
   * pos, and >= afterPos): the next read starts after it.
   */
  through: number;
  /** True when `through` is the commit horizon as of the read: nothing more matching has committed yet. */
  atHorizon: boolean;
  /**
   * With ReadCommittedOptions.reportMalformed: the stored events in the page's range that break the
   * storage contract, in pos order, each counted where a match would be (limit, through).
   */
  malformed?: MalformedCommitted[];
}

/**
 * The default budget of one read: the most rows (index entries or table rows) a queryEvents or
 * readCommitted call examines before it returns what it found with a position to resume from.
 */
export const DEFAULT_READ_BUDGET_ROWS = 2_000;

/** Thrown by appendEvents when a position or idempotency key is already taken. Nothing was written. */
export class AppendConflictError extends Error {
  constructor(
    message: string,
    readonly kind: 'position' | 'idempotencyKey',
  ) {
    super(message);
    this.name = 'AppendConflictError';
  }
}

/**
 * appendEvents could not learn whether its append committed (the connection failed and stayed
 * failed while it asked). Retrying the same events with their idempotency keys gives exactly-once.
 */
export class AppendOutcomeUnknownError extends Error {
  override name = 'AppendOutcomeUnknownError';
}

/**
 * The database did not answer within its time limit, or could not be reached. A write that fails so
 * may or may not have taken effect, except an append: appendEvents rejects with it only when nothing
 * was written (a claim left in doubt is AppendOutcomeUnknownError instead). Retrying is safe.
 */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
}

/** A named lease with a fencing number that grows with every change of holder. */
export interface Lease {
  name: string;
  owner: string;
  fence: number;
  /** Epoch ms, by the acquiring process's clock. */
  expiresAt: number;
}

/** The newest fence of a lease, as LeaseStore.holder() reads it. */
export interface LeaseHolder extends Lease {
  released: boolean;
  address?: string;
}

/** Leases for engines that several API processes share; acquisition must be atomic (one winner per fence). */
export interface LeaseStore {
  /**
   * Take the lease if it is free, expired or released (or extend it if `owner` holds it); null if held by
   * another. `address`: where the other processes reach the holder (recorded with the fence, see holder()).
   */
  tryAcquire(name: string, owner: string, ttlMs: number, address?: string): Promise<Lease | null>;
  /**
   * The newest fence of the lease as stored (null if it was never taken): who holds or last held it,
   * the address it recorded, whether it was released, and its expiry by the holder's clock. A hint for
   * routing only (a stale answer costs a forward to a process that no longer holds it).
   */
  holder(name: string): Promise<LeaseHolder | null>;
  /** Extend a held lease; false if it was lost (another holder took a newer fence). */
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  release(lease: Lease): Promise<void>;
  /**
   * Say that `owner` is waiting for the lease as it stands now (its newest fence), so its holder
   * hands it over after its current batch.
   */
  request(name: string, owner: string): Promise<void>;
  /**
   * For many leases in one read: the fence an owner other than `holder` last asked for each to be
   * handed over from; absent if none did. Fences, not times: no two processes' clocks are compared.
   */
  waitingFor(names: string[], holder: string): Promise<Map<string, number>>;
}

/**
 * What an engine shared by several processes offers so their sequencers and publishers take turns.
 * Turns are for throughput only: the engine's appends are safe whoever holds which lease.
 */
export interface Coordination {
  leases: LeaseStore;
  /**
   * Record the verifier key of the processes sharing this database, if none is recorded yet, and
   * return the recorded one: every process must sign checkpoints with the same key.
   */
  claimVerifierKey(verifierKey: string): Promise<string>;
}

/** The per-log sequencer-lease turns an append belongs to (engines shared by several processes). */
export interface CommitTurn {
  /** The fence of each log the append writes to. */
  fences: ReadonlyMap<string, number>;
}

/** The append's turn was taken over by another process; nothing of it was committed (engines may never raise it). */
export class TurnLostError extends Error {
  override name = 'TurnLostError';
}

/** Events of a range and, by position, the stored JSON text of each one's payload (null once erased). */
export interface EventsWithText {
  events: StoredEvent[];
  payloadTexts: Array<string | null>;
}

export interface LogStorage {
  /** API keys (src/auth), where the engine stores them. */
  apiKeys?: import('./api-key-store.js').ApiKeyStore;
  /** The witness's cosigned checkpoints and evidence (src/witness), where the engine stores them. */
  witness?: import('./witness-store.js').WitnessStore;
  /** The inconsistencies detected (src/inconsistency), where the engine stores them. */
  inconsistencies?: import('./inconsistency-store.js').InconsistencyStore;
  /** Present on engines that several API processes may share (MongoDB); absent on embedded ones. */
  readonly coordination?: Coordination;
  /**
   * True if appendEvents calls may overlap: a call made before the previous one settles is applied
   * after it, in call order, and if its events do not continue their logs as stored by then, fails
   * with AppendConflictError('position') having written nothing. The sequencer then hashes the next
   * group of events while the engine writes the current one.
   */
  readonly orderedAppends?: boolean;
  /**
   * Where one append has a size limit (MongoDB: a batch is one document, under 16 MiB): the most
   * appendBytes() of the events of one appendEvents call. The sequencer keeps its groups within it
   * and refuses a request that alone exceeds it. Absent: no limit.
   */
  readonly maxAppendBytes?: number;
  /**
   * How many independent writes (one log's integration and checkpoint each) help at once: a caller
   * that writes many logs keeps at most this many in flight. Absent: the caller's own default.
   */
  readonly writeConcurrency?: number;
  /**
   * True if reads do all their work on the calling thread before they return (an embedded engine): the
   * event loop stands still for the whole read, so a caller that reads much (an audit) reads a little at
   * a time and yields between reads. Otherwise reads wait on I/O and may be large.
   */
  readonly synchronousReads?: boolean;

  /**
   * Where the engine counts the rows its reads of events examine on this process's thread (SQLite):
   * `listener` gets the count of each queryEvents and readCommitted call. Absent where reads run in
   * the database server.
   */
  observeReads?(listener: (rowsExamined: number) => void): void;

  /**
   * How many stored events the engine's indexes do not cover yet (SQLite: the events after the keys
   * behind the appends' `through`, which every read in time order, and every replay by event type,
   * reads from the events table). A few thousand while ingest runs, 0 at rest; one that keeps growing
   * means the writer fails to add the keys. Absent where the indexes are kept with the appends.
   */
  indexLag?(): number;

  /**
   * Another process sharing the database recorded an erasure of these events: the copies of committed
   * events this process keeps in memory for reads (MongoDB: its recent commits) are dropped, so that its
   * reads serve them from the stores, where the erasure is applied. Absent where no other process can
   * erase (an embedded engine has one process).
   */
  erasedElsewhere?(ids: readonly EventId[]): void;

  /** Create tables/collections and indexes; idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;

  // --- sequencing -------------------------------------------------------------------------
  /**
   * Append events, possibly to several logs, atomically and durably: all are written or none.
   * Each log's events are consecutive, in seq order, starting at that log's current size, and
   * linked: each one's prevHash is the hash of the one before it, the first one's the log's head hash
   * (ZERO_HASH_HEX for a new log). If any (sourceAppId, seq) or (sourceAppId, idempotencyKey) is
   * already taken, or an event does not link, throws AppendConflictError and leaves nothing
   * written. Any other error means nothing was written, except AppendOutcomeUnknownError. Returns
   * the events, in input order, with their `pos`.
   */
  appendEvents(events: NewEvent[], turn?: CommitTurn): Promise<StoredEvent[]>;
  /**
   * Store events another server sequenced (a mirror's copy of its primary, src/mirror) with their
   * seq, receivedAt, prevHash and hash exactly as given: never re-linked nor re-hashed, under the same
   * unique indexes as appendEvents. Idempotent on resume: an event already stored exactly so at its
   * position is skipped and returned as stored; the others must continue their logs. A position
   * holding a different event throws AppendConflictError('position') and writes nothing of it.
   * Events of one log come in seq order without gaps; hash and prevHash are 64 lowercase hex. A version 2
   * event given erased (payload null, with erasedAt and erasureReason) is stored erased: its payload
   * and salt never reach the store.
   */
  appendCopied(events: NewEvent[]): Promise<StoredEvent[]>;
  /** The head of one log, or null if it has no events. */
  getLogHead(sourceAppId: string): Promise<LogHead | null>;
  /** Heads of logs ordered by sourceAppId, starting strictly after `afterSourceAppId`. */
  listLogHeads(afterSourceAppId: string | null, limit: number): Promise<LogHead[]>;
  findByIdempotencyKeys(sourceAppId: string, keys: string[]): Promise<StoredEvent[]>;

  // --- reading ----------------------------------------------------------------------------
  getEvent(sourceAppId: string, seq: number): Promise<StoredEvent | null>;
  /** Events with start <= seq < end of one log, in seq order, at most `limit`. */
  getEventRange(sourceAppId: string, start: number, end: number, limit: number): Promise<StoredEvent[]>;
  /**
   * getEventRange with each event's stored payload text: payloadTexts[i] is exactly the JSON text the
   * decoder parsed into events[i].payload (a JSON object within MAX_STORED_PAYLOAD_BYTES, checked like
   * every other field), or null where the payload is erased. For a reader that writes the payloads out
   * again as JSON (the range-proof page splices the text instead of serializing each object again).
   */
  getEventRangeWithText(sourceAppId: string, start: number, end: number, limit: number): Promise<EventsWithText>;
  /**
   * Filtered keyset page in (timestamp, pos) order. Examines at most the store's read budget of rows
   * (besides the `limit` matches themselves); when it runs out first, the page is short and says
   * where to resume (EventPage.resumeAfter).
   */
  queryEvents(query: EventQuery): Promise<EventPage>;
  /**
   * Committed events matching `filter` with afterPos < pos <= lastPos(), in pos order, at most `limit`
   * (fewer when a page holds events that will never commit, or when the read examined its budget of
   * rows first: CommittedPage.through says how far it got). A stored event that breaks the contract
   * fails the read with MalformedEventError, or is reported in the page (options.reportMalformed).
   */
  readCommitted(afterPos: number, filter: EventFilter, limit: number, options?: ReadCommittedOptions): Promise<CommittedPage>;
  /**
   * The commit horizon: every event with pos <= lastPos() that will ever commit has committed, and it
   * covers every append already acknowledged by this store (0 when empty).
   */
  lastPos(): Promise<number>;

  // --- erasure ----------------------------------------------------------------------------
  /**
   * Erase the payloads of these version 2 events: delete payload and salt, keep payloadHash (the leaf
   * is unchanged), set erasedAt and erasureReason. All or nothing where the engine can (SQLite: one
   * transaction); where it cannot (MongoDB), each event is erased at most once and a repeated call
   * completes what an interrupted one left, so callers apply an erasure again until it returns.
   * Events that are version 1, already erased or absent are left alone. Returns how many it erased.
   * No copy of an erased payload stays readable in the engine's stores (docs: erasure).
   */
  eraseEvents(ids: EventId[], erasedAt: number, reason: string): Promise<number>;
  /**
   * The size of the erasures log below which every erasure record is applied (0 until raised): a start
   * applies the records from there on, not every record again. Only a caller that applied (or saw
   * applied) every record below a size raises it to that size.
   */
  erasuresAppliedBelow(): Promise<number>;
  /**
   * Raises erasuresAppliedBelow to `size` where it is lower, never lowering it: one atomic write, also
   * against other processes sharing the database. `listings` are, for the records below `size` that
   * the caller applied since it read erasuresAppliedBelow, each log a record lists events of with the
   * record's position: they are stored before the size is raised (where the engine can, in the same
   * transaction), so that erasureListings is complete below the size. A pair stored again is ignored.
   * With `copiedBelow` (at most `size`), raises erasuresCopiedBelow to it in the same write.
   */
  raiseErasuresAppliedBelow(
    size: number,
    listings?: ReadonlyArray<readonly [sourceAppId: string, record: number]>,
    copiedBelow?: number,
  ): Promise<void>;
  /**
   * On a mirror: the size of its copy of the erasures log below which no record lists an event the
   * mirror has not stored yet (one it stores erased when the copy reaches it). At most
   * erasuresAppliedBelow; 0 on a primary and on a store from before it was kept. A mirror's start
   * reads the records from there on to learn which events it owes its copy erased, not every record.
   * Raised with `copiedBelow` of raiseErasuresAppliedBelow, in the same atomic write, never lowered.
   */
  erasuresCopiedBelow(): Promise<number>;
  /**
   * The positions in [from, below) of the erasures log's records that list events of `sourceAppId`,
   * ascending, at most `limit`. Complete below erasuresAppliedBelow; above it, records may be missing.
   */
  erasureListings(sourceAppId: string, from: number, below: number, limit: number): Promise<number[]>;

  // --- tree -------------------------------------------------------------------------------
  /**
   * Store tree nodes and raise the log's integrated size from `fromSize` to `toSize`, atomically
   * where the engine can; where it cannot, nodes are written first (they are deterministic, so
   * rewriting is harmless). `nodes` are of level >= 1 (level 0 is the events' own hash). A no-op when the integrated size is already >= toSize. Throws if the
   * integrated size is below fromSize (a gap would be left).
   *
   * With `checkpoint` (of this log, tree size toSize): also stored as putCheckpoint stores it, in the
   * same transaction where the engine can (one commit for a publish), and never before the nodes and
   * the integrated size: a stored checkpoint always has its tree. Stored as well when the integrated
   * size already reached toSize. If the call throws, the checkpoint may or may not be stored, as with
   * putCheckpoint.
   */
  integrate(
    sourceAppId: string,
    fromSize: number,
    toSize: number,
    nodes: TreeNode[],
    checkpoint?: StoredCheckpoint,
  ): Promise<void>;
  /**
   * Hashes of the given nodes in the same order; level-0 nodes are event leaf hashes. Throws
   * MissingTreeNodeError if one is not stored.
   */
  getTreeNodes(sourceAppId: string, ids: NodeId[]): Promise<Uint8Array[]>;

  // --- checkpoints ------------------------------------------------------------------------
  /** Idempotent for the same (sourceAppId, treeSize). */
  putCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  /** The checkpoint of that size, or the latest when treeSize is undefined. */
  getCheckpoint(sourceAppId: string, treeSize?: number): Promise<StoredCheckpoint | null>;
  /**
   * The latest checkpoint of each log, as getCheckpoint gives it, in the order asked (null for a log
   * with none): a few reads for many logs, each bounded by the number of logs asked for.
   */
  getLatestCheckpoints(sourceAppIds: readonly string[]): Promise<Array<StoredCheckpoint | null>>;
  /** Checkpoints of one log by treeSize in `direction`, strictly beyond `afterTreeSize`. */
  listCheckpoints(
    sourceAppId: string,
    afterTreeSize: number | null,
    limit: number,
    direction: 'asc' | 'desc',
  ): Promise<StoredCheckpoint[]>;
  /**
   * Atomically replaces the note of the checkpoint (sourceAppId, treeSize) if it is still `expected`,
   * also against other processes sharing the database (one conditional single-row or single-document
   * write). Returns false when the note is no longer `expected` (or there is no such checkpoint): the
   * caller reads it again and merges. The caller keeps the checkpoint's body and log signature.
   */
  replaceCheckpointNote(sourceAppId: string, treeSize: number, expected: string, note: string): Promise<boolean>;
}

/** Every call of LogStorage that reaches the database: its methods but init, close and the optional hooks. */
export const LOG_STORAGE_CALLS = [
  'appendEvents',
  'appendCopied',
  'getLogHead',
  'listLogHeads',
  'findByIdempotencyKeys',
  'getEvent',
  'getEventRange',
  'getEventRangeWithText',
  'queryEvents',
  'readCommitted',
  'lastPos',
  'eraseEvents',
  'erasuresAppliedBelow',
  'raiseErasuresAppliedBelow',
  'erasuresCopiedBelow',
  'erasureListings',
  'integrate',
  'getTreeNodes',
  'putCheckpoint',
  'getCheckpoint',
  'getLatestCheckpoints',
  'listCheckpoints',
  'replaceCheckpointNote',
] as const satisfies ReadonlyArray<keyof LogStorage>;

/**
 * getTreeNodes asked for a node that is not stored (a leaf: no event at that position), or, where the
 * engine can tell, one stored as something other than bytes. Any other failure of the read (the engine
 * unreachable, a timeout) is not this error: a caller may treat this one as the store's fault.
 */
export class MissingTreeNodeError extends Error {
  override name = 'MissingTreeNodeError';
  constructor(
    readonly sourceAppId: string,
    readonly level: number,
    readonly index: number,
    detail = 'is not stored',
  ) {
    super(`tree node (${level}, ${index}) of log ${JSON.stringify(sourceAppId)} ${detail}`);
  }
}

/**
 * A stored event (row or document) that breaks the storage contract: a field of the wrong type, a hash
 * that is not 64 lowercase hex characters, a payload that is not a JSON object, a missing column.
 * Engines throw it from every read that decodes events, instead of handing on a value that would fail
 * later in some unrelated place. `seq` is null when the position itself cannot be read.
 */
export class MalformedEventError extends Error {
  override name = 'MalformedEventError';
  constructor(
    readonly sourceAppId: string | null,
    readonly seq: number | null,
    /** The StoredEvent field the rule applies to, e.g. `prevHash`. */
    readonly field: string,
    /** The rule the stored value breaks, e.g. `lowercaseHex64`. */
    readonly rule: string,
    detail: string,
  ) {
    super(
      `stored event ${sourceAppId === null ? '?' : JSON.stringify(sourceAppId)} at seq ${seq ?? '?'} is malformed: ${field} ${detail}`,
    );
  }
}
