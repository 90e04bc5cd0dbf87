// How the mirror's client of its primary classes each kind of answer, against a real HTTP server on
// loopback: what passes (unreachable, cut off, not JSON, no data, UNAVAILABLE, RATE_LIMITED, any error of
// a 5xx) is PrimaryUnavailableError, which the mirror retries with its backoff; what the primary means
// (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, BAD_USER_INPUT) is PrimaryRefusedError with its code, which
// stops the mirror's start or the log. The probe takes NOT_FOUND for the absent log as an auditor key's
// answer, and any other refusal of it as the key's.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PrimaryClient, PrimaryRefusedError, PrimaryUnavailableError } from '../../src/mirror/primary-client.js';
import { freePort } from '../support/service-process.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

/** A primary answering every request with `answer(query)`. */
async function primary(answer: (query: string, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => answer((JSON.parse(body) as { query: string }).query, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const gqlError = (code: string, message = 'refused') => ({ errors: [{ message, extensions: { code } }] });
const INFO = { verifierKey: 'k', originPrefix: 'primary.example', checkpointIntervalMs: 1000 };

describe('the primary client', () => {
  it('takes what passes as unavailable (retried), naming the primary and what it answered', async () => {
    const down = new PrimaryClient(`http://127.0.0.1:${await freePort()}`, 'key');
    await expect(down.log('a')).rejects.toThrow(PrimaryUnavailableError);
    await expect(down.log('a')).rejects.toThrow(/cannot be reached/);

    const cases: Array<[string, (res: ServerResponse) => void, RegExp]> = [
      ['not JSON', (res) => res.writeHead(200).end('<html>'), /answered HTTP 200 without JSON/],
      ['no data', (res) => json(res, 200, {}), /answered HTTP 200 without data/],
      ['UNAVAILABLE', (res) => json(res, 503, gqlError('UNAVAILABLE', 'storage')), /answered UNAVAILABLE: storage/],
      ['RATE_LIMITED', (res) => json(res, 429, gqlError('RATE_LIMITED')), /answered RATE_LIMITED/],
      ['an error of a 5xx', (res) => json(res, 500, gqlError('INTERNAL_SERVER_ERROR')), /answered INTERNAL_SERVER_ERROR/],
      ['an error without a code, of a 502', (res) => json(res, 502, { errors: [{ message: 'bad gateway' }] }), /UNKNOWN/],
      [
        'a body cut off',
        (res) => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          // Once the headers and the start of the body are on their way: the answer began, then stopped.
          res.write('{"data":', () => res.socket?.destroy());
        },
        /answered HTTP 200: /,
      ],
    ];
    for (const [name, answer, message] of cases) {
      const url = await primary((_q, res) => answer(res));
      const err = await new PrimaryClient(url, 'key').log('a').catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(PrimaryUnavailableError);
      expect((err as Error).message, name).toMatch(new RegExp(`^primary ${url} `));
      expect((err as Error).message, name).toMatch(message);
    }
  });

  it('takes what the primary means as refused, with its code', async () => {
    for (const code of ['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT']) {
      const url = await primary((_q, res) => json(res, code === 'BAD_USER_INPUT' ? 400 : 401, gqlError(code, 'no')));
      const err = await new PrimaryClient(url, 'key').log('a').catch((e: unknown) => e);
      expect(err, code).toBeInstanceOf(PrimaryRefusedError);
      expect(err).toMatchObject({ code, message: `primary ${url} answered ${code}: no` });
    }
  });

  it("probes with the absent log's proof: NOT_FOUND is an auditor key's answer, any other refusal is the key's", async () => {
    const answering = (proofAnswer: unknown) =>
      primary((query, res) => json(res, 200, query.includes('serverInfo') ? { data: { serverInfo: INFO } } : proofAnswer));
    await expect(new PrimaryClient(await answering(gqlError('NOT_FOUND')), 'key').probe()).resolves.toEqual(INFO);
    await expect(new PrimaryClient(await answering({ data: { consistencyProof: null } }), 'key').probe()).resolves.toEqual(INFO);
    const forbidden = await new PrimaryClient(await answering(gqlError('FORBIDDEN')), 'key').probe().catch((e: unknown) => e);
    expect(forbidden).toBeInstanceOf(PrimaryRefusedError);
    expect(forbidden).toMatchObject({ code: 'FORBIDDEN' });
    const unavailable = await new PrimaryClient(await answering(gqlError('UNAVAILABLE')), 'key').probe().catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(PrimaryUnavailableError);
  });
});
