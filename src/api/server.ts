// The HTTP face of chainlog: GraphQL (HTTP + graphql-ws) at /graphql, REST ingest, health and metrics.
// The caller (src/main.ts) listens and starts the pipeline; close() drains HTTP and WebSocket clients.
import { createServer, type Server } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { AppendRequest, LogService } from '../log/service.js';
import type { StoredEvent } from '../storage/types.js';
import { peerAppendRouter } from './peer-append.js';
import { createApiContext, type ApiContext, type ApiDeps } from './context.js';
import { startApollo } from './graphql/apollo.js';
import { createErrorFormatter } from './graphql/format-error.js';
import { buildApiSchema } from './graphql/schema.js';
import { variableSizeLimitsFromConfig, variableSizesPlugin } from './graphql/limits.js';
import { createIngest } from './ingest.js';
import { createApiMetrics } from './metrics.js';
import { errorHandler, restErrors } from './rest/errors.js';
import { EVENTS_BODY_TYPES, eventsRouter } from './rest/events.js';
import { httpObserver } from './rest/http-observer.js';
import { leanEventsRoute } from './rest/lean-events.js';
import { leanGraphqlRoute } from './graphql/lean-graphql.js';
import { opsRouter } from './rest/ops.js';
import { homeRouter } from './rest/home.js';
import { dashboardRouter } from './rest/dashboard.js';
import { openApiRouter } from './rest/openapi.js';
import { witnessRouter } from './rest/witness.js';
import { rangeProofRouter } from './rest/range-proof.js';
import { tlogRouter } from './rest/tlog.js';
import { monitoringRouter } from './rest/monitoring.js';
import type { LocalViews } from '../witness/views.js';
import type { WitnessService } from '../witness/witness-service.js';
import type { Witnessing } from '../witnessing/witnessing.js';
import type { InconsistencyReporter } from '../inconsistency/reporter.js';
import type { Mirror } from '../mirror/follower.js';
import { requireJsonPost } from './graphql/content-type.js';
import { attachGraphqlWs } from './subscriptions/ws-server.js';
import { createGraphqlSse, SSE_PATH } from './subscriptions/sse-server.js';
import { requireUtf8 } from './charset.js';
import { ApiError } from './errors.js';
import { bodyCheckThread } from './body-check-thread.js';
import { jsonBody } from './json-body.js';
import { hardeningPlugin, rememberRemoteAddress } from './hardening/apollo-plugin.js';
import { restWriteCharge } from './hardening/express.js';
import { createHardening } from './hardening/index.js';
import type { Authenticator } from '../auth/authenticator.js';
import { authenticateGraphql, metricsAccess, principalOf } from './auth/express.js';

export const GRAPHQL_PATH = '/graphql';

export interface ApiServerOptions {
  service: LogService;
  config: Config;
  logger: Logger;
  registry: Registry;
  isReady: () => boolean;
  auth: Authenticator;
  /** The C2SP witness, when this server is one (WITNESSED_LOGS_FILE). */
  witness?: WitnessService | null;
  /** The log's witness policy submissions, when it has one (WITNESS_POLICY_FILE). */
  witnessing?: Witnessing | null;
  /** Where inconsistencies are recorded and announced (the inconsistencies query and subscription). */
  inconsistencies?: InconsistencyReporter | null;
  /** The views served at GET /witness/<origin hash>/checkpoint (c2sp.org/tlog-witness monitoring). */
  views?: LocalViews | null;
  /** The follower of the primary, when this server is a mirror (FOLLOW_URL). */
  mirror?: Mirror | null;
  /** The rate limits' clock; Date.now by default. */
  now?: () => number;
  /**
   * Processes sharing a database (PROCESS_SECRET): the internal endpoint through which the others hand
   * this one appends to the logs whose leases it holds (src/api/peer-append.ts).
   */
  peerAppend?: { secret: string; append: (requests: AppendRequest[]) => Promise<StoredEvent[]> };
}

export interface ApiServer {
  httpServer: Server;
  close(): Promise<void>;
}

