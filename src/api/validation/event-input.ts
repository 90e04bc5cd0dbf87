// LogEventInput (GraphQL) and the REST event body: one schema, so both transports enforce the same rules.
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { AppendRequest } from '../../log/service.js';
import type { JsonObject } from '../../storage/types.js';
import { ApiError, type ItemError } from '../errors.js';
import { batchError, describeIssue, issuesToError, safeParseReporting, type RuleParams } from './issues.js';
import { canonicalPayload, type PayloadLimits } from './payload.js';
import { eventType, hashHex, idempotencyKey, sourceAppId } from './rules.js';
import { parseRfc3339 } from './timestamp.js';
import { leafBytesBound, MAX_ENTRY_BYTES } from '../../core/tiles.js';

export interface IngestLimits extends PayloadLimits {
  maxClockSkewMs: number;
  maxBatchSize: number;
}

export const ingestLimits = (config: Config): IngestLimits => ({
  maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
  maxPayloadDepth: config.MAX_PAYLOAD_DEPTH,
  maxClockSkewMs: config.MAX_CLOCK_SKEW_MS,
  maxBatchSize: config.MAX_BATCH_SIZE,
});

const issue = (ctx: z.core.$RefinementCtx, message: string, params: RuleParams) =>
  ctx.addIssue({ code: 'custom', message, params });

/** A DateTime scalar value (Date) or an RFC 3339 string as epoch ms, not in the future beyond the skew. */
export function timestampSchema(maxClockSkewMs: number, now: () => number = Date.now) {
  return z.unknown().transform((value, ctx): number => {
    if (value === undefined || value === null) {
      issue(ctx, 'is required', { rule: 'required' });
      return z.NEVER;
    }
    const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? parseRfc3339(value) : null;
    if (ms === null || !Number.isFinite(ms)) {
      issue(ctx, 'must be an RFC 3339 date-time, at most millisecond-precise, e.g. 2024-05-01T12:00:00.000Z', { rule: 'format' });
      return z.NEVER;
    }
    if (ms < 0) {
      issue(ctx, 'must not be before 1970-01-01T00:00:00.000Z', { rule: 'min' });
      return z.NEVER;
    }
    if (ms > now() + maxClockSkewMs) {
      issue(ctx, `must not be more than ${maxClockSkewMs} ms in the future`, { rule: 'future' });
      return z.NEVER;
    }
    return ms;
  });
}

/** The payload with its RFC 8785 text, made once here for the size rule, the leaf and the store. */
export function payloadSchema(limits: PayloadLimits) {
  return z.unknown().transform((value, ctx): { value: JsonObject; text: string } => {
    if (value === undefined) {
      issue(ctx, 'is required', { rule: 'required' });
      return z.NEVER;
    }
    const checked = canonicalPayload(value, limits);
    if ('problem' in checked) {
      const { rule, message } = checked.problem;
      issue(ctx, message, { rule, code: rule === 'maxBytes' ? 'PAYLOAD_TOO_LARGE' : 'BAD_USER_INPUT' });
      return z.NEVER;
    }
    return { value: value as JsonObject, text: checked.text };
  });
}

export function eventInputSchema(limits: IngestLimits, now: () => number = Date.now) {
  return z
    .strictObject({
      sourceAppId,
      eventType,
      timestamp: timestampSchema(limits.maxClockSkewMs, now),
      payload: payloadSchema(limits),
      idempotencyKey: idempotencyKey.nullish(),
      expectedPrevHash: hashHex.nullish(),
    })
    .transform((v, ctx): AppendRequest => {
      // Every leaf must fit in a C2SP tlog-tiles entry bundle (a uint16 length): README "Tiles".
      // A UTF-16 unit is at most 3 UTF-8 bytes, and the other fields take well under 1 KiB: most payloads
      // need no count.
      const leafBound =
        v.payload.text.length * 3 + 1024 <= MAX_ENTRY_BYTES ? 0 : leafBytesBound(v, Buffer.byteLength(v.payload.text, 'utf8'));
      if (leafBound > MAX_ENTRY_BYTES) {
        ctx.addIssue({
          code: 'custom',
          path: ['payload'],
          message: `the event's leaf could take ${leafBound} bytes; a leaf must fit in ${MAX_ENTRY_BYTES} bytes (c2sp.org/tlog-tiles entry bundles)`,
          params: { rule: 'maxLeafBytes', code: 'BAD_USER_INPUT' } satisfies RuleParams,
        });
        return z.NEVER;
      }
      return appendRequest(v);
    });
}

function appendRequest(v: {
  sourceAppId: string;
  eventType: string;
  timestamp: number;
  payload: { value: JsonObject; text: string };
  idempotencyKey?: string | null | undefined;
  expectedPrevHash?: string | null | undefined;
}): AppendRequest {
  return {
    sourceAppId: v.sourceAppId,
    eventType: v.eventType,
    timestamp: v.timestamp,
    payload: v.payload.value,
    payloadText: v.payload.text,
    idempotencyKey: v.idempotencyKey ?? null,
    expectedPrevHash: v.expectedPrevHash ?? null,
  };
}

export type EventInputSchema = ReturnType<typeof eventInputSchema>;

/** One event; field names in errors are relative to the event (`eventType`, `payload`, ...). */
export function validateEventInput(schema: EventInputSchema, value: unknown): AppendRequest {
  const result = safeParseReporting(schema, value);
  if (!result.success) throw issuesToError(result.error.issues);
  return result.data;
}

/** A batch: every bad item is reported by index; a bad batch is rejected whole. */
export function validateEventBatch(
  schema: EventInputSchema,
  values: unknown,
  limits: IngestLimits,
  batchField: string,
): AppendRequest[] {
  if (!Array.isArray(values)) throw batchShapeError(batchField, 'type', 'must be a list of events');
  if (values.length === 0) throw batchShapeError(batchField, 'minItems', 'must hold at least one event');
  if (values.length > limits.maxBatchSize) throw tooManyEvents(batchField, limits.maxBatchSize);
  const requests: AppendRequest[] = [];
  const bad: ItemError[] = [];
  values.forEach((value, index) => {
    const result = safeParseReporting(schema, value);
    if (result.success) requests.push(result.data);
    else for (const i of result.error.issues) bad.push({ index, ...describeIssue(i) });
  });
  if (bad.length > 0) throw batchError(batchField, bad);
  return requests;
}

/** A batch longer than MAX_BATCH_SIZE (also refused by the body-checking thread before the body is parsed). */
export const tooManyEvents = (batchField: string, maxBatchSize: number): ApiError =>
  batchShapeError(batchField, 'maxItems', `must hold at most ${maxBatchSize} events`);

function batchShapeError(field: string, rule: string, message: string): ApiError {
  return new ApiError('BAD_USER_INPUT', `${field}: ${message}`, { field, rule });
}
