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
import { authorize, principalFrom, rootFieldsOf } from '../access.js';
import { createApiContext, type ApiContext, type ApiDeps } from '../context.js';
import { ApiError } from '../errors.js';
import { formatForWs, type ErrorFormatter } from '../graphql/format-error.js';
import { variableSizeLimitsFromConfig } from '../graphql/limits.js';
import { checkVariableSizes } from '../validation/variable-sizes.js';
import { parseLimitRule } from '../hardening/document-limits.js';
import type { Hardening } from '../hardening/index.js';
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
  const wsServer = new WebSocketServer({ server: opts.httpServer, path: opts.path, maxPayload: hardening.wsMaxPayloadBytes });
  wsServer.on('connection', (socket) => {
    metrics.wsConnections.inc();
    socket.once('close', () => metrics.wsConnections.dec());
  });
  wsServer.on('error', (err) => logger.error({ err }, 'WebSocket server error'));

  const countErrors = (errors: ReadonlyArray<{ extensions?: Record<string, unknown> | undefined }>) => {
    for (const e of errors) metrics.apiErrors.inc({ code: String(e.extensions?.code ?? 'UNKNOWN'), transport: 'ws' });
  };

  // Each subscription's writer of `next` messages, keyed by its operation's context (made in onSubscribe).
  const directNext = new WeakMap<ApiContext, DeliverNext>();
  const server = makeServer<Record<string, unknown> | undefined, WsExtra>(
    {
      schema,
      subscribe: createSharedSubscribe(callerOf, (contextValue) => directNext.get(contextValue as ApiContext)),
      connectionInitWaitTimeout: hardening.wsConnectionInitTimeoutMs,
      onConnect: async (ctx) => wsGuards.connect(ctx, await principalFrom(deps.auth, ctx.extra.request.headers, ctx.connectionParams)),
      onComplete: (ctx, id) => wsGuards.complete(ctx, id),
      onClose: (ctx) => wsGuards.close(ctx),
      onSubscribe: async (ctx, id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
        let document: DocumentNode;
        try {
          document = parse(payload.query, documentLimits.parseOptions);
        } catch (err) {
          if (err instanceof GraphQLError) return [withCode(err, 'GRAPHQL_VALIDATION_FAILED', parseLimitRule(err.message) ?? 'syntax')];
          throw err;
        }
        const invalid = validate(schema, document, rules);
        if (invalid.length > 0) return invalid.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED', undefined, production));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) {
          return [new ApiError('BAD_USER_INPUT', 'operationName: does not name exactly one operation of the document', { field: 'operationName', rule: 'operationName' })];
        }
        // The key is looked up per operation (cached briefly), so a revoked key stops working here too.
        const principal = await principalFrom(deps.auth, ctx.extra.request.headers, ctx.connectionParams);
        try {
          authorize(principal, operation.operation, rootFieldsOf(document, operation));
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        const variables = payload.variables ?? {};
        const refused = await wsGuards.admit(ctx, id, principal, document, operation, variables);
        if (refused) return [refused];
        const oversized = checkVariableSizes(schema, document, operation, variables, variableLimits);
        if (oversized) return [oversized];
        const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 50 });
        if (coerced.errors) return coerced.errors.map((e) => withCode(e, 'BAD_USER_INPUT', undefined, production));
        const contextValue = createApiContext(deps, 'ws', principal);
        if (operation.operation === 'subscription') {
          const send = ctx.extra.send;
          const head = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
          directNext.set(contextValue, (payloadJson) => send(head + payloadJson + '}'));
        }
        return { schema, document, operationName: payload.operationName ?? null, variableValues: variables, contextValue };
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors) return undefined;
        const errors = result.errors.map((e) => formatForWs(formatError, e));
        countErrors(errors);
        return { ...result, errors };
      },
      onError: (_ctx, _id, _payload, errors) => {
        const formatted = errors.map((e) => formatForWs(formatError, e));
        countErrors(formatted);
        return formatted;
      },
    },
  );
  const transport = serveGraphqlWs(server, wsServer, {
    isProd: production,
    keepAliveMs: hardening.wsKeepAliveMs,
    maxBufferedBytes: WS_MAX_BUFFERED_BYTES,
    onInternalError: (err, where) => logger.error({ err, where }, 'WebSocket internal error'),
  });

  return { dispose: async () => transport.dispose() };
}
