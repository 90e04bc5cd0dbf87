// Turns an EventQuery into index walks whose cost does not depend on how deep the page is.
//
// The (ts, pos) order is the time index's (schema.ts, time-index.ts): a walk of one of its tables, each
// key joined to its event by pos. Those tables hold the events up to time_index.through; the events
// after it (the tail, a few thousand at most) are read from the events table in one more walk that
// applies every filter and sorts its matches, and the caller merges it with the others.
// readCommitted's pos order is the rowid's, an app's (source_app_id, pos) index's, or an event type's
// positions table's, which is kept behind the appends with the time index and so has the same tail.
//
// SQLite will not seek an index on a row value that includes the rowid ((ts, pos) > (?, ?) becomes
// ts > ?), so a keyset cursor is split into two walks that each seek exactly:
// the rest of the cursor's timestamp (ts = ? AND pos > ?), then the later timestamps (ts > ?).
// An IN filter on the leading column of an index becomes one walk per value ("arm"), merged by the
// caller; the other filters ("residual") are checked on the rows walked. A walk with residual
// conditions selects only (ts, pos, hit) for every row it examines, so the caller counts the rows
// examined against its budget (not only the matches) and fetches the matches' columns afterwards.
import type { EventFilter, EventKey, EventQuery } from '../types.js';
import { EVENT_COLUMNS } from './event-rows.js';
import { EVENT_INDEX, TIME_INDEX, TYPE_POSITIONS } from './schema.js';

export interface IndexWalk {
  sql: string;
  params: Record<string, string | number>;
  /**
   * True when the walk examines rows that may not match: it then selects `ts, pos, hit` (hit 1 for a
   * match) rather than the event's columns. The caller binds `@limit` to the rows it may still examine.
   */
  residual: boolean;
}

/**
 * Event types with more values than this fall back to one walk of the ts index. A list of
 * applications always drives (the API bounds it at 100): the rows a read examines are then all of
 * the caller's applications, so where a read stops (a page's cursor) never names another tenant's event.
 */
const MAX_ARMS = 32;

type Driver = { column: 'source_app_id' | 'event_type'; index: string; values: string[] };

function chooseDriver(f: EventFilter): Driver | null {
  if (f.sourceAppIds) {
    return { column: 'source_app_id', index: TIME_INDEX.byAppTs, values: [...new Set(f.sourceAppIds)] };
  }
  if (f.eventTypes && f.eventTypes.length <= MAX_ARMS) {
    return { column: 'event_type', index: TIME_INDEX.byTypeTs, values: [...new Set(f.eventTypes)] };
  }
  return null;
}

/** Conditions for the filters the index does not lead with, on the events table's columns (named `alias`.column with an alias). */
export function residualConditions(
  f: EventFilter,
  driverColumn: string | null,
  params: IndexWalk['params'],
  alias = '',
): string[] {
  const conds: string[] = [];
  if (f.sourceAppIds && driverColumn !== 'source_app_id') {
    conds.push(`${alias}source_app_id IN (SELECT value FROM json_each(@apps))`);
    params.apps = JSON.stringify(f.sourceAppIds);
  }
  if (f.eventTypes && driverColumn !== 'event_type') {
    conds.push(`${alias}event_type IN (SELECT value FROM json_each(@types))`);
    params.types = JSON.stringify(f.eventTypes);
  }
  return conds;
}

/** Conditions for from (inclusive) and to (exclusive), checked on the rows read. */
function timeRangeConditions(f: EventFilter, params: IndexWalk['params'], alias = ''): string[] {
  const conds: string[] = [];
  if (f.from !== undefined) {
    conds.push(`${alias}ts >= @from`);
    params.from = f.from;
  }
  if (f.to !== undefined) {
    conds.push(`${alias}ts < @to`);
    params.to = f.to;
  }
  return conds;
}

/** True when a filter can match nothing at all (an empty IN list). */
export function matchesNothing(f: EventFilter): boolean {
  return f.sourceAppIds?.length === 0 || f.eventTypes?.length === 0;
}

interface ScanBounds {
  /** The cursor, when it is tighter than from (asc) / to (desc). */
  key?: EventKey;
  start: string | null;
  end: string | null;
  /** Whether the rest of the cursor's timestamp lies within from/to. */
  tieInRange: boolean;
}

