// Turns an EventQuery into index walks whose cost does not depend on how deep the page is.
//
// SQLite will not seek an index on a row value that includes the rowid ((ts, pos) > (?, ?) becomes
// ts > ?), so a keyset cursor is split into two walks that each seek exactly:
// the rest of the cursor's timestamp (ts = ? AND pos > ?), then the later timestamps (ts > ?).
// An IN filter on the leading column of an index becomes one walk per value ("arm"), merged by the
// caller; the other filters are checked on the rows walked.
import type { EventFilter, EventQuery } from '../types.js';
import { EVENT_COLUMNS } from './event-rows.js';
import { EVENT_INDEX } from './schema.js';

export interface IndexWalk {
  sql: string;
  params: Record<string, string | number>;
}

/** Arms with more values than this fall back to one walk of the ts index. */
const MAX_ARMS = 32;

type Driver = { column: 'source_app_id' | 'event_type'; index: string; values: string[] };

function chooseDriver(f: EventFilter): Driver | null {
  if (f.sourceAppIds && f.sourceAppIds.length <= MAX_ARMS) {
    return { column: 'source_app_id', index: EVENT_INDEX.byAppTs, values: [...new Set(f.sourceAppIds)] };
  }
  if (f.eventTypes && f.eventTypes.length <= MAX_ARMS) {
    return { column: 'event_type', index: EVENT_INDEX.byTypeTs, values: [...new Set(f.eventTypes)] };
  }
  return null;
}

/** Conditions for the filters the index does not lead with. */
export function residualConditions(f: EventFilter, driverColumn: string | null, params: IndexWalk['params']): string[] {
  const conds: string[] = [];
  if (f.sourceAppIds && driverColumn !== 'source_app_id') {
    conds.push('source_app_id IN (SELECT value FROM json_each(@apps))');
    params.apps = JSON.stringify(f.sourceAppIds);
  }
  if (f.eventTypes && driverColumn !== 'event_type') {
    conds.push('event_type IN (SELECT value FROM json_each(@types))');
    params.types = JSON.stringify(f.eventTypes);
  }
  return conds;
}

/** True when a filter can match nothing at all (an empty IN list). */
export function matchesNothing(f: EventFilter): boolean {
  return f.sourceAppIds?.length === 0 || f.eventTypes?.length === 0;
}

/**
 * The walks of each arm, in scan order: concatenating one arm's walk results gives that arm's
 * matches in (ts, pos) order. Every walk is limited to `limit` rows.
 */
export function planEventQuery(q: EventQuery): IndexWalk[][] {
  const { filter: f, direction, after, limit } = q;
  if (limit <= 0 || matchesNothing(f)) return [];
  const asc = direction === 'asc';
  // The cursor matters only where it is tighter than from (asc) / to (desc).
  const key = after && (asc ? f.from === undefined || after.timestamp >= f.from : f.to === undefined || after.timestamp < f.to)
    ? after
    : undefined;
  const startBound = key ? (asc ? 'ts > @keyTs' : 'ts < @keyTs') : asc ? (f.from !== undefined ? 'ts >= @from' : null) : f.to !== undefined ? 'ts < @to' : null;
  const endBound = asc ? (f.to !== undefined ? 'ts < @to' : null) : f.from !== undefined ? 'ts >= @from' : null;
  const tieInRange = key !== undefined && (asc ? f.to === undefined || key.timestamp < f.to : f.from === undefined || key.timestamp >= f.from);
  const order = asc ? 'ORDER BY ts, pos' : 'ORDER BY ts DESC, pos DESC';

  const driver = chooseDriver(f);
  const base: IndexWalk['params'] = { limit };
  const residual = residualConditions(f, driver?.column ?? null, base);
  if (key) base.keyTs = key.timestamp;
  if (f.from !== undefined && (startBound === 'ts >= @from' || endBound === 'ts >= @from')) base.from = f.from;
  if (f.to !== undefined && (startBound === 'ts < @to' || endBound === 'ts < @to')) base.to = f.to;

  const select = (conds: string[]) =>
    `SELECT ${EVENT_COLUMNS} FROM events INDEXED BY ${driver?.index ?? EVENT_INDEX.byTs}` +
    (conds.length ? ` WHERE ${conds.join(' AND ')}` : '') +
    ` ${order} LIMIT @limit`;

  const arms = driver ? driver.values : [null];
  return arms.map((value) => {
    const lead = driver ? [`${driver.column} = @lead`] : [];
    const params = value === null ? { ...base } : { ...base, lead: value };
    const walks: IndexWalk[] = [];
    if (tieInRange) {
      walks.push({
        sql: select([...lead, 'ts = @keyTs', asc ? 'pos > @keyPos' : 'pos < @keyPos', ...residual]),
        params: { ...params, keyPos: key!.pos },
      });
    }
    const rest = [...lead, ...(startBound ? [startBound] : []), ...(endBound ? [endBound] : []), ...residual];
    walks.push({ sql: select(rest), params });
    return walks;
  });
}

/** readCommitted: a walk of the rowid from afterPos; the filters are checked on the rows walked. */
export function planReadCommitted(afterPos: number, f: EventFilter, limit: number): IndexWalk | null {
  if (limit <= 0 || matchesNothing(f)) return null;
  const params: IndexWalk['params'] = { afterPos, limit };
  const conds = ['pos > @afterPos', ...residualConditions(f, null, params)];
  if (f.from !== undefined) {
    conds.push('ts >= @from');
    params.from = f.from;
  }
  if (f.to !== undefined) {
    conds.push('ts < @to');
    params.to = f.to;
  }
  return { sql: `SELECT ${EVENT_COLUMNS} FROM events NOT INDEXED WHERE ${conds.join(' AND ')} ORDER BY pos LIMIT @limit`, params };
}
