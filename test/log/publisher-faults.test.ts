// The publish cycle under storage faults, on both engines: one log the storage cannot serve never holds
// back the checkpoints of the others, only a verified mismatch quarantines a log, and a transient error
// at recovery is retried rather than taken for tampering.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { CompactRange } from '../../src/core/compact/range.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { createSigner } from '../../src/core/note/signed-note.js';
import { ChainlogService } from '../../src/log/chainlog-service.js';
import type { CheckpointUpdate } from '../../src/log/service.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import type { LogStorage } from '../../src/storage/types.js';
import { withFaults, type FaultyStorage } from '../support/faulty-storage.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { event } from '../support/pipeline.js';
import { ORIGIN, publishingService } from '../support/publishing.js';
import { appendChain } from './engines.js';
import { mongoHarness } from '../storage/harnesses.js';

interface Store {
  /** A new storage object on the same data (a restarted process). */
  open(): Promise<LogStorage>;
  cleanup(): Promise<void>;
}

let mongo: MongoTestServer | undefined;
beforeAll(async () => {
  mongo = await startMongoTestServer();
});
afterAll(async () => {
  await mongo?.stop();
});

const engines: Array<{ name: string; store: () => Store }> = [
  {
    name: 'sqlite',
    store() {
      const dir = mkdtempSync(join(tmpdir(), 'chainlog-publisher-'));
      return {
        open: async () => new SqliteStorage({ path: join(dir, 'log.db') }),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'mongodb',
    store() {
      const harness = mongoHarness(mongo!);
      return { open: () => harness.reopen(), cleanup: harness.cleanup };
    },
  },
];

describe.each(engines)('publisher under storage faults: $name', ({ store: makeStore }) => {
  let store: Store;
  let keyDir: string;
  const running: Array<{ service: ChainlogService; storage: LogStorage }> = [];

  async function start(storage: LogStorage, checkpointIntervalMs = 60_000): Promise<ChainlogService> {
    const service = await publishingService(storage, { keyDir, intervalMs: checkpointIntervalMs });
    running.push({ service, storage });
    await service.start();
    return service;
  }

  async function stopAll(): Promise<void> {
    for (const { service, storage } of running.splice(0)) {
      await service.stop().catch(() => undefined);
      await storage.close().catch(() => undefined);
    }
  }

  /** Faults on every call about log `app` (its id is the first argument), none on the others. */
  const faultsOn = (storage: LogStorage, app: string): FaultyStorage =>
    withFaults(storage, { seed: 7, failRate: 1, appendFaults: ['transient'], when: (_m, args) => args[0] === app });

  beforeAll(() => {
    keyDir = mkdtempSync(join(tmpdir(), 'chainlog-publisher-key-'));
  });
  afterAll(() => rmSync(keyDir, { recursive: true, force: true }));
  afterEach(async () => {
    await stopAll();
    await store?.cleanup();
  });

  it('publishes every other log when one cannot be read, names it, and publishes it once it can', async () => {
    store = makeStore();
    const faulty = faultsOn(await store.open(), 'b');
    faulty.enabled = false;
    const service = await start(faulty.storage);
    for (const app of ['a', 'b', 'c']) await service.append([event(app), event(app)]);
    faulty.enabled = true;
    await expect(service.publishCheckpoints()).rejects.toThrow(/"b"/);
    expect((await service.getCheckpoint('a'))?.treeSize).toBe(2);
    expect((await service.getCheckpoint('c'))?.treeSize).toBe(2);
    faulty.enabled = false;
    expect(await service.getCheckpoint('b')).toBeNull();
    const published = await service.publishCheckpoints();
    expect(published.map((c) => [c.sourceAppId, c.treeSize])).toEqual([['b', 2]]);
    expect(service.quarantineOf('b')).toBeNull();
  });

  it('on its interval, keeps publishing the other logs while one keeps failing', async () => {
    store = makeStore();
    const raw = await store.open();
    // Only b's integration fails, so b keeps taking events while none of its checkpoints can be made.
    const faulty = withFaults(raw, { seed: 7, failRate: 1, methods: ['integrate'], when: (_m, args) => args[0] === 'b' });
    const service = await start(faulty.storage, 50);
    // A checkpoint of `app` at `size` or beyond, as the interval publishes it.
    const published = (app: string, size: number) =>
      new Promise<CheckpointUpdate>((resolve) => {
        const off = service.onCheckpoint((u) => {
          if (u.checkpoint.sourceAppId === app && u.checkpoint.treeSize >= size) {
            off();
            resolve(u);
          }
        });
      });
    for (const app of ['b', 'a', 'c']) await service.append([event(app)]);
    // Every cycle fails on b; a and c grow and are checkpointed cycle after cycle all the same.
    for (let size = 2; size <= 4; size++) {
      const both = Promise.all([published('a', size), published('c', size)]);
      await service.append([event('a')]);
      await service.append([event('c')]);
      await service.append([event('b')]);
      await both;
    }
    expect(faulty.injected.length).toBeGreaterThan(0);
    expect(await raw.getCheckpoint('b')).toBeNull();
    faulty.enabled = false;
    await published('b', 4);
  });

  it('does not quarantine a log whose recovery meets a transient error, and recovers it on the next cycle', async () => {
    store = makeStore();
    const first = await start(await store.open());
    await first.append([event('a'), event('b')]);
    await first.append([event('b')]);
    await first.publishCheckpoints();
    await stopAll();
    // b grows with no publish after it (a process that died before its next cycle).
    const raw = await store.open();
    await raw.init();
    await appendChain(raw, 'b', 1);
    await raw.close();

    const faulty = faultsOn(await store.open(), 'b');
    const service = await start(faulty.storage);
    expect(faulty.injected.length).toBeGreaterThan(0);
    expect(service.quarantineOf('b')).toBeNull();
    faulty.enabled = false;
    const published = await service.publishCheckpoints();
    expect(published.map((c) => [c.sourceAppId, c.treeSize])).toEqual([['b', 3]]);
  });

  it('quarantines exactly the log whose latest checkpoint is signed for another origin', async () => {
    store = makeStore();
    const first = await start(await store.open());
    await first.append([event('a'), event('b'), event('b')]);
    await first.publishCheckpoints();
    await first.append([event('b')]);
    // A checkpoint our key signed, over the right tree, but for another log's origin.
    const { events } = await first.queryEvents({ filter: { sourceAppIds: ['b'] }, direction: 'asc', limit: 10 });
    const range = CompactRange.new(0);
    for (const e of events.sort((x, y) => x.seq - y.seq)) range.append(fromHex(e.hash));
    const signer = createSigner(ORIGIN, loadSigningKey({ dataDir: keyDir }).privateKey);
    const note = signCheckpoint({ origin: `${ORIGIN}/a`, size: 3, rootHash: range.rootHash() }, signer);
    await running[0]!.storage.putCheckpoint({
      sourceAppId: 'b',
      treeSize: 3,
      rootHash: toHex(range.rootHash()),
      note,
      publishedAt: Date.now(),
    });
    await stopAll();

    const service = await start(await store.open());
    expect(service.quarantineOf('b')).toMatch(/origin/);
    expect(service.quarantineOf('a')).toBeNull();
    await service.append([event('a'), event('b')]);
    const published = await service.publishCheckpoints();
    expect(published.map((c) => c.sourceAppId)).toEqual(['a']);
  });
});

describe('two publishers on one MongoDB database', () => {
  it('an on-demand publish racing the lease holder does not quarantine a healthy log', async () => {
    const harness = mongoHarness(mongo!);
    const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-publisher-key-'));
    const services: ChainlogService[] = [];
    const storages: LogStorage[] = [];
    const start = async (storage: LogStorage) => {
      storages.push(storage);
      const service = await publishingService(storage, { keyDir, intervalMs: 60_000 });
      services.push(service);
      await service.start();
      return service;
    };
    try {
      const holder = await start(await harness.reopen()); // takes the publisher lease
      await holder.append([event('a'), event('a')]);
      await holder.publishCheckpoints();
      // The other process reads a's tree, then, before it reads a's latest checkpoint, the holder grows and publishes a.
      const raw = await harness.reopen();
      let raced = false;
      const racing = new Proxy(raw, {
        get(obj, prop, receiver) {
          const value = Reflect.get(obj, prop, receiver) as unknown;
          if (typeof value !== 'function') return value;
          const race = async (apps: readonly string[]) => {
            if (apps.includes('a') && !raced && services.length === 2) {
              raced = true;
              await holder.append([event('a'), event('a')]);
              await holder.publishCheckpoints();
            }
          };
          // The latest checkpoint, read alone or with others' (a recovery reads a page's together).
          if (prop === 'getCheckpoint') {
            return async (app: string, size?: number) => {
              if (size === undefined) await race([app]);
              return (value as LogStorage['getCheckpoint']).call(obj, app, size);
            };
          }
          if (prop === 'getLatestCheckpoints') {
            return async (apps: readonly string[]) => {
              await race(apps);
              return (value as LogStorage['getLatestCheckpoints']).call(obj, apps);
            };
          }
          return value;
        },
      });
      const other = await start(racing);
      await other.publishCheckpoints();
      expect(raced).toBe(true);
      expect(other.quarantineOf('a')).toBeNull();
      expect((await raw.getCheckpoint('a'))?.treeSize).toBe(4);
    } finally {
      for (const s of services) await s.stop().catch(() => undefined);
      for (const s of storages) await s.close().catch(() => undefined);
      await harness.cleanup();
      rmSync(keyDir, { recursive: true, force: true });
    }
  });
});
