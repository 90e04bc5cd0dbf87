// The tile source and receipts on both engines: tiles are read from the stored tree and events, full
// ones once (then from a cache bounded in bytes), partial ones per request; a tile the latest checkpoint
// does not cover, or a bundle with a leaf too long for it, is NOT_FOUND; a wait for receipts ends with
// READY receipts when the checkpoint is published, and with PENDING ones when the wait runs out.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CompactRange } from '../../src/core/compact/range.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { eventLeafHash } from '../../src/core/leaf.js';
import { decodeEntryBundle, parseTilePath } from '../../src/core/tiles.js';
import { hashLeaf } from '../../src/core/rfc6962/hasher.js';
import { parseVerifierKey, verifyReceipt } from '../../src/core/index.js';
import { LogError } from '../../src/log/errors.js';
import { Integrator } from '../../src/log/integrator.js';
import { awaitReceipts, receiptOf } from '../../src/log/receipts.js';
import { TileSource } from '../../src/log/tiles.js';
import type { LogStorage, NodeId, StoredEvent } from '../../src/storage/types.js';
import type { StorageHarness } from '../storage/contract.js';
import { startPipeline, type EnginePipeline } from '../support/pipeline.js';
import { appendChain, chainedEvents, useEngines } from './engines.js';

const engines = useEngines('chainlog-tiles-');

describe.each(engines)('tile source: $name', (engine) => {
  let harness: StorageHarness;
  let storage: LogStorage;
  let events: StoredEvent[];
  /** Tree node reads that reached the storage. */
  let nodeReads = 0;

  async function logOf(size: number, checkpointSize = size): Promise<LogStorage> {
    harness = engine.harness();
    storage = harness.storage;
    await storage.init();
    events = [];
    while (events.length < size) events.push(...(await appendChain(storage, 'a', Math.min(300, size - events.length))));
    await new Integrator(storage).integrate('a');
    await storage.putCheckpoint({
      sourceAppId: 'a',
      treeSize: checkpointSize,
      rootHash: '00'.repeat(32),
      note: 'note\n',
      publishedAt: 1,
    });
    // The storage as the tile source sees it, counting its reads of tree nodes.
    return Object.assign(Object.create(storage) as LogStorage, {
      getTreeNodes: (app: string, ids: NodeId[]) => {
        nodeReads++;
        return storage.getTreeNodes(app, ids);
      },
    });
  }

  afterEach(async () => {
    nodeReads = 0;
    await storage?.close().catch(() => undefined);
    await harness?.cleanup();
  });

  it('reads a full tile once, then from the cache; a partial one on each request', async () => {
    const tiles = new TileSource(await logOf(300));
    const full = await tiles.read('a', parseTilePath(['0', '000']));
    expect(full.full).toBe(true);
    expect(new Uint8Array(full.bytes)).toEqual(new Uint8Array(Buffer.concat(events.slice(0, 256).map((e) => fromHex(e.hash)))));
    expect((await tiles.read('a', parseTilePath(['0', '000']))).bytes).toEqual(full.bytes);
    expect(nodeReads).toBe(1);
    const partial = await tiles.read('a', parseTilePath(['0', '001.p', '44']));
    expect(partial.full).toBe(false);
    await tiles.read('a', parseTilePath(['0', '001.p', '44']));
    expect(nodeReads).toBe(3);
    expect(await tiles.checkpoint('a')).toBe('note\n');
  });

  it('keeps no more full tiles than its bytes allow', async () => {
    const tiles = new TileSource(await logOf(512), 8192);
    await tiles.read('a', parseTilePath(['0', '000']));
    await tiles.read('a', parseTilePath(['0', '001']));
    await tiles.read('a', parseTilePath(['0', '001']));
    expect(nodeReads).toBe(2);
    await tiles.read('a', parseTilePath(['0', '000']));
    expect(nodeReads).toBe(3);
  });

  it('serves level-1 tiles from the stored nodes at tree level 8', async () => {
    const tiles = new TileSource(await logOf(512));
    const range = (from: number) => {
      const r = CompactRange.new(0);
      for (const e of events.slice(from, from + 256)) r.append(fromHex(e.hash));
      return r.rootHash();
    };
    const tile = await tiles.read('a', parseTilePath(['1', '000.p', '2']));
    expect(toHex(tile.bytes)).toBe(toHex(range(0)) + toHex(range(256)));
  });

  it('is NOT_FOUND for a tile the latest checkpoint does not cover, and for a log without checkpoint', async () => {
    const tiles = new TileSource(await logOf(300, 200));
    const notFound = async (path: string[], app = 'a') => {
      const err = await tiles.read(app, parseTilePath(path)).catch((e: unknown) => e);
      expect(err, path.join('/')).toBeInstanceOf(LogError);
      return err as LogError;
    };
    expect((await notFound(['0', '000.p', '201'])).details[0]).toMatchObject({ field: 'path', rule: 'beyondCheckpoint' });
    await notFound(['0', '001']);
    await notFound(['1', '000.p', '1']);
    expect((await notFound(['0', '000.p', '1'], 'b')).code).toBe('NOT_FOUND');
    await expect(tiles.checkpoint('b')).rejects.toThrow(LogError);
    expect((await tiles.read('a', parseTilePath(['0', '000.p', '200']))).bytes).toHaveLength(200 * 32);
  });

  it('serves entry bundles of the leaves, and refuses one holding a leaf too long for it', async () => {
    const tiles = new TileSource(await logOf(3));
    const entries = decodeEntryBundle((await tiles.read('a', parseTilePath(['entries', '000.p', '3']))).bytes);
    expect(entries.map((e) => toHex(hashLeaf(e)))).toEqual(events.map((e) => e.hash));
    // An event stored before leaves were bounded at ingest.
    const [big] = chainedEvents('a', 1, 3, events[2]!.hash, (e) => {
      e.payload = { blob: 'x'.repeat(70_000) };
      e.hash = eventLeafHash(e);
    });
    await storage.appendEvents([big!]);
    await new Integrator(storage).integrate('a');
    await storage.putCheckpoint({ sourceAppId: 'a', treeSize: 4, rootHash: '00'.repeat(32), note: 'note\n', publishedAt: 2 });
    const err = (await tiles.read('a', parseTilePath(['entries', '000.p', '4'])).catch((e: unknown) => e)) as LogError;
    expect(err).toBeInstanceOf(LogError);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.details[0]).toMatchObject({ field: 'path', rule: 'leafTooLarge' });
    expect(err.message).toContain('seq 3');
  });
});

