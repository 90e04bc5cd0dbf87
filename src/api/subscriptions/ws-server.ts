// graphql-ws on the HTTP server's /graphql path. Apollo's validation, limits and masking do not run here,
// so this applies the same rules, access check and error formatter itself.
import type { Server } from 'node:http';
import type { ExecutionArgs, GraphQLError, GraphQLSchema } from 'graphql';
import { makeServer } from 'graphql-ws';
import { WebSocketServer } from 'ws';
import { principalFrom, unauthenticated, type CredentialSource } from '../access.js';
import type { Principal } from '../context.js';
import { createApiContext, type ApiContext, type ApiDeps } from '../context.js';
import { ApiError, errorCodeOf, toApiError } from '../errors.js';
import { formatForWs, type ErrorFormatter } from '../graphql/format-error.js';
import type { Hardening } from '../hardening/index.js';
import { findInexactNumber, inexactNumber } from '../validation/exact-numbers.js';
import { findRepeatedName, repeatedName } from '../validation/unique-names.js';
import { createOperationPreparer, executionCaller, formatStreamedResult } from './prepare-operation.js';
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

/** graphql-ws's close codes for a connection_init without a key (4401) and with a wrong or revoked one (4403). */
export const WS_CLOSE_UNAUTHORIZED = 4401;
export const WS_CLOSE_FORBIDDEN = 4403;

/**
 * RFC 6455's "Try Again Later": the key could not be looked up now (its store does not answer). Not one
 * of graphql-ws's fatal codes, so its client reconnects.
 */
export const WS_CLOSE_TRY_AGAIN_LATER = 1013;

/** A principal that may not use the connection: closes the socket (4401 no key, 4403 bad key) and says so. */
function refuseUnauthenticated(socket: { close(code: number, reason: string): void }, principal: Principal): boolean {
  if (principal.kind === 'key' || principal.kind === 'open') return false;
  if (principal.kind === 'anonymous')
    socket.close(WS_CLOSE_UNAUTHORIZED, 'Unauthorized: an API key is required in connectionParams');
  else socket.close(WS_CLOSE_FORBIDDEN, 'Forbidden: the API key is invalid or revoked');
  return true;
}

export function attachGraphqlWs(opts: GraphqlWsOptions): { dispose(): Promise<void> } {
  const { deps, schema, formatError, hardening } = opts;
  const { wsGuards } = hardening;
  const { metrics, logger } = deps;
  const production = deps.config.production;
  const prepare = createOperationPreparer({ schema, deps, hardening, transport: 'ws' });
  /** The caller, or the API's error when its key cannot be looked up now (UNAVAILABLE); anything else throws. */
  const lookUp = async (...sources: CredentialSource[]): Promise<Principal | ApiError> => {
    try {
      return await principalFrom(deps.auth, ...sources);
    } catch (err) {
      const api = toApiError(err);
      if (!api) throw err;
      return api;
    }
  };
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
    subscribe: createSharedSubscribe(executionCaller, (contextValue) => directNext.get(contextValue as ApiContext)),
    connectionInitWaitTimeout: hardening.wsConnectionInitTimeoutMs,
    // No connection_ack without a valid key (AUTH=on): nothing a client sends later is parsed for it.
    onConnect: async (ctx) => {
      const principal = await lookUp(ctx.extra.request.headers, ctx.connectionParams);
      if (principal instanceof ApiError) {
        // Counted here: a refused operation's errors are counted where they are sent (onError).
        metrics.apiErrors.inc({ code: principal.code, transport: 'ws' });
        ctx.extra.socket.close(WS_CLOSE_TRY_AGAIN_LATER, `${principal.code}: ${principal.message}`.slice(0, 120));
        return false;
      }
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
      const principal = await lookUp(ctx.extra.request.headers, ctx.connectionParams);
      if (principal instanceof ApiError) return [principal];
      if (refuseUnauthenticated(ctx.extra.socket, principal)) return [unauthenticated(principal)];
      const prepared = await prepare(principal, payload, (document, operation, variables) =>
        wsGuards.admit(ctx, id, principal, document, operation, variables),
      );
      if (!('document' in prepared)) return prepared;
      const { document, operation, variables } = prepared;
      const contextValue = createApiContext(deps, 'ws', principal, { subscription: operation.operation === 'subscription' });
      if (operation.operation === 'subscription') {
        const send = ctx.extra.send;
        const head = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
        directNext.set(contextValue, (payloadJson) => send(head + payloadJson + '}'));
      }
      return { schema, document, operationName: payload.operationName ?? null, variableValues: variables, contextValue };
    },
    onNext: (_ctx, _id, _payload, args, result) => {
      const formatted = formatStreamedResult(formatError, args.contextValue, result);
      if (formatted) countErrors(formatted.errors);
      return formatted;
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
    flushTimeoutMs: hardening.wsFlushTimeoutMs,
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
    onMalformed: (reason) => {
      metrics.apiErrors.inc({ code: 'BAD_USER_INPUT', transport: 'ws' });
      logger.debug({ reason }, 'closed a WebSocket whose client broke the protocol or sent a message that is not UTF-8');
    },
    // graphql-ws's JSON.parse rounds numbers and keeps a repeated name's last value; the raw text is
    // checked first, as HTTP bodies are.
    refuseMessage: (text) => {
      const bad = findInexactNumber(text);
      const repeated = bad ? undefined : findRepeatedName(text);
      const error = bad
        ? inexactNumber(bad.field, bad.token)
        : repeated && repeatedName(repeated.field || 'message', repeated.name);
      if (!error) return undefined;
      metrics.apiErrors.inc({ code: error.code, transport: 'ws' });
      return { message: error.message, extensions: { ...error.extensions } };
    },
  });

  return { dispose: async () => transport.dispose() };
}
