// Mapping between StoredEvent and rows of the events table.
import { decodeStoredEvent } from '../stored-event.js';
import type { StoredEvent } from '../types.js';
import { ERASURE_COLUMNS, ROW_COLUMNS } from './writer.js';

export const EVENT_COLUMNS = `pos, ${ROW_COLUMNS}, ${ERASURE_COLUMNS}`;

export interface EventRow {
  pos: number;
  source_app_id: string;
  seq: number;
  event_type: string;
  ts: number;
  received_at: number;
  payload: string;
  prev_hash: string;
  hash: string;
  idempotency_key: string | null;
  payload_salt: string | null;
  payload_hash: string | null;
  erased_at: number | null;
  erasure_reason: string | null;
}

/** Throws MalformedEventError for a row that breaks the contract (a column tampered with, or NULL). */
export function rowToEvent(r: EventRow): StoredEvent {
  return decodeStoredEvent({
    sourceAppId: r.source_app_id,
    seq: r.seq,
    eventType: r.event_type,
    timestamp: r.ts,
    receivedAt: r.received_at,
    payload: r.payload,
    payloadSalt: r.payload_salt,
    payloadHash: r.payload_hash,
    erasedAt: r.erased_at,
    erasureReason: r.erasure_reason,
    prevHash: r.prev_hash,
    hash: r.hash,
    idempotencyKey: r.idempotency_key,
    pos: r.pos,
  });
}

/**
 * A row of EVENT_COLUMNS read as an array (a statement in raw mode), in that column order: reading
 * arrays skips building an object with 14 named properties per row, a third of a range read's time
 * (docs/performance.md, session 29). Throws as rowToEvent does.
 */
export function rawRowToEvent(r: readonly unknown[]): StoredEvent {
  return decodeStoredEvent({
    pos: r[0],
    sourceAppId: r[1],
    seq: r[2],
    eventType: r[3],
    timestamp: r[4],
    receivedAt: r[5],
    payload: r[6],
    prevHash: r[7],
    hash: r[8],
    idempotencyKey: r[9],
    payloadSalt: r[10],
    payloadHash: r[11],
    erasedAt: r[12],
    erasureReason: r[13],
  });
}
