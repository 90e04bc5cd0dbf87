// Per-request DataLoaders so a page of logs does not look up each log's checkpoint separately.
import DataLoader from 'dataloader';
import type { LogService } from '../log/service.js';
import type { LogHead, StoredCheckpoint } from '../storage/types.js';

export interface Loaders {
  latestCheckpoint: DataLoader<string, StoredCheckpoint | null>;
  logHead: DataLoader<string, LogHead | null>;
}

/** Logs whose latest checkpoints one read asks for at most (a page of logs: 500 at most). */
const LATEST_CHECKPOINTS_BATCH = 500;

export function createLoaders(service: LogService): Loaders {
  return {
    // One read for the page's logs (on MongoDB a few queries, not two per log).
    latestCheckpoint: new DataLoader((ids) => service.getLatestCheckpoints(ids), { maxBatchSize: LATEST_CHECKPOINTS_BATCH }),
    // Each log's own read; on MongoDB the reads of one turn are answered together.
    logHead: new DataLoader((ids) => Promise.all(ids.map((id) => service.getLogHead(id)))),
  };
}
