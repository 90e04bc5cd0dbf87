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
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphqlAnswer<R> {
  data?: R | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export async function query<R, V>(doc: TypedDocumentString<R, V>, variables: V, apiKey = session.apiKey()): Promise<R> {
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
    // A dropped socket is retried (with backoff); a refused key is not (graphql-ws: 4401/4403 are final).
    retryAttempts: 20,
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
        if (first) error(new ApiError(first.message, (first.extensions?.code as string | undefined) ?? null));
        else if (r.data) next(r.data);
      },
      error: (e) => error(new ApiError(e instanceof Error ? e.message : 'subscription closed', null)),
      complete: () => undefined,
    },
  );
}
