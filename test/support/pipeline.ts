// A real log pipeline over a real SQLite file in a temp dir, for pipeline-level tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ChainlogService, type ChainlogServiceOptions } from '../../src/log/chainlog-service.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import type { AppendRequest } from '../../src/log/service.js';
import type { LogStorage } from '../../src/storage/types.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';

/** A started ChainlogService over `storage` (initialised here), signing with the key file in `keyDir`. */
export interface EnginePipeline<S extends LogStorage = LogStorage> {
  storage: S;
  service: ChainlogService;
  /** Stops the service and closes the storage; the data stays. */
  close(): Promise<void>;
}

export async function startPipeline<S extends LogStorage>(
  storage: S,
  keyDir: string,
  options: Partial<ChainlogServiceOptions> = {},
): Promise<EnginePipeline<S>> {
  await storage.init();
  const service = new ChainlogService({
    storage,
    key: loadSigningKey({ dataDir: keyDir }),
    keyName: 'test.chainlog',
    originPrefix: 'test.chainlog',
    checkpointIntervalMs: 60_000,
    version: 'test',
    logger: pino({ level: 'silent' }),
    ...options,
  });
  await service.start();
  return {
    storage,
    service,
    async close() {
      await service.stop();
      await storage.close();
    },
  };
}

export interface TestPipeline extends EnginePipeline<SqliteStorage> {
  dir: string;
  dbPath: string;
  /** Stop this instance and start a fresh one on the same data (a restart). */
  restart(): Promise<TestPipeline>;
  /**
   * Close the storage under the running service, as a process that died leaves it: nothing of a stop
   * runs (no last checkpoints). The service is not used again.
   */
  crash(): Promise<void>;
  destroy(): Promise<void>;
}

/** The pipeline on SQLite, the database file and the signing key in `dir`. */
export async function openPipeline(
  dir = mkdtempSync(join(tmpdir(), 'chainlog-pipeline-')),
  options: Partial<ChainlogServiceOptions> = {},
): Promise<TestPipeline> {
  const dbPath = join(dir, 'chainlog.db');
  const p = await startPipeline(new SqliteStorage({ path: dbPath }), dir, options);
  return {
    ...p,
    dir,
    dbPath,
    async restart() {
      await p.close();
      return openPipeline(dir, options);
    },
    async crash() {
      await p.storage.close();
    },
    async destroy() {
      await p.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let clock = Date.UTC(2026, 0, 1);
export function event(sourceAppId: string, extra: Partial<AppendRequest> = {}): AppendRequest {
  clock += 7;
  return { sourceAppId, eventType: 'order.created', timestamp: clock, payload: { n: clock % 1000, note: 'é ✓' }, ...extra };
}
