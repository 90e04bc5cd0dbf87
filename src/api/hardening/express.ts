// REST side of the rate limits: ingest is charged per event; over budget, 429 with Retry-After
// (the error handler sends the RATE_LIMITED body).
import type { ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import type { Principal } from '../../auth/principal.js';
import { ApiError } from '../errors.js';
import { clientKey, retryAfterSeconds, type RateLimits } from './rate-limit.js';

export type WriteCharge = (req: Request, res: Response, events: number) => Promise<void>;

/** Charges `events` writes to the caller; over budget, sets Retry-After on `res` and throws RATE_LIMITED. */
export async function chargeWrites(
  rateLimits: RateLimits,
  principal: Principal | undefined,
  remoteAddress: string | undefined,
  res: ServerResponse,
  events: number,
): Promise<void> {
  try {
    await rateLimits.write(clientKey(principal, remoteAddress), events);
  } catch (err) {
    if (err instanceof ApiError) res.setHeader('Retry-After', String(retryAfterSeconds(err)));
    throw err;
  }
}

export function restWriteCharge(rateLimits: RateLimits): WriteCharge {
  return (req, res, events) =>
    chargeWrites(rateLimits, (res.locals as { principal?: Principal }).principal, req.socket.remoteAddress, res, events);
}
