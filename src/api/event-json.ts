// The Event as plain JSON, the same shape GraphQL serves; for REST responses.
import type { StoredEvent } from '../storage/types.js';
import { eventId } from './validation/query-args.js';
import { formatTimestamp } from './validation/timestamp.js';

export interface EventJson {
  id: string;
  sourceAppId: string;
  seq: number;
  eventType: string;
  timestamp: string;
  receivedAt: string;
  payload: StoredEvent['payload'];
  prevHash: string;
  hash: string;
}

export const eventToJson = (e: StoredEvent): EventJson => ({
  id: eventId(e),
  sourceAppId: e.sourceAppId,
  seq: e.seq,
  eventType: e.eventType,
  timestamp: formatTimestamp(e.timestamp),
  receivedAt: formatTimestamp(e.receivedAt),
  payload: e.payload,
  prevHash: e.prevHash,
  hash: e.hash,
});
