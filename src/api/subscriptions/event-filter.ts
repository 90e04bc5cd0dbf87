// The storage filter's meaning, for live events that never pass through storage queries.
import type { EventFilter, StoredEvent } from '../../storage/types.js';

export function matchesFilter(filter: EventFilter, e: StoredEvent): boolean {
  if (filter.sourceAppIds && !filter.sourceAppIds.includes(e.sourceAppId)) return false;
  if (filter.eventTypes && !filter.eventTypes.includes(e.eventType)) return false;
  if (filter.from !== undefined && e.timestamp < filter.from) return false;
  if (filter.to !== undefined && e.timestamp >= filter.to) return false;
  return true;
}
