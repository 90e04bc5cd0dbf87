// express.json for the API's bodies, with large bodies checked off the event loop. A body whose
// Content-Length is at most JSON_BODY_THREAD_BYTES (the common batch of events) is parsed by
// express.json under the I-JSON rules (ijsonExpressJson). A larger one, or one whose length is not
// known in advance (chunked, compressed), is read as bytes (bounded by MAX_BODY_BYTES, as express.json
// bounds it) and, if it is still over the threshold, checked in the body-checking thread
// (body-check-thread.ts): a body it refuses is answered with the same error express.json and the
// checks after it would give, without being parsed here; a body it accepts is parsed here.
import express, { type RequestHandler } from 'express';
import { bodyCheckBusy, type BodyChecker } from './body-check-thread.js';
import { ApiError } from './errors.js';
import { parseJsonBody, type BodyJob, type BodyVerdict } from './validation/body-check.js';
import { verifyExactNumbers } from './validation/exact-numbers.js';
import { verifyUniqueNames } from './validation/unique-names.js';
import { verifyUtf8 } from './validation/utf8.js';

export interface JsonBodyOptions {
  /** MAX_BODY_BYTES. */
  limit: number;
  type?: string | string[];
  /** JSON_BODY_THREAD_BYTES: larger bodies are checked by `checker` before they are parsed here. */
  threadBytes: number;
  checker: BodyChecker;
  job: BodyJob;
}

/** The error express.json raises for a body that is not JSON, which the error handler words. */
export const notJson = () =>
  Object.assign(new SyntaxError('body is not valid JSON'), {
    type: 'entity.parse.failed',
    status: 400,
    statusCode: 400,
    expose: true,
  });

/** `verify`: apply the I-JSON rules here (false when the body-checking thread has). */
function parseHere(bytes: Buffer, verify: boolean): unknown {
  if (verify) {
    verifyUtf8(bytes);
    verifyExactNumbers(undefined, undefined, bytes);
  }
  let body: unknown;
  try {
    body = parseJsonBody(bytes.toString('utf8'));
  } catch {
    throw notJson();
  }
  if (verify) verifyUniqueNames(bytes, body);
  return body;
}

/** Each request's body bytes, kept by express.json's `verify` for the unique-name rule after its parse. */
const rawBodies = new WeakMap<object, Buffer>();

/**
 * express.json under the I-JSON rules (RFC 7493): a body that is not UTF-8, or that holds a number a
 * double does not keep, is refused before the parse (its `verify`), a repeated member name after it.
 */
export function ijsonExpressJson(options: { limit: number; type: string | string[] }): RequestHandler {
  const parse = express.json({
    ...options,
    verify: (req, res, buf) => {
      verifyUtf8(buf);
      verifyExactNumbers(req, res, buf);
      rawBodies.set(req, buf);
    },
  });
  return (req, res, next) =>
    parse(req, res, (err?: unknown) => {
      const bytes = rawBodies.get(req);
      rawBodies.delete(req);
      if (err || bytes === undefined) return next(err);
      try {
        verifyUniqueNames(bytes, req.body);
      } catch (e) {
        return next(e);
      }
      next();
    });
}

const refusal = (v: Exclude<BodyVerdict, { ok: true }>): Error =>
  v.notJson ? notJson() : new ApiError(v.code, v.message, { field: v.field, rule: v.rule });

const identity = (encoding: string | undefined) => encoding === undefined || encoding.trim().toLowerCase() === 'identity';

export function jsonBody(opts: JsonBodyOptions): RequestHandler {
  const type = opts.type ?? 'application/json';
  const small = ijsonExpressJson({ limit: opts.limit, type });
  const raw = express.raw({ limit: opts.limit, type });
  return (req, res, next) => {
    const length = Number(req.headers['content-length'] ?? NaN);
    if ((length <= opts.threadBytes && identity(req.headers['content-encoding'])) || !req.is(type)) return small(req, res, next);
    const release = opts.checker.acquire();
    if (!release) {
      // The body is not read: the connection closes after the answer, instead of reading it to discard it.
      res.setHeader('Connection', 'close');
      return next(bodyCheckBusy(opts.checker.maxLargeBodies));
    }
    raw(req, res, (err?: unknown) => {
      if (err) {
        release();
        return next(err);
      }
      const bytes: unknown = req.body;
      if (!Buffer.isBuffer(bytes) || bytes.length <= opts.threadBytes) {
        release();
        try {
          req.body = Buffer.isBuffer(bytes) ? parseHere(bytes, true) : undefined;
        } catch (e) {
          return next(e);
        }
        return next();
      }
      opts.checker.check(bytes, opts.job).then(
        ({ verdict, bytes: back }) => {
          try {
            if (!verdict.ok) return next(refusal(verdict));
            // The thread has applied the exact-number rule.
            req.body = parseHere(back, false);
            next();
          } catch (e) {
            next(e);
          } finally {
            release();
          }
        },
        (e: unknown) => {
          release();
          next(e);
        },
      );
    });
  };
}
