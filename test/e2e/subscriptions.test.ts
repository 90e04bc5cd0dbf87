// Subscriptions over graphql-ws against the real service: replay + live without gap or duplicate, checkpoints.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { fromHex, verifyConsistency } from '../../src/core/index.js';
import { metric, whenSubscribed } from '../support/metrics.js';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';
import {
  expectResumeAfterReceived,
  fillStalledLog,
  STALLED_EVENTS,
  STALLED_LOG,
  STALLED_QUERY,
} from '../support/stalled-subscriber.js';
import { until } from '../support/wait.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => svc?.stop());

const EVENT_LOGGED = `subscription($filter: EventFilter, $after: ID) { eventLogged(filter: $filter, after: $after) { id seq sourceAppId eventType } }`;

async function ingest(sourceAppId: string, count: number, eventType = 'tick') {
  const inputs = Array.from({ length: count }, (_, i) => ({
    sourceAppId,
    eventType,
    timestamp: new Date(Date.UTC(2025, 4, 1) + i).toISOString(),
    payload: { i },
  }));
  const res = await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { id } }', { in: inputs });
  expect(res.errors).toBeUndefined();
  return res.data.logEvents.map((e: { id: string }) => e.id) as string[];
}

describe('eventLogged', () => {
  it('replays after the last seen event, then goes live, with events arriving during the replay', async () => {
    const before = [...(await ingest('sub', 500)), ...(await ingest('sub', 500)), ...(await ingest('sub', 300))];
    await ingest('noise', 50);
    const probe = new SubscriptionProbe<{ eventLogged: { id: string } }>(svc.ws(), EVENT_LOGGED, {
      filter: { sourceAppIds: ['sub'] },
      after: 'sub/9',
    });
    // Writers keep committing while the subscriber replays its 1,290-event backlog.
    const during: string[] = [];
    for (let i = 0; i < 20; i++) {
      during.push(...(await ingest('sub', 10)));
      await ingest('noise', 3);
    }
    const total = before.length - 10 + during.length;
    await probe.until((p) => p.values.length >= total, 30_000);
    const live = await ingest('sub', 5);
    await probe.until((p) => p.values.length >= total + 5);
    expect(probe.errors).toEqual([]);
    expect(probe.values.map((v) => v.eventLogged.id)).toEqual([...before.slice(10), ...during, ...live]);
    probe.unsubscribe();
  });

  it('with after <log>/-1, replays that log from its first event', async () => {
    const first = await ingest('from-start', 3);
    await ingest('noise', 2);
    const probe = new SubscriptionProbe<{ eventLogged: { id: string } }>(svc.ws(), EVENT_LOGGED, {
      filter: { sourceAppIds: ['from-start'] },
      after: 'from-start/-1',
    });
    await probe.until((p) => p.values.length >= 3);
    const live = await ingest('from-start', 2);
    await probe.until((p) => p.values.length >= 5);
    expect(probe.errors).toEqual([]);
    expect(probe.values.map((v) => v.eventLogged.id)).toEqual([...first, ...live]);
    probe.unsubscribe();
  });

  it('with after <log>/-1 of a log with no event yet, delivers its events from the first on', async () => {
    const probe = await whenSubscribed(
      svc,
      () =>
        new SubscriptionProbe<{ eventLogged: { id: string } }>(svc.ws(), EVENT_LOGGED, {
          filter: { sourceAppIds: ['not-yet'] },
          after: 'not-yet/-1',
        }),
    );
    const first = await ingest('not-yet', 2);
    await probe.until((p) => p.values.length >= 2);
    expect(probe.errors).toEqual([]);
    expect(probe.values.map((v) => v.eventLogged.id)).toEqual(['not-yet/0', 'not-yet/1']);
    expect(first).toEqual(['not-yet/0', 'not-yet/1']);
    probe.unsubscribe();
  });

  it('without after, delivers only what is committed from now on, filtered', async () => {
    const probe = await whenSubscribed(
      svc,
      () =>
        new SubscriptionProbe<{ eventLogged: { id: string; eventType: string } }>(svc.ws(), EVENT_LOGGED, {
          filter: { eventTypes: ['wanted'] },
        }),
    );
    await ingest('live', 3, 'unwanted');
    const wanted = await ingest('live', 2, 'wanted');
    await probe.until((p) => p.values.length >= 2);
    expect(probe.values.map((v) => v.eventLogged.id)).toEqual(wanted);
    expect(probe.errors).toEqual([]);
    probe.unsubscribe();
  });

  it('counts open subscriptions in /metrics', async () => {
    const before = await metric(svc, 'chainlog_graphql_active_subscriptions', { field: 'eventLogged' });
    const probe = new SubscriptionProbe(svc.ws(), EVENT_LOGGED, {});
    await until(
      'the subscription counted',
      async () => (await metric(svc, 'chainlog_graphql_active_subscriptions', { field: 'eventLogged' })) > before,
    );
    const text = await (await fetch(`${svc.url}/metrics`, { headers: svc.authHeaders() })).text();
    expect(text).toMatch(/chainlog_graphql_active_subscriptions\{field="eventLogged"\} [1-9]/);
    expect(text).toMatch(/chainlog_ws_connections [1-9]/);
    probe.unsubscribe();
  });

  it.each([
    ['an unknown after', { after: 'sub/999999' }, 'NOT_FOUND', 'after'],
    ['a malformed after', { after: 'nope' }, 'BAD_USER_INPUT', 'after'],
    ['a bad filter', { filter: { sourceAppIds: ['has space'] } }, 'BAD_USER_INPUT', 'filter.sourceAppIds[0]'],
  ])('rejects %s with extensions.code', async (_name, variables, code, field) => {
    const probe = new SubscriptionProbe(svc.ws(), EVENT_LOGGED, variables);
    await probe.until((p) => p.completed);
    expect(probe.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code, field }) })]);
  });

  it('applies the HTTP validation rules and codes on the WebSocket too', async () => {
    const unknown = new SubscriptionProbe(svc.ws(), 'subscription { eventLogged { nope } }');
    await unknown.until((p) => p.completed);
    expect(unknown.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }) }),
    ]);

    const syntax = new SubscriptionProbe(svc.ws(), 'subscription { eventLogged( }');
    await syntax.until((p) => p.completed);
    expect(syntax.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', rule: 'syntax' }) }),
    ]);

    const variable = new SubscriptionProbe(svc.ws(), EVENT_LOGGED, { filter: { from: 'not a date' } });
    await variable.until((p) => p.completed);
    expect(variable.errors.length).toBeGreaterThan(0);
    expect(variable.errors).toEqual(
      variable.errors.map(() => expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })),
    );

    const aliases = Array.from({ length: 31 }, (_, k) => `a${k}: serverInfo { version }`).join(' ');
    const costly = new SubscriptionProbe(svc.ws(), `query { ${aliases} }`);
    await costly.until((p) => p.completed);
    expect(costly.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', rule: 'maxAliases' }) }),
    ]);
  });

  it('serves queries and mutations over the WebSocket under the same rules', async () => {
    const client = svc.ws();
    const bad = new SubscriptionProbe(client, 'mutation($in: LogEventInput!) { logEvent(input: $in) { id } }', {
      in: { sourceAppId: 'ws', eventType: 'x', timestamp: '2025-01-01T00:00:00Z', payload: { s: 'x'.repeat(70_000) } },
    });
    await bad.until((p) => p.completed);
    expect(bad.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE', field: 'payload' }) }),
    ]);
    const ok = new SubscriptionProbe<{ logEvent: { id: string } }>(
      client,
      'mutation($in: LogEventInput!) { logEvent(input: $in) { id } }',
      {
        in: { sourceAppId: 'ws', eventType: 'x', timestamp: '2025-01-01T00:00:00Z', payload: {} },
      },
    );
    await ok.until((p) => p.completed);
    expect(ok.values).toEqual([{ logEvent: { id: 'ws/0' } }]);
  });
});

