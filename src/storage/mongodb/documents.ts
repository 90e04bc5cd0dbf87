// Document shapes of the MongoDB engine and their mapping to the storage interface.
import { Binary, type ObjectId } from 'mongodb';
import { decodeStoredEvent } from '../stored-event.js';
import type { NewEvent, NodeId, StoredCheckpoint, StoredEvent } from '../types.js';

export const collectionNames = {
  events: 'events',
  logs: 'logs',
  treeNodes: 'tree_nodes',
  checkpoints: 'checkpoints',
  counters: 'counters',
  writers: 'writers',
  integrated: 'integrated',
} as const;

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
  payload: string;
  prevHash: string;
  hash: string;
  /**
   * The idempotency key, or the event's seq (a number) when there is none: a number never equals a
   * string key, so one plain unique index on (sourceAppId, idempotencySlot) enforces key uniqueness
   * without partial indexes (which FerretDB lacks) and stays legal on a collection sharded by sourceAppId.
   */
  idempotencySlot: string | number;
  pos: number;
  /** Random per appendEvents call: lets a failed call remove exactly its own documents. */
  writeToken: string;
}

/**
 * Per-log commit record. `size` is the log's committed size: an append commits by raising it (fenced
 * by `fence`, the log's current sequencer-lease fence); events at seq >= size are not committed yet,
 * or never will be. getLogHead checks the head against the events.
 *
 * Only the log's current writer updates this document, and nothing else lives in it: FerretDB's
 * updates are read-modify-write, so two writers of one document can undo each other's fields.
 */
export interface LogDoc {
  _id: string;
  size: number;
  headHash: string;
  /** Fence of the log's sequencer-lease turn whose appends may commit now. */
  fence?: number;
  /** receivedAt of seq 0, null while the log has no event. */
  createdAt: number | null;
}

/** How far a log's tree nodes are stored; written only by the publisher (see LogDoc for why apart). */
export interface IntegratedDoc {
  _id: string;
  size: number;
}

export interface TreeNodeDoc {
  /** nodeKey(): one compact string so getTreeNodes is one `_id: {$in}` lookup. */
  _id: string;
  hash: Binary;
}

export interface CheckpointDoc extends StoredCheckpoint {
  _id?: ObjectId;
}

export interface CounterDoc {
  _id: string;
  value: number;
}

/**
 * One per storage instance that appends. While `low` is set, the writer may still insert and commit
 * events at pos >= low, so readers of committed events stop below it.
 */
export interface WriterDoc {
  _id: string;
  low: number | null;
  /** Epoch ms; an expired writer is presumed dead and no longer holds readers back. */
  expiresAt: number;
}

export const eventProjection = { _id: 0, writeToken: 0 } as const;
export const checkpointProjection = { _id: 0 } as const;

export function toEventDoc(e: NewEvent, pos: number, writeToken: string): EventDoc {
  return {
    sourceAppId: e.sourceAppId,
    seq: e.seq,
    eventType: e.eventType,
    timestamp: e.timestamp,
    receivedAt: e.receivedAt,
    payload: e.payloadText ?? JSON.stringify(e.payload),
    prevHash: e.prevHash,
    hash: e.hash,
    idempotencySlot: e.idempotencyKey ?? e.seq,
    pos,
    writeToken,
  };
}

/**
 * Throws MalformedEventError for a document that breaks the contract (a field missing, of another BSON
 * type, or a value no append writes). The idempotency slot is the key when a string, none when a number.
 */
export function fromEventDoc(d: Omit<EventDoc, '_id' | 'writeToken'>): StoredEvent {
  const slot: unknown = d.idempotencySlot;
  return decodeStoredEvent({
    sourceAppId: d.sourceAppId,
    seq: d.seq,
    eventType: d.eventType,
    timestamp: d.timestamp,
    receivedAt: d.receivedAt,
    payload: d.payload,
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
