// graphql-ws side of the hardening: connections per client, subscriptions per connection and per client,
// and the same rate limits as HTTP. A client is its API key (principal id) or its remote IP.
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
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
  subscriptions: Set<string>;
}

export interface WsGuards {
  /** On connection_init: false when the client is over its connection cap (the socket is then closed with 4429). */
  connect(conn: WsConnection, principal: unknown): boolean;
  /** Before an operation runs: an error when over a subscription cap or the rate limit. */
  admit(conn: WsConnection, id: string, principal: unknown, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown> | undefined): Promise<ApiError | undefined>;
  complete(conn: WsConnection, id: string): void;
  close(conn: WsConnection): void;
}

export function createWsGuards(settings: WsGuardSettings, rateLimits: RateLimits): WsGuards {
  const states = new WeakMap<WsConnection, ConnectionState>();
  const connections = new Map<string, number>();
  const subscriptions = new Map<string, number>();
  const bump = (m: Map<string, number>, key: string, by: number) => {
    const n = (m.get(key) ?? 0) + by;
    if (n <= 0) m.delete(key);
    else m.set(key, n);
  };
  const keyOf = (conn: WsConnection, principal: unknown) => states.get(conn)?.client ?? clientKey(principal, conn.extra.request.socket.remoteAddress);
  const release = (state: ConnectionState, id: string) => {
    if (state.subscriptions.delete(id)) bump(subscriptions, state.client, -1);
  };

  return {
    connect(conn, principal) {
      const client = clientKey(principal, conn.extra.request.socket.remoteAddress);
      if ((connections.get(client) ?? 0) >= settings.maxConnectionsPerClient) {
        conn.extra.socket.close(WS_CLOSE_TOO_MANY_CONNECTIONS, `Too many connections: at most ${settings.maxConnectionsPerClient} per client`);
        return false;
      }
      bump(connections, client, 1);
      states.set(conn, { client, subscriptions: new Set() });
      return true;
    },
    async admit(conn, id, principal, document, operation, variables) {
      const client = keyOf(conn, principal);
      if (operation.operation === 'subscription') {
        // graphql-ws has already registered this id in conn.subscriptions.
        if (Object.keys(conn.subscriptions).length > settings.maxSubscriptionsPerConnection) {
          return new ApiError('RATE_LIMITED', `too many operations on this connection: at most ${settings.maxSubscriptionsPerConnection}`, { rule: 'maxSubscriptionsPerConnection' });
        }
        if ((subscriptions.get(client) ?? 0) >= settings.maxSubscriptionsPerClient) {
          return new ApiError('RATE_LIMITED', `too many subscriptions: at most ${settings.maxSubscriptionsPerClient} per client`, { rule: 'maxSubscriptionsPerClient' });
        }
      }
      try {
        await chargeOperation(rateLimits, client, document, operation, variables);
      } catch (err) {
        if (err instanceof ApiError) return err;
        throw err;
      }
      const state = states.get(conn);
      if (operation.operation === 'subscription' && state && !state.subscriptions.has(id)) {
        state.subscriptions.add(id);
        bump(subscriptions, state.client, 1);
      }
      return undefined;
    },
    complete(conn, id) {
      const state = states.get(conn);
      if (state) release(state, id);
    },
    close(conn) {
      const state = states.get(conn);
      if (!state) return;
      states.delete(conn);
      for (const id of [...state.subscriptions]) release(state, id);
      bump(connections, state.client, -1);
    },
  };
}
