// Errors the log pipeline raises for callers; the API maps `code` to `extensions.code`.

export type LogErrorCode = 'BAD_USER_INPUT' | 'CONFLICT' | 'NOT_FOUND' | 'PAYLOAD_TOO_LARGE' | 'RATE_LIMITED';

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
