// The forward's wire on its own, with real HTTP on loopback and no database: the holder's endpoint
// (src/api/peer-append.ts) sends signs of life (102 Processing) at the interval the forward asks for,
// bounded; the client waits as long as they come, gives up after the silence limit (`silent`) or the
// total limit (`timeout`), and tells a holder it never reached (unreachable: nothing sent) from one
// that went quiet. And the forwarder (src/log/forwarding.ts) over that client against in-process peers
// that keep answering 421: three hops, then the append is made here. The engine-independent half of
// test/multiprocess/forwarding*.test.ts (those run real processes on one MongoDB database).
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { PEER_APPEND_PATH, SIGN_EVERY_HEADER, httpPeerTransport, peerAppendRouter } from '../../src/api/peer-append.js';
import { HeldElsewhereError } from '../../src/log/commit-gate.js';
import { AppendForwarder, PeerNoAnswerError, PeerUnreachableError } from '../../src/log/forwarding.js';
import type { AppendRequest } from '../../src/log/service.js';
import type { Coordination, StoredEvent } from '../../src/storage/types.js';
import { deferred } from '../support/wait.js';

const SECRET = 'peer-append-test-secret-0123456789abcdef';
const request: AppendRequest = { sourceAppId: 'hot', eventType: 't', timestamp: 0, payload: { a: 1 }, idempotencyKey: 'k' };
const servers: Server[] = [];

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

const event = { sourceAppId: 'hot', seq: 0 } as unknown as StoredEvent;

describe('the holder endpoint', () => {
  it('sends a sign of life at the interval the forward asks for (bounded) while it appends, then the answer', async () => {
    const appended = deferred<StoredEvent[]>();
    const app = express().use(peerAppendRouter({ secret: SECRET, maxBodyBytes: 1 << 20, append: () => appended.promise }));
    const address = await listen(app);
    let signs = 0;
    // Client and peer share this event loop: a silence limit of 1 s leaves room for a loaded machine's pauses.
    const transport = httpPeerTransport({ secret: SECRET, silenceMs: 1000, timeoutMs: 30_000 });
    const answer = transport.append(address, [request], () => {
      // The holder is still appending: release it after six signs (1.5 s: past the silence limit).
      if (++signs === 6) appended.resolve([event]);
    });
    await expect(answer).resolves.toEqual([event]);
    expect(signs).toBe(6);
  });

  it('refuses a caller without the secret with 401, before reading the body, and appends nothing', async () => {
    let appends = 0;
    const app = express().use(
      peerAppendRouter({
        secret: SECRET,
        maxBodyBytes: 1 << 20,
        append: () => {
          appends++;
          return Promise.resolve([event]);
        },
      }),
    );
    const address = await listen(app);
    const body = JSON.stringify({ requests: [request] });
    for (const authorization of [undefined, SECRET, `Basic ${SECRET}`, `Bearer ${SECRET}x`, 'Bearer ']) {
      const res = await fetch(`${address}${PEER_APPEND_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization !== undefined && { authorization }) },
        body,
      });
      expect(res.status, String(authorization)).toBe(401);
      expect(await res.json()).toMatchObject({ error: { kind: 'refused' } });
    }
    expect(appends).toBe(0);
  });

  it('raises an interval asked for below 25 ms to 25 ms (a zero would flood the connection)', async () => {
    const appended = deferred<StoredEvent[]>();
    const app = express().use(peerAppendRouter({ secret: SECRET, maxBodyBytes: 1 << 20, append: () => appended.promise }));
    const address = await listen(app);
    const signs = await new Promise<number>((resolve, reject) => {
      let count = 0;
      const req = httpRequest(new URL(`${address}${PEER_APPEND_PATH}`), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}`, [SIGN_EVERY_HEADER]: '0' },
      });
      req.on('information', () => {
        if (++count === 3) {
          req.destroy();
          resolve(count);
        }
      });
      req.on('error', reject);
      req.on('response', () => reject(new Error('answered before three signs')));
      req.end(JSON.stringify({ requests: [request] }));
    });
    expect(signs).toBe(3);
    appended.resolve([event]);
  });
});

