// Document shapes of the MongoDB engine and their mapping to the storage interface.
import { Binary, type ObjectId } from 'mongodb';
import { decodeStoredEvent } from '../stored-event.js';
import type { NewEvent, NodeId, StoredCheckpoint, StoredEvent } from '../types.js';

export const collectionNames = {
  events: 'events',
  logs: 'logs',
  treeNodes: 'tree_nodes',
  checkpoints: 'checkpoints',
  checkpointNotes: 'checkpoint_notes',
  batches: 'batches',
  batchBodies: 'batch_bodies',
  integrated: 'integrated',
  erasuresApplied: 'erasures_applied',
  erasureListings: 'erasure_listings',
} as const;

/** Collections of the layout before the batch claim; a database holding them is not opened (see schema.ts). */
export const formerCollectionNames = ['counters', 'writers'] as const;

export interface EventDoc {
  _id?: ObjectId;
  sourceAppId: string;
  seq: number;
  eventType: string;
  timestamp: number;
  receivedAt: number;
  /**
   * The payload as its JSON text: BSON would reject or reinterpret some JSON keys ("$x", "a.b")
   * and the leaf must be recomputable byte for byte, so the engine keeps the client's JSON opaque.
   */
  payload?: string;
  /** Leaf version 2: the leaf's payloadHash; absent for version 1. */
  payloadHash?: string;
  /** Leaf version 2 until erased: the salt, lowercase hex; unset by an erasure (with `payload`). */
  payloadSalt?: string;
  /** Set by an erasure: epoch ms. */
  erasedAt?: number;
  /** Set by an erasure: its reason. */
  erasureReason?: string;
  prevHash: string;
  hash: string;
  /**
   * The idempotency key, or the event's seq (a number) when there is none: a number never equals a
   * string key, so one plain unique index on (sourceAppId, idempotencySlot) enforces key uniqueness
   * without partial indexes (which FerretDB lacks) and stays legal on a collection sharded by sourceAppId.
   */
  idempotencySlot: string | number;
  /** g * POS_PER_BATCH + the event's index in its batch (see BatchDoc). */
  pos: number;
}

/** Commit positions per batch: pos = g * POS_PER_BATCH + index, so pos grows with g and is unique. */
export const POS_PER_BATCH = 65_536;

/** One log's part of a batch. */
export interface BatchLogDoc {
  app: string;
  firstSeq: number;
  count: number;
  /** Leaf hash of the log's last event in this batch: the log's head once the batch is committed. */
  headHash: string;
  /** receivedAt of the log's first event when firstSeq is 0, else null. */
  createdAt: number | null;
}

/**
 * One committed append: the arbiter of who wrote which positions. `_id` is g, the global commit
 * number; the one insert that wins an `_id` commits its batch, every other writer's insert of that
 * `_id` fails on the unique `_id`. g is contiguous: a writer inserts only at the largest g it has
 * read, plus one. Nothing ever updates a batch but the removal of `pending`, nothing deletes one.
 *
 * A batch stays small (its events are in its body, BatchBodyDoc, inserted before the claim): the
 * batch collection is read on every append and many reads, and the test server scans it.
 */
export interface BatchDoc {
  _id: number;
  /** Random per appendEvents call: names the batch's body, and tells a writer whose insert had an unknown outcome that it won. */
  token: string;
  /**
   * The batch's logs (a list of BatchLogDoc) as one JSON text. One string, not a document per log:
   * nothing queries inside it, and the test server converts every nested document of every batch it
   * scans (most reads of `batches` on it), which for batches of 100 logs cost it about five times
   * as much (docs/performance.md, "MongoDB: a batch's logs as one JSON text").
   */
  logsJson?: string;
  /** The batch's logs as documents: batches written by earlier versions (read, never written). */
  logs?: BatchLogDoc[];
  /** The logs of the batch, for "batches touching log L after g" (multikey, not unique). */
  apps: string[];
  /** Number of events in the body. */
  count: number;
  /** Set until the batch's events and log hints are derived; anyone may derive it. */
  pending?: true;
  /** A placeholder that settled an append of unknown outcome as not committed: no logs, no events. */
  void?: true;
}

