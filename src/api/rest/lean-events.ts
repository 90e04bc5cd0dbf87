// POST /v1/events on Node's `request` event, before Express: the common single-event (or small batch)
// request is served without the router's layer walk, body-parser and type-is, which cost a lone event
// more than chainlog's own work does (docs/performance.md, "Single-event requests beside Tessera").
//
// It takes only requests whose every header is the common case: POST to exactly /v1/events (no query),
// Content-Type application/json (charset absent or utf-8), a Content-Length from 1 byte up to
// min(JSON_BODY_THREAD_BYTES, MAX_BODY_BYTES), no Transfer-Encoding nor Content-Encoding, and a Host the
// origin policy accepts. Anything else goes to Express untouched (nothing of it is read here), whose
// route answers it, so every refusal a header can cause keeps its one implementation there.
//
// What it serves, it serves under the Express route's rules, through the same functions: access log and
// metrics (observeRequest), authentication before the body is read (principalFrom, ingestRefusal), the
// exact-number rule before the parse (verifyExactNumbers), body-parser's strict JSON (parseJsonBody),
// scope, rate limit and ingest (answerEvents), and error answers (errorAnswer).
import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** application/json, with no parameter but a UTF-8 charset (what body-parser and requireUtf8 both accept as is). */
const PLAIN_JSON = /^application\/json[\t ]*(?:;[\t ]*charset[\t ]*=[\t ]*(?:utf-8|"utf-8")[\t ]*)?$/i;

export interface LeanEventsOptions {
  deps: ApiDeps;
  rateLimits: RateLimits;
  originPolicy: OriginPolicy;
  /** Bodies up to this many bytes are served here (min(JSON_BODY_THREAD_BYTES, MAX_BODY_BYTES)); larger go to Express. */
  maxBodyBytes: number;
}

/** Serves `req` and returns true when it is a request the lean route takes; false (nothing read) otherwise. */
export type LeanRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

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
    if (!leanTakes(req, maxBodyBytes) || originPolicy.refusedHost(req) !== undefined) return false;
    observeRequest(deps.metrics, deps.logger, 'POST', LEAN_EVENTS_PATH, res);
    void serve(req, res);
    return true;
  };
}

/** Whether the request line and headers are the common case the lean route serves (the Host is checked apart). */
export function leanTakes(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, maxBodyBytes: number): boolean {
  if (req.method !== 'POST' || req.url !== LEAN_EVENTS_PATH) return false;
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined || h['content-encoding'] !== undefined) return false;
  const type = h['content-type'];
  if (type === undefined || !PLAIN_JSON.test(type)) return false;
  const length = Number(h['content-length']);
  return length >= 1 && length <= maxBodyBytes;
}

/** The whole body (its length is bounded by the Content-Length checked before), or null if the request was aborted. */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (value: Buffer | null) => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', () => done(null));
    // After 'end' when the body was read whole; before it when the client went away.
    req.on('close', () => done(null));
  });
}

/** As Express's res.json sends it: JSON text, `application/json; charset=utf-8`, its Content-Length. */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
