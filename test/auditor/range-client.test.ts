// The auditor's REST range pages against a server that lies: a real HTTP server on loopback answers
// GET /v1/logs/<app>/range-proof with what each test makes it say (an honest page of the fixture log, a
// reordered or altered one, a body cut off, one larger than the bound, an error, no such route).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, GraphqlError, ResponseShapeError } from '../../src/auditor/graphql-client.js';
import { NO_ROUTE, RangeClient } from '../../src/auditor/range-client.js';
import { verifyRangePage, type RangePage } from '../../src/auditor/range-page.js';
import { APP, makeEvents, TestLog } from './log-fixture.js';

const log = new TestLog(makeEvents(40));
const root = log.root();

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;
let handler: Handler = () => undefined;
let server: Server;
let base: string;
const asked: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    asked.push(`${url.pathname}?${url.searchParams.toString()}`);
    handler(req, res, url);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Serves the honest page asked for, after `alter` changes it. */
const serve =
  (alter: (page: RangePage) => unknown = (p) => p): Handler =>
  (_req, res, url) => {
    const q = (k: string) => Number(url.searchParams.get(k));
    const body = JSON.stringify(alter(log.rangePage(q('start'), q('end'), q('treeSize'))));
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  };

const check = (page: RangePage, start: number, end: number) =>
  verifyRangePage(page, {
    app: APP,
    start,
    end,
    treeSize: 40,
    rootHash: root,
    prevLeafHash: start === 0 ? '0'.repeat(64) : log.events[start - 1]!.hash,
  });