/**
 * A batch's logs, of either form; throws for a batch that holds neither (damage: the reads that need it
 * fail). Their values are checked where they are used (a head's hash before it is linked to).
 */
export function batchLogs(b: Pick<BatchDoc, '_id' | 'logsJson' | 'logs'>): BatchLogDoc[] {
  if (typeof b.logsJson === 'string') {
    let logs: unknown;
    try {
      logs = JSON.parse(b.logsJson);
    } catch {
      throw new Error(`the logs of batch ${b._id} are not JSON`);
    }
    if (Array.isArray(logs)) return logs as BatchLogDoc[];
  } else if (Array.isArray(b.logs)) return b.logs;
  throw new Error(`batch ${b._id} holds no list of logs`);
}

/**
 * The events of one append, as they are derived into `events` (without pos: it follows from g and
 * the index), inserted before the append's claim: a pending batch's body always exists. A body is
 * read only to derive a pending batch, and deleted once nothing will read it: after its batch is
 * derived (by whoever derived it, in the background), or by its writer once its claim has
 * definitively lost; one left behind (a writer that died, a delete that failed) is deleted at the
 * next start once a batch holds its first position (BatchLog.collectBodies).
 */
export type BodyEvent = Omit<EventDoc, '_id' | 'pos'>;

export interface BatchBodyDoc {
  /** The batch's token. */
  _id: string;
  /** The position (log, seq) of the body's first event: the one that tells an orphan. */
  first?: { app: string; seq: number };
  /**
   * The events as one JSON text (an array of BodyEvent: strings and integers only, so the text
   * round-trips them exactly). One string field, not a document per event: the test server stores,
   * reads and deletes a body of 500 events as one string at about a tenth of the cost of 500 nested
   * documents (docs/performance.md, "MongoDB: what an event keeps on disk").
   */
  eventsJson?: string;
  /** The events as documents: bodies written by earlier versions (read, never written). */
  events?: BodyEvent[];
}

/**
 * A hint of a log's head: (size, headHash) as they were once batch `g` committed. Written by
 * derivation only, and only ever to a state that was true at its `g`, so a lost update (FerretDB
 * updates are read-modify-write) leaves it older, never wrong; readers go forward from `g` through
 * the batches. It exists once the log's first batch is derived.
 */
export interface LogDoc {
  _id: string;
  size: number;
  headHash: string;
  g: number;
  /** receivedAt of seq 0. */
  createdAt: number;
}

/**
 * The documents of erasures_applied (LogStorage.erasuresAppliedBelow and erasuresCopiedBelow): `erasures`,
 * inserted by init, and the marks `mark:<uuid>` each raise inserts; each size is the highest of all.
 */
export interface ErasuresAppliedDoc {
  _id: string;
  below: number;
  /** LogStorage.erasuresCopiedBelow: absent until first raised (a store from before it was kept). */
  copiedBelow?: number;
}

/** One record of the erasures log that lists events of one log (LogStorage.erasureListings). */
export interface ErasureListingDoc {
  sourceAppId: string;
  /** The record's position in the erasures log. */
  record: number;
}

/** How far a log's tree nodes are stored; written only by the publisher (see LogDoc for why apart). */
export interface IntegratedDoc {
  _id: string;
  size: number;
  /**
   * The size of the last checkpoint an integration that grew the tree came with (0 before any), raised
   * before that checkpoint is stored: where getLatestCheckpoints starts looking. Only a hint (any value
   * answers rightly there); absent from documents stored before it existed, which use `size` instead.
   */
  sealed?: number;
}

export interface TreeNodeDoc {
  /** nodeKey(): one compact string so getTreeNodes is one `_id: {$in}` lookup. */
  _id: string;
  hash: Binary;
}