function scanBounds(f: EventFilter, asc: boolean, after: EventKey | undefined): ScanBounds {
  if (asc) {
    const key = after && (f.from === undefined || after.timestamp >= f.from) ? after : undefined;
    return {
      key,
      start: key ? 'ts > @keyTs' : f.from !== undefined ? 'ts >= @from' : null,
      end: f.to !== undefined ? 'ts < @to' : null,
      tieInRange: key !== undefined && (f.to === undefined || key.timestamp < f.to),
    };
  }
  const key = after && (f.to === undefined || after.timestamp < f.to) ? after : undefined;
  return {
    key,
    start: key ? 'ts < @keyTs' : f.to !== undefined ? 'ts < @to' : null,
    end: f.from !== undefined ? 'ts >= @from' : null,
    tieInRange: key !== undefined && (f.from === undefined || key.timestamp >= f.from),
  };
}

/** The walks of a query: each arm's walks of the time index, and the walk of the tail. */
export interface EventQueryPlan {
  /**
   * The walks of each arm, in scan order: concatenating one arm's walk results gives that arm's
   * matches among the indexed events in (ts, pos) order. Every walk is limited to `limit` rows.
   */
  arms: IndexWalk[][];
  /**
   * The events after the time index's `through` that match every filter and follow the cursor, in
   * scan order, at most `limit` (their columns; not residual). It reads every event of the tail.
   */
  tail: IndexWalk;
}

/** The walks of `q`, or null when it can return nothing. */
export function planEventQuery(q: EventQuery): EventQueryPlan | null {
  const { filter: f, direction, after, limit } = q;
  if (limit <= 0 || matchesNothing(f)) return null;
  const asc = direction === 'asc';
  const bounds = scanBounds(f, asc, after);
  const order = asc ? 'ORDER BY t.ts, t.pos' : 'ORDER BY t.ts DESC, t.pos DESC';

  const driver = chooseDriver(f);
  const base: IndexWalk['params'] = { limit };
  const residual = residualConditions(f, driver?.column ?? null, base, 'e.');
  if (bounds.key) base.keyTs = bounds.key.timestamp;
  if (f.from !== undefined) base.from = f.from;
  if (f.to !== undefined) base.to = f.to;

  const select = (conds: string[]) => walkSql(driver?.index ?? TIME_INDEX.byTs, conds, residual, order);
  const onIndex = (cond: string) => `t.${cond}`;

  const arms = (driver ? driver.values : [null]).map((value) => {
    const lead = driver ? [`${driver.column} = @lead`] : [];
    const params = value === null ? { ...base } : { ...base, lead: value };
    const walks: IndexWalk[] = [];
    if (bounds.key && bounds.tieInRange) {
      walks.push({
        sql: select([...lead, 'ts = @keyTs', asc ? 'pos > @keyPos' : 'pos < @keyPos'].map(onIndex)),
        params: { ...params, keyPos: bounds.key.pos },
        residual: residual.length > 0,
      });
    }
    const rest = [...lead, ...(bounds.start ? [bounds.start] : []), ...(bounds.end ? [bounds.end] : [])];
    walks.push({ sql: select(rest.map(onIndex)), params, residual: residual.length > 0 });
    return walks;
  });
  return { arms, tail: tailWalk(f, asc, after, limit) };
}

/** The tail's walk: the events after the time index's `through`, every filter applied, sorted. */
function tailWalk(f: EventFilter, asc: boolean, after: EventKey | undefined, limit: number): IndexWalk {
  const params: IndexWalk['params'] = { limit };
  const conds = [
    `pos > (SELECT through FROM ${TIME_INDEX.state} WHERE id = 1)`,
    ...residualConditions(f, null, params),
    ...timeRangeConditions(f, params),
  ];
  if (after) {
    conds.push(asc ? '(ts > @keyTs OR (ts = @keyTs AND pos > @keyPos))' : '(ts < @keyTs OR (ts = @keyTs AND pos < @keyPos))');
    params.keyTs = after.timestamp;
    params.keyPos = after.pos;
  }
  const order = asc ? 'ORDER BY ts, pos' : 'ORDER BY ts DESC, pos DESC';
  return {
    sql: `SELECT ${EVENT_COLUMNS} FROM events NOT INDEXED WHERE ${conds.join(' AND ')} ${order} LIMIT @limit`,
    params,
    residual: false,
  };
}

/**
 * One walk of a table of keys `index` (as t), joined to the events (as e): the event's columns when every
 * row walked matches, else (ts, pos, hit) per row, ts read from `tsOf` (t where the keys hold it, else e).
 */
