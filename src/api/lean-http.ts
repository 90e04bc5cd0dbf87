// The pieces shared by the routes served on Node's `request` event before Express (POST /v1/events in
// src/api/rest/lean-events.ts, POST /graphql in src/api/graphql/lean-graphql.ts): which requests they
// take, how they read a body whose length is known, and how they answer JSON.
//
// A lean route takes only requests whose every header is the common case: POST to exactly its path (no
// query), Content-Type application/json (charset absent or utf-8), a Content-Length from 1 byte up to the
// route's bound, no Transfer-Encoding nor Content-Encoding, and a Host the origin policy accepts. Anything
// else goes to Express untouched (nothing of it is read), so every refusal a header can cause keeps its
// one implementation there.
//
// What it takes, it serves under the Express route's rules, through the same functions: access log and
// metrics (observeRequest), authentication before the body is read (the route's refusal), UTF-8
// (verifyUtf8) and the exact-number rule (verifyExactNumbersText) before the parse, body-parser's strict JSON (parseJsonBody), the
// unique-name rule after it (verifyUniqueNames), and error answers (errorAnswer).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiDeps, Principal } from './context.js';
import { principalFrom } from './access.js';
import type { OriginPolicy } from './hardening/origin.js';
import { notJson } from './json-body.js';
import { errorAnswer } from './rest/errors.js';
import { observeRequest } from './rest/http-observer.js';
import { parseJsonBody } from './validation/body-check.js';
import { verifyExactNumbersText } from './validation/exact-numbers.js';
import { verifyUniqueNames } from './validation/unique-names.js';
import { verifyUtf8 } from './validation/utf8.js';

/** application/json, with no parameter but a UTF-8 charset (what body-parser and requireUtf8 both accept as is). */
const PLAIN_JSON = /^application\/json[\t ]*(?:;[\t ]*charset[\t ]*=[\t ]*(?:utf-8|"utf-8")[\t ]*)?$/i;

/** Serves `req` and returns true when it is a request the lean route takes; false (nothing read) otherwise. */
export type LeanRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface LeanRouteOptions {
  deps: ApiDeps;
  originPolicy: OriginPolicy;
  path: string;
  /** Which error shape the route answers with. */
  transport: 'graphql' | 'rest';
  /** Bodies up to this many bytes are served here (min(JSON_BODY_THREAD_BYTES, MAX_BODY_BYTES)); larger go to Express. */
  maxBodyBytes: number;
  /** Whether the route takes requests yet; always by default. */
  ready?: () => boolean;
  /** The answer to a caller `principal` refused before the body is read, or null to go on. */
  refusal(principal: Principal): { status: number; body: unknown } | null;
  /** Answers the request whose body parsed; what it throws before answering is answered by errorAnswer. */
  answer(req: IncomingMessage, res: ServerResponse, principal: Principal, body: unknown): Promise<void>;
}

/** A route served before Express: authenticated, its body read whole and parsed, then `answer`ed. */
export function leanRoute(opts: LeanRouteOptions): LeanRoute {
  const { deps, path, transport } = opts;
  const errorOptions = { logger: deps.logger, production: deps.config.production, metrics: deps.metrics };

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const principal = await principalFrom(deps.auth, req.headers);
      const refusal = opts.refusal(principal);
      if (refusal) return sendJson(res, refusal.status, refusal.body);
      const body = await readJson(req);
      if (body === GONE) return; // the client went away before sending its body: no one to answer
      await opts.answer(req, res, principal, body);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const answer = errorAnswer(err, errorOptions, transport, { method: 'POST', path });
      for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
      sendJson(res, answer.status, answer.body);
    }
  };

  return (req, res) => {
    if (
      opts.ready?.() === false ||
      !leanTakes(req, path, opts.maxBodyBytes) ||
      opts.originPolicy.refusedHost(req) !== undefined
    ) {
      return false;
    }
    observeRequest(deps.metrics, deps.logger, 'POST', path, res);
    void serve(req, res);
    return true;
  };
}

/** Whether the request line and headers are the common case a lean route at `path` serves (the Host is checked apart). */
export function leanTakes(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, path: string, maxBodyBytes: number): boolean {
  if (req.method !== 'POST' || req.url !== path) return false;
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined || h['content-encoding'] !== undefined) return false;
  const type = h['content-type'];
  if (type === undefined || !PLAIN_JSON.test(type)) return false;
  const length = Number(h['content-length']);
  return length >= 1 && length <= maxBodyBytes;
}

/** readJson's answer when the client went away before sending its whole body. */
const GONE: unique symbol = Symbol('gone');

/**
 * The body read whole, checked to be UTF-8 and under the exact-number rule, parsed as body-parser's strict JSON, under the
 * unique-name rule; GONE if the request was aborted. Its bytes and text are this function's alone: they
 * are garbage once it returns, while the caller's frame lives until the answer is sent (a commit later,
 * for an append).
 */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const bytes = await readBody(req);
  if (bytes === null) return GONE;
  verifyUtf8(bytes);
  const text = bytes.toString('utf8');
  verifyExactNumbersText(text);
  let body: unknown;
  try {
    body = parseJsonBody(text);
  } catch {
    throw notJson();
  }
  verifyUniqueNames(text, body);
  return body;
}

/** The whole body (its length is bounded by the Content-Length checked before), or null if the request was aborted. */
export function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    // Gone while the route was authenticating: its 'close' has already been emitted.
    if (req.destroyed) return resolve(null);
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
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

/** As Express's res.send sends a string: the given type, its Content-Length. */
export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
