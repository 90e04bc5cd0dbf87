// An audit shares the server: verifyLog over a large SQLite log (whose storage calls all run on this thread)
// lets the event loop turn between its chunks, so timers fire and HTTP requests are served while it runs; and
// audits are bounded per server (one per log, MAX_CONCURRENT_AUDITS in all), on both engines.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CHUNK_ROWS } from '../../src/log/audit.js';
import type { ChainlogService } from '../../src/log/chainlog-service.js';
import { LogError } from '../../src/log/errors.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { event, openPipeline, startPipeline, type EnginePipeline } from '../support/pipeline.js';

describe('verifyLog over a large SQLite log lets the event loop turn', () => {
  const N = 30_000;

  it('timers fire between its chunks and an HTTP request made during it is answered before it ends', async () => {
    const p = await openPipeline();
    const http = createServer((_req, res) => res.end('ok'));
    try {
      for (let i = 0; i < N / 1000; i++) await p.service.append(Array.from({ length: 1000 }, () => event('big')));
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

      expect(report).toMatchObject({ ok: true, eventsChecked: N, firstBadSeq: null });
      expect(order).toEqual(['http ok', 'audit done']);
      // At least one turn of the loop per chunk, and a chunk holds at most MAX_CHUNK_ROWS events.
      expect(turns).toBeGreaterThanOrEqual(Math.floor(N / MAX_CHUNK_ROWS) - 1);
    } finally {
      http.close();
      await p.destroy();
    }
  }, 120_000);
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
});
