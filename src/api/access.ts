// The one place where a request's principal is established and checked. Everyone is allowed for now;
// authentication (UNAUTHENTICATED), authorization (FORBIDDEN) and rate limits (RATE_LIMITED) go here.
import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from './context.js';

export type Operation = 'query' | 'mutation' | 'subscription' | 'ingest';

export function principalFrom(_headers: IncomingHttpHeaders | Record<string, unknown> | undefined): Principal {
  return { kind: 'anonymous' };
}

/** Throws an ApiError (UNAUTHENTICATED / FORBIDDEN / RATE_LIMITED) when the principal may not do this. */
export function authorize(_principal: Principal, _operation: Operation): void {}
