// The one strict decoder of stored events, shared by every engine: what a row or document holds
// becomes a StoredEvent only if it keeps the storage contract (types.ts, docs/log-format.md), else
// MalformedEventError names the first field that does not. Pure: no I/O.
import type { JsonObject, StoredEvent } from './types.js';
import { MalformedEventError } from './types.js';
import { isHex64 } from '../core/hex.js';

/**
 * The largest payload any configuration accepts (the ceiling of MAX_PAYLOAD_BYTES), in UTF-8 bytes of
 * its stored JSON text. A stored payload beyond it was never accepted by this server.
 */
export const MAX_STORED_PAYLOAD_BYTES = 1_048_576;

/** A hash as stored: 64 lowercase hex characters. */
export const HASH_HEX_RE = /^[0-9a-f]{64}$/;
/** The range formatTime can write (years 0000-9999): a leaf time outside it cannot exist. */
const MIN_TIME_MS = Date.parse('0000-01-01T00:00:00.000Z');
const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** The fields of a stored event as an engine read them, before any check. */
export interface RawStoredEvent {
  sourceAppId: unknown;
  seq: unknown;
  eventType: unknown;
  timestamp: unknown;
  receivedAt: unknown;
  /** The payload's JSON text; null, '' or absent once erased. */
  payload: unknown;
  /** Leaf version 2: payloadHash; null or absent for version 1. */
  payloadHash?: unknown;
  /** Leaf version 2 until erased: the salt in lowercase hex; null or absent otherwise. */
  payloadSalt?: unknown;
  /** Epoch ms once erased; null or absent otherwise. */
  erasedAt?: unknown;
  /** The erasure's reason once erased; null or absent otherwise. */
  erasureReason?: unknown;
  prevHash: unknown;
  hash: unknown;
  /** A string, or null when the event has none. */
  idempotencyKey: unknown;
  pos: unknown;
}

const describe = (v: unknown) =>
  v === null ? 'null' : v === undefined ? 'missing' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;

/** The first field of a row that breaks the contract: the event named as far as its row can name it. */
function bad(r: RawStoredEvent, field: string, rule: string, detail: string): never {
  const app = typeof r.sourceAppId === 'string' ? r.sourceAppId : null;
  const seqReadable = typeof r.seq === 'number' && Number.isSafeInteger(r.seq) && r.seq >= 0;
  throw new MalformedEventError(app, seqReadable ? (r.seq as number) : null, field, rule, detail);
}

function time(r: RawStoredEvent, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_TIME_MS || v > MAX_TIME_MS) {
    bad(
      r,
      field,
      'epochMs',
      `must be an integer of epoch milliseconds in years 0000-9999, is ${typeof v === 'number' ? v : describe(v)}`,
    );
  }
  return v;
}

function hash(r: RawStoredEvent, field: string, v: unknown): string {
  if (!isHex64(v)) {
    bad(
      r,
      field,
      'lowercaseHex64',
      `must be 64 lowercase hex characters, is ${typeof v === 'string' ? JSON.stringify(v.slice(0, 80)) : describe(v)}`,
    );
  }
  return v;
}

const absent = (v: unknown) => v === null || v === undefined;

