// The API's error vocabulary: every error a client sees carries extensions.code (+ field/rule where it applies).
import { GraphQLError } from 'graphql';
import { AuthError } from '../auth/errors.js';
import { LogError, type LogErrorCode } from '../log/errors.js';
import {
  AppendOutcomeUnknownError,
  MalformedEventError,
  MissingTreeNodeError,
  StorageUnavailableError,
} from '../storage/types.js';

export type ApiErrorCode =
  | LogErrorCode
  /** A subscriber fell too far behind; resubscribe with extensions.after. */
  | 'RESUME_REQUIRED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  /** The operation may return more items than GRAPHQL_MAX_ITEMS. */
  | 'QUERY_TOO_EXPENSIVE'
  /** The answer grew past GRAPHQL_MAX_RESPONSE_BYTES while it was built; nothing of it is sent. */
  | 'RESPONSE_TOO_LARGE'
  /** A stored event the request needs breaks the storage contract (damage to the store): HTTP 500. */
  | 'MALFORMED_EVENT'
  /**
   * A tree node a proof needs is not stored, or not as bytes (damage to the store): HTTP 500, naming the
   * log, level and index.
   */
  | 'MISSING_TREE_NODE'
  /**
   * The storage did not answer in time or could not be reached (rule `storageUnavailable`: nothing was
   * appended), or could not tell whether the write committed (rule `outcomeUnknown`): retry, appends
   * with the same idempotency keys.
   */
  | 'UNAVAILABLE';

/** One bad item of a batch. */
export interface ItemError {
  index: number;
  code: ApiErrorCode;
  field: string;
  rule: string;
  message: string;
}

export interface ApiErrorInit {
  field?: string;
  rule?: string;
  errors?: ItemError[];
  /** Extra members of extensions, e.g. `after` for RESUME_REQUIRED. */
  extra?: Record<string, unknown>;
}

/** A GraphQLError so that Apollo and graphql-ws pass its extensions through untouched. */
export class ApiError extends GraphQLError {
  readonly code: ApiErrorCode;
  readonly field: string | undefined;
  readonly rule: string | undefined;
  readonly items: ItemError[] | undefined;

  constructor(code: ApiErrorCode, message: string, init: ApiErrorInit = {}) {
    const extensions: Record<string, unknown> = { code };
    if (init.field !== undefined) extensions.field = init.field;
    if (init.rule !== undefined) extensions.rule = init.rule;
    if (init.errors !== undefined) extensions.errors = init.errors;
    Object.assign(extensions, init.extra);
    super(message, { extensions });
    this.name = 'ApiError';
    this.code = code;
    this.field = init.field;
    this.rule = init.rule;
    this.items = init.errors;
  }
}

export const badUserInput = (field: string, rule: string, message: string) =>
  new ApiError('BAD_USER_INPUT', message, { field, rule });

const HTTP_STATUS: Record<string, number> = {
  BAD_USER_INPUT: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  READ_ONLY_MIRROR: 403,
  UNAVAILABLE: 503,
  QUERY_TOO_EXPENSIVE: 400,
  RESPONSE_TOO_LARGE: 400,
};

export function httpStatusFor(code: string): number {
  return HTTP_STATUS[code] ?? 500;
}

const LOG_ERROR_RULES: Record<LogErrorCode, string> = {
  BAD_USER_INPUT: 'invalid',
  CONFLICT: 'conflict',
  NOT_FOUND: 'notFound',
  PAYLOAD_TOO_LARGE: 'maxBytes',
  RATE_LIMITED: 'rateLimit',
  READ_ONLY_MIRROR: 'readOnlyMirror',
  UNAVAILABLE: 'unavailable',
};

function conflictRule(field: string | undefined): string {
  if (field === 'expectedPrevHash') return 'headMismatch';
  if (field === 'idempotencyKey') return 'idempotencyKeyReused';
  return 'conflict';
}

/** The pipeline's LogError as the client sees it; batch details become per-index errors. */
export function fromLogError(err: LogError): ApiError {
  const ruleFor = (field: string | undefined, rule?: string) =>
    rule ?? (err.code === 'CONFLICT' ? conflictRule(field) : LOG_ERROR_RULES[err.code]);
  const first = err.details[0];
  const items = err.details
    .filter((d) => d.index !== undefined)
    .map((d) => ({ index: d.index!, code: err.code, field: d.field ?? '', rule: ruleFor(d.field, d.rule), message: d.message }));
  const init: ApiErrorInit = { rule: ruleFor(first?.field, first?.rule) };
  if (Object.keys(err.extensions).length > 0) init.extra = err.extensions;
  if (first?.field !== undefined) init.field = first.field;
  if (items.length > 0) init.errors = items;
  return new ApiError(err.code, err.message, init);
}

/** A damaged stored event, named for the client so that an auditor can report its position. */
function fromMalformedEvent(err: MalformedEventError): ApiError {
  return new ApiError('MALFORMED_EVENT', err.message, {
    field: err.field,
    rule: err.rule,
    extra: { sourceAppId: err.sourceAppId, seq: err.seq },
  });
}

/** Codes of damage to the store: the operator's to see (logged as errors), not only the client's. */
export const STORE_DAMAGE_CODES: ReadonlySet<string> = new Set(['MALFORMED_EVENT', 'MISSING_TREE_NODE']);

/** A refusal of key management or of a key's scope, as the client sees it. */
function fromAuthError(err: AuthError): ApiError {
  const init: ApiErrorInit = { rule: err.rule };
  if (err.field !== undefined) init.field = err.field;
  if (err.items.length > 0) init.errors = err.items.map((i) => ({ ...i, code: err.code }));
  return new ApiError(err.code, err.message, init);
}

/** The ApiError behind an error (unwrapping GraphQL's located errors), or null if it is not one of ours. */
export function toApiError(err: unknown): ApiError | null {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current; depth++) {
    if (current instanceof ApiError) return current;
    if (current instanceof LogError) return fromLogError(current);
    if (current instanceof AuthError) return fromAuthError(current);
    if (current instanceof AppendOutcomeUnknownError) {
      return new ApiError('UNAVAILABLE', current.message, { rule: 'outcomeUnknown', extra: { retryAfterMs: 1000 } });
    }
    if (current instanceof StorageUnavailableError) {
      return new ApiError('UNAVAILABLE', current.message, { rule: 'storageUnavailable', extra: { retryAfterMs: 1000 } });
    }
    if (current instanceof MalformedEventError) return fromMalformedEvent(current);
    if (current instanceof MissingTreeNodeError) {
      return new ApiError('MISSING_TREE_NODE', current.message, {
        rule: 'stored',
        extra: { sourceAppId: current.sourceAppId, level: current.level, index: current.index },
      });
    }
    if (current instanceof GraphQLError && current.originalError) current = current.originalError;
    else break;
  }
  return null;
}

/** A GraphQL error's `extensions.code` as a metric label: the code when it is a string, else `UNKNOWN`. */
export function errorCodeOf(error: { readonly extensions?: { readonly [key: string]: unknown } }): string {
  const code = error.extensions?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}