export interface CheckpointDoc extends StoredCheckpoint {
  _id?: ObjectId;
}

/**
 * A later version of a checkpoint's note (witness cosignatures added: LogStorage.replaceCheckpointNote).
 * Never changed once inserted; the newest version of a checkpoint is its note.
 */
export interface CheckpointNoteDoc {
  /** checkpointNoteKey(): unique, so exactly one insert wins each version. */
  _id: string;
  sourceAppId: string;
  treeSize: number;
  /** 1 for the first replacement of the note the checkpoint was put with (version 0), and so on. */
  version: number;
  note: string;
  /** The note this version replaced (its writer's expected note); absent on versions stored before it was kept. */
  replaced?: string;
}

/** `<sourceAppId>/<treeSize>/<version>`: unambiguous even if the id contains '/', the last two parts being integers. */
export const checkpointNoteKey = (sourceAppId: string, treeSize: number, version: number) =>
  `${sourceAppId}/${treeSize}/${version}`;

export const eventProjection = { _id: 0 } as const;
export const checkpointProjection = { _id: 0 } as const;

export function toEventDoc(e: NewEvent, pos: number): EventDoc {
  return {
    sourceAppId: e.sourceAppId,
    seq: e.seq,
    eventType: e.eventType,
    timestamp: e.timestamp,
    receivedAt: e.receivedAt,
    // A copy of an event erased already (a mirror's) holds no payload nor salt, as eraseEvents leaves one.
    ...(e.erasedAt != null && e.payloadHash
      ? { payloadHash: e.payloadHash, erasedAt: e.erasedAt, erasureReason: e.erasureReason ?? '' }
      : {
          payload: e.payloadText ?? JSON.stringify(e.payload),
          ...(e.payloadHash ? { payloadHash: e.payloadHash, payloadSalt: e.payloadSalt ?? undefined } : {}),
        }),
    prevHash: e.prevHash,
    hash: e.hash,
    idempotencySlot: e.idempotencyKey ?? e.seq,
    pos,
  };
}

/**
 * Throws MalformedEventError for a document that breaks the contract (a field missing, of another BSON
 * type, or a value no append writes). The idempotency slot is the key when a string, none when a number.
 */
export function fromEventDoc(d: Omit<EventDoc, '_id'>): StoredEvent {
  const slot: unknown = d.idempotencySlot;
  return decodeStoredEvent({
    sourceAppId: d.sourceAppId,
    seq: d.seq,
    eventType: d.eventType,
    timestamp: d.timestamp,
    receivedAt: d.receivedAt,
    payload: d.payload,
    payloadHash: d.payloadHash,
    payloadSalt: d.payloadSalt,
    erasedAt: d.erasedAt,
    erasureReason: d.erasureReason,
    prevHash: d.prevHash,
    hash: d.hash,
    // A number is "no key" (appends write the seq; only uniqueness rests on its value): anything else is damage.
    idempotencyKey: typeof slot === 'string' ? slot : typeof slot === 'number' ? null : slot,
    pos: d.pos,
  });
}

/**
 * `<sourceAppId>/<level>/<index>`: unambiguous even if an id contains '/', because the last two
 * parts are integers. The log id leads, so one log's nodes sit together in a range-sharded key space.
 */
export const nodeKey = (sourceAppId: string, id: NodeId) => `${sourceAppId}/${id.level}/${id.index}`;

export const bytesToBinary = (bytes: Uint8Array) => new Binary(bytes);
export const binaryToBytes = (b: Binary) => Uint8Array.from(b.buffer.subarray(0, b.position));
export const hexToBytes = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));

export function fromCheckpointDoc(d: CheckpointDoc): StoredCheckpoint {
  return { sourceAppId: d.sourceAppId, treeSize: d.treeSize, rootHash: d.rootHash, note: d.note, publishedAt: d.publishedAt };
}
