// A subscription whose replay reaches a damaged row ends with MALFORMED_EVENT naming that event (after
// none of the events from it on), then completes, over GraphQL over SSE and over the WebSocket alike: a client can tell a damaged log from a
// dropped connection. The row is damaged in the store behind the running service (a payload that is not
// JSON, as test/tamper's campaigns write it), on the suites' engine.
import Database from 'better-sqlite3';
import { MongoClient } from 'mongodb';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, mongoMalformedTampers, sqliteMalformedTampers } from '../tamper/malformed-tampers.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { startService, type RunningService } from '../support/service.js';
import { openSse } from '../support/sse.js';
import { until } from '../support/wait.js';

const TAMPER = 'payload not JSON';
const DAMAGED_SEQ = 17;
const QUERY = `subscription { eventLogged(filter: { sourceAppIds: ["${APP}"] }, after: "${APP}/-1") { seq } }`;

let svc: RunningService;
beforeAll(async () => {
  const engine = e2eEngineEnv('subs_malformed');
  svc = await startService({ env: engine });
  const events = Array.from({ length: DAMAGED_SEQ + 3 }, (_, i) => ({
    eventType: 'order.created',
    timestamp: new Date(Date.UTC(2025, 0, 1) + i).toISOString(),
    sourceAppId: APP,
    payload: { n: i },
  }));
  const res = await fetch(`${svc.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...svc.authHeaders() },
    body: JSON.stringify(events),
  });
  expect(res.status).toBe(201);
  if (engine.MONGODB_URI) {
    const client = await MongoClient.connect(engine.MONGODB_URI);
    try {
      const tamper = mongoMalformedTampers.find((t) => t.name === TAMPER)!;
      // The batch's events are in the events collection once it is derived.
      await until('the damaged row written', () =>
        tamper.apply(client.db(engine.MONGODB_DB)).then(
          () => true,
          () => false,
        ),
      );
    } finally {
      await client.close();
    }
  } else {
    const db = new Database(join(svc.dataDir, 'chainlog.db'));
    try {
      sqliteMalformedTampers.find((t) => t.name === TAMPER)!.apply(db);
    } finally {
      db.close();
    }
  }
}, 120_000);
afterAll(async () => svc?.stop());

const malformed = { code: 'MALFORMED_EVENT', sourceAppId: APP, seq: DAMAGED_SEQ };

describe('a replay that reaches a damaged row', () => {
  it('ends over SSE with MALFORMED_EVENT naming the event, then completes', async () => {
    const s = await openSse(svc.url, { query: QUERY, key: svc.adminKey });
    await s.until('the stream ended', (x) => x.ended);
    const nexts = s.nexts();
    // Events before it may come first (the replay reads pages); none from it on.
    const seqs = nexts.slice(0, -1).map((d) => d.data.eventLogged.seq as number);
    expect(seqs).toEqual([...Array(seqs.length).keys()]);
    expect(seqs.length).toBeLessThanOrEqual(DAMAGED_SEQ);
    expect(nexts.at(-1).errors[0].extensions).toMatchObject(malformed);
    expect(s.events.at(-1)!.event).toBe('complete');
    expect(svc.output()).not.toContain('GraphQL over SSE stream failed');
  });

  it('ends over the WebSocket with the same error', async () => {
    const seqs: number[] = [];
    const error = await new Promise<any>((resolve, reject) =>
      svc.ws().subscribe(
        { query: QUERY },
        {
          next: (v: any) => (v.errors ? resolve(v.errors) : seqs.push(v.data.eventLogged.seq)),
          error: resolve,
          complete: () => reject(new Error('completed without the error')),
        },
      ),
    );
    expect(seqs).toEqual([...Array(seqs.length).keys()]);
    expect(seqs.length).toBeLessThanOrEqual(DAMAGED_SEQ);
    expect(error[0].extensions).toMatchObject(malformed);
  });
});
