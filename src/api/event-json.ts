// The Event as plain JSON, the same shape GraphQL serves; for REST responses.
import type { EventJson } from '../core/leaf.js';
import type { StoredEvent } from '../storage/types.js';
import { eventId } from './validation/query-args.js';
import { formatTimestamp } from './validation/timestamp.js';

/** The JSON of an event as the API serves it: EventJson with its API id; version 2 adds the commitment and erasure. */
export type EventJsonAnswer = EventJson & { id: string; erasedAt?: string | null; erasureReason?: string | null };

/**
 * The event's EventJson, with its API id; leaf version 2 events also carry their commitment and erasure.
 * Each shape is one object literal (no spread): single events answer with it on the hot path.
 */
export const eventToJson = (e: StoredEvent): EventJsonAnswer =>
  e.payloadHash
    ? {
        id: eventId(e),
        sourceAppId: e.sourceAppId,
        seq: e.seq,
        eventType: e.eventType,
        timestamp: formatTimestamp(e.timestamp),
        receivedAt: formatTimestamp(e.receivedAt),
        payload: e.payload,
        payloadHash: e.payloadHash,
        payloadSalt: e.payloadSalt ?? null,
        erasedAt: e.erasedAt == null ? null : formatTimestamp(e.erasedAt),
        erasureReason: e.erasureReason ?? null,
        prevHash: e.prevHash,
        hash: e.hash,
      }
    : {
        id: eventId(e),
        sourceAppId: e.sourceAppId,
        seq: e.seq,
        eventType: e.eventType,
        timestamp: formatTimestamp(e.timestamp),
        receivedAt: formatTimestamp(e.receivedAt),
        payload: e.payload,
        prevHash: e.prevHash,
        hash: e.hash,
      };

/** An event as `Prefer: return=minimal` answers it: what names it in the log and its leaf hash. */
export interface MinimalEventJson {
  id: string;
  sourceAppId: string;
  seq: number;
  receivedAt: string;
  hash: string;
}

export const minimalEventJson = (e: StoredEvent): MinimalEventJson => ({
  id: eventId(e),
  sourceAppId: e.sourceAppId,
  seq: e.seq,
  receivedAt: formatTimestamp(e.receivedAt),
  hash: e.hash,
});
