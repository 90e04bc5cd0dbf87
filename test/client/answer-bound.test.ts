// The client reads at most maxResponseBytes of one HTTP answer: a server (hostile, broken, or a proxy's
// error page) that declares or sends more fails the request with a ChainlogTransportError naming the
// bound as soon as it passes it, the rest unread, and without a retry; an answer within it is read; an
// SSE subscription's refusal is read up to the bound too. The server here is a real node:http server on
// a real socket.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ChainlogTransportError, createChainlogClient } from '../../src/client/index.js';
import { IN_FLIGHT_BYTES, writeEndless } from '../support/endless-answer.js';

const BOUND = 64 * 1024;
let server: Server;
let url: string;
/** Resolved by the SSE test once it has every message within the bound. */
let delivered!: () => void;
const sseDelivered = new Promise<void>((resolve) => (delivered = resolve));
/** Per request: the answer the test asks for (by its query's text), and the bytes sent of it. */
const sent: Array<{ mode: string; bytes: number }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/graphql/stream') {
      let query = '';
      req.on('data', (c: Buffer) => (query += c.toString()));
      req.on('end', () => {
        if (query.includes('checkpointPublished')) {
          // An SSE subscription refused with an endless body.
          res.writeHead(400, { 'content-type': 'application/json' });
          sent.push(Object.assign(writeEndless(res), { mode: 'sse refusal' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // Messages that together pass the bound, each within it (alternating LF and CRLF line ends)...
        for (let i = 0; i < 8; i++) {
          const data = JSON.stringify({ data: { eventLogged: { id: `a/${i}`, pad: 'x'.repeat(BOUND / 4) } } });
          res.write(i % 2 === 0 ? `event: next\ndata: ${data}\n\n` : `event: next\r\ndata: ${data}\r\n\r\n`);
        }
        // ...then, once the client has them all, one that never ends.
        void sseDelivered.then(() => {
          res.write('event: next\ndata: ');
          sent.push(Object.assign(writeEndless(res, 0x61), { mode: 'sse message' }));
        });
      });
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const mode = /endless|declared|within/.exec(body)?.[0] ?? 'within';
      if (mode === 'within') {
        const data = JSON.stringify({ data: { serverInfo: { version: 'x'.repeat(BOUND - 100) } } });
        sent.push({ mode, bytes: data.length });
        res.writeHead(200, { 'content-type': 'application/json' }).end(data);
        return;
      }
      if (mode === 'declared') {
        // Declares more than the bound: refused before a byte of the body is read.
        sent.push({ mode, bytes: 8 });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(BOUND + 1) });
        res.write('{"data":');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":');
      sent.push(Object.assign(writeEndless(res), { mode }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const client = () => createChainlogClient({ url, maxResponseBytes: BOUND, retries: 2, retryDelayMs: 1 });

it('refuses an answer that goes on past the bound, stops reading it, and does not send the request again', async () => {
  const before = sent.length;
  const err = await client()
    .request('query endless { serverInfo { version } }', {}, { retry: true })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ChainlogTransportError);
  expect((err as ChainlogTransportError).message).toBe(`${url}/graphql answered HTTP 200: answer longer than ${BOUND} bytes`);
  expect((err as ChainlogTransportError).status).toBe(200);
  expect(sent.slice(before).map((s) => s.mode)).toEqual(['endless']);
  // What the sockets' buffers held besides, not an answer read on.
  expect(sent.at(-1)!.bytes).toBeLessThan(BOUND + IN_FLIGHT_BYTES);
});

it('refuses an answer that declares more than the bound, before reading its body', async () => {
  const err = await client()
    .request('query declared { serverInfo { version } }')
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ChainlogTransportError);
  expect((err as ChainlogTransportError).message).toBe(
    `${url}/graphql answered HTTP 200: answer of ${BOUND + 1} bytes, more than ${BOUND}`,
  );
});

it('reads an answer within the bound', async () => {
  const data = await client().request<{ serverInfo: { version: string } }, object>('query within { serverInfo { version } }');
  expect(data.serverInfo.version).toHaveLength(BOUND - 100);
});

it("reads an SSE subscription's refusal up to the bound, and tells its status", async () => {
  const sub = client().subscribe('checkpointPublished', { transport: 'sse', reconnectAttempts: 0 });
  const err = await (async () => {
    for await (const _ of sub) return null;
    return null;
  })().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ChainlogTransportError);
  expect((err as ChainlogTransportError).status).toBe(400);
  const refusal = sent.find((s) => s.mode === 'sse refusal')!;
  expect(refusal.bytes).toBeLessThan(BOUND + IN_FLIGHT_BYTES);
});

it("passes an SSE stream's messages within the bound, and ends it at the first message past it", async () => {
  const events: string[] = [];
  const err = await (async () => {
    for await (const e of client().subscribe('eventLogged', { transport: 'sse', reconnectAttempts: 0 })) {
      events.push(e.id);
      if (events.length === 8) delivered();
    }
    return null;
  })().catch((e: unknown) => e);
  expect(events).toEqual(['a/0', 'a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/6', 'a/7']);
  expect(err).toBeInstanceOf(ChainlogTransportError);
  expect((err as ChainlogTransportError).message).toBe(`sse subscription: an event stream message longer than ${BOUND} bytes`);
  const endless = sent.find((s) => s.mode === 'sse message')!;
  expect(endless.bytes).toBeLessThan(BOUND + IN_FLIGHT_BYTES);
});
