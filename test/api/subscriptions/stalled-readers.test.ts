// Clients that stop reading what the service sends them, on real sockets against the real service: a
// WebSocket subscriber that the keep-alive drops (and how the drop is counted); with the keep-alive off,
// one that WS_FLUSH_TIMEOUT_MS (set short here) drops, and one reading slowly but steadily that it keeps;
// and GraphQL over SSE readers that never read again, closed after endFlushMs (SSE_FLUSH_TIMEOUT_MS, set
// short here): one of a stream that has ended, one of a subscription whose next result waits for it (so
// its stream cannot end, not even when its key is revoked).
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endFlushMs } from '../../../src/api/subscriptions/sse-server.js';
import { loadConfig } from '../../../src/config.js';
import { metric, whenSubscribed } from '../../support/metrics.js';
import { openRaw, type RawWs } from '../../support/raw-ws.js';
import { startService, type RunningService } from '../../support/service.js';
import { until } from '../../support/wait.js';

/** The log of the big events. */
const BIG_LOG = 'unread';

/** Big events logged: each goes out ~1.5 MB large, ~30 MB in all, ten times what a paused reader's kernel buffers hold. */
const BIG_EVENTS = 20;

/** A selection of an event: its id and `copies` copies of its payload (aliased). */
function copiesOfPayload(copies: number): string {
  return `id ${Array.from({ length: copies }, (_, k) => `p${k}: payload`).join(' ')}`;
}

/** 25 copies of an event's ~60 KB payload. */
const BIG_SELECTION = copiesOfPayload(25);

/** The service's SSE_KEEP_ALIVE_MS and SSE_FLUSH_TIMEOUT_MS: endFlushMs is then the latter. */
const SSE_KEEP_ALIVE_MS = 1_000;
const SSE_FLUSH_TIMEOUT_MS = 3_000;
const FLUSH_MS = endFlushMs(SSE_KEEP_ALIVE_MS, SSE_FLUSH_TIMEOUT_MS);

/**
 * How long a stalled SSE reader may take to be closed: well below the default bound (30 s), so that a
 * service that did not apply SSE_FLUSH_TIMEOUT_MS fails these tests.
 */
const CLOSED_WITHIN_MS = FLUSH_MS + 10_000;

/** The WS_FLUSH_TIMEOUT_MS of a second service, whose WebSocket keep-alive is off. */
const WS_FLUSH_TIMEOUT_MS = 3_000;

/**
 * How long a stalled WebSocket reader may take to be dropped there: well below the default bound (30 s),
 * so that a service that did not apply WS_FLUSH_TIMEOUT_MS fails the test.
 */
const WS_DROPPED_WITHIN_MS = WS_FLUSH_TIMEOUT_MS + 10_000;

/**
 * The slow reader's pace: about this many bytes every SLOW_READ_EVERY_MS, ~2.5 MB/s. Fast enough that the
 * server's kernel takes bytes for it several times within each WS_FLUSH_TIMEOUT_MS (it lets the server
 * write again each time about a third of its send buffer, ~1.4 MB on loopback, has left), slow enough that
 * one of its ~10 MB frames waits about twice WS_FLUSH_TIMEOUT_MS to be written.
 */
const SLOW_READ_BYTES = 128 * 1024;
const SLOW_READ_EVERY_MS = 50;

/** The slow reader's events: each goes out ~10 MB large (SLOW_COPIES copies of its payload), ~30 MB in all. */
const SLOW_EVENTS = 3;
const SLOW_COPIES = 170;
const SLOW_SELECTION = copiesOfPayload(SLOW_COPIES);

