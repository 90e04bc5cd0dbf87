// What the client throws. Every failure is a ChainlogError; its subclass says whose fault it is: the
// server answered with GraphQL errors (ChainlogGraphqlError, with extensions.code), the request did not
// get a GraphQL answer (ChainlogTransportError), or what the server gave does not verify with the pinned
// key (ChainlogVerificationError, with the part that fails).

/** One GraphQL error as the server sends it. */
export interface GraphqlErrorItem {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
}

export class ChainlogError extends Error {
  override name = 'ChainlogError';
}

/**
 * The server answered, with GraphQL errors. `code` is the first error's extensions.code (e.g.
 * UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT, CONFLICT, RATE_LIMITED, RESUME_REQUIRED), `extensions` its
 * extensions (logEvents puts each bad item's code and index in extensions.errors), `errors` all of them.
 */
export class ChainlogGraphqlError extends ChainlogError {
  override name = 'ChainlogGraphqlError';
  readonly code: string | null;
  readonly extensions: Record<string, unknown>;
  constructor(
    readonly errors: readonly GraphqlErrorItem[],
    /** The HTTP status of the answer; null over WebSocket and SSE. */
    readonly status: number | null = null,
  ) {
    const first = errors[0];
    const code = typeof first?.extensions?.code === 'string' ? first.extensions.code : null;
    super(`${first?.message ?? 'GraphQL error'}${code ? ` [${code}]` : ''}`);
    this.code = code;
    this.extensions = first?.extensions ?? {};
  }
}

/**
 * No GraphQL answer: the server could not be reached, the request timed out, the connection dropped, or
 * the server answered an HTTP status without a GraphQL body. `status` is that HTTP status (null when there
 * was no answer at all).
 */
export class ChainlogTransportError extends ChainlogError {
  override name = 'ChainlogTransportError';
  constructor(
    message: string,
    readonly status: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * An event or receipt that does not verify. `part` names what fails: `event` (its fields do not make its
 * hash, or its payload not its commitment), `pending` (no checkpoint covers it yet), `header`, `index`,
 * `proof`, `checkpoint` (not signed by the pinned key, or of another log), and `reason` says why.
 */
export class ChainlogVerificationError extends ChainlogError {
  override name = 'ChainlogVerificationError';
  constructor(
    readonly part: string,
    readonly reason: string,
  ) {
    super(`${part}: ${reason}`);
  }
}
