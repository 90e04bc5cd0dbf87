// The client (src/client, chainlog/client) against the real service on the suites' engine: typed writes
// with receipts, paging, verification with the pinned key, and each failure path: a refused key, a server
// that is not there, a lost answer (retried only with idempotency keys), tampered events and receipts, and
// a wrong pinned key.
import { generateKeyPairSync } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChainlogError,
  ChainlogGraphqlError,
  ChainlogTransportError,
  ChainlogVerificationError,
  createChainlogClient,
  type ChainlogClient,
  type LoggedEvent,
} from '../../src/client/index.js';
import { rawPublicKey, verifierKeyString } from '../../src/core/index.js';
import { freePort } from '../support/service-process.js';
import { ADMIN_KEY, ORIGIN_PREFIX, eventFor, startClientService, type ClientService } from './support.js';

let svc: ClientService;
let client: ChainlogClient;
beforeAll(async () => {
  svc = await startClientService();
  client = svc.client();
});
afterAll(async () => {
  await svc?.stop();
});

/** A fetch whose first `n` answers are lost after the server has answered (the request did its work). */
function losingAnswers(n: number): typeof fetch {
  let lose = n;
  return async (...args) => {
    const res = await fetch(...args);
    if (lose-- > 0) {
      await res.text();
      throw new TypeError('fetch failed: the answer was lost');
    }
    return res;
  };
}

