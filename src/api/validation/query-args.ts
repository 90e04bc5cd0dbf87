// Arguments of queries and subscriptions: filters, page sizes, ids, proof ranges.
import { z } from 'zod';
import type { EventFilter } from '../../storage/types.js';
import { ApiError, badUserInput } from '../errors.js';
import { parseOrThrow, type RuleParams } from './issues.js';
import {
  DEFAULT_PAGE_SIZE,
  MAX_FILTER_ITEMS,
  MAX_PAGE_SIZE,
  eventType,
  position,
  sourceAppId as clientSourceAppId,
} from './rules.js';
import { ERASURES_LOG } from '../../log/erasure.js';

/**
 * A log id in reads: a client's log id, or the reserved erasures log (which no client can append to,
 * since ingest takes client log ids only, but auditors read and prove like any other log).
 */
const sourceAppId = z.string().refine((s) => s === ERASURES_LOG || clientSourceAppId.safeParse(s).success, {
  message: "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
  params: { rule: 'format' } satisfies RuleParams,
});

const dateMs = z.date().transform((d, ctx): number => {
  const ms = d.getTime();
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be a valid date-time', params: { rule: 'format' } satisfies RuleParams });
    return z.NEVER;
  }
  return ms;
});

const filterList = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .min(1, 'must hold at least one item; omit it to match all')
    .max(MAX_FILTER_ITEMS, `must hold at most ${MAX_FILTER_ITEMS} items`)
    .nullish();

const filterSchema = z
  .strictObject({
    sourceAppIds: filterList(sourceAppId),
    eventTypes: filterList(eventType),
    from: dateMs.nullish(),
    to: dateMs.nullish(),
  })
  .superRefine((f, ctx) => {
    if (f.from != null && f.to != null && f.from > f.to) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from', params: { rule: 'range' } });
    }
  })
  .nullish();

export interface EventFilterArg {
  sourceAppIds?: readonly string[] | null;
  eventTypes?: readonly string[] | null;
  from?: Date | null;
  to?: Date | null;
}

/** A GraphQL EventFilter as the storage's filter (epoch ms, absent members left out). */
export function parseEventFilter(value: EventFilterArg | null | undefined, field = 'filter'): EventFilter {
  const f = parseOrThrow(filterSchema, value, [field]);
  const out: EventFilter = {};
  if (f?.sourceAppIds) out.sourceAppIds = f.sourceAppIds;
  if (f?.eventTypes) out.eventTypes = f.eventTypes;
  if (f?.from != null) out.from = f.from;
  if (f?.to != null) out.to = f.to;
  return out;
}

/**
 * Page size: the default when omitted; refused when negative or over the maximum (a page shorter than
 * asked for would read as the end of the list to a client that does not check hasNextPage).
 */
export function pageSize(value: number | null | undefined, field: string): number {
  if (value === null || value === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(value) || value < 0) throw badUserInput(field, 'min', `${field}: must not be negative`);
  if (value > MAX_PAGE_SIZE) {
    throw new ApiError(
      'BAD_USER_INPUT',
      `${field}: must be at most ${MAX_PAGE_SIZE} (the maximum page size); page on with the cursors`,
      {
        field,
        rule: 'max',
        extra: { limit: MAX_PAGE_SIZE },
      },
    );
  }
  return value;
}

const EVENT_ID = new RegExp(`^(${ERASURES_LOG}|[A-Za-z0-9][A-Za-z0-9._-]{0,127})\\/(0|[1-9]\\d{0,15})$`);

/** `<sourceAppId>/<seq>`, the id the API gives events. */
export function parseEventId(id: string, field = 'id'): { sourceAppId: string; seq: number } {
  const m = EVENT_ID.exec(id);
  const seq = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(seq)) {
    throw badUserInput(field, 'format', `${field}: must be an event id of the form <sourceAppId>/<seq>`);
  }
  return { sourceAppId: m[1]!, seq };
}

const BEFORE_FIRST = /^([A-Za-z0-9][A-Za-z0-9._-]{0,127})\/-1$/;

/**
 * Where a subscription resumes: after an event id, or `<sourceAppId>/-1`, the position just before
 * that log's first event (what RESUME_REQUIRED names when nothing was delivered before it).
 */
export function parseResumePoint(id: string, field = 'after'): { sourceAppId: string; seq: number; including: boolean } {
  const before = BEFORE_FIRST.exec(id);
  if (before) return { sourceAppId: before[1]!, seq: 0, including: true };
  try {
    return { ...parseEventId(id, field), including: false };
  } catch {
    throw badUserInput(
      field,
      'format',
      `${field}: must be an event id of the form <sourceAppId>/<seq>, or <sourceAppId>/-1 for before a log's first event`,
    );
  }
}

export const eventId = (e: { sourceAppId: string; seq: number }): string => `${e.sourceAppId}/${e.seq}`;

export const parseSourceAppId = (value: unknown, field = 'sourceAppId'): string => parseOrThrow(sourceAppId, value, [field]);

export const parsePosition = (value: unknown, field: string): number => parseOrThrow(position, value, [field]);

export function parseOptionalPosition(value: number | null | undefined, field: string): number | undefined {
  return value === null || value === undefined ? undefined : parsePosition(value, field);
}

/** `lower <= upper` (or `<` when strict), reported on the upper bound's field. */
export function requireOrdered(
  lower: number | undefined,
  upper: number | undefined,
  upperField: string,
  lowerField: string,
  strict = false,
): void {
  if (lower === undefined || upper === undefined) return;
  if (strict ? upper <= lower : upper < lower) {
    throw badUserInput(upperField, 'range', `${upperField}: must be ${strict ? 'greater than' : 'at least'} ${lowerField}`);
  }
}