/** Resolves as `promise` does, or rejects naming `what` if it has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

let svc: RunningService;
beforeAll(async () => {
  svc = await startService({
    env: {
      // A stalled WebSocket reader is dropped 3 to 6 s after it stops reading.
      WS_KEEP_ALIVE_MS: '3000',
      SSE_KEEP_ALIVE_MS: String(SSE_KEEP_ALIVE_MS),
      SSE_FLUSH_TIMEOUT_MS: String(SSE_FLUSH_TIMEOUT_MS),
      // One stream per key: a second one is admitted only once the first stream's connection is closed.
      SSE_MAX_CONNECTIONS_PER_CLIENT: '1',
    },
  });
});
afterAll(async () => svc?.stop());

/** Big events logged to each service. */
const logged = new Map<RunningService, number>();
let stamps = 0;
/** Logs `count` events of ~60 KB to BIG_LOG of `to`. */
async function logBig(count: number, to: RunningService = svc): Promise<void> {
  const payload = { pad: 'x'.repeat(60_000) };
  for (let i = 0; i < count; i += 5) {
    const inputs = Array.from({ length: Math.min(5, count - i) }, () => ({
      sourceAppId: BIG_LOG,
      eventType: 'big',
      timestamp: new Date(Date.UTC(2025, 7, 1) + ++stamps).toISOString(),
      payload,
    }));
    const res = await to.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', { in: inputs });
    expect(res.errors).toBeUndefined();
    logged.set(to, (logged.get(to) ?? 0) + inputs.length);
  }
}

/** A raw graphql-ws client of `to`, subscribed to BIG_LOG's events with `selection`, and its TCP socket. */
async function subscribeBig(to: RunningService, selection = BIG_SELECTION): Promise<{ raw: RawWs; tcp: Socket }> {
  const raw = await openRaw(to.url);
  // Once it reads again, after the server dropped it, what it writes (pongs) meets a closed connection.
  raw.socket.on('error', () => undefined);
  await raw.init({ 'x-api-key': to.adminKey! });
  await whenSubscribed(to, () =>
    raw.send({
      id: 's',
      type: 'subscribe',
      payload: { query: `subscription { eventLogged(filter: { sourceAppIds: ["${BIG_LOG}"] }) { ${selection} } }` },
    }),
  );
  return { raw, tcp: (raw.socket as unknown as { _socket: Socket })._socket };
}

/** Its `next` messages, and no end of its subscription: the server cut the connection with no close frame. */
async function expectDroppedMidStream(raw: RawWs): Promise<void> {
  const closed = await within(raw.closed, 20_000, 'the client to see the close');
  expect(closed.code).toBe(1006);
  expect(raw.messages.some((m) => m.type === 'next')).toBe(true);
  expect(raw.messages.some((m) => m.type === 'complete' || m.type === 'error')).toBe(false);
}

const droppedOf = (on: RunningService, reason: 'unsent' | 'pong') => metric(on, 'chainlog_ws_clients_dropped_total', { reason });

