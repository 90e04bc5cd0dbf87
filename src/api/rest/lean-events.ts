// POST /v1/events on Node's `request` event, before Express (src/api/lean-http.ts): the common
// single-event (or small batch) request is served without the router's layer walk, body-parser and
// type-is, which cost a lone event more than chainlog's own work does (docs/performance.md, "Single-event
// requests beside Tessera"). After the shared steps, scope, rate limit and ingest are answerEvents's, as
// on the Express route.
import type { ApiDeps } from '../context.js';
import { ingestRefusal } from '../auth/express.js';
import { chargeWrites } from '../hardening/express.js';
import type { OriginPolicy } from '../hardening/origin.js';
import type { RateLimits } from '../hardening/rate-limit.js';
import { leanRoute, sendJson, type LeanRoute } from '../lean-http.js';
import { answerEvents, REPLAYED_HEADER } from './events.js';
import { PREFERENCE_APPLIED_HEADER, preferredReturn } from './prefer.js';

export const LEAN_EVENTS_PATH = '/v1/events';

export interface LeanEventsOptions {
  deps: ApiDeps;
  rateLimits: RateLimits;
  originPolicy: OriginPolicy;
  /** Bodies up to this many bytes are served here (min(JSON_BODY_THREAD_BYTES, MAX_BODY_BYTES)); larger go to Express. */
  maxBodyBytes: number;
}

export function leanEventsRoute(opts: LeanEventsOptions): LeanRoute {
  const { deps, rateLimits } = opts;
  return leanRoute({
    deps,
    originPolicy: opts.originPolicy,
    path: LEAN_EVENTS_PATH,
    transport: 'rest',
    maxBodyBytes: opts.maxBodyBytes,
    refusal: (principal) => ingestRefusal(deps, principal),
    answer: async (req, res, principal, body) => {
      const minimal = preferredReturn(req.headers.prefer) === 'minimal';
      const answer = await answerEvents(deps, principal, body, undefined, minimal, (events) =>
        chargeWrites(rateLimits, principal, req.socket.remoteAddress, res, events),
      );
      if (answer.replayed) res.setHeader(REPLAYED_HEADER, 'true');
      if (minimal) res.setHeader(PREFERENCE_APPLIED_HEADER, 'return=minimal');
      sendJson(res, answer.status, answer.body);
    },
  });
}
