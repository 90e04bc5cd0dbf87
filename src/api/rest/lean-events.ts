// POST /v1/events on Node's `request` event, before Express: the common single-event (or small batch)
// request is served without the router's layer walk, body-parser and type-is, which cost a lone event
// more than chainlog's own work does (docs/performance.md, "Single-event requests beside Tessera").
//
// It takes only requests in the common form (src/api/lean-http.ts) with a Content-Length up to
// min(JSON_BODY_THREAD_BYTES, MAX_BODY_BYTES) and a Host the origin policy accepts. Anything else goes
// to Express untouched (nothing of it is read here), whose route answers it, so every refusal a header
// can cause keeps its one implementation there.
//
// What it serves, it serves under the Express route's rules, through the same functions: access log and
// metrics (observeRequest), authentication before the body is read (principalFrom, ingestRefusal), the
// exact-number rule before the parse (verifyExactNumbers), body-parser's strict JSON (parseJsonBody),
// scope, rate limit and ingest (answerEvents), and error answers (errorAnswer).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { leanTakes, readBody, sendJson, type LeanRoute } from '../lean-http.js';
import { principalFrom } from '../access.js';
import { ingestRefusal } from '../auth/express.js';
import type { ApiDeps } from '../context.js';
import { chargeWrites } from '../hardening/express.js';
import type { OriginPolicy } from '../hardening/origin.js';
import type { RateLimits } from '../hardening/rate-limit.js';
import { notJson } from '../json-body.js';
import { parseJsonBody } from '../validation/body-check.js';
import { verifyExactNumbers } from '../validation/exact-numbers.js';
import { answerEvents, REPLAYED_HEADER } from './events.js';
import { errorAnswer } from './errors.js';
import { observeRequest } from './http-observer.js';

export const LEAN_EVENTS_PATH = '/v1/events';

export interface LeanEventsOptions {
  deps: ApiDeps;
  rateLimits: RateLimits;
  originPolicy: OriginPolicy;
  /** Bodies up to this many bytes are served here (min(JSON_BODY_THREAD_BYTES, MAX_BODY_BYTES)); larger go to Express. */
  maxBodyBytes: number;
}

export function leanEventsRoute(opts: LeanEventsOptions): LeanRoute {
  const { deps, rateLimits, originPolicy, maxBodyBytes } = opts;
  const errorOptions = { logger: deps.logger, production: deps.config.production, metrics: deps.metrics };

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const principal = await principalFrom(deps.auth, req.headers);
      const refusal = ingestRefusal(deps, principal);
      if (refusal) return sendJson(res, refusal.status, refusal.body);
      const bytes = await readBody(req);
      if (bytes === null) return; // the client went away before sending its body: no one to answer
      verifyExactNumbers(undefined, undefined, bytes);
      let body: unknown;
      try {
        body = parseJsonBody(bytes.toString('utf8'));
      } catch {
        throw notJson();
      }
      const answer = await answerEvents(deps, principal, body, undefined, (events) =>
        chargeWrites(rateLimits, principal, req.socket.remoteAddress, res, events),
      );
      if (answer.replayed) res.setHeader(REPLAYED_HEADER, 'true');
      sendJson(res, answer.status, answer.body);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const answer = errorAnswer(err, errorOptions, 'rest', { method: 'POST', path: LEAN_EVENTS_PATH });
      for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
      sendJson(res, answer.status, answer.body);
    }
  };

  return (req, res) => {
    if (!leanTakes(req, LEAN_EVENTS_PATH, maxBodyBytes) || originPolicy.refusedHost(req) !== undefined) return false;
    observeRequest(deps.metrics, deps.logger, 'POST', LEAN_EVENTS_PATH, res);
    void serve(req, res);
    return true;
  };
}
