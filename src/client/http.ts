// GraphQL over HTTP on fetch: one POST per operation, with a bounded time, and retries of what is safe to
// retry. Sorts every failure into ChainlogGraphqlError (the server answered with errors) or
// ChainlogTransportError (no GraphQL answer).
import { AnswerTooLongError, readBoundedText } from '../net/bounded-answer.js';
import { ChainlogGraphqlError, ChainlogTransportError, type GraphqlErrorItem } from './errors.js';

export interface HttpOptions {
  endpoint: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  timeoutMs: number;
  /** The most bytes of one answer read; a longer one fails with a ChainlogTransportError, its rest unread. */
  maxResponseBytes: number;
  retries: number;
  retryDelayMs: number;
}

/** HTTP statuses that say "not now" rather than "no": the same request may succeed later. */
const TRANSIENT_STATUS = new Set([429, 502, 503, 504]);
/** The longest wait between two attempts, whatever Retry-After or the doubling says. */
const MAX_RETRY_DELAY_MS = 10_000;

/** Whether a failure may go away if the same request is sent again. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ChainlogTransportError) return err.status === null || TRANSIENT_STATUS.has(err.status);
  // Over a WebSocket an error has no HTTP status: its code says "not now" (UNAVAILABLE: a storage outage, a contended log).
  if (err instanceof ChainlogGraphqlError)
    return err.code === 'RATE_LIMITED' || err.code === 'UNAVAILABLE' || (err.status !== null && TRANSIENT_STATUS.has(err.status));
  return false;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Answer {
  data?: unknown;
  errors?: GraphqlErrorItem[];
}

/** No answer came, or it broke off: a ChainlogTransportError without a status, naming the cause. */
function unreachable(o: HttpOptions, err: unknown): ChainlogTransportError {
  const cause = (err as { cause?: { message?: string } }).cause?.message;
  return new ChainlogTransportError(`cannot reach ${o.endpoint}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`, null, {
    cause: err,
  });
}

/** One POST; throws ChainlogGraphqlError or ChainlogTransportError (with `retryAfterMs` when the server said). */
async function postOnce(o: HttpOptions, body: string, headers: Record<string, string>): Promise<unknown> {
  let res: Response;
  let text: string;
  try {
    res = await o.fetch(o.endpoint, {
      method: 'POST',
      headers: { ...o.headers, ...headers },
      body,
      signal: AbortSignal.timeout(o.timeoutMs),
    });
  } catch (err) {
    throw unreachable(o, err);
  }
  try {
    text = await readBoundedText(res, o.maxResponseBytes);
  } catch (err) {
    if (err instanceof AnswerTooLongError) {
      // Not a GraphQL answer this client reads, and not one that a retry would make shorter.
      throw new ChainlogTransportError(`${o.endpoint} answered HTTP ${res.status}: ${err.message}`, res.status, { cause: err });
    }
    throw unreachable(o, err);
  }
  let answer: Answer | null = null;
  try {
    answer = JSON.parse(text) as Answer;
  } catch {
    // Not JSON: a proxy's error page, or no GraphQL server there.
  }
  if (answer !== null && typeof answer === 'object' && Array.isArray(answer.errors) && answer.errors.length > 0) {
    throw new ChainlogGraphqlError(answer.errors, res.status);
  }
  if (!res.ok || answer === null || typeof answer !== 'object' || answer.data === undefined || answer.data === null) {
    const err = new ChainlogTransportError(
      `${o.endpoint} answered HTTP ${res.status} without a GraphQL result${answer === null ? `: ${text.slice(0, 200)}` : ''}`,
      res.status,
    );
    const retryAfter = Number(res.headers.get('retry-after'));
    if (Number.isFinite(retryAfter) && retryAfter > 0) Object.assign(err, { retryAfterMs: retryAfter * 1000 });
    throw err;
  }
  return answer.data;
}

/**
 * Posts `query` and returns its data. With `retry`, a transient failure (isTransient) is sent again up to
 * `o.retries` times, waiting retryDelayMs, then twice that, and so on (or what Retry-After says), at most 10 s.
 */
export async function post(
  o: HttpOptions,
  query: string,
  variables: unknown,
  options: { retry: boolean; headers?: Record<string, string> },
): Promise<unknown> {
  const body = JSON.stringify({ query, variables: variables ?? {} });
  for (let attempt = 0; ; attempt++) {
    try {
      return await postOnce(o, body, options.headers ?? {});
    } catch (err) {
      if (!options.retry || attempt >= o.retries || !isTransient(err)) throw err;
      const said = (err as { retryAfterMs?: number }).retryAfterMs;
      await sleep(Math.min(MAX_RETRY_DELAY_MS, said ?? o.retryDelayMs * 2 ** attempt));
    }
  }
}
