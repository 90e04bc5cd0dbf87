// One charset rule for every JSON body (REST and GraphQL): UTF-8, stated or not. body-parser would also
// decode UTF-16 and UTF-32 bodies; refusing them here keeps what is stored byte-for-byte what was sent in
// the one encoding the API documents.
import type { RequestHandler } from 'express';
import { ApiError } from './errors.js';

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

export function requireUtf8(): RequestHandler {
  return (req, _res, next) => {
    const charset = CHARSET.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset === undefined || charset === 'utf-8' || charset === 'utf8') return next();
    next(
      new ApiError('BAD_USER_INPUT', `body: must be UTF-8 JSON (the Content-Type names charset ${charset.slice(0, 40)})`, {
        field: 'body',
        rule: 'encoding',
      }),
    );
  };
}
