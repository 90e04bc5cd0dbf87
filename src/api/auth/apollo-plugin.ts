// GraphQL over HTTP: the access check once the operation is known, and 401/403 for a request refused
// as a whole (errors raised by resolvers, e.g. a scope refusal of one field, keep GraphQL's 200).
import type { ApolloServerPlugin } from '@apollo/server';
import { authorize, rootFieldsOf } from '../access.js';
import type { ApiContext } from '../context.js';

const STATUS: Record<string, number> = { UNAUTHENTICATED: 401, FORBIDDEN: 403 };

export function authPlugin(): ApolloServerPlugin<ApiContext> {
  return {
    async requestDidStart() {
      let refused = false;
      return {
        async didResolveOperation({ operation, document, contextValue }) {
          if (!operation) return;
          try {
            authorize(contextValue.principal, operation.operation, rootFieldsOf(document, operation));
          } catch (err) {
            refused = true;
            throw err;
          }
        },
        async willSendResponse({ response }) {
          if (!refused || response.body.kind !== 'single') return;
          const code = response.body.singleResult.errors?.[0]?.extensions?.code;
          const status = typeof code === 'string' ? STATUS[code] : undefined;
          if (status) response.http.status = status;
        },
      };
    },
  };
}
