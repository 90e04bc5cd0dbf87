// What key management and access decisions refuse, for the API to present (src/api/errors.ts maps it).

export type AuthErrorCode = 'BAD_USER_INPUT' | 'FORBIDDEN' | 'NOT_FOUND';

/** One refused item of a batch, by its index. */
export interface AuthErrorItem {
  index: number;
  field: string;
  rule: string;
  message: string;
}

export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    readonly code: AuthErrorCode,
    message: string,
    /** The argument the rule applies to, e.g. `sourceAppIds`. */
    readonly field: string | undefined,
    /** A stable name of the rule, e.g. `scope` or `authOff`. */
    readonly rule: string,
    readonly items: readonly AuthErrorItem[] = [],
  ) {
    super(message);
  }
}
