// The GraphQL client: queries over HTTP POST with the key as x-api-key, subscriptions over graphql-ws
// with the key in connectionParams. Operations are the typed documents codegen makes from
// operations.graphql.
import { createClient, type Client } from 'graphql-ws';
import type { TypedDocumentString } from './generated/graphql.js';
import { session } from './session.js';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    /** The error's extensions (RESUME_REQUIRED carries `after`, the id to resubscribe after). */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphqlAnswer<R> {
  data?: R | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/**
 * Reads sent ahead by `prefetch`, by operation, variables and key: the next `query` asking exactly the
 * same takes its answer (once) instead of asking again.
 */
const ahead = new Map<string, Promise<unknown>>();
const aheadKey = (doc: { toString(): string }, variables: unknown, apiKey: string | null) =>
  JSON.stringify([doc.toString(), variables, apiKey]);

/**
 * Sends a read now that a screen is about to make, so it travels with the shell's own start-up reads
 * instead of after them (one round trip less before the first screen). A failure is the taker's to see;
 * `dropPrefetched` forgets the reads nothing took.
 */
export function prefetch<R, V>(doc: TypedDocumentString<R, V>, variables: V): void {
  const apiKey = session.apiKey();
  const answer = send(doc, variables, apiKey);
  answer.catch(() => undefined);
  ahead.set(aheadKey(doc, variables, apiKey), answer);
}

export function dropPrefetched(): void {
  ahead.clear();
}

export function query<R, V>(doc: TypedDocumentString<R, V>, variables: V, apiKey = session.apiKey()): Promise<R> {
  const k = aheadKey(doc, variables, apiKey);
  const early = ahead.get(k) as Promise<R> | undefined;
  if (early) {
    ahead.delete(k);
    return early;
  }
  return send(doc, variables, apiKey);
}

async function send<R, V>(doc: TypedDocumentString<R, V>, variables: V, apiKey: string | null): Promise<R> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (apiKey) headers['x-api-key'] = apiKey;
  const res = await fetch('/graphql', {
    method: 'POST',
    headers,
    body: JSON.stringify({ query: doc.toString(), variables }),
    credentials: 'omit',
    cache: 'no-store',
  });
  let answer: GraphqlAnswer<R>;
  try {
    answer = (await res.json()) as GraphqlAnswer<R>;
  } catch {
    throw new ApiError(`the server answered ${res.status} without a GraphQL answer`, null);
  }
  const first = answer.errors?.[0];
  if (first) throw new ApiError(first.message, first.extensions?.code ?? null);
  if (!answer.data) throw new ApiError(`the server answered ${res.status} without data`, null);
  return answer.data;
}

let client: Client | null = null;

function wsClient(): Client {
  if (client) return client;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  client = createClient({
    url,
    lazy: true,
    connectionParams: () => {
      const apiKey = session.apiKey();
      return apiKey ? { apiKey } : {};
    },
    // A dropped socket is retried for about 8 s (a server restart); then the screens say their live
    // updates stopped. A refused key is not retried (graphql-ws: 4401/4403 are final).
    retryAttempts: 5,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(4000, 250 * 2 ** retries))),
  });
  return client;
}

/** Closes the socket so the next subscription authenticates with the current key. */
export function resetSubscriptions(): void {
  void client?.dispose();
  client = null;
}

/** Calls `next` with each result until the returned function is called. */
export function subscribe<R, V>(
  doc: TypedDocumentString<R, V>,
  variables: V,
  next: (data: R) => void,
  error: (err: ApiError) => void,
): () => void {
  return wsClient().subscribe<R>(
    { query: doc.toString(), variables: variables as Record<string, unknown> },
    {
      next: (r) => {
        const first = r.errors?.[0];
        if (first) error(subscriptionError([first]));
        else if (r.data) next(r.data);
      },
      error: (e) => error(subscriptionError(e)),
      complete: () => undefined,
    },
  );
}

/** graphql-ws ends a subscription with an Error, a list of GraphQL errors, or a close event. */
function subscriptionError(e: unknown): ApiError {
  const first: unknown = Array.isArray(e) ? e[0] : e;
  if (first && typeof first === 'object' && 'message' in first && typeof first.message === 'string') {
    const extensions =
      'extensions' in first && first.extensions && typeof first.extensions === 'object'
        ? (first.extensions as Record<string, unknown>)
        : {};
    return new ApiError(first.message, typeof extensions.code === 'string' ? extensions.code : null, extensions);
  }
  if (first && typeof first === 'object' && 'reason' in first && typeof first.reason === 'string' && first.reason) {
    return new ApiError(`the connection closed: ${first.reason}`, null);
  }
  return new ApiError('the connection closed', null);
}
