// graphql-ws on the HTTP server's /graphql path. Apollo's validation, limits and masking do not run here,
// so this applies the same rules, access check and error formatter itself.
import type { Server } from 'node:http';
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  getOperationAST,
  getVariableValues,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLSchema,
} from 'graphql';
import { makeServer } from 'graphql-ws';
import { WebSocketServer } from 'ws';
import { authorize, principalFrom, rootFieldsOf, unauthenticated } from '../access.js';
import type { Principal } from '../context.js';
import { createApiContext, type ApiContext, type ApiDeps } from '../context.js';
import { ApiError, errorCodeOf } from '../errors.js';
import { formatForWs, type ErrorFormatter } from '../graphql/format-error.js';
import { variableSizeLimitsFromConfig } from '../graphql/limits.js';
import { checkVariableSizes } from '../validation/variable-sizes.js';
import { parseLimitRule } from '../hardening/document-limits.js';
import { checkDocumentShape, checkItems, countItems } from '../hardening/document-shape.js';
import type { Hardening } from '../hardening/index.js';
import { findInexactNumber, inexactNumber } from '../validation/exact-numbers.js';
import { createSharedSubscribe, type DeliverNext } from './shared-execution.js';
import { serveGraphqlWs, type WsExtra } from './ws-transport.js';

export interface GraphqlWsOptions {
  httpServer: Server;
  path: string;
  schema: GraphQLSchema;
  deps: ApiDeps;
  formatError: ErrorFormatter;
  /** Document limits, rate limits, frame size, init timeout, connection and subscription caps. */
  hardening: Hardening;
}

/** Unsent bytes per socket before its subscriptions wait: ~1,000 small events. */
export const WS_MAX_BUFFERED_BYTES = 256 * 1024;

/** Executions are shared only between operations of the same API key (or all, with AUTH=off). */
function callerOf(contextValue: unknown): string {
  const { principal } = contextValue as ApiContext;
  return principal.kind === 'key' ? `key:${principal.id}` : principal.kind;
}

/** graphql-ws's close codes for a connection_init without a key (4401) and with a wrong or revoked one (4403). */
export const WS_CLOSE_UNAUTHORIZED = 4401;
export const WS_CLOSE_FORBIDDEN = 4403;

/** A principal that may not use the connection: closes the socket (4401 no key, 4403 bad key) and says so. */
function refuseUnauthenticated(socket: { close(code: number, reason: string): void }, principal: Principal): boolean {
  if (principal.kind === 'key' || principal.kind === 'open') return false;
  if (principal.kind === 'anonymous')
    socket.close(WS_CLOSE_UNAUTHORIZED, 'Unauthorized: an API key is required in connectionParams');
  else socket.close(WS_CLOSE_FORBIDDEN, 'Forbidden: the API key is invalid or revoked');
  return true;
}

/** As Apollo does with hideSchemaDetailsFromClientErrors: no schema hints in production. */
const SUGGESTION = / ?Did you mean .+\?$/;

function withCode(error: GraphQLError, code: string, rule?: string, hideSchema = false): GraphQLError {
  return new GraphQLError(hideSchema ? error.message.replace(SUGGESTION, '') : error.message, {
    ...(error.nodes && { nodes: error.nodes }),
    ...(error.source && { source: error.source }),
    ...(error.positions && { positions: error.positions }),
    ...(error.originalError && { originalError: error.originalError }),
    extensions: { ...error.extensions, code, ...(rule && { rule }) },
  });
}

