// HTTP error responses: REST gets { errors: [{code, message, field, rule, index}] }, /graphql gets
// GraphQL-shaped errors. Body-parser failures (size, JSON) are client errors, never 500s.
import type { ErrorRequestHandler, Request } from 'express';
import type { Logger } from 'pino';
import { ApiError, httpStatusFor, STORE_DAMAGE_CODES, toApiError, type ApiErrorCode } from '../errors.js';
import { retryAfterSeconds } from '../hardening/rate-limit.js';
import type { ApiMetrics } from '../metrics.js';

export interface RestError {
  code: string;
  message: string;
  field?: string;
  rule?: string;
  index?: number;
}

export function restErrors(err: ApiError): RestError[] {
  if (err.items && err.items.length > 0) {
    return err.items.map(({ code, message, field, rule, index }) => ({ code, message, field, rule, index }));
  }
  return [
    {
      code: err.code,
      message: err.message,
      ...(err.field !== undefined && { field: err.field }),
      ...(err.rule !== undefined && { rule: err.rule }),
    },
  ];
}

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/**
 * The router's refusal of a path parameter it cannot percent-decode (`/tlog/a%FF/checkpoint`: bytes
 * that are not UTF-8), before any handler ran.
 */
function fromRouter(err: unknown): { status: number; error: ApiError } | null {
  if (!(err instanceof URIError) || (err as { status?: unknown }).status !== 400) return null;
  const error = new ApiError('BAD_USER_INPUT', 'path: must be percent-encoded UTF-8 (RFC 3986)', {
    field: 'path',
    rule: 'encoding',
  });
  return { status: 400, error };
}

/** Errors raised by express.json() before any handler ran. */
function fromBodyParser(err: BodyParserError): { status: number; error: ApiError } | null {
  const code = (c: ApiErrorCode, message: string, rule: string, status?: number) => {
    const error = new ApiError(c, message, { field: 'body', rule });
    return { status: status ?? httpStatusFor(c), error };
  };
  switch (err.type) {
    case 'entity.too.large':
      return code('PAYLOAD_TOO_LARGE', `body: must be at most ${err.limit} bytes`, 'maxBytes');
    case 'entity.parse.failed':
      return code('BAD_USER_INPUT', 'body: is not valid JSON (an object or an array)', 'json');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return code('BAD_USER_INPUT', 'body: must be UTF-8 JSON', 'encoding', 415);
    default:
      if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
        return code('BAD_USER_INPUT', 'body: could not be read', 'request', err.status);
      }
      return null;
  }
}

const isGraphql = (req: Request) => req.baseUrl === '/graphql' || req.path === '/graphql';

export interface ErrorAnswerOptions {
  logger: Logger;
  production: boolean;
  metrics: ApiMetrics;
}

/** What an error thrown while handling a request is answered with: status, extra headers and body. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * The answer to an error raised while handling a request, in the shape of its transport, counted in
 * the error metric (and logged when it is the operator's to see). The Express error handler and the
 * routes served before Express (src/api/lean-http.ts) answer errors with it.
 */
export function errorAnswer(
  err: unknown,
  opts: ErrorAnswerOptions,
  transport: 'graphql' | 'rest',
  request: { method: string; path: string },
): ErrorAnswer {
  const api = toApiError(err);
  // A body in another charset, or whose bytes are not UTF-8, is 415 Unsupported Media Type, whichever check found it.
  const parsed = api
    ? { status: api.rule === 'encoding' ? 415 : httpStatusFor(api.code), error: api }
    : (fromRouter(err) ?? fromBodyParser(err ?? {}));
  if (parsed) {
    const { error, status } = parsed;
    opts.metrics.apiErrors.inc({ code: error.code, transport });
    // Damage to the store is the operator's to see, not only the client's.
    if (STORE_DAMAGE_CODES.has(error.code)) opts.logger.error({ err, ...request }, error.message);
    const headers: Record<string, string> = {};
    if (error.code === 'UNAVAILABLE' && typeof error.extensions.retryAfterMs === 'number') {
      headers['Retry-After'] = String(retryAfterSeconds(error));
    }
    const body =
      transport === 'graphql'
        ? { errors: [{ message: error.message, extensions: error.extensions }] }
        : { errors: restErrors(error) };
    return { status, headers, body };
  }
  opts.metrics.apiErrors.inc({ code: 'INTERNAL_SERVER_ERROR', transport });
  opts.logger.error({ err, ...request }, 'unexpected error handling request');
  const message = opts.production || !(err instanceof Error) ? 'Internal server error' : err.message;
  const body =
    transport === 'graphql'
      ? { errors: [{ message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }
      : { errors: [{ code: 'INTERNAL_SERVER_ERROR', message }] };
  return { status: 500, headers: {}, body };
}

export function errorHandler(opts: ErrorAnswerOptions): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const answer = errorAnswer(err, opts, isGraphql(req) ? 'graphql' : 'rest', { method: req.method, path: req.path });
    for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
    res.status(answer.status).json(answer.body);
  };
}