describe('writes and reads', () => {
  it('logEvent and logEvents answer typed events, with receipts that verify when they wait for them', async () => {
    const one = await client.logEvent(eventFor('client-write'), { waitForReceipt: true });
    expect(one).toMatchObject({ id: 'client-write/0', seq: 0, replayed: false, payloadHash: expect.any(String) });
    expect(one.receipt?.status).toBe('READY');
    const batch = await client.logEvents([eventFor('client-write'), eventFor('client-write')], { waitForReceipt: true });
    expect(batch.map((e) => e.seq)).toEqual([1, 2]);
    for (const e of [one, ...batch]) {
      const v = client.verifyReceipt(e.receipt!.proof!, e);
      expect(v).toMatchObject({ origin: `${ORIGIN_PREFIX}/client-write`, index: e.seq, leafHash: e.hash });
      expect(v.treeSize).toBeGreaterThan(e.seq);
    }
  });

  it('events() iterates page by page, following the cursors to the end', async () => {
    const app = 'client-pages';
    await client.logEvents(Array.from({ length: 7 }, () => eventFor(app)));
    const pages = [];
    for await (const page of client.events({ sourceAppIds: [app] }, { pageSize: 3 })) pages.push(page);
    expect(pages.map((p) => p.events.length)).toEqual([3, 3, 1]);
    expect(pages.flatMap((p) => p.events.map((e) => e.seq))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(pages.at(-1)!.hasNextPage).toBe(false);
    const newestFirst = client.events({ sourceAppIds: [app] }, { order: 'DESC', pageSize: 500 });
    expect((await newestFirst.next()).value!.events.map((e) => e.seq)).toEqual([6, 5, 4, 3, 2, 1, 0]);
  });

  it('verifyEvent proves an event read back (by value or by id) against a checkpoint signed by the pinned key', async () => {
    const [logged] = await client.logEvents([eventFor('client-verify', { order: 42 })], { waitForReceipt: true });
    const read = (await client.event(logged!.id))!;
    await expect(client.verifyEvent(read)).resolves.toMatchObject({ index: 0, leafHash: read.hash });
    await expect(client.verifyEvent(read.id)).resolves.toMatchObject({ origin: `${ORIGIN_PREFIX}/client-verify` });
  });
});

describe('failures', () => {
  it('verifyEvent without a usable pinned key asks the server nothing; of an unknown event it says there is none', async () => {
    let calls = 0;
    const counting: typeof fetch = (...args) => {
      calls++;
      return fetch(...args);
    };
    const [logged] = await client.logEvents([eventFor('client-verify-fail')]);
    const none = createChainlogClient({ url: svc.url, apiKey: ADMIN_KEY, fetch: counting });
    await expect(none.verifyEvent(logged!.id)).rejects.toThrow(
      new ChainlogError('verifying needs the pinned verifierKey option'),
    );
    const malformed = createChainlogClient({ url: svc.url, apiKey: ADMIN_KEY, fetch: counting, verifierKey: 'not+a+key' });
    await expect(malformed.verifyEvent(logged!.id)).rejects.toThrow(/^the verifierKey option is not a verifier key: /);
    expect(calls).toBe(0);

    const unknown = await client.verifyEvent('client-verify-fail/99').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ChainlogVerificationError);
    expect(unknown).toMatchObject({ part: 'event', reason: 'there is no event client-verify-fail/99' });
  });

  it('a bad key is a ChainlogGraphqlError with code UNAUTHENTICATED, on writes and on reads', async () => {
    const bad = svc.client({ apiKey: 'clk_not-a-key-of-this-server-0000000000000' });
    const write = bad.logEvent(eventFor('client-auth'));
    await expect(write).rejects.toBeInstanceOf(ChainlogGraphqlError);
    await expect(write).rejects.toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    await expect(bad.events().next()).rejects.toMatchObject({ code: 'UNAUTHENTICATED', extensions: { rule: 'invalidKey' } });
  });

  it('a refused write names each bad item by index in extensions.errors', async () => {
    const refused = client.logEvents([eventFor('client-bad'), { ...eventFor('client-bad'), eventType: '' }]);
    await expect(refused).rejects.toBeInstanceOf(ChainlogGraphqlError);
    const err = (await refused.catch((e: unknown) => e)) as ChainlogGraphqlError;
    expect(err.code).toBe('BAD_USER_INPUT');
    expect(err.extensions.errors).toEqual(expect.arrayContaining([expect.objectContaining({ index: 1 })]));
  });

  it('a server that is not there is a ChainlogTransportError without a status, after the retries', async () => {
    let calls = 0;
    const counting: typeof fetch = (...args) => {
      calls++;
      return fetch(...args);
    };
    const down = createChainlogClient({ url: `http://127.0.0.1:${await freePort()}`, fetch: counting, retryDelayMs: 1 });
    const read = down.event('x/0');
    await expect(read).rejects.toBeInstanceOf(ChainlogTransportError);
    await expect(read).rejects.toMatchObject({ status: null, message: expect.stringContaining('cannot reach') });
    expect(calls).toBe(3); // the first attempt and the 2 retries a read may have
  });

  it('a lost answer is retried with the idempotency key, so the event is logged once (replayed)', async () => {
    const lossy = losingAnswers(1);
    const retrying = svc.client({ fetch: lossy, retryDelayMs: 1 });
    const logged = await retrying.logEvent(eventFor('client-retry'));
    expect(logged).toMatchObject({ seq: 0, replayed: true });
    const all = await client.events({ sourceAppIds: ['client-retry'] }).next();
    expect(all.value!.events).toHaveLength(1);
  });

  it('without idempotency keys a lost answer is not retried: the error says so, and the event was logged once', async () => {
    const lossy = losingAnswers(1);
    const once = svc.client({ fetch: lossy, retryDelayMs: 1, idempotencyKeys: false });
    await expect(once.logEvent(eventFor('client-no-retry'))).rejects.toBeInstanceOf(ChainlogTransportError);
    const all = await client.events({ sourceAppIds: ['client-no-retry'] }).next();
    expect(all.value!.events).toHaveLength(1);
  });

  describe('verification rejects with the part that fails', () => {
    let events: LoggedEvent[];
    let receipt: string;
    beforeAll(async () => {
      events = await client.logEvents(
        Array.from({ length: 5 }, () => eventFor('client-tamper')),
        { waitForReceipt: true },
      );
      receipt = events[2]!.receipt!.proof!;
    });
    const reject = (f: () => unknown, part: string) => {
      let caught: unknown;
      try {
        f();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ChainlogVerificationError);
      expect(caught).toMatchObject({ part, reason: expect.any(String) });
    };

    it('the untouched receipt verifies', () => {
      expect(client.verifyReceipt(receipt, events[2]!).index).toBe(2);
    });
    it('a proof hash changed', () => {
      const lines = receipt.split('\n');
      const at = lines.findIndex((l) => l.startsWith('index ')) + 1;
      lines[at] = Buffer.from(new Uint8Array(32).fill(7)).toString('base64');
      reject(() => client.verifyReceipt(lines.join('\n'), events[2]!), 'proof');
    });
    it('the receipt of another event', () => {
      reject(() => client.verifyReceipt(receipt, events[3]!), 'index');
    });
    it('the checkpoint signature changed', () => {
      const sig = receipt.trimEnd().split('\n').at(-1)!;
      const bytes = Buffer.from(sig.split(' ').at(-1)!, 'base64');
      bytes[bytes.length - 1]! ^= 1;
      const forged = receipt.replace(sig, `${sig.split(' ').slice(0, -1).join(' ')} ${bytes.toString('base64')}`);
      reject(() => client.verifyReceipt(forged, events[2]!), 'checkpoint');
    });
    it("the event's payload changed (leaf version 2: it no longer matches its commitment)", () => {
      reject(() => client.verifyReceipt(receipt, { ...events[2]!, payload: { n: -1 } }), 'event');
    });
    it("the event's fields changed (they no longer give its hash)", () => {
      reject(() => client.verifyReceipt(receipt, { ...events[2]!, eventType: 'client.forged' }), 'event');
    });
    it('a wrong pinned key rejects the checkpoint, by receipt and by verifyEvent', async () => {
      const other = generateKeyPairSync('ed25519').privateKey;
      const wrong = svc.client({ verifierKey: verifierKeyString(ORIGIN_PREFIX, rawPublicKey(other)) });
      reject(() => wrong.verifyReceipt(receipt, events[2]!), 'checkpoint');
      await expect(wrong.verifyEvent(events[2]!.id)).rejects.toMatchObject({ part: 'checkpoint' });
    });
    it('verifyEvent rejects an event whose fields the server (or anyone) changed', async () => {
      await expect(client.verifyEvent({ ...events[1]!, timestamp: '2026-01-01T00:00:00.000Z' })).rejects.toMatchObject({
        part: 'event',
      });
    });
  });
});