describe('the forward client', () => {
  it('gives up on a holder that took the request and fell silent: silent, the outcome unknown', async () => {
    const got = deferred();
    const address = await listen((req) => {
      req.resume();
      got.resolve();
    });
    const transport = httpPeerTransport({ secret: SECRET, silenceMs: 150, timeoutMs: 30_000 });
    const err = await transport.append(address, [request]).catch((e: unknown) => e);
    await got.promise;
    expect(err).toBeInstanceOf(PeerNoAnswerError);
    expect(err).toMatchObject({ reason: 'silent' });
  });

  it('gives up on a holder that keeps signing past the total limit: timeout', async () => {
    const address = await listen((req, res) => {
      req.resume();
      const ticker = setInterval(() => res.writeProcessing(), 20);
      res.on('close', () => clearInterval(ticker));
    });
    let signs = 0;
    const transport = httpPeerTransport({ secret: SECRET, silenceMs: 1000, timeoutMs: 1500 });
    const err = await transport.append(address, [request], () => signs++).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerNoAnswerError);
    expect(err).toMatchObject({ reason: 'timeout' });
    expect(signs).toBeGreaterThan(10); // silence never ran out: the total limit did
  });

  it('tells a holder it never reached (nothing sent) from one that went away after the request', async () => {
    const closed = await listen(() => undefined);
    servers[0]!.close();
    const transport = httpPeerTransport({ secret: SECRET, silenceMs: 1000, timeoutMs: 30_000 });
    await expect(transport.append(closed, [request])).rejects.toBeInstanceOf(PeerUnreachableError);

    const dies = await listen((req) => {
      req.resume();
      req.socket.destroy();
    });
    const err = await transport.append(dies, [request]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerNoAnswerError);
    expect(err).toMatchObject({ reason: 'lost' });
  });

  it('takes an address that is not a URL as never reached, and a 200 that is not JSON as an unknown outcome', async () => {
    const transport = httpPeerTransport({ secret: SECRET, silenceMs: 1000, timeoutMs: 30_000 });
    const bad = await transport.append('not a url', [request]).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(PeerUnreachableError);
    expect((bad as Error).message).toMatch(/is not a URL/);

    // The holder may have appended: the answer is lost, not a refusal, so the caller's retry (with its key) decides.
    const garbled = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"events": [');
    });
    const err = await transport.append(garbled, [request]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerNoAnswerError);
    expect(err).toMatchObject({ reason: 'lost' });
    expect((err as Error).message).toMatch(/answered HTTP 200 with a body that is not JSON/);
  });

  it("rebuilds a 421 as the holder's HeldElsewhereError", async () => {
    const address = await listen((req, res) => {
      req.resume();
      res.writeHead(421, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { kind: 'elsewhere', message: 'x', sourceAppId: 'hot', address: 'http://127.0.0.1:1' } }));
    });
    const transport = httpPeerTransport({ secret: SECRET, silenceMs: 1000, timeoutMs: 30_000 });
    const err = await transport.append(address, [request]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeldElsewhereError);
    expect(err).toMatchObject({ sourceAppId: 'hot', address: 'http://127.0.0.1:1' });
  });
});

describe('the hop limit, over the real client against in-process peers', () => {
  it('follows three 421s, then appends here in its own turn; each peer was asked once', async () => {
    const asked: string[] = [];
    const peers: string[] = [];
    // Each peer names the next one as the holder now (the last names the first): the lease keeps moving.
    for (let i = 0; i < 4; i++) {
      peers.push(
        await listen((req, res) => {
          req.resume();
          asked.push(`p${i}`);
          res.writeHead(421, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ error: { kind: 'elsewhere', message: 'moved', sourceAppId: 'hot', address: peers[(i + 1) % 4] } }),
          );
        }),
      );
    }
    const coordination = {
      leases: {
        holder: async () => ({
          name: 'log:hot',
          owner: 'other',
          fence: 1,
          expiresAt: Date.now() + 60_000,
          released: false,
          address: peers[0],
        }),
      },
    } as unknown as Coordination;
    const forwarder = new AppendForwarder({
      coordination,
      owner: 'me',
      transport: httpPeerTransport({ secret: SECRET, silenceMs: 1000, timeoutMs: 30_000 }),
      holds: () => false,
      ttlMs: 5000,
    });
    const local: boolean[] = [];
    const events = await forwarder.append([request], async (redirect) => {
      local.push(redirect);
      return [event];
    });
    expect(events).toEqual([event]);
    expect(asked).toEqual(['p0', 'p1', 'p2']);
    expect(local).toEqual([false]); // waits for its own turn, never redirected again
    expect(forwarder.stats).toMatchObject({ forwarded: 0, followed: 3, inFlight: 0 });
  });
});
