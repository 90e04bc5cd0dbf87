// graphql-ws side of the hardening: connections per client, subscriptions per connection and per client,
// and the same rate limits as HTTP. A client is its API key (principal id) or its remote IP.
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import type { Principal } from '../../auth/principal.js';
import { ApiError } from '../errors.js';
import { chargeOperation } from './operations.js';
import { clientKey, type RateLimits } from './rate-limit.js';

/** Close code for a connection over the per-client cap (4xxx: the client should not retry at once). */
export const WS_CLOSE_TOO_MANY_CONNECTIONS = 4429;

export interface WsGuardSettings {
  maxConnectionsPerClient: number;
  maxSubscriptionsPerConnection: number;
  maxSubscriptionsPerClient: number;
}

/** The parts of a graphql-ws Context these guards use. */
export interface WsConnection {
  subscriptions: Record<string, unknown>;
  extra: { socket: { close(code?: number, reason?: string): void }; request: { socket: { remoteAddress?: string | undefined } } };
}

interface ConnectionState {
  client: string;
  /** Ids admitted as subscriptions; live while graphql-ws still holds them in conn.subscriptions. */
  subscriptions: Set<string>;
}

export interface WsGuards {
  /** On connection_init: false when the client is over its connection cap (the socket is then closed with 4429). */
  connect(conn: WsConnection, principal: Principal): boolean;
  /** Before an operation runs: an error when over a subscription cap or the rate limit. */
  admit(
    conn: WsConnection,
    id: string,
    principal: Principal,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown> | undefined,
  ): Promise<ApiError | undefined>;
  complete(conn: WsConnection, id: string): void;
  close(conn: WsConnection): void;
}

export function createWsGuards(settings: WsGuardSettings, rateLimits: RateLimits): WsGuards {
  const states = new WeakMap<WsConnection, ConnectionState>();
  /** Open (initialised) connections of each client. */
  const clients = new Map<string, Set<WsConnection>>();
  /**
   * A subscription is live while graphql-ws holds its id: the id is dropped at once when the client
   * sends complete, whereas onComplete may only run when the stream next yields.
   */
  const liveSubscriptions = (conn: WsConnection): number => {
    const state = states.get(conn);
    if (!state) return 0;
    for (const id of state.subscriptions) if (!(id in conn.subscriptions)) state.subscriptions.delete(id);
    return state.subscriptions.size;
  };
  const clientSubscriptions = (client: string) => {
    let n = 0;
    for (const conn of clients.get(client) ?? []) n += liveSubscriptions(conn);
    return n;
  };

  return {
    connect(conn, principal) {
      const client = clientKey(principal, conn.extra.request.socket.remoteAddress);
      const open = clients.get(client) ?? new Set<WsConnection>();
      if (open.size >= settings.maxConnectionsPerClient) {
        conn.extra.socket.close(
          WS_CLOSE_TOO_MANY_CONNECTIONS,
          `Too many connections: at most ${settings.maxConnectionsPerClient} per client`,
        );
        return false;
      }
      open.add(conn);
      clients.set(client, open);
      states.set(conn, { client, subscriptions: new Set() });
      return true;
    },
    async admit(conn, id, principal, document, operation, variables) {
      const state = states.get(conn);
      const client = state?.client ?? clientKey(principal, conn.extra.request.socket.remoteAddress);
      const subscribing = operation.operation === 'subscription';
      if (subscribing) {
        // Checked and reserved synchronously: subscribe messages sent together are admitted one by one.
        if (liveSubscriptions(conn) >= settings.maxSubscriptionsPerConnection) {
          return new ApiError(
            'RATE_LIMITED',
            `too many subscriptions on this connection: at most ${settings.maxSubscriptionsPerConnection}`,
            { rule: 'maxSubscriptionsPerConnection' },
          );
        }
        if (clientSubscriptions(client) >= settings.maxSubscriptionsPerClient) {
          return new ApiError(
            'RATE_LIMITED',
            `too many subscriptions: at most ${settings.maxSubscriptionsPerClient} per client`,
            { rule: 'maxSubscriptionsPerClient' },
          );
        }
        state?.subscriptions.add(id);
      }
      try {
        await chargeOperation(rateLimits, client, document, operation, variables);
      } catch (err) {
        if (subscribing) state?.subscriptions.delete(id);
        if (err instanceof ApiError) return err;
        throw err;
      }
      return undefined;
    },
    complete(conn, id) {
      states.get(conn)?.subscriptions.delete(id);
    },
    close(conn) {
      const state = states.get(conn);
      if (!state) return;
      states.delete(conn);
      const open = clients.get(state.client);
      open?.delete(conn);
      if (open?.size === 0) clients.delete(state.client);
    },
  };
}
