// REST side of the rate limits: ingest is charged per event; over budget, 429 with Retry-After
// (the error handler sends the RATE_LIMITED body).
import type { Request, Response } from 'express';
import type { Principal } from '../../auth/principal.js';
import { ApiError } from '../errors.js';
import { clientKey, retryAfterSeconds, type RateLimits } from './rate-limit.js';

export type WriteCharge = (req: Request, res: Response, events: number) => Promise<void>;

export function restWriteCharge(rateLimits: RateLimits): WriteCharge {
  return async (req, res, events) => {
    try {
      await rateLimits.write(clientKey((res.locals as { principal?: Principal }).principal, req.socket.remoteAddress), events);
    } catch (err) {
      if (err instanceof ApiError) res.setHeader('Retry-After', String(retryAfterSeconds(err)));
      throw err;
    }
  };
}
