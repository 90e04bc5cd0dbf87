// Relay cursor connections over keyset reads: no offsets, so every page costs the same.
import type { LogService } from '../../log/service.js';
import type { EventKey, LogHead, StoredCheckpoint, StoredEvent } from '../../storage/types.js';
import {
  decodeCheckpointCursor,
  decodeEventCursor,
  decodeLogCursor,
  encodeCheckpointCursor,
  encodeEventCursor,
  encodeLogCursor,
} from '../cursor.js';
import { badUserInput } from '../errors.js';
import type { EventFilter, SortOrder } from './generated/resolvers.js';
import { pageSize, parseEventFilter, parseSourceAppId } from '../validation/query-args.js';

export interface Connection<T> {
  edges: Array<{ cursor: string; node: T }>;
  /** The edges' nodes, in the same order: the same items, without cursors. */
  nodes: T[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** `bounds` overrides the page's start and end cursors (a page that ends at a read's budget, not at an edge). */
function connection<T>(
  nodes: T[],
  cursorOf: (node: T) => string,
  hasPreviousPage: boolean,
  hasNextPage: boolean,
  bounds: { start?: string; end?: string } = {},
): Connection<T> {
  const edges = nodes.map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    nodes,
    pageInfo: {
      hasNextPage,
      hasPreviousPage,
      startCursor: bounds.start ?? edges[0]?.cursor ?? null,
      endCursor: bounds.end ?? edges.at(-1)?.cursor ?? null,
    },
  };
}

type Direction = 'asc' | 'desc';
const opposite = (d: Direction): Direction => (d === 'asc' ? 'desc' : 'asc');

export interface EventsArgs {
  filter?: EventFilter | null;
  order?: SortOrder | null;
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

const eventCursor = (e: StoredEvent) => encodeEventCursor({ timestamp: e.timestamp, pos: e.pos });

/** `restrict` narrows the filter to what the caller may read (src/auth/scope.ts). */
export async function eventsConnection(
  service: LogService,
  args: EventsArgs,
  restrict: (filter: ReturnType<typeof parseEventFilter>) => ReturnType<typeof parseEventFilter> = (f) => f,
): Promise<Connection<StoredEvent>> {
  const filter = restrict(parseEventFilter(args.filter));
  const order: Direction = args.order === 'ASC' ? 'asc' : 'desc';
  const backward = args.last != null || args.before != null;
  if (backward && (args.first != null || args.after != null)) {
    const field = args.last != null ? 'last' : 'before';
    throw badUserInput(field, 'exclusive', `${field}: page forward (first/after) or backward (last/before), not both`);
  }
  const [sizeField, cursorField] = backward ? (['last', 'before'] as const) : (['first', 'after'] as const);
  const n = pageSize(args[sizeField], sizeField);
  const cursor = args[cursorField];
  const from = cursor != null ? decodeEventCursor(cursor, cursorField) : undefined;
  // Backward pages scan against the order and are reversed.
  const direction = backward ? opposite(order) : order;
  const { events: rows, resumeAfter } = await service.queryEvents({
    filter,
    direction,
    ...(from && { after: from }),
    limit: n + 1,
  });
  const page = rows.slice(0, n);
  // A read that examined its budget first ends the page early: more may follow, from where it stopped,
  // so the page's far cursor is that position (which need not be an event the caller may see).
  const stoppedAt = rows.length <= n && resumeAfter ? encodeEventCursor(resumeAfter) : undefined;
  const more = rows.length > n || stoppedAt !== undefined;
  const beyondCursor = from ? await existsAtOrBefore(service, filter, direction, from) : false;
  return backward
    ? connection(page.reverse(), eventCursor, more, beyondCursor, { start: stoppedAt })
    : connection(page, eventCursor, beyondCursor, more, { end: stoppedAt });
}

/**
 * Whether an event exists at the cursor or before it, as seen scanning in `direction`; false when the
 * read's budget ran out before it found one (Relay lets a server answer false when it cannot tell cheaply).
 */
async function existsAtOrBefore(
  service: LogService,
  filter: ReturnType<typeof parseEventFilter>,
  direction: Direction,
  key: EventKey,
): Promise<boolean> {
  // (t, pos ± 1) makes the strict keyset bound include the cursor's own position.
  const after = { timestamp: key.timestamp, pos: direction === 'asc' ? key.pos + 1 : key.pos - 1 };
  const { events } = await service.queryEvents({ filter, direction: opposite(direction), after, limit: 1 });
  return events.length > 0;
}

export async function logsConnection(
  service: LogService,
  args: { first?: number | null; after?: string | null },
): Promise<Connection<LogHead>> {
  const n = pageSize(args.first, 'first');
  const after = args.after != null ? decodeLogCursor(args.after, 'after') : null;
  const rows = await service.listLogHeads(after, n + 1);
  return connection(rows.slice(0, n), (h) => encodeLogCursor(h.sourceAppId), after !== null, rows.length > n);
}

export async function checkpointsConnection(
  service: LogService,
  sourceAppId: string,
  args: { first?: number | null; after?: string | null; order?: SortOrder | null },
): Promise<Connection<StoredCheckpoint>> {
  parseSourceAppId(sourceAppId);
  const n = pageSize(args.first, 'first');
  const after = args.after != null ? decodeCheckpointCursor(args.after, 'after') : null;
  const direction: Direction = args.order === 'ASC' ? 'asc' : 'desc';
  const rows = await service.listCheckpoints(sourceAppId, after, n + 1, direction);
  return connection(rows.slice(0, n), (c) => encodeCheckpointCursor(c.treeSize), after !== null, rows.length > n);
}
