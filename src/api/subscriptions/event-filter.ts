// The storage filter's meaning, for live events that never pass through storage queries.
import type { EventFilter, StoredEvent } from '../../storage/types.js';

export function matchesFilter(filter: EventFilter, e: StoredEvent): boolean {
  if (!inFilterLogs(filter, e)) return false;
  if (filter.eventTypes && !filter.eventTypes.includes(e.eventType)) return false;
  if (filter.from !== undefined && e.timestamp < filter.from) return false;
  if (filter.to !== undefined && e.timestamp >= filter.to) return false;
  return true;
}

/**
 * Whether the event is of a log the filter may include. A caller whose key is limited to some logs has
 * them as its filter's sourceAppIds (scopeFilter), so an event outside them is one it may not read.
 */
export function inFilterLogs(filter: EventFilter, e: Pick<StoredEvent, 'sourceAppId'>): boolean {
  return !filter.sourceAppIds || filter.sourceAppIds.includes(e.sourceAppId);
}
