// An erasure recorded by one API process reaches what another process of the same MongoDB database
// (FerretDB here) holds in memory: its copies of the commits it made, which serve its subscriptions'
// replays without a read, and so served the erased payloads until they aged out.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { whenSubscribed } from '../support/metrics.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';

/** More than a replay page (REPLAY_PAGE_SIZE, 500): the first page comes wholly from the writer's memory. */
const EVENTS = 600;

let mongo: Awaited<ReturnType<typeof startMongoTestServer>>;
/** `eraser` erases what `writer` wrote. */
let eraser: RunningService;
let writer: RunningService;

beforeAll(async () => {
  mongo = await startMongoTestServer();
  const keyFile = loadSigningKey({ dataDir: mkdtempSync(join(tmpdir(), 'chainlog-erasure-shared-key-')) }).source;
  const env = { MONGODB_URI: mongo.uri, MONGODB_DB: freshDbName(), CHECKPOINT_INTERVAL_MS: '200', SIGNING_KEY_FILE: keyFile };
  eraser = await startService({ env });
  writer = await startService({ env });
}, 180_000);

afterAll(async () => {
  await Promise.all([eraser, writer].map((s) => s?.stop()));
  await mongo?.stop();
});

type Logged = { eventLogged: { id: string; sourceAppId: string; seq: number; payload: unknown; erasedAt: string | null } };

describe('an erasure recorded by another process', () => {
  it('leaves no payload in what this process replays from memory', async () => {
    const inputs = Array.from({ length: EVENTS }, (_, i) => ({
      sourceAppId: 'people',
      eventType: 'user.updated',
      timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
      payload: { userId: `u${i}` },
    }));
    const logged = await writer.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', { in: inputs });
    expect(logged.errors).toBeUndefined();

    // The writer's view of the erasures log: once the record reaches it, the writer has seen the erasure.
    const records = await whenSubscribed(
      writer,
      () =>
        new SubscriptionProbe<Logged>(
          writer.ws(),
          `subscription { eventLogged(filter: { sourceAppIds: ["_erasures"] }) { id } }`,
        ),
    );
    const erased = await eraser.gql(`mutation { eraseEvents(input: { reason: "test", ids: ["people/0"] }) { erased recordId } }`);
    expect(erased.errors).toBeUndefined();
    expect(erased.data.eraseEvents.erased).toBe(1);
    await records.until((p) => p.values.some((v) => v.eventLogged.id === erased.data.eraseEvents.recordId));
    records.unsubscribe();

    const replay = new SubscriptionProbe<Logged>(
      writer.ws(),
      `subscription { eventLogged(after: "people/-1") { id sourceAppId seq payload erasedAt } }`,
    );
    await replay.until((p) => p.values.some((v) => v.eventLogged.id === 'people/1'));
    replay.unsubscribe();
    const first = replay.values.find((v) => v.eventLogged.id === 'people/0')!.eventLogged;
    expect(first).toMatchObject({ payload: null, erasedAt: expect.any(String) });
    expect(replay.values.find((v) => v.eventLogged.id === 'people/1')!.eventLogged.payload).toEqual({ userId: 'u1' });
  });
});