describe('a WebSocket subscriber that stops reading', () => {
  it('is dropped by the server and counted once, as unsent', async () => {
    const dropped = (reason: 'unsent' | 'pong') => droppedOf(svc, reason);
    const before = { unsent: await dropped('unsent'), pong: await dropped('pong') };
    const { raw, tcp } = await subscribeBig(svc);
    // Stops reading the TCP socket: what the server sends fills the kernel's buffers, then the server's.
    tcp.pause();
    await logBig(BIG_EVENTS);

    await until(
      'the server to drop the client',
      async () => (await dropped('unsent')) + (await dropped('pong')) > before.unsent + before.pong,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    // Reading again, the client gets what the kernel held, then the end of a connection closed without a close frame.
    tcp.resume();
    await expectDroppedMidStream(raw);
    expect(await dropped('unsent')).toBe(before.unsent + 1);
    expect(await dropped('pong')).toBe(before.pong);
    const out = svc.output();
    expect(out).not.toMatch(/"level":50[^\n]*(unexpected error|WebSocket internal error)/);
  }, 60_000);
});

describe(`a WebSocket subscriber with the keep-alive off (WS_KEEP_ALIVE_MS=0), WS_FLUSH_TIMEOUT_MS ${WS_FLUSH_TIMEOUT_MS} ms`, () => {
  let quiet: RunningService;
  const dropped = (reason: 'unsent' | 'pong') => droppedOf(quiet, reason);
  const subscriptions = () => metric(quiet, 'chainlog_graphql_active_subscriptions', { field: 'eventLogged' });
  beforeAll(async () => {
    expect(WS_DROPPED_WITHIN_MS).toBeLessThan(loadConfig({}).WS_FLUSH_TIMEOUT_MS);
    quiet = await startService({
      env: {
        WS_KEEP_ALIVE_MS: '0',
        WS_FLUSH_TIMEOUT_MS: String(WS_FLUSH_TIMEOUT_MS),
        // The slow reader's selection (SLOW_SELECTION).
        GRAPHQL_MAX_ALIASES: String(SLOW_COPIES),
        GRAPHQL_MAX_SELECTIONS: String(SLOW_COPIES + 1),
      },
    });
  });
  afterAll(async () => quiet?.stop());

  it('that stops reading is dropped by the server, its subscription ended, and counted once, as unsent', async () => {
    const before = { unsent: await dropped('unsent'), pong: await dropped('pong'), subscriptions: await subscriptions() };
    const { raw, tcp } = await subscribeBig(quiet);
    // Stops reading: its subscription's sender waits on a socket no byte leaves, and no ping comes to drop it.
    tcp.pause();
    const started = Date.now();
    await logBig(BIG_EVENTS, quiet);
    await until('the server to drop the client', async () => (await dropped('unsent')) > before.unsent, {
      timeoutMs: WS_DROPPED_WITHIN_MS,
      intervalMs: 50,
    });
    // Nothing waited before the events were logged; then the sender waited the whole bound.
    expect(Date.now() - started).toBeGreaterThanOrEqual(WS_FLUSH_TIMEOUT_MS);
    await until('its subscription ended on the server', async () => (await subscriptions()) === before.subscriptions);
    tcp.resume();
    await expectDroppedMidStream(raw);
    expect(await dropped('unsent')).toBe(before.unsent + 1);
    expect(await dropped('pong')).toBe(before.pong);
    expect(quiet.output()).not.toMatch(/"level":50[^\n]*(unexpected error|WebSocket internal error)/);
  }, 60_000);

  it('that reads slowly but steadily is kept, however long the server holds frames for it', async () => {
    const before = { unsent: await dropped('unsent'), pong: await dropped('pong') };
    const { raw, tcp } = await subscribeBig(quiet, SLOW_SELECTION);
    // Reads SLOW_READ_BYTES (and at most the chunk that goes over them) every SLOW_READ_EVERY_MS. Paused
    // through the WebSocket, which ws keeps paused: ws resumes a socket paused beneath it once it drains.
    raw.socket.pause();
    let budget = 0;
    const onData = (chunk: Buffer) => {
      budget -= chunk.length;
      if (budget <= 0) raw.socket.pause();
    };
    tcp.on('data', onData);
    const reader = setInterval(() => {
      budget = SLOW_READ_BYTES;
      raw.socket.resume();
    }, SLOW_READ_EVERY_MS);
    try {
      const started = Date.now();
      await logBig(SLOW_EVENTS, quiet);
      const nexts = () => raw.messages.filter((m) => m.type === 'next').length;
      await Promise.race([
        until(`${SLOW_EVENTS} events read`, () => nexts() === SLOW_EVENTS, { timeoutMs: 50_000, intervalMs: 50 }),
        raw.closed.then((c) => {
          throw new Error(`the server closed the slow reader (${c.code}) after ${nexts()} events`);
        }),
      ]);
      // It was as slow as meant: at its pace, a ~10 MB frame waits longer than the bound to be written.
      expect(Date.now() - started).toBeGreaterThan(2 * WS_FLUSH_TIMEOUT_MS);
    } finally {
      clearInterval(reader);
      tcp.off('data', onData);
    }
    expect(raw.socket.readyState).toBe(raw.socket.OPEN);
    expect(await dropped('unsent')).toBe(before.unsent);
    expect(await dropped('pong')).toBe(before.pong);
    raw.socket.resume();
    await within(raw.close(), 10_000, 'the slow reader to close its connection');
  }, 60_000);
});

/** A GET of /graphql/stream on a raw socket that reads the response's head, then nothing. */
async function openUnreadSse(query: string, key: string) {
  const url = new URL('/graphql/stream', svc.url);
  url.searchParams.set('query', query);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.setEncoding('latin1');
  socket.write(
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\nx-api-key: ${key}\r\n\r\n`,
  );
  // What the server sends from then on fills the kernel's buffers, then the server's.
  const head = await within(
    new Promise<string>((resolve) => {
      let text = '';
      const onData = (chunk: string) => {
        text += chunk;
        if (!text.includes('\r\n\r\n')) return;
        socket.pause();
        socket.off('data', onData);
        resolve(text);
      };
      socket.on('data', onData);
    }),
    10_000,
    'the response head',
  );
  expect(head).toMatch(/^HTTP\/1\.1 200 /);
  return {
    /** Reads again until the connection closes: how many bytes came, and the last 64 KiB of them. */
    async readToClose(): Promise<{ bytes: number; tail: string }> {
      let tail = '';
      let bytes = 0;
      socket.on('data', (chunk: string) => {
        bytes += chunk.length;
        tail = (tail + chunk).slice(-64 * 1024);
      });
      socket.resume();
      await within(closed, 20_000, 'the client to see the connection closed');
      return { bytes, tail };
    },
  };
}

/** The end of a response the server cut short: no `complete` event, no last chunk of its chunked body. */
function expectCutShort({ bytes, tail }: { bytes: number; tail: string }): void {
  expect(bytes).toBeGreaterThan(0);
  expect(bytes).toBeLessThan(BIG_EVENTS * 1_000_000);
  expect(tail).not.toContain('event: complete');
  expect(tail.endsWith('0\r\n\r\n')).toBe(false);
}

describe.concurrent(`a GraphQL over SSE reader that never reads, after endFlushMs (${FLUSH_MS} ms)`, () => {
  beforeAll(async () => {
    expect(CLOSED_WITHIN_MS).toBeLessThan(endFlushMs(SSE_KEEP_ALIVE_MS, loadConfig({}).SSE_FLUSH_TIMEOUT_MS));
    if ((logged.get(svc) ?? 0) < BIG_EVENTS) await logBig(BIG_EVENTS);
  });

  it('of an ended stream is closed by the server', async () => {
    // One answer of ~30 MB: graphql-sse writes it as a `next` event, then `complete`, and the stream has ended.
    const sse = await openUnreadSse(
      `{ events(filter: { sourceAppIds: ["${BIG_LOG}"] }, first: ${BIG_EVENTS}) { nodes { ${BIG_SELECTION} } } }`,
      svc.adminKey!,
    );
    // The server's signal: with one stream per key, another stream of the key is admitted (not 429) once
    // the first one's connection is closed.
    const admitted = async () => {
      const res = await fetch(`${svc.url}/graphql/stream?query=${encodeURIComponent('{ serverInfo { version } }')}`, {
        headers: { accept: 'text/event-stream', ...svc.authHeaders() },
      });
      await res.arrayBuffer();
      return res.status === 200;
    };
    const started = Date.now();
    // Refused while the unread stream holds the key's one connection.
    expect(await admitted()).toBe(false);
    await until('the unread stream closed by the server', admitted, { timeoutMs: CLOSED_WITHIN_MS, intervalMs: 100 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(FLUSH_MS - 1_000);
    expectCutShort(await sse.readToClose());
  }, 60_000);

  it('of a live subscription held behind it, whose key is then revoked, is closed by the server', async () => {
    const created = await svc.gql('mutation { createApiKey(role: READER, name: "unread") { id secret } }');
    expect(created.errors).toBeUndefined();
    const { id, secret } = created.data.createApiKey as { id: string; secret: string };
    const subscriptions = () => metric(svc, 'chainlog_graphql_active_subscriptions', { field: 'eventLogged' });
    const before = await subscriptions();
    const sse = await openUnreadSse(
      `subscription { eventLogged(filter: { sourceAppIds: ["${BIG_LOG}"] }) { ${BIG_SELECTION} } }`,
      secret,
    );
    await until('the subscription open on the server', async () => (await subscriptions()) === before + 1);
    const started = Date.now();
    // ~30 MB of results: the response goes over its bound and a result waits for the client.
    await logBig(BIG_EVENTS);
    // Its stream would end with UNAUTHENTICATED at its next event, which never comes while a result waits.
    const revoked = await svc.gql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id });
    expect(revoked.errors).toBeUndefined();
    // The revocation came before the bound (a result has waited since `started` at most), and has not ended it.
    const afterRevoking = await subscriptions();
    expect(Date.now() - started).toBeLessThan(FLUSH_MS);
    expect(afterRevoking).toBe(before + 1);
    await until('the subscription ended by the server', async () => (await subscriptions()) === before, {
      timeoutMs: CLOSED_WITHIN_MS,
      intervalMs: 100,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(FLUSH_MS);
    const rest = await sse.readToClose();
    expectCutShort(rest);
    expect(rest.tail).not.toContain('UNAUTHENTICATED');
  }, 60_000);
});
