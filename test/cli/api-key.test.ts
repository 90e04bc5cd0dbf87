// Both tools send x-api-key only when given one. A local HTTP server records what arrives on the wire.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { GraphqlClient, GraphqlError } from '../../src/auditor/graphql-client.js';
import { createTransport } from '../../src/simulator/transport.js';

const seen: IncomingHttpHeaders[] = [];
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.headers['x-api-key'] !== 'k-123') {
        res.statusCode = 401;
        res.end(JSON.stringify({ errors: [{ message: 'no key', extensions: { code: 'UNAUTHENTICATED' } }] }));
      } else if (req.url === '/v1/events') {
        res.statusCode = 201;
        res.end(JSON.stringify({ events: [{ seq: 0 }] }));
      } else {
        res.end(JSON.stringify({ data: { ok: true } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const event = { eventType: 'user.login', timestamp: new Date().toISOString(), sourceAppId: 'auth', payload: {} };

it('the simulator transports send the key, and without it report UNAUTHENTICATED', async () => {
  expect((await createTransport({ kind: 'rest', url, apiKey: 'k-123' })([event])).codes).toEqual([null]);
  expect(seen.at(-1)!['x-api-key']).toBe('k-123');
  expect((await createTransport({ kind: 'graphql', url })([event])).codes).toEqual(['UNAUTHENTICATED']);
  expect(seen.at(-1)!['x-api-key']).toBeUndefined();
});

it('the auditor client sends the key, and surfaces a refusal with its code', async () => {
  const schema = z.object({ ok: z.boolean() });
  await expect(new GraphqlClient({ url, apiKey: 'k-123' }).request('{ ok }', {}, schema)).resolves.toEqual({ ok: true });
  expect(seen.at(-1)!['x-api-key']).toBe('k-123');
  const refused = new GraphqlClient({ url }).request('{ ok }', {}, schema);
  await expect(refused).rejects.toBeInstanceOf(GraphqlError);
  await expect(refused).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
});
