// Authentication in front of the HTTP routes: the principal is resolved once per request (before any
// body is parsed) and kept in res.locals; a request without a valid key is refused with 401.
import type { RequestHandler } from 'express';
import { authorize, principalFrom, unauthenticated } from '../access.js';
import type { ApiDeps, Principal } from '../context.js';
import type { ApiError } from '../errors.js';
import { restErrors } from '../rest/errors.js';
import { credentialFrom, sameHash, hashSecret } from '../../auth/secrets.js';

export const principalOf = (locals: Record<string, unknown>): Principal => locals.principal as Principal;

function refuse(
  deps: ApiDeps,
  transport: 'graphql' | 'rest',
  status: number,
  error: ApiError,
): { status: number; body: unknown } {
  deps.metrics.apiErrors.inc({ code: error.code, transport });
  const body =
    transport === 'graphql'
      ? { errors: [{ message: error.message, extensions: { ...error.extensions } }] }
      : { errors: restErrors(error) };
  return { status, body };
}

/** GraphQL over HTTP's refusal of `principal` (401 without a valid key), or null: roles are checked per field later. */
export function graphqlRefusal(deps: ApiDeps, principal: Principal): { status: number; body: unknown } | null {
  return principal.kind === 'key' || principal.kind === 'open' ? null : refuse(deps, 'graphql', 401, unauthenticated(principal));
}

/** GraphQL over HTTP: the role check per field happens later (src/api/auth/apollo-plugin.ts). */
export function authenticateGraphql(deps: ApiDeps): RequestHandler {
  return async (req, res, next) => {
    const principal = await principalFrom(deps.auth, req.headers);
    const r = graphqlRefusal(deps, principal);
    if (r) {
      res.status(r.status).json(r.body);
      return;
    }
    res.locals.principal = principal;
    next();
  };
}

/** REST ingest's refusal of `principal` (401 without a valid key, 403 for a role that may not write), or null. */
export function ingestRefusal(deps: ApiDeps, principal: Principal): { status: number; body: unknown } | null {
  try {
    authorize(principal, 'ingest');
    return null;
  } catch (err) {
    const error = err as ApiError;
    return refuse(deps, 'rest', error.code === 'UNAUTHENTICATED' ? 401 : 403, error);
  }
}

/** REST ingest: 401 without a valid key, 403 for a role that may not write. */
export function authenticateIngest(deps: ApiDeps): RequestHandler {
  return async (req, res, next) => {
    const principal = await principalFrom(deps.auth, req.headers);
    const r = ingestRefusal(deps, principal);
    if (r) {
      res.status(r.status).json(r.body);
      return;
    }
    res.locals.principal = principal;
    next();
  };
}

/** GET /metrics: an admin API key, or METRICS_TOKEN as a bearer token; open with AUTH=off. */
export function metricsAccess(deps: ApiDeps): RequestHandler {
  const tokenHash = deps.config.METRICS_TOKEN ? hashSecret(deps.config.METRICS_TOKEN) : null;
  return async (req, res, next) => {
    const credential = credentialFrom(req.headers);
    if (tokenHash && credential.kind === 'secret' && sameHash(hashSecret(credential.secret), tokenHash)) return next();
    const principal = await deps.auth.authenticate(credential);
    if (principal.kind === 'open' || (principal.kind === 'key' && principal.role === 'admin')) return next();
    const status = principal.kind === 'key' ? 403 : 401;
    res
      .status(status)
      .type('text/plain')
      .send(status === 401 ? 'metrics need an admin API key or METRICS_TOKEN\n' : 'metrics need an admin API key\n');
  };
}
