// chainlog_storage_index_lag_events (src/app.ts) over a real SQLite store: the events the keys behind
// the appends do not cover yet, read at each scrape; a store that fails to answer leaves the last value.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { observeIndexLag } from '../src/app.js';
import { SqliteStorage } from '../src/storage/sqlite/sqlite-storage.js';
import { newEvents } from './storage/event-fixtures.js';

let dir: string;
let storage: SqliteStorage;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-index-lag-'));
  // Keys never added while the test runs: every event is in the tail.
  storage = new SqliteStorage({
    path: join(dir, 'log.db'),
    timeIndex: { batchRows: Number.MAX_SAFE_INTEGER, delayMs: 2 ** 31 - 1 },
  });
  await storage.init();
});

afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const sample = async (registry: Registry) => /^chainlog_storage_index_lag_events (\S+)$/m.exec(await registry.metrics())?.[1];

it('counts the events the indexes do not cover yet, at each scrape, and keeps its last value when the store fails', async () => {
  const registry = new Registry();
  observeIndexLag(storage, registry);
  expect(await sample(registry)).toBe('0');
  await storage.appendEvents(newEvents('a', 0, 7));
  expect(await sample(registry)).toBe('7');
  // A store that cannot answer (closed under the scrape, as at shutdown): the scrape still answers.
  storage.db.close();
  expect(() => storage.indexLag()).toThrow();
  expect(await sample(registry)).toBe('7');
});
