// The leaf of a stored event, as the spec defines it: the one place the storage shape meets the leaf.
import { formatTime, leafHashHexMs, type LeafFields } from '../core/leaf.js';
import type { NewEvent } from '../storage/types.js';

type LeafSource = Pick<NewEvent, 'sourceAppId' | 'seq' | 'prevHash' | 'eventType' | 'timestamp' | 'receivedAt' | 'payload'>;

export function eventLeafFields(e: LeafSource): LeafFields {
  return {
    sourceAppId: e.sourceAppId,
    seq: e.seq,
    prevHash: e.prevHash,
    eventType: e.eventType,
    timestamp: formatTime(e.timestamp),
    receivedAt: formatTime(e.receivedAt),
    payload: e.payload,
  };
}

/** Leaf hash (lowercase hex) computed from the event's fields; `payloadText` is canonicalJson(e.payload) if known. */
export function eventLeafHash(e: LeafSource, payloadText?: string): string {
  return leafHashHexMs(e, payloadText);
}
