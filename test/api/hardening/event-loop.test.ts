// No single request holds the server's event loop: against a store of tens of thousands of events
// over many logs, each request that used to read synchronously for a long time (subscription replay
// of few matches, filters that match nothing, oversized variable lists) runs while a trivial query
// on another connection keeps being answered. The embedded engine is the one whose reads run on the
// event loop. The assertions are structural, so a loaded machine cannot fail them: every trivial query
// is answered, each attack is refused or served as it should be, and the metric of rows examined per
// storage read shows the reads were cut into budgeted steps. The trivial query's latency under each
// attack is printed here and measured by the benchmark (scenario 9), against the idle figure of the
// same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventLeafHash, ZERO_HASH_HEX } from '../../../src/core/leaf.js';
import { SqliteStorage } from '../../../src/storage/sqlite/sqlite-storage.js';
import type { NewEvent } from '../../../src/storage/types.js';
import { ServiceProcess, startOnFreePort } from '../../support/service-process.js';
import { E2E_ADMIN_KEY, SubscriptionProbe } from '../../support/service.js';
import { until } from '../../support/wait.js';

const LOGS = 60;
const PER_LOG = 1000;
const READER_EVENTS = 35;
const BUDGET = 2000;
/** Old event times, so that a filter `from` now matches none of the stored events. */
const OLD = Date.UTC(2020, 0, 1);

let dataDir: string;
let proc: ServiceProcess;
let readerKey: string;
const clients: Client[] = [];

async function gqlAs<T = any>(key: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${proc.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: res.status,
    ...((await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: Record<string, any> }> }),
  };
}

