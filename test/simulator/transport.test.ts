// The simulator names the log of a single-log batch in the routing header, on both transports, so a
// load balancer routing by log keeps each log's appends on one API process.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventInput } from '../../src/simulator/generator.js';
import { createTransport, LOG_ROUTE_HEADER } from '../../src/simulator/transport.js';

let server: Server;
let url: string;
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"logEvents":[]}}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const event = (sourceAppId: string): EventInput => ({
  sourceAppId,
  eventType: 'order.created',
  timestamp: new Date().toISOString(),
  payload: {},
});

describe('simulator transport routing header', () => {
  for (const kind of ['graphql', 'rest'] as const) {
    it(`${kind}: names the log of a single-log batch, and none for a mixed one`, async () => {
      const send = createTransport({ kind, url });
      seen.length = 0;
      await send([event('orders'), event('orders')]);
      await send([event('orders'), event('payments')]);
      expect(seen.map((h) => h[LOG_ROUTE_HEADER])).toEqual(['orders', undefined]);
    });
  }
});
