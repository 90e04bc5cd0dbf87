// POST /graphql must carry a JSON body. Without Content-Type: application/json, Apollo's CSRF
// prevention answers with a paragraph about preflight headers; this says what to send instead.
import type { RequestHandler } from 'express';
import { ApiError } from '../errors.js';
import type { ApiMetrics } from '../metrics.js';

const JSON_TYPES = ['application/json', 'application/*+json'];

export function requireJsonPost(metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'POST' || req.is(JSON_TYPES)) return next();
    const error = new ApiError(
      'BAD_USER_INPUT',
      'send Content-Type: application/json with a body like {"query": "{ serverInfo { version } }"}',
      {
        field: 'Content-Type',
        rule: 'contentType',
      },
    );
    metrics.apiErrors.inc({ code: error.code, transport: 'graphql' });
    res.status(415).json({ errors: [{ message: error.message, extensions: { ...error.extensions } }] });
  };
}
