// GraphQL over SSE behind a round-robin load balancer in front of several API processes on one MongoDB
// database (FerretDB here), started as a user starts them: a reader that reconnects lands on any
// process and resumes with `after`, none missed or repeated; nothing about a stream is kept by a process.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_HEADER, startLoadBalancer, type LoadBalancer } from '../../scripts/scale/load-balancer.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { metric } from '../support/metrics.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { E2E_ADMIN_KEY, startService, SubscriptionProbe, type RunningService } from '../support/service.js';
import { openSse } from '../support/sse.js';

const PROCESSES = 3;
const CYCLES = 6;
const APP = 'sse-lb';

let mongo: Awaited<ReturnType<typeof startMongoTestServer>>;
let lb: LoadBalancer;
const services: RunningService[] = [];

beforeAll(async () => {
  mongo = await startMongoTestServer();
  const keyFile = loadSigningKey({ dataDir: mkdtempSync(join(tmpdir(), 'chainlog-sse-lb-key-')) }).source;
  const env = {
    MONGODB_URI: mongo.uri,
    MONGODB_DB: freshDbName(),
    CHECKPOINT_INTERVAL_MS: '200',
    LEASE_TTL_MS: '2000',
    SIGNING_KEY_FILE: keyFile,
  };
  for (let i = 0; i < PROCESSES; i++) services.push(await startService({ env }));
  lb = await startLoadBalancer(services.map((s) => s.url));
}, 180_000);

afterAll(async () => {
  await lb?.close();
  await Promise.all(services.map((s) => s.stop()));
  await mongo?.stop();
});

let n = 0;
/** Through the balancer, routed by log as the scale demo's clients write. */
async function ingest(count: number): Promise<string[]> {
  const inputs = Array.from({ length: count }, () => ({
    sourceAppId: APP,
    eventType: 'lb',
    timestamp: new Date(Date.UTC(2025, 7, 1) + ++n).toISOString(),
    payload: { n },
  }));
  const res = await fetch(`${lb.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': E2E_ADMIN_KEY, [ROUTE_HEADER]: APP },
    body: JSON.stringify({
      query: 'mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { id } }',
      variables: { in: inputs },
    }),
  });
  const body = (await res.json()) as { data?: { logEvents: Array<{ id: string }> }; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return body.data!.logEvents.map((e) => e.id);
}

const EVENT_LOGGED = `subscription($filter: EventFilter, $after: ID) { eventLogged(filter: $filter, after: $after) { id } }`;

/** The processes serving an eventLogged subscription now. */
async function serving(): Promise<number[]> {
  const open = await Promise.all(
    services.map((s) => metric(s, 'chainlog_graphql_active_subscriptions', { field: 'eventLogged' })),
  );
  return open.flatMap((count, i) => (count > 0 ? [i] : []));
}

describe(`GraphQL over SSE behind a load balancer, ${PROCESSES} processes`, () => {
  it('a reader reconnecting through the balancer resumes on any process, none missed or repeated', async () => {
    const all: string[] = [];
    const seen: string[] = [];
    const servedBy = new Set<number>();
    let after = `${APP}/-1`;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      all.push(...(await ingest(3)));
      const stream = await openSse(lb.url, {
        query: EVENT_LOGGED,
        variables: { filter: { sourceAppIds: [APP] }, after },
        key: E2E_ADMIN_KEY,
      });
      expect(stream.status).toBe(200);
      await stream.until('the backlog', (s) => s.nexts().length >= all.length - seen.length, 30_000);
      for (const i of await serving()) servedBy.add(i);
      // Live events, written through whichever process owns the log, reach the stream on its process.
      all.push(...(await ingest(2)));
      await stream.until('the live events', (s) => s.nexts().length >= all.length - seen.length, 30_000);
      stream.abort(); // the connection drops
      const got = stream.nexts().map((d) => d.data.eventLogged.id as string);
      seen.push(...got);
      after = seen.at(-1)!;
      expect(seen).toEqual(all.slice(0, seen.length));
    }
    expect(seen).toEqual(all);
    expect(servedBy.size).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('the graphql-sse client through the balancer receives every event, replayed then live', async () => {
    const client = createClient({ url: `${lb.url}/graphql/stream`, headers: { 'x-api-key': E2E_ADMIN_KEY }, retryAttempts: 0 });
    const probe = new SubscriptionProbe<{ eventLogged: { id: string } }>(client as never, EVENT_LOGGED, {
      filter: { sourceAppIds: [APP] },
      after: `${APP}/-1`,
    });
    const before = n;
    const live = await ingest(4);
    await probe.until((p) => p.values.length >= before + 4, 30_000);
    expect(probe.errors).toEqual([]);
    const ids = probe.values.map((v) => v.eventLogged.id);
    expect(ids).toEqual(ids.map((_, i) => `${APP}/${i}`));
    expect(ids.slice(-4)).toEqual(live);
    probe.unsubscribe();
    client.dispose();
  }, 60_000);
});
