// HTTP error responses: REST gets { errors: [{code, message, field, rule, index}] }, /graphql gets
// GraphQL-shaped errors. Body-parser failures (size, JSON) are client errors, never 500s.
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from 'pino';
import { ApiError, httpStatusFor, toApiError, type ApiErrorCode } from '../errors.js';
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

function send(req: Request, res: Response, status: number, error: ApiError): void {
  if (isGraphql(req)) {
    res.status(status).json({ errors: [{ message: error.message, extensions: error.extensions }] });
  } else {
    res.status(status).json({ errors: restErrors(error) });
  }
}

export function errorHandler(opts: { logger: Logger; production: boolean; metrics: ApiMetrics }): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const transport = isGraphql(req) ? 'graphql' : 'rest';
    const api = toApiError(err);
    // A body in another charset is 415 Unsupported Media Type, whichever check found it.
    const parsed = api
      ? { status: api.rule === 'encoding' ? 415 : httpStatusFor(api.code), error: api }
      : fromBodyParser(err ?? {});
    if (parsed) {
      opts.metrics.apiErrors.inc({ code: parsed.error.code, transport });
      // Damage to the store is the operator's to see, not only the client's.
      if (parsed.error.code === 'MALFORMED_EVENT')
        opts.logger.error({ err, method: req.method, path: req.path }, parsed.error.message);
      const retryAfterMs = parsed.error.extensions.retryAfterMs;
      if (parsed.error.code === 'UNAVAILABLE' && typeof retryAfterMs === 'number') {
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
      }
      return send(req, res, parsed.status, parsed.error);
    }
    opts.metrics.apiErrors.inc({ code: 'INTERNAL_SERVER_ERROR', transport });
    opts.logger.error({ err, method: req.method, path: req.path }, 'unexpected error handling request');
    const message = opts.production || !(err instanceof Error) ? 'Internal server error' : err.message;
    if (transport === 'graphql') res.status(500).json({ errors: [{ message, extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    else res.status(500).json({ errors: [{ code: 'INTERNAL_SERVER_ERROR', message }] });
  };
}
