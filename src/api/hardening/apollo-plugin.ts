// Apollo (HTTP) side of the hardening: rate limits per client, and HTTP status codes that follow the
// error code (429 + Retry-After for RATE_LIMITED) for errors raised before execution, which Apollo
// would otherwise send as 500.
import type { ApolloServerPlugin, GraphQLResponse } from '@apollo/server';
import type { Principal } from '../../auth/principal.js';
import { ApiError, httpStatusFor } from '../errors.js';
import type { ApiMetrics } from '../metrics.js';
import type { DocumentLimits } from './document-limits.js';
import { checkItems, countItems } from './document-shape.js';
import { chargeOperation } from './operations.js';
import { clientKey, retryAfterSeconds, type RateLimits } from './rate-limit.js';

/**
 * The remote address of the HTTP request, kept on the context object by the context function. A symbol
 * property, because Apollo hands plugins a shallow clone of the context (Object.assign copies it).
 */
const REMOTE_ADDRESS = Symbol('remoteAddress');

export function rememberRemoteAddress<T extends object>(context: T, address: string | undefined): T {
  return Object.assign(context, { [REMOTE_ADDRESS]: address });
}

const remoteAddressOf = (context: object): string | undefined => (context as { [REMOTE_ADDRESS]?: string })[REMOTE_ADDRESS];

export function hardeningPlugin<C extends { principal: Principal }>(opts: {
  rateLimits: RateLimits;
  limits: DocumentLimits;
  metrics: ApiMetrics;
}): ApolloServerPlugin<C> {
  const { settings } = opts.limits;
  return {
    async requestDidStart() {
      let limited: ApiError | undefined;
      return {
        // Counts documents the shape rule (document-shape.ts) refused before any other rule walked them.
        async validationDidStart() {
          return async (errors) => {
            for (const e of errors ?? []) {
              const rule = (e as { extensions?: Record<string, unknown> }).extensions?.rule;
              if (rule === 'maxSelections' || rule === 'maxFields')
                opts.metrics.documentsRefused.inc({ rule, transport: 'graphql' });
            }
          };
        },
        async didResolveOperation({ operation, document, request, contextValue }) {
          if (!operation) return;
          if (operation.operation !== 'mutation') {
            const tooMany = checkItems(countItems(document, operation, request.variables), settings.maxItems);
            if (tooMany) throw tooMany;
          }
          const client = clientKey(contextValue.principal, remoteAddressOf(contextValue));
          try {
            await chargeOperation(opts.rateLimits, client, document, operation, request.variables);
          } catch (err) {
            if (err instanceof ApiError) limited = err;
            throw err;
          }
        },
        async willSendResponse({ response }) {
          finishHttpResponse(response, limited);
        },
      };
    },
  };
}

/**
 * The HTTP status and headers of an answer that follow its errors, and an answer over
 * GRAPHQL_MAX_RESPONSE_BYTES cut to its error. `limited`: the rate limit's refusal of the operation, if
 * any. The lean POST /graphql route (src/api/graphql/lean-graphql.ts) calls it as this plugin does.
 */
export function finishHttpResponse(response: GraphQLResponse, limited: ApiError | undefined): void {
  if (limited) response.http.headers.set('retry-after', String(retryAfterSeconds(limited)));
  else if (response.body.kind === 'single') {
    // UNAVAILABLE says when to retry (extensions.retryAfterMs); HTTP clients read Retry-After.
    const ms = response.body.singleResult.errors?.find((e) => e.extensions?.code === 'UNAVAILABLE')?.extensions?.retryAfterMs;
    if (typeof ms === 'number') response.http.headers.set('retry-after', String(Math.max(1, Math.ceil(ms / 1000))));
  }
  // An answer over GRAPHQL_MAX_RESPONSE_BYTES is sent as its error alone: no partial data.
  if (response.body.kind === 'single') {
    const tooLarge = response.body.singleResult.errors?.find((e) => e.extensions?.code === 'RESPONSE_TOO_LARGE');
    if (tooLarge) {
      response.body.singleResult = { errors: [{ message: tooLarge.message, extensions: tooLarge.extensions }] };
      response.http.status = httpStatusFor('RESPONSE_TOO_LARGE');
      return;
    }
  }
  if (response.http.status !== 500 || response.body.kind !== 'single') return;
  const { data, errors } = response.body.singleResult;
  const code = errors?.[0]?.extensions?.code;
  if (data === undefined && typeof code === 'string' && httpStatusFor(code) !== 500) response.http.status = httpStatusFor(code);
}
