// An audit shares the server: verifyLog over a large log lets the event loop turn between its slices, so timers
// fire and HTTP requests are served while it runs (on SQLite every storage call runs on this thread; on MongoDB
// reads wait on I/O but the checks of a large read must not run in one go); and audits are bounded per server
// (one per log, MAX_CONCURRENT_AUDITS in all). Both on both engines.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SLICE_ROWS } from '../../src/log/verify-log.js';
import type { ChainlogService } from '../../src/log/chainlog-service.js';
import { LogError } from '../../src/log/errors.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { event, openPipeline, startPipeline, type EnginePipeline } from '../support/pipeline.js';

/**
 * verifyLog over `n` events of one log while a chain of setImmediate callbacks counts the loop's turns and an
 * HTTP request is made: the request must be answered before the audit ends, and the loop must turn at least
 * once per slice (SLICE_ROWS events) of the walk.
 */
function loopTurnsDuringAudit(open: () => Promise<EnginePipeline>, n: number) {
  it('timers fire between its slices and an HTTP request made during it is answered before it ends', async () => {
    const p = await open();
    const http = createServer((_req, res) => res.end('ok'));
    try {
      for (let i = 0; i < n / 1000; i++) await p.service.append(Array.from({ length: 1000 }, () => event('big')));
      await p.service.publishCheckpoints();
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;

      const order: string[] = [];
      let auditing = true;
      let turns = 0;
      const spin = () => {
        if (!auditing) return;
        turns++;
        setImmediate(spin);
      };
      const audit = p.service.verifyLog('big').finally(() => {
        auditing = false;
        order.push('audit done');
      });
      setImmediate(spin);
      const served = fetch(url)
        .then((res) => res.text())
        .then((body) => order.push(`http ${body}`));
      const [report] = await Promise.all([audit, served]);

      expect(report).toMatchObject({ ok: true, eventsChecked: n, firstBadSeq: null });
      expect(order).toEqual(['http ok', 'audit done']);
      // At least one turn of the loop per slice of at most SLICE_ROWS events.
      expect(turns).toBeGreaterThanOrEqual(Math.floor(n / SLICE_ROWS) - 1);
    } finally {
      http.close();
      await p.close();
    }
  }, 120_000);
}

describe('verifyLog over a large SQLite log lets the event loop turn', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  loopTurnsDuringAudit(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-audit-turns-'));
    dirs.push(dir);
    return openPipeline(dir);
  }, 30_000);
});

describe('verifyLog checks a large read in slices, yielding between them', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  // SQLite that does not say its reads are synchronous: the audit reads it in large chunks (as on MongoDB),
  // each read blocking the thread; only the slices of the checks can let the loop turn once per SLICE_ROWS.
  loopTurnsDuringAudit(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-audit-slices-'));
    dirs.push(dir);
    const sqlite = new SqliteStorage({ path: join(dir, 'chainlog.db') });
    const unflagged = new Proxy(sqlite, {
      get(target, prop) {
        if (prop === 'synchronousReads') return undefined;
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    return startPipeline(unflagged, dir);
  }, 10_000);
});

/** Logs a, b, c of 40 events each; at most 2 audits at once. */
async function fill(service: ChainlogService): Promise<void> {
  for (const app of ['a', 'b', 'c']) await service.append(Array.from({ length: 40 }, () => event(app)));
  await service.publishCheckpoints();
}

async function expectRefused(p: Promise<unknown>, rule: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LogError);
  const e = err as LogError;
  expect(e.code).toBe('RATE_LIMITED');
  expect(e.details[0]).toMatchObject({ field: 'sourceAppId', rule });
  expect(e.extensions.retryAfterMs).toBeGreaterThanOrEqual(100);
  expect(e.extensions.retryAfterMs).toBeLessThanOrEqual(60_000);
}

function concurrencyBound(open: () => Promise<EnginePipeline>) {
  it('one audit per log and MAX_CONCURRENT_AUDITS in all; the rest get RATE_LIMITED with retryAfterMs, and slots come back', async () => {
    const p = await open();
    try {
      await fill(p.service);
      // Calls made in one tick: the first two hold their slots before any storage call settles.
      const first = p.service.verifyLog('a');
      const sameLog = p.service.verifyLog('a');
      const second = p.service.verifyLog('b');
      const third = p.service.verifyLog('c');
      await expectRefused(sameLog, 'oneAuditPerLog');
      await expectRefused(third, 'maxConcurrentAudits');
      expect((await first).ok).toBe(true);
      expect((await second).ok).toBe(true);
      // Slots are released after success and after failure alike.
      await expect(p.service.verifyLog('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const again = await Promise.all([p.service.verifyLog('c'), p.service.verifyLog('a')]);
      expect(again.map((r) => r.ok)).toEqual([true, true]);
    } finally {
      await p.close();
    }
  });
}

describe('concurrent audits are bounded (SQLite)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  concurrencyBound(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-audit-slots-'));
    dirs.push(dir);
    return openPipeline(dir, { maxConcurrentAudits: 2 });
  });
});

describe('concurrent audits are bounded (MongoDB)', () => {
  let server: MongoTestServer;
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-audit-slots-mongo-'));
  beforeAll(async () => {
    server = await startMongoTestServer();
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });
  concurrencyBound(() =>
    startPipeline(new MongoStorage({ uri: server.uri, dbName: `${server.dbName}_slots` }), keyDir, { maxConcurrentAudits: 2 }),
  );
  // Reads here wait on I/O and are large; the checks of one read still run in slices between turns.
  loopTurnsDuringAudit(
    () => startPipeline(new MongoStorage({ uri: server.uri, dbName: `${server.dbName}_turns` }), keyDir),
    2_000,
  );
});
