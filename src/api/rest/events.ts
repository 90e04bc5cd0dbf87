// POST /v1/events: one event object or an array of them, under the same rules as logEvent(s).
import express, { type RequestHandler, type Router } from 'express';
import { principalOf, authenticateIngest } from '../auth/express.js';
import { requireIngestApps } from '../../auth/scope.js';
import type { ApiDeps } from '../context.js';
import { requireUtf8 } from '../charset.js';
import { ApiError, badUserInput } from '../errors.js';
import { eventToJson } from '../event-json.js';
import type { WriteCharge } from '../hardening/express.js';
import { verifyExactNumbers } from '../validation/exact-numbers.js';
import { restErrors } from './errors.js';
import { isReplay } from '../../log/replays.js';
import { waitedReceiptOf, withReceipts } from '../receipt-wait.js';

const JSON_TYPES = ['application/json', 'application/*+json'];

/** Set (to `true`) on a 200 answer whose every event was an idempotent retry. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

export const EVENTS_BODY_TYPES = JSON_TYPES;

/**
 * `chargeWrites` applies the per-client write rate limit (src/api/hardening) before anything is written;
 * `readBody` parses the body (the server's jsonBody, src/api/json-body.ts; express.json by default).
 */
export function eventsRouter(deps: ApiDeps, chargeWrites?: WriteCharge, readBody?: RequestHandler): Router {
  const router = express.Router();
  const body = readBody ?? express.json({ limit: deps.config.MAX_BODY_BYTES, type: JSON_TYPES, verify: verifyExactNumbers });
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
    const body: unknown = req.body;
    if (body === undefined) throw new ApiError('BAD_USER_INPUT', 'body: is required', { field: 'body', rule: 'required' });
    requireIngestApps(principalOf(res.locals), body, Array.isArray(body) ? 'body' : null);
    const waitForReceipt = parseWait(req.query.wait);
    await chargeWrites?.(req, res, Array.isArray(body) ? body.length : 1);
    const appended = Array.isArray(body) ? await deps.ingest.many(body, 'body', 'rest') : [await deps.ingest.one(body, 'rest')];
    const events = waitForReceipt ? await withReceipts(deps, appended) : appended;
    // An idempotent retry creates nothing: 200 and a replay marker when every item was logged before.
    const replayed = events.map(isReplay);
    const allReplayed = replayed.every(Boolean);
    if (allReplayed) res.set(REPLAYED_HEADER, 'true');
    res.status(allReplayed ? 200 : 201).json({
      events: events.map((e, i) => ({
        ...eventToJson(e),
        replayed: replayed[i],
        ...(waitForReceipt && { receipt: receiptJson(e) }),
      })),
    });
  });
  return router;
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