describe('checkpointPublished', () => {
  it('delivers each new checkpoint of the log with a consistency proof from the previous one', async () => {
    const Q = `subscription($app: String) { checkpointPublished(sourceAppId: $app) {
      checkpoint { sourceAppId treeSize rootHash } previous { treeSize rootHash } consistencyProof } }`;
    type Update = { checkpointPublished: { checkpoint: any; previous: any; consistencyProof: string[] } };
    const probe = await whenSubscribed(svc, () => new SubscriptionProbe<Update>(svc.ws(), Q, { app: 'cp' }), {
      field: 'checkpointPublished',
    });
    await ingest('cp', 5);
    await ingest('other-cp', 2);
    await probe.until((p) => p.values.some((v) => v.checkpointPublished.checkpoint.treeSize === 5));
    await ingest('cp', 6);
    await probe.until((p) => p.values.some((v) => v.checkpointPublished.checkpoint.treeSize === 11));
    expect(probe.values.every((v) => v.checkpointPublished.checkpoint.sourceAppId === 'cp')).toBe(true);
    const first = probe.values[0]!.checkpointPublished;
    expect(first.previous).toBeNull();
    expect(first.consistencyProof).toEqual([]);
    const update = probe.values.find((v) => v.checkpointPublished.checkpoint.treeSize === 11)!.checkpointPublished;
    expect(update.previous.treeSize).toBe(5);
    verifyConsistency(
      5,
      11,
      update.consistencyProof.map(fromHex),
      fromHex(update.previous.rootHash),
      fromHex(update.checkpoint.rootHash),
    );
    probe.unsubscribe();
  });

  it('carries a ConsistencyProof from the previous checkpoint that the core verifier accepts, chaining every update a subscriber sees', async () => {
    const Q = `subscription { checkpointPublished(sourceAppId: "cp-proof") {
      checkpoint { sourceAppId treeSize rootHash } previous { treeSize rootHash } consistencyProof
      consistency { sourceAppId fromSize toSize fromRoot toRoot hashes } } }`;
    type Update = { checkpointPublished: { checkpoint: any; previous: any; consistencyProof: string[]; consistency: any } };
    const probe = await whenSubscribed(svc, () => new SubscriptionProbe<Update>(svc.ws(), Q), { field: 'checkpointPublished' });
    for (const [count, size] of [
      [3, 3],
      [4, 7],
      [6, 13],
    ] as const) {
      await ingest('cp-proof', count);
      await svc.gql('mutation { publishCheckpoints { treeSize } }');
      await probe.until((p) => p.values.some((v) => v.checkpointPublished.checkpoint.treeSize === size));
    }
    probe.unsubscribe();
    const updates = probe.values.map((v) => v.checkpointPublished);
    expect(updates.map((u) => u.checkpoint.treeSize)).toEqual([3, 7, 13]);
    expect(updates[0]!.previous).toBeNull();
    expect(updates[0]!.consistency).toBeNull();
    for (const [i, u] of updates.entries()) {
      if (i === 0) continue;
      const seen = updates[i - 1]!.checkpoint;
      // From the checkpoint this subscriber saw last to this one.
      expect(u.consistency).toEqual({
        sourceAppId: 'cp-proof',
        fromSize: seen.treeSize,
        toSize: u.checkpoint.treeSize,
        fromRoot: seen.rootHash,
        toRoot: u.checkpoint.rootHash,
        hashes: u.consistencyProof,
      });
      const { fromSize, toSize, hashes, fromRoot, toRoot } = u.consistency;
      expect(hashes.length).toBeGreaterThan(0);
      verifyConsistency(fromSize, toSize, hashes.map(fromHex), fromHex(fromRoot), fromHex(toRoot));
      // The verifier is not a formality: the same proof does not link other roots.
      expect(() => verifyConsistency(fromSize, toSize, hashes.map(fromHex), fromHex(toRoot), fromHex(toRoot))).toThrow();
    }
  });
});

