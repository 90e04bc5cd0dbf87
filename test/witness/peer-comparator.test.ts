// The peer comparator when recording what it saw fails, on both engines' inconsistency stores: a peer's
// view going backwards is compared against the larger view it had served until the observation is
// recorded, so a store that failed once loses nothing. A real HTTP peer serves signed checkpoints.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { createSigner, parseVerifierKey, rawPublicKey, verifierKeyString } from '../../src/core/note/signed-note.js';
import { InconsistencyReporter } from '../../src/inconsistency/reporter.js';
import type { InconsistencyStore } from '../../src/storage/inconsistency-store.js';
import { MAX_PEER_BODY_BYTES, PeerComparator } from '../../src/witness/peer-comparator.js';
import { LocalViews } from '../../src/witness/views.js';
import { useEngines } from '../log/engines.js';
import type { StorageHarness } from '../storage/contract.js';
import { IN_FLIGHT_BYTES, writeEndless } from '../support/endless-answer.js';

const engines = useEngines('chainlog-peer-comparator-');
const ORIGIN = 'peer.test/log';
const key = generateKeyPairSync('ed25519').privateKey;
const signer = createSigner(ORIGIN, key);
const trusted = parseVerifierKey(verifierKeyString(ORIGIN, rawPublicKey(key)));
const noteOf = (size: number) => signCheckpoint({ origin: ORIGIN, size, rootHash: new Uint8Array(32).fill(size) }, signer);

describe.each(engines)('comparing with a peer when the record fails: $name', (engine) => {
  let harness: StorageHarness;
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await harness?.cleanup();
  });

  it("records a peer's view going backwards on the next round when the first record failed", async () => {
    harness = engine.harness();
    await harness.storage.init();
    const store = harness.storage.inconsistencies!;
    let failures = 1;
    const failing: InconsistencyStore = {
      init: () => store.init(),
      list: (q) => store.list(q),
      record: async (r) => {
        if (failures-- > 0) throw new Error('injected: the store does not answer');
        return store.record(r);
      },
    };
    const logger = pino({ level: 'silent' });
    let served = noteOf(8);
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(served));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const peer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const views = new LocalViews();
    views.add({ origins: () => [{ origin: ORIGIN, trusted }], latest: async () => noteOf(8) });
    const comparator = new PeerComparator({
      peers: [peer],
      views,
      inconsistencies: new InconsistencyReporter({ store: failing, logger }),
      logger,
      intervalMs: 600_000,
      timeoutMs: 5_000,
    });
    const recorded = () => store.list({ origin: ORIGIN, limit: 10 });

    await comparator.compareAll();
    served = noteOf(4);
    await comparator.compareAll(); // the peer went from 8 to 4: its record fails
    expect(failures).toBe(0);
    expect(await recorded()).toEqual([]);
    await comparator.compareAll(); // the peer still serves 4: compared with 8 again
    const [record, ...more] = await recorded();
    expect(more).toEqual([]);
    expect(record).toMatchObject({ kind: 'unproven', proven: false, source: peer, detectedBy: 'peer' });
    expect(JSON.parse(record!.evidence)).toMatchObject({ observation: 'history-backwards', notes: [noteOf(8), noteOf(4)] });
  });
});

describe("a peer's answer that is not one to read", () => {
  let server: Server | undefined;
  let harness: StorageHarness | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await harness?.cleanup();
  });

  it('is unavailable, named in the log, recorded as nothing: longer than the bound (declared or sent) or not UTF-8', async () => {
    harness = engines[0]!.harness();
    await harness.storage.init();
    const store = harness.storage.inconsistencies!;
    let mode: 'declared' | 'endless' | 'not-utf8' = 'declared';
    const sent: Array<{ bytes: number }> = [];
    server = createServer((_req, res) => {
      if (mode === 'not-utf8') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.from([0x61, 0xff, 0x0a]));
        return;
      }
      if (mode === 'declared') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(MAX_PEER_BODY_BYTES + 1) }).write('x');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      sent.push(writeEndless(res, 0x61));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const peer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const registry = new Registry();
    const views = new LocalViews();
    views.add({ origins: () => [{ origin: ORIGIN, trusted }], latest: async () => noteOf(8) });
    const comparator = new PeerComparator({
      peers: [peer],
      views,
      inconsistencies: new InconsistencyReporter({ store, logger }),
      logger,
      intervalMs: 600_000,
      timeoutMs: 10_000,
      registry,
    });
    const why = async () => {
      await comparator.compareAll();
      return (JSON.parse(lines.at(-1)!) as { msg: string; err: string }).err;
    };
    expect(await why()).toBe(`answer of ${MAX_PEER_BODY_BYTES + 1} bytes, larger than ${MAX_PEER_BODY_BYTES} bytes`);
    mode = 'endless';
    expect(await why()).toBe(`answer larger than ${MAX_PEER_BODY_BYTES} bytes`);
    // Cut off at the bound, with what the sockets' buffers held besides.
    expect(sent[0]!.bytes).toBeLessThan(MAX_PEER_BODY_BYTES + IN_FLIGHT_BYTES);
    mode = 'not-utf8';
    expect(await why()).toBe('answer is not UTF-8');
    const counted = (await registry.getSingleMetric('chainlog_peer_comparisons_total')!.get()).values;
    expect(counted).toEqual([{ labels: { peer, result: 'unavailable' }, value: 3 }]);
    expect(await store.list({ origin: ORIGIN, limit: 10 })).toEqual([]);
    await comparator.stop();
  });
});