describe('subscriptions', () => {
  for (const transport of ['ws', 'sse'] as const) {
    it(`${transport}: a bad key ends the subscription with UNAUTHENTICATED`, async () => {
      const bad = svc.client({ apiKey: 'clk_not-a-key-of-this-server-0000000000000' });
      const sub = bad.subscribe('eventLogged', { transport, reconnectAttempts: 0 });
      await expect(sub.next()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    });

    it(`${transport}: a server that is not there is a ChainlogTransportError once the reconnections are spent`, async () => {
      const down = createChainlogClient({ url: `http://127.0.0.1:${await freePort()}`, webSocketImpl: WebSocket });
      const attempts: number[] = [];
      const sub = down.subscribe('eventLogged', {
        transport,
        reconnectAttempts: 2,
        reconnectDelayMs: 1,
        onReconnect: (_err, attempt) => attempts.push(attempt),
      });
      await expect(sub.next()).rejects.toBeInstanceOf(ChainlogTransportError);
      expect(attempts).toEqual([1, 2]);
    });

    it(`${transport}: checkpointPublished delivers the log's new checkpoints`, async () => {
      const app = `client-cp-${transport}`;
      const sub = client.subscribe('checkpointPublished', { transport, sourceAppId: app });
      const first = sub.next();
      // The subscription starts live: log until an update arrives (each write makes the next checkpoint).
      let update: Awaited<typeof first> | undefined;
      void first.then((u) => (update = u));
      while (update === undefined) {
        await client.logEvent(eventFor(app), { waitForReceipt: true });
      }
      expect(update.value).toMatchObject({ checkpoint: { sourceAppId: app, origin: `${ORIGIN_PREFIX}/${app}` } });
      await sub.return();
    });
  }
});