describe('REST range pages', () => {
  it('asks for exactly the range and size with the tree nodes, and an honest page verifies', async () => {
    handler = serve();
    const client = new RangeClient({ url: `${base}/`, apiKey: 'k' });
    const page = await client.rangeProof(APP, 8, 24, 40);
    client.close();
    expect(asked.at(-1)).toBe(`/v1/logs/${APP}/range-proof?start=8&end=24&treeSize=40&nodes=true`);
    expect(page).not.toBe(NO_ROUTE);
    expect(check(page as RangePage, 8, 24)).toMatchObject({ findings: [], nodesChecked: 8 + 4 + 2 + 1 });
  });

  it('a reordered page is named at the positions that moved', async () => {
    handler = serve((p) => {
      [p.events[3], p.events[4]] = [p.events[4]!, p.events[3]!];
      return p;
    });
    const client = new RangeClient({ url: base });
    const page = (await client.rangeProof(APP, 0, 16, 40)) as RangePage;
    client.close();
    const kinds = check(page, 0, 16).findings.map((f) => [f.kind, f.seq]);
    expect(kinds).toContainEqual(['WRONG_POSITION', 3]);
    expect(kinds).toContainEqual(['WRONG_POSITION', 4]);
  });

  it('a page whose payload lies is named at that event', async () => {
    handler = serve((p) => {
      (p.events[5]!.payload as Record<string, unknown>).orderId = 'forged';
      return p;
    });
    const client = new RangeClient({ url: base });
    const page = (await client.rangeProof(APP, 0, 16, 40)) as RangePage;
    client.close();
    expect(check(page, 0, 16).findings.map((f) => [f.kind, f.seq])).toEqual([
      ['BROKEN_LINK', 6],
      ['LEAF_HASH_MISMATCH', 5],
    ]);
  });

  it('a body cut off before its Content-Length is a broken connection, not a page', async () => {
    handler = (_req, res) => {
      const body = JSON.stringify(log.rangePage(0, 16));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      res.write(body.slice(0, body.length >> 1), () => res.destroy());
    };
    const client = new RangeClient({ url: base });
    await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(ConnectionError);
    client.close();
  });

  it('a complete body that is not JSON is a malformed answer', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(log.rangePage(0, 16)).slice(0, 100));
    };
    const client = new RangeClient({ url: base });
    await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(ResponseShapeError);
    client.close();
  });

  it('an answer past the bound is refused while it streams, declared or not', async () => {
    const body = JSON.stringify(log.rangePage(0, 16));
    const client = new RangeClient({ url: base, maxBytes: 1000 });
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) }).end(body);
    };
    await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(/more than the 1000 an answer may have/);
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(body);
      res.write(body, () => res.end());
    };
    await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(/more than the 1000 bytes an answer may have/);
    client.close();
  });

  it('a page of the wrong shape names the field', async () => {
    const cases: Array<[(p: RangePage) => unknown, string]> = [
      [(p) => ({ ...p, events: 'none' }), 'rangeProof.events: expected array'],
      [(p) => ({ ...p, leftHashes: [1] }), 'rangeProof.leftHashes.0: expected string'],
      [(p) => ({ ...p, end: '16' }), 'rangeProof.end: expected number'],
      [
        (p) => {
          (p.events[2] as unknown as Record<string, unknown>).seq = '2';
          return p;
        },
        'rangeProof.events.2.seq: expected number',
      ],
      [
        (p) => {
          (p.events[1] as unknown as Record<string, unknown>).payloadSalt = 7;
          return p;
        },
        'rangeProof.events.1.payloadSalt: expected string or null',
      ],
      [() => [], 'rangeProof.: expected object'],
      [({ nodes: _, ...p }) => p, 'rangeProof.nodes: expected array (the answer to nodes=true)'],
      [(p) => ({ ...p, nodes: [{ level: 1, index: '0', hashes: [] }] }), 'rangeProof.nodes.0.index: expected number'],
      [(p) => ({ ...p, nodes: [{ level: 1, index: 0, hashes: [7] }] }), 'rangeProof.nodes.0.hashes.0: expected string or null'],
      [(p) => ({ ...p, nodes: [[]] }), 'rangeProof.nodes.0: expected object'],
      [(p) => ({ ...p, nodes: [{ level: 1, index: 0, hashes: 'ab' }] }), 'rangeProof.nodes.0.hashes: expected array'],
      [(p) => ({ ...p, rightHashes: null }), 'rangeProof.rightHashes: expected array'],
      [(p) => ({ ...p, events: [7] }), 'rangeProof.events.0: expected object'],
      [
        (p) => {
          (p.events[0] as unknown as Record<string, unknown>).hash = null;
          return p;
        },
        'rangeProof.events.0.hash: expected string',
      ],
    ];
    const client = new RangeClient({ url: base });
    for (const [alter, message] of cases) {
      handler = serve(alter);
      await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(
        new ResponseShapeError(`unexpected response shape at ${message}`),
      );
    }
    client.close();
  });

  it("the server's error keeps its code and rule; a server without the route says so", async () => {
    const client = new RangeClient({ url: base });
    handler = (_req, res) => {
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'MALFORMED_EVENT', message: 'event 3 is malformed', rule: 'stored' }] }));
    };
    const err = await client.rangeProof(APP, 0, 16, 40).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphqlError);
    expect(err).toMatchObject({ code: 'MALFORMED_EVENT', rule: 'stored', message: 'event 3 is malformed' });
    handler = (_req, res) => {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: 'no route', rule: 'route' }] }));
    };
    expect(await client.rangeProof(APP, 0, 16, 40)).toBe(NO_ROUTE);
    handler = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
    };
    await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(ConnectionError);
    // JSON, but not an error the server states: a proxy's or a broken server's answer, not the service's refusal.
    for (const body of [{}, { errors: [] }, { errors: [{ code: 'X' }] }, null]) {
      handler = (_req, res) => {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(
        new ConnectionError(`/v1/logs/${APP}/range-proof answered HTTP 500 without an error`),
      );
    }
    client.close();
  });

  it('a server that does not answer in time is a connection error', async () => {
    const client = new RangeClient({ url: base, timeoutMs: 200 });
    let answered = () => undefined as void;
    const held = new Promise<void>((r) => (answered = r));
    handler = (_req, res) => {
      // Never answered before the client gives up; closed after it did.
      void held.then(() => res.destroy());
    };
    await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(/no answer within 200 ms/);
    answered();
    client.close();
  });

  it('a server that is not there is a connection error', async () => {
    const client = new RangeClient({ url: 'http://127.0.0.1:1' });
    await expect(client.rangeProof(APP, 0, 16, 40)).rejects.toThrow(ConnectionError);
    client.close();
  });
});