// Checks in a fixed order (the first field that breaks the contract is the one named), with no closure
// or intermediate object per row: an audit decodes every row of a log (docs/performance.md, session 31).
export function decodeStoredEvent(r: RawStoredEvent): StoredEvent {
  if (typeof r.sourceAppId !== 'string' || r.sourceAppId.length === 0)
    bad(r, 'sourceAppId', 'nonEmptyString', `must be a non-empty string, is ${describe(r.sourceAppId)}`);
  if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq) || r.seq < 0)
    bad(
      r,
      'seq',
      'nonNegativeSafeInteger',
      `must be a non-negative safe integer, is ${typeof r.seq === 'number' ? r.seq : describe(r.seq)}`,
    );
  if (typeof r.eventType !== 'string') bad(r, 'eventType', 'string', `must be a string, is ${describe(r.eventType)}`);
  const timestamp = time(r, 'timestamp', r.timestamp);
  const receivedAt = time(r, 'receivedAt', r.receivedAt);
  const prevHash = hash(r, 'prevHash', r.prevHash);
  const leafHash = hash(r, 'hash', r.hash);
  let payload: JsonObject | null;
  let payloadHash: string | undefined;
  let payloadSalt: string | null = null;
  let erasedAt: number | null = null;
  let erasureReason: string | null = null;
  if (absent(r.payloadHash)) {
    // Version 1: the leaf holds the payload, which can never be erased.
    if (!absent(r.payloadSalt)) bad(r, 'payloadSalt', 'absentInVersion1', 'must be absent in a version 1 event');
    if (!absent(r.erasedAt)) bad(r, 'erasedAt', 'absentInVersion1', 'must be absent in a version 1 event (it cannot be erased)');
    payload = decodePayload(r, r.payload);
  } else {
    payloadHash = hash(r, 'payloadHash', r.payloadHash);
    if (absent(r.erasedAt)) {
      if (!absent(r.erasureReason)) bad(r, 'erasureReason', 'absentUnlessErased', 'must be absent while the payload exists');
      if (!isHex64(r.payloadSalt))
        bad(
          r,
          'payloadSalt',
          'lowercaseHex64',
          `must be 64 lowercase hex characters while the payload exists, is ${describe(r.payloadSalt)}`,
        );
      payload = decodePayload(r, r.payload);
      payloadSalt = r.payloadSalt;
    } else {
      erasedAt = time(r, 'erasedAt', r.erasedAt);
      if (!absent(r.payload) && r.payload !== '') bad(r, 'payload', 'erased', 'must be absent once erased');
      if (!absent(r.payloadSalt)) bad(r, 'payloadSalt', 'erased', 'must be absent once erased');
      if (typeof r.erasureReason !== 'string')
        bad(r, 'erasureReason', 'string', `must be a string once erased, is ${describe(r.erasureReason)}`);
      payload = null;
      erasureReason = r.erasureReason;
    }
  }
  if (r.idempotencyKey !== null && typeof r.idempotencyKey !== 'string') {
    bad(r, 'idempotencyKey', 'stringOrNull', `must be a string or null, is ${describe(r.idempotencyKey)}`);
  }
  if (typeof r.pos !== 'number' || !Number.isSafeInteger(r.pos) || r.pos < 0) {
    bad(
      r,
      'pos',
      'nonNegativeSafeInteger',
      `must be a non-negative safe integer, is ${typeof r.pos === 'number' ? r.pos : describe(r.pos)}`,
    );
  }
  // Version 1 events have no payloadHash, payloadSalt, erasedAt or erasureReason members at all.
  if (payloadHash === undefined) {
    return {
      sourceAppId: r.sourceAppId,
      seq: r.seq,
      eventType: r.eventType,
      timestamp,
      receivedAt,
      payload,
      prevHash,
      hash: leafHash,
      idempotencyKey: r.idempotencyKey,
      pos: r.pos,
    };
  }
  return {
    sourceAppId: r.sourceAppId,
    seq: r.seq,
    eventType: r.eventType,
    timestamp,
    receivedAt,
    payload,
    payloadHash,
    payloadSalt,
    erasedAt,
    erasureReason,
    prevHash,
    hash: leafHash,
    idempotencyKey: r.idempotencyKey,
    pos: r.pos,
  };
}

function decodePayload(r: RawStoredEvent, text: unknown): JsonObject {
  if (typeof text !== 'string') return bad(r, 'payload', 'jsonText', `must be JSON text, is ${describe(text)}`);
  // UTF-16 length bounds the UTF-8 size from below (and from above at 3 bytes a unit): count only near the limit.
  if (
    text.length > MAX_STORED_PAYLOAD_BYTES ||
    (text.length * 3 > MAX_STORED_PAYLOAD_BYTES && Buffer.byteLength(text, 'utf8') > MAX_STORED_PAYLOAD_BYTES)
  ) {
    return bad(
      r,
      'payload',
      'maxBytes',
      `must be at most ${MAX_STORED_PAYLOAD_BYTES} bytes of JSON, has ${Buffer.byteLength(text, 'utf8')}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return bad(r, 'payload', 'json', `is not JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return bad(r, 'payload', 'object', `must be a JSON object, is ${describe(value)}`);
  }
  return value as JsonObject;
}

/** An event's stored `hash` as the level-0 node of its log's tree; MalformedEventError unless 64 lowercase hex. */
export function storedLeafHash(sourceAppId: string, seq: number, hash: unknown): Uint8Array {
  if (!isHex64(hash)) {
    throw new MalformedEventError(
      sourceAppId,
      seq,
      'hash',
      'lowercaseHex64',
      `must be 64 lowercase hex characters, is ${typeof hash === 'string' ? JSON.stringify(hash.slice(0, 80)) : describe(hash)}`,
    );
  }
  return Buffer.from(hash, 'hex');
}
