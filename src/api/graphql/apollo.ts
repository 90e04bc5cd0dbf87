// Apollo Server over HTTP, with the shared limits, error formatting, metrics and the access check.
import type { Server } from 'node:http';
import { ApolloServer, type ApolloServerPlugin, type GraphQLResponse } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import type { Logger } from 'pino';
import type { GraphQLSchema } from 'graphql';
import { authPlugin } from '../auth/apollo-plugin.js';
import type { ApiContext } from '../context.js';
import { errorCodeOf } from '../errors.js';
import type { ApiMetrics } from '../metrics.js';
import type { ErrorFormatter } from './format-error.js';
import type { DocumentLimits } from './limits.js';

export interface ApolloOptions {
  schema: GraphQLSchema;
  httpServer: Server;
  formatError: ErrorFormatter;
  production: boolean;
  logger: Logger;
  metrics: ApiMetrics;
  /** Extra shutdown work, e.g. closing the WebSocket server. */
  drain: () => Promise<void>;
  /** Validation rules and parse options shared with graphql-ws. */
  limits: DocumentLimits;
  /** More plugins, e.g. rate limits (src/api/hardening). */
  plugins?: ApolloServerPlugin<ApiContext>[];
}

export async function startApollo(opts: ApolloOptions): Promise<ApolloServer<ApiContext>> {
  const server = new ApolloServer<ApiContext>({
    schema: opts.schema,
    formatError: opts.formatError,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: opts.production,
    introspection: !opts.production,
    validationRules: opts.limits.validationRules,
    parseOptions: opts.limits.parseOptions,
    persistedQueries: false,
    // src/main.ts owns SIGINT/SIGTERM and closes everything in order; a second handler would race it.
    stopOnTerminationSignals: false,
    logger: opts.logger,
    plugins: [
      // The default cache-control plugin hooks every field's resolution (500 `seq`s of a logEvents
      // answer each cost a hook call) to compute cache hints the schema never sets; every answer is
      // `cache-control: no-store` anyway, which observeOperations sets instead.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer: opts.httpServer }),
      { serverWillStart: async () => ({ drainServer: opts.drain }) },
      authPlugin(),
      observeOperations(opts.metrics),
      ...(opts.plugins ?? []),
    ],
  });
  await server.start();
  return server;
}

function observeOperations(metrics: ApiMetrics): ApolloServerPlugin<ApiContext> {
  return {
    async requestDidStart() {
      const started = performance.now();
      let type = 'unknown';
      return {
        async didResolveOperation({ operation }) {
          if (!operation) return;
          type = operation.operation;
        },
        async willSendResponse({ response }) {
          recordOperation(metrics, response, type, started);
        },
      };
    },
  };
}

/**
 * An answer about to be sent (before the hardening plugin's changes to it): `cache-control: no-store`,
 * and the operation in the metrics. `started`: performance.now() when the request started. The lean
 * POST /graphql route (lean-graphql.ts) calls it as this plugin does.
 */
export function recordOperation(metrics: ApiMetrics, response: GraphQLResponse, type: string, started: number): void {
  // Answers depend on the caller's key and on live data: no shared or private cache may keep one.
  if (!response.http.headers.has('cache-control')) response.http.headers.set('cache-control', 'no-store');
  const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
  for (const e of errors) metrics.apiErrors.inc({ code: errorCodeOf(e), transport: 'graphql' });
  metrics.graphqlOperations.inc({ type, outcome: errors.length > 0 ? 'error' : 'ok' });
  metrics.graphqlDuration.observe({ type }, (performance.now() - started) / 1000);
}