function wsAs(key: string): Client {
  const client = createClient({
    url: `ws://127.0.0.1:${proc.port}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { 'x-api-key': key },
  });
  clients.push(client);
  return client;
}

/** A log's first `count` events, linked and hashed as the sequencer makes them (leaf version 1). */
function chain(sourceAppId: string, count: number, eventTypeOf: (seq: number) => string): NewEvent[] {
  let prevHash = ZERO_HASH_HEX;
  return Array.from({ length: count }, (_, seq) => {
    const e: NewEvent = {
      sourceAppId,
      seq,
      eventType: eventTypeOf(seq),
      timestamp: OLD + seq,
      receivedAt: OLD + seq,
      payload: { seq },
      prevHash,
      hash: '',
      idempotencyKey: null,
    };
    prevHash = e.hash = eventLeafHash(e);
    return e;
  });
}

/** Latencies of a trivial query, sent one after another on a connection of their own until `until` settles. */
async function probeWhile(until: Promise<unknown>): Promise<number[]> {
  let done = false;
  void until.finally(() => (done = true)).catch(() => undefined);
  const latencies: number[] = [];
  while (!done || latencies.length < 5) {
    const started = performance.now();
    const res = await gqlAs(E2E_ADMIN_KEY, '{ serverInfo { version } }');
    latencies.push(performance.now() - started);
    expect(res.errors).toBeUndefined();
  }
  await until;
  return latencies;
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)]!;

async function underAttack(name: string, attack: () => Promise<void>): Promise<void> {
  const latencies = await probeWhile(attack());
  const worst = p99(latencies);
  console.log(`${name}: trivial query p99 ${worst.toFixed(1)} ms over ${latencies.length} probes`);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'chainlog-loop-'));
  // Loaded through the storage directly, linked and hashed here.
  const storage = new SqliteStorage({ path: join(dataDir, 'chainlog.db') });
  await storage.init();
  await storage.appendEvents(chain('reader-app', READER_EVENTS, () => 'reader.t'));
  for (let l = 0; l < LOGS; l++) {
    await storage.appendEvents(chain(`log-${String(l).padStart(2, '0')}`, PER_LOG, (seq) => `t${seq % 4}`));
  }
  await storage.close();
  proc = await startOnFreePort(
    (port) =>
      new ServiceProcess(port, dataDir, {
        AUTH: 'on',
        ADMIN_API_KEY: E2E_ADMIN_KEY,
        READ_BUDGET_ROWS: String(BUDGET),
        CHECKPOINT_INTERVAL_MS: '200',
      }),
    { timeoutMs: 120_000 },
  );
  // Starting work (trees and checkpoints of every log) is done before anything is measured.
  await until(
    'every log checkpointed',
    async () => {
      const res = await gqlAs(E2E_ADMIN_KEY, '{ logs(first: 100) { edges { node { size latestCheckpoint { treeSize } } } } }');
      const logs = res.data?.logs.edges ?? [];
      return logs.length === LOGS + 1 && logs.every((e: any) => e.node.latestCheckpoint?.treeSize === e.node.size);
    },
    { timeoutMs: 120_000, intervalMs: 100 },
  );
  const created = await gqlAs(
    E2E_ADMIN_KEY,
    'mutation { createApiKey(role: READER, sourceAppIds: ["reader-app"], name: "r") { secret } }',
  );
  readerKey = created.data.createApiKey.secret;
}, 300_000);

afterAll(async () => {
  await Promise.all(clients.map(async (c) => c.dispose()));
  await proc?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe(`a store of ${LOGS * PER_LOG + READER_EVENTS} events: no request holds a trivial query on another connection`, () => {
  it('idle baseline', async () => {
    // Measured over a fixed span of idleness: the span is the measurement, nothing is awaited.
    const latencies = await probeWhile(new Promise((r) => setTimeout(r, 300)));
    const idleP99 = p99(latencies);
    console.log(`idle: trivial query p99 ${idleP99.toFixed(1)} ms over ${latencies.length} probes`);
  });

  it('20 subscriptions of a READER replaying its 35 events after its first', async () => {
    await underAttack('READER replay', async () => {
      const client = wsAs(readerKey);
      const probes = Array.from(
        { length: 20 },
        () => new SubscriptionProbe<any>(client, 'subscription { eventLogged(after: "reader-app/0") { seq } }'),
      );
      await Promise.all(probes.map((p) => p.until((x) => x.values.length >= READER_EVENTS - 1 || x.completed)));
      for (const p of probes) {
        expect(p.errors).toEqual([]);
        expect(p.values.map((v) => v.eventLogged.seq)).toEqual(Array.from({ length: READER_EVENTS - 1 }, (_, i) => i + 1));
        p.unsubscribe();
      }
    });
  });

  it('20 subscriptions whose filter matches nothing stored replay the whole store in budgeted steps', async () => {
    await underAttack('replay matching nothing', async () => {
      const client = wsAs(E2E_ADMIN_KEY);
      const from = new Date(Date.now() - 60_000).toISOString();
      const probes = Array.from(
        { length: 20 },
        () =>
          new SubscriptionProbe<any>(
            client,
            'subscription($f: EventFilter) { eventLogged(after: "reader-app/0", filter: $f) { sourceAppId } }',
            { f: { from } },
          ),
      );
      // Only an event logged now matches: each stream delivers it once its replay has reached the horizon.
      const logged = await gqlAs(
        E2E_ADMIN_KEY,
        `mutation { logEvent(input: { eventType: "marker", timestamp: "${new Date().toISOString()}", sourceAppId: "marker-app", payload: {} }) { seq } }`,
      );
      expect(logged.errors).toBeUndefined();
      await Promise.all(probes.map((p) => p.until((x) => x.values.length >= 1 || x.completed)));
      for (const p of probes) {
        expect(p.errors).toEqual([]);
        expect(p.values).toEqual([{ eventLogged: { sourceAppId: 'marker-app' } }]);
        p.unsubscribe();
      }
    });
  });

  it('30 aliases of events with a filter that matches nothing: each page stops at the budget with a cursor to go on', async () => {
    // More apps and types than the engine walks one by one: one walk of the time index, every row checked.
    const apps = Array.from({ length: 40 }, (_, l) => `log-${String(l).padStart(2, '0')}`);
    const types = Array.from({ length: 40 }, (_, l) => `none-${l}`);
    const alias = (k: number) =>
      `a${k}: events(first: 10, filter: { sourceAppIds: ${JSON.stringify(apps)}, eventTypes: ${JSON.stringify(types)} }) { edges { cursor } pageInfo { hasNextPage endCursor } }`;
    let res: Awaited<ReturnType<typeof gqlAs>> | undefined;
    await underAttack('30 aliases matching nothing', async () => {
      res = await gqlAs(E2E_ADMIN_KEY, `{ ${Array.from({ length: 30 }, (_, k) => alias(k)).join(' ')} }`);
    });
    expect(res!.errors).toBeUndefined();
    for (const page of Object.values(res!.data as Record<string, any>)) {
      expect(page.edges).toEqual([]);
      expect(page.pageInfo.hasNextPage).toBe(true);
      expect(page.pageInfo.endCursor).toEqual(expect.any(String));
    }
  });

  it('a logEvents of 150,000 inputs is refused before its variables are coerced, naming the field and the limit', async () => {
    const inputs = Array.from({ length: 150_000 }, (_, i) => ({
      eventType: 't',
      timestamp: '2024-01-01T00:00:00Z',
      sourceAppId: 'big',
      payload: { i },
    }));
    let res: Awaited<ReturnType<typeof gqlAs>> | undefined;
    await underAttack('logEvents of 150k inputs', async () => {
      res = await gqlAs(E2E_ADMIN_KEY, 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }', { inputs });
    });
    expect(res!.status).toBe(400);
    expect(res!.errors).toHaveLength(1);
    expect(res!.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'inputs', rule: 'maxItems' });
    expect(res!.errors![0]!.message).toMatch(/at most 1000 items/);
  });

  it("a READER's filter of 1,500,000 sourceAppIds is refused the same way, over HTTP and WebSocket", async () => {
    const query = 'query($f: EventFilter) { events(filter: $f) { edges { cursor } } }';
    let res: Awaited<ReturnType<typeof gqlAs>> | undefined;
    await underAttack('READER filter of 1.5M ids', async () => {
      res = await gqlAs(readerKey, query, { f: { sourceAppIds: Array.from({ length: 1_500_000 }, () => 'a') } });
    });
    expect(res!.status).toBe(400);
    expect(res!.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.sourceAppIds', rule: 'maxItems' });
    expect(res!.errors![0]!.message).toMatch(/at most 100 items/);

    // A list variable inside an input object literal is checked at its input field.
    const inLiteral = await gqlAs(readerKey, 'query($t: [String!]) { events(filter: { eventTypes: $t }) { edges { cursor } } }', {
      t: Array.from({ length: 5000 }, () => 'a'),
    });
    expect(inLiteral.status).toBe(400);
    expect(inLiteral.errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'filter.eventTypes',
      rule: 'maxItems',
    });

    const probe = new SubscriptionProbe<any>(
      wsAs(readerKey),
      'subscription($f: EventFilter) { eventLogged(filter: $f) { seq } }',
      {
        f: { eventTypes: Array.from({ length: 100_000 }, () => 'a') },
      },
    );
    await probe.until((p) => p.completed);
    expect(probe.errors).toHaveLength(1);
    expect((probe.errors[0] as any).extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'filter.eventTypes',
      rule: 'maxItems',
    });
  });

  it('every storage read examined at most the budget, and long reads took many steps', async () => {
    const text = await (await fetch(`${proc.url}/metrics`, { headers: { 'x-api-key': E2E_ADMIN_KEY } })).text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"+]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    const count = value('chainlog_storage_read_rows_examined_count');
    expect(value(`chainlog_storage_read_rows_examined_bucket{le="${BUDGET}"}`)).toBe(count);
    // The 20 replays that match nothing walk the whole store at most BUDGET rows a step.
    expect(count).toBeGreaterThanOrEqual((20 * LOGS * PER_LOG) / BUDGET);
  });
});
