// Both engines for the pipeline stages' own tests: a SQLite file in a temp dir, and a fresh database on
// a MongoDB test server started once per test file. Call at the top level of a test file.
import { afterAll, beforeAll } from 'vitest';
import { eventLeafHash, ZERO_HASH_HEX } from '../../src/core/leaf.js';
import type { JsonObject, LogStorage, NewEvent } from '../../src/storage/types.js';
import { mongoHarness, sqliteHarness, type TamperableHarness } from '../storage/harnesses.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';

export interface Engine {
  name: 'sqlite' | 'mongodb';
  /** A fresh, empty store (not yet initialised). */
  harness(): TamperableHarness;
}

export function useEngines(tmpPrefix: string): Engine[] {
  let mongo: MongoTestServer | undefined;
  beforeAll(async () => {
    mongo = await startMongoTestServer();
  });
  afterAll(async () => {
    await mongo?.stop();
  });
  return [
    { name: 'sqlite', harness: () => sqliteHarness(tmpPrefix) },
    { name: 'mongodb', harness: () => mongoHarness(mongo!) },
  ];
}

const BASE_TIME = Date.UTC(2026, 0, 1);

/**
 * `count` events continuing a log whose head is (`from`, `prevHash`), linked and hashed as the
 * sequencer would; `tweak` may break one before it is linked to the next.
 */
export function chainedEvents(
  sourceAppId: string,
  count: number,
  from = 0,
  prevHash = ZERO_HASH_HEX,
  tweak?: (e: NewEvent) => void,
): NewEvent[] {
  const out: NewEvent[] = [];
  for (let i = 0; i < count; i++) {
    const seq = from + i;
    const payload: JsonObject = { n: seq, note: 'é ✓', nested: { list: [seq, 'x'] } };
    const e: NewEvent = {
      sourceAppId,
      seq,
      eventType: 'order.created',
      timestamp: BASE_TIME + seq,
      receivedAt: BASE_TIME + seq + 1,
      payload,
      prevHash,
      hash: '',
      idempotencyKey: null,
    };
    e.hash = eventLeafHash(e);
    tweak?.(e);
    prevHash = e.hash;
    out.push(e);
  }
  return out;
}

/** Append `count` good events to the log (continuing it), in one storage call; returns them as stored. */
export async function appendChain(storage: LogStorage, sourceAppId: string, count: number) {
  const head = await storage.getLogHead(sourceAppId);
  return storage.appendEvents(chainedEvents(sourceAppId, count, head?.size ?? 0, head?.headHash ?? ZERO_HASH_HEX));
}
