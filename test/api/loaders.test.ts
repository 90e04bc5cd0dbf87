// The per-request loaders on both engines: a page of logs asks for its latest checkpoints in one read
// (deduplicated, in the order asked, null where a log has none), and a read that fails fails the loads
// of its batch, not the next request's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoaders } from '../../src/api/loaders.js';
import type { ChainlogService } from '../../src/log/chainlog-service.js';
import type { LogService } from '../../src/log/service.js';
import type { LogStorage } from '../../src/storage/types.js';
import type { StorageHarness } from '../storage/contract.js';
import { InjectedFault, withFaults } from '../support/faulty-storage.js';
import { publishingService } from '../support/publishing.js';
import { useEngines } from '../log/engines.js';
import { event } from '../support/pipeline.js';

const engines = useEngines('chainlog-loaders-');

describe.each(engines)('loaders: $name', (engine) => {
  let harness: StorageHarness;
  let keyDir: string;
  let service: ChainlogService | undefined;

  afterEach(async () => {
    await service?.stop();
    await harness?.storage.close().catch(() => undefined);
    await harness?.cleanup();
    rmSync(keyDir, { recursive: true, force: true });
  });

  /** The service over `storage` (its storage, or a wrapper of it), with every call of `counted` methods recorded. */
  async function serviceOver(storage: LogStorage) {
    keyDir = mkdtempSync(join(tmpdir(), 'chainlog-loaders-key-'));
    service = await publishingService(storage, { keyDir, intervalMs: 60_000 });
    await service.start();
    const calls: Array<[string, readonly string[]]> = [];
    const s = service;
    const counted = new Proxy(s, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'getLatestCheckpoints' && prop !== 'getCheckpoint') return value;
        return (arg: string | readonly string[]) => {
          calls.push([prop, typeof arg === 'string' ? [arg] : [...arg]]);
          return (value as (a: unknown) => unknown).call(target, arg);
        };
      },
    }) as LogService;
    return { service: s, counted, calls };
  }

  it("reads a page of logs' latest checkpoints in one call: deduplicated, in order, null where there is none", async () => {
    harness = engine.harness();
    const { service: s, counted, calls } = await serviceOver(harness.storage);
    await s.append([event('a'), event('a'), event('a'), event('c'), event('c'), event('c')]);
    await s.publishCheckpoints();
    // Grown since their latest checkpoint (a), or never published (b).
    await s.append([event('a'), event('a'), event('b')]);

    const loaders = createLoaders(counted);
    const got = await Promise.all(['c', 'a', 'b', 'a', 'unknown'].map((app) => loaders.latestCheckpoint.load(app)));
    expect(got.map((cp) => cp && [cp.sourceAppId, cp.treeSize])).toEqual([['c', 3], ['a', 3], null, ['a', 3], null]);
    expect(calls).toEqual([['getLatestCheckpoints', ['c', 'a', 'b', 'unknown']]]);
  });

  it('a read that fails fails the loads of its batch; the next request reads again', async () => {
    harness = engine.harness();
    const faulty = withFaults(harness.storage, { seed: 9, failRate: 1, methods: ['getLatestCheckpoints'] });
    faulty.enabled = false;
    const { counted } = await serviceOver(faulty.storage);
    faulty.enabled = true;
    const failing = createLoaders(counted);
    const loads = await Promise.allSettled(['a', 'b'].map((app) => failing.latestCheckpoint.load(app)));
    expect(loads.map((l) => l.status)).toEqual(['rejected', 'rejected']);
    expect((loads[0] as PromiseRejectedResult).reason).toBeInstanceOf(InjectedFault);

    faulty.enabled = false;
    expect(await createLoaders(counted).latestCheckpoint.load('a')).toBeNull();
  });
});
