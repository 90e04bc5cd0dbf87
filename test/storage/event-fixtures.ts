// Deterministic fake events for storage tests. Storage never verifies hashes, so any 64-hex strings
// do; they are derived from (sourceAppId, seq) so that prevHash links up like a real chain.
import { createHash } from 'node:crypto';
import { ZERO_HASH_HEX } from '../../src/core/leaf.js';
import type { NewEvent, StoredEvent } from '../../src/storage/types.js';
import { mulberry32 } from '../../src/simulator/prng.js';

export const BASE_TIME = 1_700_000_000_000;

export function fakeHash(label: string): string {
  return createHash('sha256').update(label).digest('hex');
}

export function fakeLeafHash(sourceAppId: string, seq: number): string {
  return fakeHash(`${sourceAppId}/${seq}`);
}

export type EventFields = Partial<Pick<NewEvent, 'eventType' | 'timestamp' | 'receivedAt' | 'payload' | 'idempotencyKey'>>;

export function newEvent(sourceAppId: string, seq: number, fields: EventFields = {}): NewEvent {
  return {
    sourceAppId,
    seq,
    eventType: fields.eventType ?? 'test.event',
    timestamp: fields.timestamp ?? BASE_TIME + seq,
    receivedAt: fields.receivedAt ?? BASE_TIME + 1_000_000 + seq,
    payload: fields.payload ?? { n: seq },
    prevHash: seq === 0 ? ZERO_HASH_HEX : fakeLeafHash(sourceAppId, seq - 1),
    hash: fakeLeafHash(sourceAppId, seq),
    idempotencyKey: fields.idempotencyKey ?? null,
  };
}

export function newEvents(
  sourceAppId: string,
  startSeq: number,
  count: number,
  fields: (seq: number) => EventFields = () => ({}),
): NewEvent[] {
  return Array.from({ length: count }, (_, i) => newEvent(sourceAppId, startSeq + i, fields(startSeq + i)));
}

/** Small seeded PRNG (mulberry32) so generated data sets are the same on every run and engine. */
export const seededRandom = (seed: number): (() => number) => mulberry32(seed);

export const withoutPos = ({ pos: _pos, ...rest }: StoredEvent): NewEvent => rest;
