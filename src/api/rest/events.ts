// POST /v1/events: one event object or an array of them, under the same rules as logEvent(s).
import express, { type RequestHandler, type Router } from 'express';
import { principalOf, authenticateIngest } from '../auth/express.js';
import { requireIngestApps } from '../../auth/scope.js';
import type { ApiDeps, Principal } from '../context.js';
import { requireUtf8 } from '../charset.js';
import { ApiError, badUserInput } from '../errors.js';
import { eventToJson, minimalEventJson, type EventJsonAnswer, type MinimalEventJson } from '../event-json.js';
import type { WriteCharge } from '../hardening/express.js';
import { ijsonExpressJson } from '../json-body.js';
import { restErrors } from './errors.js';
import { PREFERENCE_APPLIED_HEADER, preferredReturn } from './prefer.js';
import { isReplay } from '../../log/replays.js';
import { waitedReceiptOf, withReceipts } from '../receipt-wait.js';

const JSON_TYPES = ['application/json', 'application/*+json'];

/** Set (to `true`) on a 200 answer whose every event was an idempotent retry. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

export const EVENTS_BODY_TYPES = JSON_TYPES;

/**
 * `chargeWrites` applies the per-client write rate limit (src/api/hardening) before anything is written;
 * `readBody` parses the body (the server's jsonBody, src/api/json-body.ts; ijsonExpressJson by default).
 */
export function eventsRouter(deps: ApiDeps, chargeWrites?: WriteCharge, readBody?: RequestHandler): Router {
  const router = express.Router();
  const body = readBody ?? ijsonExpressJson({ limit: deps.config.MAX_BODY_BYTES, type: JSON_TYPES });
  router.post('/v1/events', authenticateIngest(deps), requireUtf8(), body, async (req, res) => {
    if (!req.is(JSON_TYPES)) {
      const error = new ApiError('BAD_USER_INPUT', 'body: must be sent as Content-Type: application/json', {
        field: 'body',
        rule: 'contentType',
      });
      deps.metrics.apiErrors.inc({ code: error.code, transport: 'rest' });
      res.status(415).json({ errors: restErrors(error) });
      return;
    }
    const minimal = preferredReturn(req.headers.prefer) === 'minimal';
    const answer = await answerEvents(deps, principalOf(res.locals), req.body, req.query.wait, minimal, (events) =>
      chargeWrites ? chargeWrites(req, res, events) : Promise.resolve(),
    );
    if (answer.replayed) res.set(REPLAYED_HEADER, 'true');
    if (minimal) res.set(PREFERENCE_APPLIED_HEADER, 'return=minimal');
    res.status(answer.status).json(answer.body);
  });
  return router;
}

/** A 200 or 201 answer to POST /v1/events; `replayed`: every event was an idempotent retry (REPLAYED_HEADER). */
export interface EventsAnswer {
  status: 200 | 201;
  replayed: boolean;
  body: { events: EventsAnswerItem[] };
}

type EventsAnswerItem = (EventJsonAnswer | MinimalEventJson) & { replayed?: boolean; receipt?: ReturnType<typeof receiptJson> };

/**
 * Appends a parsed POST /v1/events body (one event or an array) for `principal`, under the same
 * rules as logEvent(s): the key's scope, `wait` (the query's `wait`), then the write rate limit
 * (`charge`, per event) before anything is written. `minimal` (`Prefer: return=minimal`) answers each
 * event as MinimalEventJson. Shared by the Express route and the lean one (lean-events.ts), so both
 * answer alike.
 */
export async function answerEvents(
  deps: ApiDeps,
  principal: Principal,
  body: unknown,
  wait: unknown,
  minimal: boolean,
  charge: (events: number) => Promise<void>,
): Promise<EventsAnswer> {
  if (body === undefined) throw new ApiError('BAD_USER_INPUT', 'body: is required', { field: 'body', rule: 'required' });
  requireIngestApps(principal, body, Array.isArray(body) ? 'body' : null);
  const waitForReceipt = parseWait(wait);
  await charge(Array.isArray(body) ? body.length : 1);
  const appended = Array.isArray(body) ? await deps.ingest.many(body, 'body', 'rest') : [await deps.ingest.one(body, 'rest')];
  const events = waitForReceipt ? await withReceipts(deps, appended) : appended;
  // An idempotent retry creates nothing: 200 and a replay marker when every item was logged before.
  const replayed = events.map(isReplay);
  const allReplayed = replayed.every(Boolean);
  return {
    status: allReplayed ? 200 : 201,
    replayed: allReplayed,
    body: {
      events: events.map((e, i) => {
        // Added to the event's own object, after its fields: one object per event, not a copy.
        const json: EventsAnswerItem = minimal ? minimalEventJson(e) : eventToJson(e);
        json.replayed = replayed[i]!;
        if (waitForReceipt) json.receipt = receiptJson(e);
        return json;
      }),
    },
  };
}

/** `?wait=receipt`: answer once checkpoints cover the events, with their receipts (bounded wait). */
function parseWait(value: unknown): boolean {
  if (value === undefined) return false;
  if (value === 'receipt') return true;
  throw badUserInput('wait', 'oneOf', 'wait: must be `receipt` (or left out)');
}

/** A waited-for receipt in an answer: READY with its tlog-proof text, or PENDING. */
function receiptJson(e: Parameters<typeof waitedReceiptOf>[0]) {
  const r = waitedReceiptOf(e);
  return r?.status === 'READY'
    ? { status: r.status, proof: r.proof, treeSize: r.checkpoint.treeSize }
    : { status: 'PENDING', proof: null, treeSize: null };
}
