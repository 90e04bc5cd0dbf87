// Retention among processes sharing one database (the MongoDB engine on the FerretDB test server): one
// process at a time sweeps, the holder of the retention lease, so that two sweeps of a log do not each
// record the erasure of the same events. A holder that stops hands the sweeps over at once; one that
// loses the lease mid-sweep leaves the rest to the new holder; a lease store that fails fails the sweep,
// recording nothing. (The embedded engine has one writer and sweeps without a lease.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RETENTION_LEASE, type ChainlogServiceOptions } from '../../src/log/chainlog-service.js';
import { ERASURES_LOG } from '../../src/log/erasure.js';
import type { AppendRequest } from '../../src/log/service.js';
import type { LogStorage } from '../../src/storage/types.js';
import { startPipeline, type EnginePipeline } from '../support/pipeline.js';
import type { MongoHarness } from '../storage/harnesses.js';
import { useEngines } from './engines.js';

const engines = useEngines('chainlog-retention-lease-');
const mongodb = engines.find((e) => e.name === 'mongodb')!;
const sqlite = engines.find((e) => e.name === 'sqlite')!;
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function ev(sourceAppId: string, i: number): AppendRequest {
  return { sourceAppId, eventType: 'order.placed', timestamp: T0 + i * 1000, payload: { n: i } };
}

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close().catch(() => undefined);
});

/**
 * `n` processes on one fresh store of `engine`, their clocks at `clock.at` (which the test moves), every
 * log kept 30 days, and no sweep but the ones the test makes. `wrap` sees each process's storage; a
 * process's leases run `skewMs` ahead of the others' (MongoDB).
 */
async function processes(
  engine: typeof mongodb,
  n: number,
  opts: { wrap?: (s: LogStorage, i: number) => LogStorage; skewMs?: (i: number) => number } = {},
) {
  const wrap = opts.wrap ?? ((s) => s);
  const clock = { at: T0 };
  const h = engine.harness();
  const dir = mkdtempSync(join(tmpdir(), 'chainlog-retention-lease-key-'));
  opened.push(async () => {
    await h.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const options: Partial<ChainlogServiceOptions> = {
    leafVersion: 2,
    now: () => clock.at,
    retentionDays: { '*': 30 },
    retentionIntervalMs: 3_600_000,
  };
  const out: EnginePipeline[] = [];
  for (let i = 0; i < n; i++) {
    const skew = opts.skewMs?.(i) ?? 0;
    const storage =
      i === 0 ? h.storage : skew !== 0 ? await (h as MongoHarness).reopenWithClock(() => Date.now() + skew) : await h.reopen();
    const p = await startPipeline(wrap(storage, i), dir, options);
    opened.push(() => p.close());
    out.push(p);
  }
  return { clock, ps: out };
}

/**
 * Wraps a storage so that, once `steal` is set, the next call of `method` runs it when the call has
 * returned, before its caller goes on (then `steal` is null again).
 */
function afterCall(method: 'listLogHeads' | 'eraseEvents') {
  const thief = {
    steal: null as (() => Promise<void>) | null,
    wrap: (s: LogStorage): LogStorage =>
      new Proxy(s, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown;
          if (typeof value !== 'function') return value;
          const call = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
          if (key !== method) return call;
          return async (...args: unknown[]) => {
            const result = await call(...args);
            const steal = thief.steal;
            thief.steal = null;
            await steal?.();
            return result;
          };
        },
      }),
  };
  return thief;
}

const recordsIn = async (p: EnginePipeline) => (await p.storage.getLogHead(ERASURES_LOG))?.size ?? 0;
const payloadOf = async (p: EnginePipeline, app: string, seq: number) => (await p.storage.getEvent(app, seq))!.payload;

