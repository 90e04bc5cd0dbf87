// Which appended events are idempotent retries: the append answered with an event stored before
// (by an earlier request, or earlier in the same request) instead of writing a new one. The API
// answers those with a replay marker (HTTP 200 instead of 201, `replayed` in GraphQL).
import type { StoredEvent } from '../storage/types.js';

const replays = new WeakSet<StoredEvent>();

/** A copy of `event` marked as a replay (the original object may be returned to other callers unmarked). */
export function asReplay(event: StoredEvent): StoredEvent {
  const copy = { ...event };
  replays.add(copy);
  return copy;
}

export const isReplay = (event: StoredEvent): boolean => replays.has(event);
