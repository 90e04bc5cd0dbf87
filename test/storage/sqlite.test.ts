import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { describeStorageContract } from './contract.js';

describeStorageContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainlog-sqlite-'));
  const path = join(dir, 'log.db');
  return {
    storage: new SqliteStorage({ path }),
    reopen: async () => new SqliteStorage({ path }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
