// One error formatter for Apollo (HTTP) and graphql-ws: known codes pass, everything else is masked.
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { STORE_DAMAGE_CODES, toApiError } from '../errors.js';
import { parseLimitRule } from '../hardening/document-limits.js';

/** Codes a client may see besides INTERNAL_SERVER_ERROR. */
const CLIENT_CODES = new Set([
  'BAD_USER_INPUT',
  'GRAPHQL_VALIDATION_FAILED',
  'CONFLICT',
  'NOT_FOUND',
  'PAYLOAD_TOO_LARGE',
  'RESUME_REQUIRED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
]);

/** Apollo's request-level codes, folded into ours. */
const RENAMED: Record<string, { code: string; rule?: string }> = {
  GRAPHQL_PARSE_FAILED: { code: 'GRAPHQL_VALIDATION_FAILED', rule: 'syntax' },
  BAD_REQUEST: { code: 'BAD_USER_INPUT', rule: 'request' },
  OPERATION_RESOLUTION_FAILURE: { code: 'BAD_USER_INPUT', rule: 'operationName' },
  PERSISTED_QUERY_NOT_SUPPORTED: { code: 'BAD_USER_INPUT', rule: 'request' },
  PERSISTED_QUERY_NOT_FOUND: { code: 'BAD_USER_INPUT', rule: 'request' },
};

export type ErrorFormatter = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

export function createErrorFormatter(opts: { production: boolean; logger: Logger }): ErrorFormatter {
  return (formatted, error) => {
    const base = {
      message: formatted.message,
      ...(formatted.locations && { locations: formatted.locations }),
      ...(formatted.path && { path: formatted.path }),
    };
    const api = toApiError(error);
    if (api) {
      // Damage to the store is the operator's to see, not only the client's.
      if (STORE_DAMAGE_CODES.has(api.code)) opts.logger.error({ err: unwrap(error), path: formatted.path }, api.message);
      // graphql-js prefixes a scalar's refusal of a variable with where it sits ("Variable "$input" got
      // invalid value … at "input.x"; …"): that message names the field, so it is kept.
      const message =
        formatted.message !== api.message && formatted.message.endsWith(`; ${api.message}`) ? formatted.message : api.message;
      return { ...base, message, extensions: { ...api.extensions } };
    }

    const { stacktrace: _stack, ...extensions } = (formatted.extensions ?? {}) as Record<string, unknown>;
    const code = typeof extensions.code === 'string' ? extensions.code : undefined;
    if (code && CLIENT_CODES.has(code)) return { ...base, extensions };
    const renamed = code ? RENAMED[code] : undefined;
    if (renamed)
      return {
        ...base,
        extensions: {
          ...extensions,
          ...renamed,
          ...(code === 'GRAPHQL_PARSE_FAILED' &&
            parseLimitRule(formatted.message) && { rule: parseLimitRule(formatted.message) }),
        },
      };

    opts.logger.error({ err: unwrap(error), path: formatted.path }, 'unexpected error in GraphQL operation');
    return {
      ...base,
      message: opts.production ? 'Internal server error' : formatted.message,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

function unwrap(error: unknown): unknown {
  const original = (error as GraphQLError | undefined)?.originalError;
  return original ?? error;
}

/** A GraphQLError as graphql-ws would send it, through the same formatter. */
export const formatForWs = (format: ErrorFormatter, error: GraphQLError): GraphQLFormattedError => format(error.toJSON(), error);