function walkSql(index: string, seek: string[], residual: string[], order: string, tsOf: 't' | 'e' = 't'): string {
  const where = seek.length ? ` WHERE ${seek.join(' AND ')}` : '';
  const columns =
    residual.length === 0 ? JOINED_EVENT_COLUMNS : `${tsOf}.ts AS ts, t.pos AS pos, (${residual.join(' AND ')}) AS hit`;
  return `SELECT ${columns} FROM ${index} AS t CROSS JOIN events AS e ON e.pos = t.pos${where} ${order} LIMIT @limit`;
}

/** EVENT_COLUMNS of the events table joined as e (the result columns keep their names). */
const JOINED_EVENT_COLUMNS = EVENT_COLUMNS.split(', ')
  .map((c) => `e.${c}`)
  .join(', ');

/** A walk of an index of the events table, or of its rowid: as walkSql, on that table alone. */
function eventsWalkSql(index: string, seek: string[], residual: string[], order: string): string {
  const where = seek.length ? ` WHERE ${seek.join(' AND ')}` : '';
  const columns = residual.length === 0 ? EVENT_COLUMNS : `ts, pos, (${residual.join(' AND ')}) AS hit`;
  const from = index === 'rowid' ? 'events NOT INDEXED' : `events INDEXED BY ${index}`;
  return `SELECT ${columns} FROM ${from}${where} ${order} LIMIT @limit`;
}

/**
 * The walks of readCommitted, in pos order. Each arm's walk gives its matches among the events it
 * covers; the caller merges them by pos.
 */
export interface ReadCommittedPlan {
  arms: IndexWalk[];
  /**
   * With an event type driving: the events after the type positions' `through` (and after afterPos)
   * that match every filter, at most `limit`, read from the events table (their columns; not residual).
   */
  tail?: IndexWalk;
}

const THROUGH = `(SELECT through FROM ${TIME_INDEX.state} WHERE id = 1)`;

/**
 * readCommitted: per app a walk of its (source_app_id, pos) index from afterPos; else per event type a
 * walk of its type positions from afterPos up to `through` (they are kept behind the appends), and the
 * tail after it; else a walk of the rowid. The other filters are residual.
 */
export function planReadCommitted(afterPos: number, f: EventFilter, limit: number): ReadCommittedPlan {
  if (limit <= 0 || matchesNothing(f)) return { arms: [] };
  const base: IndexWalk['params'] = { afterPos, limit };
  if (f.sourceAppIds) {
    const residual = [...residualConditions(f, 'source_app_id', base), ...timeRangeConditions(f, base)];
    const arms = [...new Set(f.sourceAppIds)].map((app) => ({
      sql: eventsWalkSql(EVENT_INDEX.byApp, ['source_app_id = @lead', 'pos > @afterPos'], residual, 'ORDER BY pos'),
      params: { ...base, lead: app },
      residual: residual.length > 0,
    }));
    return { arms };
  }
  if (f.eventTypes && f.eventTypes.length <= MAX_ARMS) {
    const residual = timeRangeConditions(f, base, 'e.');
    const seek = ['t.event_type = @lead', 't.pos > @afterPos', `t.pos <= ${THROUGH}`];
    const sql = walkSql(TYPE_POSITIONS, seek, residual, 'ORDER BY t.pos', 'e');
    const arms = [...new Set(f.eventTypes)].map((type) => ({
      sql,
      params: { ...base, lead: type },
      residual: residual.length > 0,
    }));
    const tailParams: IndexWalk['params'] = { afterPos, limit };
    const conds = [
      `pos > max(@afterPos, ${THROUGH})`,
      ...residualConditions(f, null, tailParams),
      ...timeRangeConditions(f, tailParams),
    ];
    const tail = {
      sql: `SELECT ${EVENT_COLUMNS} FROM events NOT INDEXED WHERE ${conds.join(' AND ')} ORDER BY pos LIMIT @limit`,
      params: tailParams,
      residual: false,
    };
    return { arms, tail };
  }
  const residual = [...residualConditions(f, null, base), ...timeRangeConditions(f, base)];
  return {
    arms: [
      { sql: eventsWalkSql('rowid', ['pos > @afterPos'], residual, 'ORDER BY pos'), params: base, residual: residual.length > 0 },
    ],
  };
}