export async function createApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const logger = opts.logger.child({ component: 'api' });
  const metrics = createApiMetrics(opts.registry);
  const deps: ApiDeps = {
    service: opts.service,
    config: opts.config,
    logger,
    metrics,
    ingest: createIngest(opts.service, opts.config, metrics),
    auth: opts.auth,
    witness: opts.witness ?? null,
    witnessing: opts.witnessing ?? null,
    inconsistencies: opts.inconsistencies ?? null,
    mirror: opts.mirror ?? null,
  };
  const formatError = createErrorFormatter({ production: opts.config.production, logger });
  const schema = buildApiSchema();
  const hardening = createHardening(opts.config, { ...(opts.now && { now: opts.now }) });

  const app = express();
  app.disable('x-powered-by');
  // No weak ETag hashed over every answer sent with res.send/res.json: GraphQL and REST write answers
  // cannot be revalidated, and the routes whose answers can (tlog tiles and checkpoints) set their own.
  app.set('etag', false);
  // POST /v1/events in its common form is served before Express (src/api/rest/lean-events.ts); the rest,
  // and every request it does not take, goes through the Express app below.
  const lean = leanEventsRoute({
    deps,
    rateLimits: hardening.rateLimits,
    originPolicy: hardening.originPolicy,
    maxBodyBytes: Math.min(opts.config.JSON_BODY_THREAD_BYTES, opts.config.MAX_BODY_BYTES),
  });
  // POST /graphql in its common form is executed without Express nor Apollo's pipeline (src/api/graphql/lean-graphql.ts).
  const started: { apollo?: ApolloServer<ApiContext> } = {};
  const leanGraphql = leanGraphqlRoute({
    deps,
    originPolicy: hardening.originPolicy,
    maxBodyBytes: Math.min(opts.config.JSON_BODY_THREAD_BYTES, opts.config.MAX_BODY_BYTES),
    apollo: () => started.apollo,
    schema,
    hardening,
    formatError,
  });
  const httpServer = createServer((req, res) => {
    if (!lean(req, res) && !leanGraphql(req, res)) app(req, res);
  });
  // Idle keep-alive sockets outlive the usual client and load-balancer idle timeouts (60 s), so a
  // client never reuses a socket the server is closing at that moment (ECONNRESET under load).
  httpServer.keepAliveTimeout = 65_000;
  httpServer.headersTimeout = 66_000;
  const sse = createGraphqlSse({ schema, deps, formatError, hardening });
  const ws = attachGraphqlWs({ httpServer, path: GRAPHQL_PATH, schema, deps, formatError, hardening });
  const apollo = await startApollo({
    schema,
    httpServer,
    formatError,
    production: opts.config.production,
    logger: opts.logger.child({ component: 'apollo' }),
    metrics,
    drain: () => {
      sse.dispose();
      return ws.dispose();
    },
    limits: hardening.documentLimits,
    plugins: [
      variableSizesPlugin(variableSizeLimitsFromConfig(opts.config)),
      hardeningPlugin({ rateLimits: hardening.rateLimits, limits: hardening.documentLimits, metrics }),
    ],
  });

  started.apollo = apollo;

  app.use(httpObserver(metrics, logger));
  // Before the Host check: the other processes call this one at its ADVERTISE_URL, and prove who they are by the secret.
  if (opts.peerAppend) {
    app.use(peerAppendRouter({ ...opts.peerAppend, maxBodyBytes: 2 * opts.config.MAX_BODY_BYTES }));
  }
  app.use((req, res, next) => {
    const reason = hardening.originPolicy.refusedHost(req);
    if (!reason) return next();
    const error = new ApiError('FORBIDDEN', reason, { field: 'Host', rule: 'host' });
    metrics.apiErrors.inc({ code: error.code, transport: req.path === GRAPHQL_PATH ? 'graphql' : 'rest' });
    res.status(403).json({
      errors: req.path === GRAPHQL_PATH ? [{ message: error.message, extensions: error.extensions }] : restErrors(error),
    });
  });
  // One thread checks the large bodies of both transports (src/api/json-body.ts).
  const bodyChecker = bodyCheckThread({ logger, metrics });
  const bodies = { limit: opts.config.MAX_BODY_BYTES, threadBytes: opts.config.JSON_BODY_THREAD_BYTES, checker: bodyChecker };
  const variableLimits = variableSizeLimitsFromConfig(opts.config);
  app.use(
    eventsRouter(
      deps,
      restWriteCharge(hardening.rateLimits),
      jsonBody({ ...bodies, type: EVENTS_BODY_TYPES, job: { kind: 'events', maxBatchSize: opts.config.MAX_BATCH_SIZE } }),
    ),
  );
  // GraphQL documents, over HTTP and over SSE: the same body bounds and the same token limit.
  const graphqlBodies = {
    ...bodies,
    job: {
      kind: 'graphql',
      limits: variableLimits,
      maxTokens: hardening.documentLimits.parseOptions.maxTokens ?? Number.MAX_SAFE_INTEGER,
    },
  } as const;
  // GraphQL over SSE, before GRAPHQL_PATH (a prefix of its path): authenticated before its body is read.
  app.use(SSE_PATH, sse.admit, requireUtf8(), jsonBody(graphqlBodies), sse.serve);
  app.use(
    GRAPHQL_PATH,
    authenticateGraphql(deps),
    requireJsonPost(metrics),
    requireUtf8(),
    jsonBody(graphqlBodies),
    expressMiddleware(apollo, {
      context: async ({ req, res }) =>
        rememberRemoteAddress(createApiContext(deps, 'graphql', principalOf(res.locals)), req.socket.remoteAddress),
    }),
  );
  // The read-only routes after the write paths: Express tries every layer in order, and each single
  // event's request would otherwise walk all of these first.
  app.use('/metrics', metricsAccess(deps));
  app.use(opsRouter({ registry: opts.registry, isReady: opts.isReady }));
  app.use(openApiRouter(opts.config, opts.service.info.version));
  app.use(homeRouter({ version: opts.service.info.version, introspection: !opts.config.production }));
  app.use(dashboardRouter());
  if (opts.witness) app.use(witnessRouter(opts.witness));
  app.use(tlogRouter(deps));
  app.use(rangeProofRouter(deps));
  if (opts.views) app.use(monitoringRouter(opts.views));
  app.use((req, res) => {
    res
      .status(404)
      .json({ errors: restErrors(new ApiError('NOT_FOUND', `no route ${req.method} ${req.path}`, { rule: 'route' })) });
  });
  app.use(errorHandler({ logger, production: opts.config.production, metrics }));

  let closing: Promise<void> | undefined;
  return {
    httpServer,
    close: () => (closing ??= apollo.stop().finally(() => bodyChecker.close())),
  };
}