describe('retention among processes sharing a database (mongodb)', () => {
  it('is swept by one process at a time: another sweeps nothing while the first holds the lease', async () => {
    const { clock, ps } = await processes(mongodb, 2);
    const [a, b] = ps as [EnginePipeline, EnginePipeline];
    await a.service.append([ev('shop', 0), ev('shop', 1)]);
    clock.at += 35 * DAY;
    expect(await a.service.applyRetention()).toBe(2);
    await a.service.append([ev('shop', 2)]);
    clock.at += 35 * DAY;
    // Both sweep at once: only the holder erases, and records the erasure once.
    expect(await Promise.all([b.service.applyRetention(), a.service.applyRetention()])).toEqual([0, 1]);
    expect(await recordsIn(a)).toBe(2);
    expect(await a.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 3 });
  });

  it('hands the sweeps over at once when its holder stops', async () => {
    const { clock, ps } = await processes(mongodb, 2);
    const [a, b] = ps as [EnginePipeline, EnginePipeline];
    await a.service.append([ev('shop', 0)]);
    expect(await a.service.applyRetention()).toBe(0); // nothing due yet; a holds the lease now
    clock.at += 35 * DAY;
    expect(await b.service.applyRetention()).toBe(0);
    expect(await payloadOf(b, 'shop', 0)).not.toBeNull();
    await a.close();
    expect(await b.service.applyRetention()).toBe(1);
    expect(await payloadOf(b, 'shop', 0)).toBeNull();
  });

  it('leaves the rest of a sweep to the new holder when it loses the lease mid-sweep', { timeout: 120_000 }, async () => {
    // Logs come in pages of 100: the lease is checked before each. The 101st log is on the second page.
    const thief = afterCall('listLogHeads');
    const { clock, ps } = await processes(mongodb, 2, {
      // b's clock runs 4 h ahead: to b, a's lease (three sweep intervals, 3 h) has expired, as after a stall.
      skewMs: (i) => (i === 1 ? 4 * 3_600_000 : 0),
      wrap: (s, i) => (i > 0 ? s : thief.wrap(s)),
    });
    const [a, b] = ps as [EnginePipeline, EnginePipeline];
    // Only the log on the second page has an event past its period.
    await a.service.append([ev('app100', 0)]);
    clock.at += 35 * DAY;
    await a.service.append(Array.from({ length: 100 }, (_, i) => ev(`app${String(i).padStart(3, '0')}`, 0)));
    // While a reads its first page of logs, b takes the lease over.
    const leases = b.storage.coordination!.leases;
    thief.steal = async () => {
      expect((await leases.holder(RETENTION_LEASE))?.owner).toBe(a.service.owner);
      expect(await leases.tryAcquire(RETENTION_LEASE, b.service.owner, 60_000)).not.toBeNull();
    };
    expect(await a.service.applyRetention()).toBe(0);
    expect(thief.steal).toBeNull();
    expect(await payloadOf(a, 'app100', 0)).not.toBeNull();
    expect(await b.service.applyRetention()).toBe(1);
    expect(await payloadOf(a, 'app100', 0)).toBeNull();
    expect(await recordsIn(a)).toBe(1);
  });

  it('stops within a log, between two erasure calls, when it loses the lease there', { timeout: 120_000 }, async () => {
    const thief = afterCall('eraseEvents');
    const { clock, ps } = await processes(mongodb, 2, {
      skewMs: (i) => (i === 1 ? 4 * 3_600_000 : 0),
      wrap: (s, i) => (i > 0 ? s : thief.wrap(s)),
    });
    const [a, b] = ps as [EnginePipeline, EnginePipeline];
    // More events than one erasure record lists: retention erases them in two calls.
    for (let i = 0; i < 2; i++) await a.service.append(Array.from({ length: 500 }, (_, j) => ev('shop', i * 500 + j)));
    clock.at += 35 * DAY;
    const leases = b.storage.coordination!.leases;
    thief.steal = async () => {
      expect(await leases.tryAcquire(RETENTION_LEASE, b.service.owner, 60_000)).not.toBeNull();
    };
    const first = await a.service.applyRetention();
    expect(thief.steal).toBeNull();
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(1000);
    expect(await recordsIn(a)).toBe(1);
    expect(await b.service.applyRetention()).toBe(1000 - first);
    expect(await recordsIn(a)).toBe(2);
    expect(await a.service.verifyLog('shop')).toMatchObject({ ok: true, eventsErased: 1000 });
  });

  it('fails the sweep, recording nothing, when the lease store fails', async () => {
    const { clock, ps } = await processes(mongodb, 1);
    const [a] = ps as [EnginePipeline];
    await a.service.append([ev('shop', 0)]);
    clock.at += 35 * DAY;
    const leases = a.storage.coordination!.leases;
    const tryAcquire = leases.tryAcquire.bind(leases);
    leases.tryAcquire = () => Promise.reject(new Error('lease store unavailable (test)'));
    await expect(a.service.applyRetention()).rejects.toThrow(/lease store unavailable/);
    expect(await recordsIn(a)).toBe(0);
    expect(await payloadOf(a, 'shop', 0)).not.toBeNull();
    leases.tryAcquire = tryAcquire;
    expect(await a.service.applyRetention()).toBe(1);
  });
});

describe('retention on the embedded engine (sqlite)', () => {
  it('is swept without a lease: one writer, nothing to share', async () => {
    const { clock, ps } = await processes(sqlite, 1);
    const [a] = ps as [EnginePipeline];
    expect(a.storage.coordination).toBeUndefined();
    await a.service.append([ev('shop', 0)]);
    clock.at += 35 * DAY;
    expect(await a.service.applyRetention()).toBe(1);
  });
});
