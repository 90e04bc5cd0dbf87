// graphql-ws clients (subscriptions) on the `ws` package.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export function wsClient(url: string): Client {
  return createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, keepAlive: 0 });
}

export interface Subscription {
  /** Resolves (or rejects) when the subscription ends. */
  done: Promise<void>;
  unsubscribe(): void;
}

/** Subscribes; `onData` gets each result's data. Errors end the subscription and reject `done`. */
export function subscribe<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown> | undefined,
  onData: (data: T) => void,
): Subscription {
  let unsubscribe: () => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    unsubscribe = client.subscribe<T>(variables ? { query, variables } : { query }, {
      next: (result) => {
        if (result.errors?.length) reject(new Error(`subscription error: ${JSON.stringify(result.errors).slice(0, 300)}`));
        else if (result.data) onData(result.data);
      },
      error: (err) => reject(err instanceof Error ? err : new Error(`subscription failed: ${JSON.stringify(err).slice(0, 300)}`)),
      complete: () => resolve(),
    });
  });
  done.catch(() => undefined); // observed by whoever awaits it
  return { done, unsubscribe: () => unsubscribe() };
}