describe.each(engines)('receipts: $name', (engine) => {
  let harness: StorageHarness;
  let pipeline: EnginePipeline | undefined;
  let keyDir = '';

  afterEach(async () => {
    await pipeline?.close();
    pipeline = undefined;
    await harness?.cleanup();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  async function start() {
    harness = engine.harness();
    keyDir = mkdtempSync(join(tmpdir(), 'chainlog-receipts-'));
    pipeline = await startPipeline(harness.storage, keyDir);
    return pipeline.service;
  }

  const request = (i: number) => ({ sourceAppId: 'r', eventType: 'x', timestamp: Date.UTC(2026, 0, 1) + i, payload: { i } });

  it('a wait that runs out gives PENDING receipts for the events, which are logged all the same', async () => {
    const service = await start();
    const events = await service.append([request(0), request(1)]);
    const receipts = await awaitReceipts(service, events, 50, 10);
    expect(receipts.map((r) => r.status)).toEqual(['PENDING', 'PENDING']);
    expect(receipts[0]).toMatchObject({ sourceAppId: 'r', seq: 0, proof: null, checkpoint: null });
    expect(await service.getEvent('r', 1)).not.toBeNull();
  });

  it('a wait ends with READY receipts as soon as the checkpoint is published, and they verify', async () => {
    const service = await start();
    const events = await service.append([request(0), request(1), request(2)]);
    // The poll interval is far beyond the test's run: the checkpoint's signal ends the wait.
    const waiting = awaitReceipts(service, events.slice(1), 60_000, 60_000);
    await service.publishCheckpoints();
    const receipts = await waiting;
    const trusted = parseVerifierKey(service.info.verifierKey);
    receipts.forEach((r, i) => {
      expect(r.status).toBe('READY');
      verifyReceipt(r.proof!, fromHex(events[i + 1]!.hash), i + 1, trusted, 'test.chainlog/r');
    });
    expect((await receiptOf(service, 'r', 0)).status).toBe('READY');
  });
});
