// A real log pipeline over a real SQLite file in a temp dir, for pipeline-level tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ChainlogService } from '../../src/log/chainlog-service.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import type { AppendRequest } from '../../src/log/service.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';

export interface TestPipeline {
  dir: string;
  dbPath: string;
  storage: SqliteStorage;
  service: ChainlogService;
  /** Stop this instance and start a fresh one on the same data (a restart). */
  restart(): Promise<TestPipeline>;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export async function openPipeline(dir = mkdtempSync(join(tmpdir(), 'chainlog-pipeline-'))): Promise<TestPipeline> {
  const dbPath = join(dir, 'chainlog.db');
  const storage = new SqliteStorage({ path: dbPath });
  await storage.init();
  const service = new ChainlogService({
    storage,
    key: loadSigningKey({ dataDir: dir }),
    keyName: 'test.chainlog',
    originPrefix: 'test.chainlog',
    checkpointIntervalMs: 60_000,
    version: 'test',
    logger: pino({ level: 'silent' }),
  });
  await service.start();
  const close = async () => {
    await service.stop();
    await storage.close();
  };
  return {
    dir,
    dbPath,
    storage,
    service,
    close,
    async restart() {
      await close();
      return openPipeline(dir);
    },
    async destroy() {
      await close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let clock = Date.UTC(2026, 0, 1);
export function event(sourceAppId: string, extra: Partial<AppendRequest> = {}): AppendRequest {
  clock += 7;
  return { sourceAppId, eventType: 'order.created', timestamp: clock, payload: { n: clock % 1000, note: 'é ✓' }, ...extra };
}