describe('a subscriber that stops reading', () => {
  // Its own service: the reader is paused longer than the default keep-alive would allow (FerretDB under load).
  let svc: RunningService;
  beforeAll(async () => {
    svc = await startService({ env: { WS_KEEP_ALIVE_MS: '120000' } });
  });
  afterAll(async () => svc?.stop());

  it('is held to a bounded send buffer and told to resume after what it received, with nothing skipped', async () => {
    // A raw graphql-ws client that can stop reading (ws's pause() stops reading the TCP socket).
    const ws = new WebSocket(svc.url.replace('http', 'ws') + '/graphql', 'graphql-transport-ws');
    const received: Array<{ type: string; payload?: any }> = [];
    ws.on('message', (data) => received.push(JSON.parse((data as Buffer).toString()))); // a Buffer: ws's default binaryType
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'connection_init', payload: svc.adminKey ? { 'x-api-key': svc.adminKey } : {} }));
    await until('connection_ack', () => received.some((m) => m.type === 'connection_ack'));
    // With a reading subscriber on the same path (live, no after), to know when every event has reached the subscriptions.
    const witness = await whenSubscribed(
      svc,
      () => {
        ws.send(JSON.stringify({ id: 's', type: 'subscribe', payload: { query: STALLED_QUERY } }));
        return new SubscriptionProbe<{ eventLogged: { id: string } }>(svc.ws(), EVENT_LOGGED, {
          filter: { sourceAppIds: [STALLED_LOG] },
        });
      },
      { count: 2 },
    );
    ws.pause();

    // The sockets hold up to 36 MB of kernel buffers, ~700 events.
    await fillStalledLog(svc);
    // Resume only once every event has reached the subscriptions (the MongoDB engine tails storage).
    await witness.until((p) => p.values.length === STALLED_EVENTS, 60_000);
    witness.unsubscribe();
    ws.resume();

    let closed: number | undefined;
    ws.once('close', (code) => (closed = code));
    await until(
      'the subscription to end',
      () => received.some((m) => m.type === 'error' || m.type === 'complete') || closed !== undefined,
      { timeoutMs: 30_000 },
    );
    expect(closed).toBeUndefined();
    ws.close();
    const nexts = received.filter((m) => m.type === 'next');
    const end = received.find((m) => m.type === 'error');
    expect(end?.payload).toHaveLength(1);
    expectResumeAfterReceived(
      nexts.map((m) => m.payload.data.eventLogged.id as string),
      end!.payload[0],
    );
  }, 180_000);
});
