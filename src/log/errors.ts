// Errors the log pipeline raises for callers; the API maps `code` to `extensions.code`.

export type LogErrorCode =
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  /** Retryable: the log was too contended to append in this request's turns (extensions.retryAfterMs). */
  | 'UNAVAILABLE'
  /** This server is a mirror (FOLLOW_URL): it writes nothing of its own; extensions.primary names where to write. */
  | 'READ_ONLY_MIRROR';

export interface LogErrorDetail {
  /** Index of the offending item in a batch, when the request was a batch. */
  index?: number;
  /** The field the rule applies to, e.g. `expectedPrevHash` or `treeSize`. */
  field?: string;
  /** The rule broken, where the code and field do not say it already. */
  rule?: string;
  message: string;
}

export class LogError extends Error {
  constructor(
    readonly code: LogErrorCode,
    message: string,
    readonly details: LogErrorDetail[] = [],
    /** Extra members of the client's extensions, e.g. `retryAfterMs` for RATE_LIMITED. */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'LogError';
  }
}

export const notFound = (message: string, field?: string) =>
  new LogError('NOT_FOUND', message, field ? [{ field, message }] : []);
export const badInput = (message: string, field?: string) =>
  new LogError('BAD_USER_INPUT', message, field ? [{ field, message }] : []);

/** A write sent to a mirror: events are written on its primary only. */
export const readOnlyMirror = (primaryUrl: string) =>
  new LogError(
    'READ_ONLY_MIRROR',
    `this server is a read-only mirror of ${primaryUrl}: write events there`,
    [{ rule: 'readOnlyMirror', message: `this server is a read-only mirror of ${primaryUrl}` }],
    { primary: primaryUrl },
  );
