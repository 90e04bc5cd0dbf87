// Filters and sorts for queryEvents (keyset in (timestamp, pos)) and readCommitted (pos order).
import type { Filter, Sort } from 'mongodb';
import type { EventFilter, EventQuery } from '../types.js';
import type { EventDoc } from './documents.js';

function filterConditions(f: EventFilter): Filter<EventDoc>[] {
  const and: Filter<EventDoc>[] = [];
  if (f.sourceAppIds !== undefined) and.push({ sourceAppId: { $in: f.sourceAppIds } });
  if (f.eventTypes !== undefined) and.push({ eventType: { $in: f.eventTypes } });
  if (f.from !== undefined) and.push({ timestamp: { $gte: f.from } });
  if (f.to !== undefined) and.push({ timestamp: { $lt: f.to } });
  return and;
}

const allOf = (and: Filter<EventDoc>[]): Filter<EventDoc> => (and.length === 0 ? {} : { $and: and });

export function eventQueryPlan(q: EventQuery): { filter: Filter<EventDoc>; sort: Sort } {
  const and = filterConditions(q.filter);
  if (q.after) {
    const { timestamp: t, pos: p } = q.after;
    // The bound on timestamp alone gives the index a tight range; the $or drops the tie at t.
    if (q.direction === 'asc') and.push({ timestamp: { $gte: t } }, { $or: [{ timestamp: { $gt: t } }, { pos: { $gt: p } }] });
    else and.push({ timestamp: { $lte: t } }, { $or: [{ timestamp: { $lt: t } }, { pos: { $lt: p } }] });
  }
  const dir = q.direction === 'asc' ? 1 : -1;
  return { filter: allOf(and), sort: { timestamp: dir, pos: dir } };
}

/**
 * Whether an index walks exactly the matches of readCommitted in pos order: commit_position for no
 * filter, log_commit for apps only, type_commit for types only. Otherwise the walk examines events that
 * do not match, and the read bounds its pos range by its budget.
 */
export function committedIsIndexed(f: EventFilter): boolean {
  return f.from === undefined && f.to === undefined && (f.sourceAppIds === undefined || f.eventTypes === undefined);
}

export function committedPlan(afterPos: number, f: EventFilter, upTo: number): { filter: Filter<EventDoc>; sort: Sort } {
  return { filter: allOf([{ pos: { $gt: afterPos, $lte: upTo } }, ...filterConditions(f)]), sort: { pos: 1 } };
}
