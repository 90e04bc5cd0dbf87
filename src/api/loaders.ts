// Per-request DataLoaders so a page of logs does not look up each log's checkpoint separately.
import DataLoader from 'dataloader';
import type { LogService } from '../log/service.js';
import type { LogHead, StoredCheckpoint } from '../storage/types.js';

export interface Loaders {
  latestCheckpoint: DataLoader<string, StoredCheckpoint | null>;
  logHead: DataLoader<string, LogHead | null>;
}

export function createLoaders(service: LogService): Loaders {
  return {
    // The service has no multi-log read yet, so a batch fans out; DataLoader still dedupes per request.
    latestCheckpoint: new DataLoader((ids) => Promise.all(ids.map((id) => service.getCheckpoint(id)))),
    logHead: new DataLoader((ids) => Promise.all(ids.map((id) => service.getLogHead(id)))),
  };
}