export function attachGraphqlWs(opts: GraphqlWsOptions): { dispose(): Promise<void> } {
  const { deps, schema, formatError, hardening } = opts;
  const { documentLimits, wsGuards } = hardening;
  const { metrics, logger } = deps;
  const production = deps.config.production;
  const variableLimits = variableSizeLimitsFromConfig(deps.config);
  // Apollo disables introspection in production; so does this path.
  const rules = [...specifiedRules, ...documentLimits.validationRules, ...(production ? [NoSchemaIntrospectionCustomRule] : [])];
  const { originPolicy } = hardening;
  const wsServer = new WebSocketServer({
    server: opts.httpServer,
    path: opts.path,
    maxPayload: hardening.wsMaxPayloadBytes,
    // Refused before the upgrade completes: a foreign Host (DNS rebinding) or a foreign page's Origin.
    verifyClient: ({ req }, done) => {
      const reason = originPolicy.refusedHost(req) ?? originPolicy.refusedOrigin(req);
      if (!reason) return done(true);
      metrics.apiErrors.inc({ code: 'FORBIDDEN', transport: 'ws' });
      logger.warn({ origin: req.headers.origin, host: req.headers.host, reason }, 'WebSocket upgrade refused');
      done(false, 403, reason);
    },
  });
  wsServer.on('connection', (socket) => {
    metrics.wsConnections.inc();
    socket.once('close', () => metrics.wsConnections.dec());
  });
  wsServer.on('error', (err) => logger.error({ err }, 'WebSocket server error'));

  const countErrors = (errors: ReadonlyArray<{ extensions?: Record<string, unknown> | undefined }>) => {
    for (const e of errors) metrics.apiErrors.inc({ code: errorCodeOf(e), transport: 'ws' });
  };

  // Each subscription's writer of `next` messages, keyed by its operation's context (made in onSubscribe).
  const directNext = new WeakMap<ApiContext, DeliverNext>();
  const server = makeServer<Record<string, unknown> | undefined, WsExtra>({
    schema,
    subscribe: createSharedSubscribe(callerOf, (contextValue) => directNext.get(contextValue as ApiContext)),
    connectionInitWaitTimeout: hardening.wsConnectionInitTimeoutMs,
    // No connection_ack without a valid key (AUTH=on): nothing a client sends later is parsed for it.
    onConnect: async (ctx) => {
      const principal = await principalFrom(deps.auth, ctx.extra.request.headers, ctx.connectionParams);
      if (refuseUnauthenticated(ctx.extra.socket, principal)) {
        metrics.apiErrors.inc({ code: 'UNAUTHENTICATED', transport: 'ws' });
        return false;
      }
      return wsGuards.connect(ctx, principal);
    },
    onComplete: (ctx, id) => wsGuards.complete(ctx, id),
    onClose: (ctx) => wsGuards.close(ctx),
    onSubscribe: async (ctx, id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
      // The key is looked up per operation (cached briefly) before the document is even parsed, so a
      // key revoked since connection_init costs the server no parsing and closes the connection.
      const principal = await principalFrom(deps.auth, ctx.extra.request.headers, ctx.connectionParams);
      if (refuseUnauthenticated(ctx.extra.socket, principal)) return [unauthenticated(principal)];
      let document: DocumentNode;
      try {
        document = parse(payload.query, documentLimits.parseOptions);
      } catch (err) {
        if (err instanceof GraphQLError)
          return [withCode(err, 'GRAPHQL_VALIDATION_FAILED', parseLimitRule(err.message) ?? 'syntax')];
        throw err;
      }
      const badShape = checkDocumentShape(document, documentLimits.settings);
      if (badShape) metrics.documentsRefused.inc({ rule: String(badShape.extensions.rule), transport: 'ws' });
      if (badShape)
        return [
          new GraphQLError(badShape.message, {
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED', rule: badShape.extensions.rule },
          }),
        ];
      const invalid = validate(schema, document, rules);
      if (invalid.length > 0) return invalid.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED', undefined, production));
      const operation = getOperationAST(document, payload.operationName);
      if (!operation) {
        return [
          new ApiError('BAD_USER_INPUT', 'operationName: does not name exactly one operation of the document', {
            field: 'operationName',
            rule: 'operationName',
          }),
        ];
      }
      try {
        authorize(principal, operation.operation, rootFieldsOf(document, operation));
      } catch (err) {
        if (err instanceof GraphQLError) return [err];
        throw err;
      }
      const variables = payload.variables ?? {};
      if (operation.operation === 'query') {
        const tooMany = checkItems(countItems(document, operation, variables), documentLimits.settings.maxItems);
        if (tooMany) return [tooMany];
      }
      const refused = await wsGuards.admit(ctx, id, principal, document, operation, variables);
      if (refused) return [refused];
      const oversized = checkVariableSizes(schema, document, operation, variables, variableLimits);
      if (oversized) return [oversized];
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 50 });
      if (coerced.errors) return coerced.errors.map((e) => withCode(e, 'BAD_USER_INPUT', undefined, production));
      const contextValue = createApiContext(deps, 'ws', principal, { subscription: operation.operation === 'subscription' });
      if (operation.operation === 'subscription') {
        const send = ctx.extra.send;
        const head = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
        directNext.set(contextValue, (payloadJson) => send(head + payloadJson + '}'));
      }
      return { schema, document, operationName: payload.operationName ?? null, variableValues: variables, contextValue };
    },
    onNext: (_ctx, _id, _payload, args, result) => {
      if (!result.errors) return undefined;
      // An answer over GRAPHQL_MAX_RESPONSE_BYTES is sent as its error alone, as over HTTP.
      const tooLarge = (args.contextValue as ApiContext | undefined)?.response.exceeded;
      const errors = tooLarge ? [formatForWs(formatError, tooLarge)] : result.errors.map((e) => formatForWs(formatError, e));
      if (tooLarge) {
        countErrors(errors);
        return { errors };
      }
      countErrors(errors);
      return { ...result, errors };
    },
    onError: (_ctx, _id, _payload, errors) => {
      const formatted = errors.map((e) => formatForWs(formatError, e));
      countErrors(formatted);
      return formatted;
    },
  });
  let droppedLogged = false;
  const transport = serveGraphqlWs(server, wsServer, {
    isProd: production,
    keepAliveMs: hardening.wsKeepAliveMs,
    maxBufferedBytes: WS_MAX_BUFFERED_BYTES,
    onInternalError: (err, where) => logger.error({ err, where }, 'WebSocket internal error'),
    // A client that stops reading is the client's doing: counted, and told once at info (not per socket).
    onDropped: (reason) => {
      metrics.wsDropped.inc({ reason });
      if (!droppedLogged) {
        droppedLogged = true;
        logger.info(
          { reason },
          'dropped a WebSocket client that stopped reading; further drops are counted in chainlog_ws_clients_dropped_total only',
        );
      } else {
        logger.debug({ reason }, 'dropped a WebSocket client that stopped reading');
      }
    },
    onOversized: () => {
      metrics.apiErrors.inc({ code: 'PAYLOAD_TOO_LARGE', transport: 'ws' });
      logger.info(
        { maxBytes: hardening.wsMaxPayloadBytes },
        'closed a WebSocket (1009) whose message was over WS_MAX_PAYLOAD_BYTES',
      );
    },
    // graphql-ws's JSON.parse rounds numbers; the raw text is checked first, as HTTP bodies are.
    refuseMessage: (text) => {
      const bad = findInexactNumber(text);
      if (!bad) return undefined;
      const error = inexactNumber(bad.field, bad.token);
      metrics.apiErrors.inc({ code: error.code, transport: 'ws' });
      return { message: error.message, extensions: { ...error.extensions } };
    },
  });

  return { dispose: async () => transport.dispose() };
}
